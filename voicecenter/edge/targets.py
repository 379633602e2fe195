"""Media workers as the SIP edge sees them: where to send calls and how many.

The edge knows nothing about a worker except its SIP address and how many calls
it can hold; the capacity is read from the worker's own pjsua2 (not assumed),
so a pjsua2 built with a larger PJSUA_MAX_CALLS simply gets more calls.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerTarget:
    worker_id: int
    host: str
    port: int  # worker's SIP UDP port
    capacity: int  # calls the worker holds (read from pjsua2, usually 4)

    @property
    def uri(self) -> str:
        """The SIP URI the dispatcher uses for this worker (and matches on in RPCs)."""
        return f"sip:{self.host}:{self.port}"

    @property
    def duid(self) -> str:
        """Unique id Kamailio's call-load algorithm keys this worker's load on."""
        return f"worker{self.worker_id}"
