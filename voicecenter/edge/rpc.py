"""JSON-RPC to Kamailio over its jsonrpcs unix datagram socket.

The control plane changes the edge at run time (a worker died, a worker is
back, the pool changed) without restarting Kamailio, which would drop every
registration and the call-load table. The datagram socket needs no extra TCP
port and no FIFO plumbing; the client binds to an autobound abstract address
(Linux), so nothing is left on disk.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from pathlib import Path
from typing import Any

_ids = itertools.count(1)


class KamailioRpcError(RuntimeError):
    """Kamailio answered with a JSON-RPC error, or did not answer at all."""


class KamailioRpc:
    def __init__(self, socket_path: Path, timeout: float = 2.0) -> None:
        self.socket_path = Path(socket_path)
        self.timeout = timeout

    async def call(self, method: str, *params: Any) -> Any:
        """Run one RPC command; return its result or raise KamailioRpcError.

        Parameters keep their JSON types: Kamailio rejects a group id sent as
        "1" where it expects the integer 1 (dispatcher.set_state then fails
        with "destination set [0] not found").
        """
        request = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": next(_ids)}
        return await asyncio.to_thread(self._call_blocking, request)

    def _call_blocking(self, request: dict[str, Any]) -> Any:
        payload = json.dumps(request).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind("")  # autobind: an abstract address Kamailio can answer to
            sock.settimeout(self.timeout)
            try:
                sock.sendto(payload, str(self.socket_path))
                while True:
                    reply = json.loads(sock.recv(1 << 20))
                    if reply.get("id") == request["id"]:
                        break
            except (OSError, TimeoutError, ValueError) as exc:
                raise KamailioRpcError(
                    f"{request['method']}: no answer on {self.socket_path}: {exc}"
                ) from exc
        if "error" in reply:
            error = reply["error"]
            raise KamailioRpcError(
                f"{request['method']}: {error.get('message', error)} ({error.get('code')})"
            )
        return reply.get("result")
