"""What every child process of the server gets: it dies with the server.

If the control plane is killed outright (SIGKILL, OOM), Kamailio, Mosquitto
and the media workers must not live on holding ports and calls nobody
drives; the kernel sends them SIGTERM when their parent dies.
"""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn for subprocesses: SIGTERM this child when its parent dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
