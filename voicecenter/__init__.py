"""voicecenter: an open-source, telephony-centric contact-center server."""

__version__ = "0.1.0"
