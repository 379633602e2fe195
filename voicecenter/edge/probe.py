"""Probes around starting Kamailio: are its ports free, does SIP answer.

A port taken by another SIP server (a demo on 5060, a Kamailio left behind)
is reported by name before starting, instead of as a Kamailio that exits a
moment after it seemed to start. An OPTIONS answer tells that Kamailio really
serves, which neither the pid file nor the process state tells.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid


async def sip_ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something answers a SIP OPTIONS on host:port over UDP."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    call_id = uuid.uuid4().hex
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            sock.connect((host, port))
            local_host, local_port = sock.getsockname()[:2]
            via_host = f"[{local_host}]" if family == socket.AF_INET6 else local_host
            target = f"[{host}]" if family == socket.AF_INET6 else host
            request = (
                f"OPTIONS sip:{target}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {via_host}:{local_port};branch=z9hG4bK{call_id[:16]};rport\r\n"
                f"From: <sip:probe@{via_host}>;tag={call_id[:8]}\r\n"
                f"To: <sip:{target}:{port}>\r\n"
                f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            await loop.sock_sendall(sock, request.encode())
            deadline = loop.time() + timeout
            while (left := deadline - loop.time()) > 0:
                reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), left)
                if call_id.encode() in reply and reply.startswith(b"SIP/2.0 "):
                    return True
        except (OSError, TimeoutError):
            return False
    return False


async def ports_in_use(
    host: str, udp: list[int], tcp: list[int], patience: float = 1.0
) -> list[str]:
    """The ports of host that cannot be bound, as "udp:PORT" / "tcp:PORT".

    Retries for ``patience`` seconds: right after a Kamailio was killed its
    children may hold the sockets for a few more milliseconds.
    """
    deadline = time.monotonic() + patience
    while True:
        busy = [f"udp:{p}" for p in udp if not _bindable(host, p, socket.SOCK_DGRAM)]
        busy += [f"tcp:{p}" for p in tcp if not _bindable(host, p, socket.SOCK_STREAM)]
        if not busy or time.monotonic() > deadline:
            return busy
        await asyncio.sleep(0.1)


def _bindable(host: str, port: int, kind: socket.SocketKind) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        if kind == socket.SOCK_STREAM:
            # as Kamailio does: connections in TIME_WAIT do not block a listener
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
