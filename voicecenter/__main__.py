import sys

from voicecenter.cli import main

sys.exit(main())
