"""Run rtpengine beside Kamailio, so browsers' WebRTC media reaches the workers.

Browsers send DTLS-SRTP with ICE and the PyPI pjsua2 of the media workers has
no DTLS-SRTP, so for calls with a WebSocket client Kamailio has rtpengine
rewrite the SDP both ways (see the WITH_RTPENGINE parts of the Kamailio
template) and rtpengine relays and de/encrypts the media. It runs in user
space (``--table=-1``): no kernel module to install, and a few browser calls
cost it little.

Like Kamailio it is a plain foreground child of the control plane logging to
stderr, restarted with back-off if it dies, stopped with the server. Its
``ng`` control port is checked with a real ``ping`` before it counts as
ready. A failure here never stops the SIP edge: phones on UDP and TCP keep
working and only browser calls wait for rtpengine to come back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re

from voicecenter.edge.probe import ports_in_use
from voicecenter.settings import Settings

from ..children import ChildProcess, ChildStartError, RunsChild, until

PING_TIMEOUT = 0.3
# rtpengine's syslog levels (--log-level) by voicecenter log level; NOTICE at
# INFO keeps one line per ng command out of the log.
_SYSLOG_LEVELS = {"DEBUG": 7, "INFO": 5, "WARNING": 4, "ERROR": 3}
_LINE_LEVEL = re.compile(r"^\[[0-9.]+\]\s+([A-Z]+):")
_LEVELS = {"EMERG": logging.CRITICAL, "ALERT": logging.CRITICAL, "CRIT": logging.CRITICAL,
           "ERR": logging.ERROR, "ERROR": logging.ERROR, "WARNING": logging.WARNING,
           "NOTICE": logging.INFO, "INFO": logging.INFO, "DEBUG": logging.DEBUG}
# Media with no packet this long ends an rtpengine session (a browser closed
# without a BYE); Kamailio's rtpengine_delete() ends it at once otherwise.
MEDIA_TIMEOUT_S = 60


class RtpEngineStartError(ChildStartError):
    """rtpengine could not be started or did not answer its ng port."""


def rtpengine_command(settings: Settings) -> list[str]:
    """The rtpengine command line for these settings (no system config file is read)."""
    sip = settings.sip
    address = sip.address if sip.address not in ("0.0.0.0", "::") else "127.0.0.1"
    return [
        sip.rtpengine_binary,
        # /etc/rtpengine/rtpengine.conf is the distribution's daemon's, not ours
        "--config-file=none",
        "--foreground", "--log-stderr",
        f"--log-level={_SYSLOG_LEVELS.get(settings.log_level, 5)}",
        # RTCP from a worker that arrives before the browser's DTLS handshake
        # ends cannot be encrypted yet: logged as an error on every call
        "--log-level-rtcp=2",
        f"--interface={address}",
        f"--listen-ng=127.0.0.1:{sip.rtpengine_ng_port}",
        f"--port-min={sip.rtpengine_port_min}",
        f"--port-max={sip.rtpengine_port_max}",
        "--table=-1",  # user space: no kernel forwarding module needed
        f"--timeout={MEDIA_TIMEOUT_S}",
        "--delete-delay=0",
        "--num-threads=2",
    ]


async def ng_ping(port: int, host: str = "127.0.0.1", timeout: float = PING_TIMEOUT) -> bool:
    """True if rtpengine answers an ng ``ping`` with ``pong`` on host:port."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes] = loop.create_future()
    cookie = os.urandom(6).hex().encode()

    class _Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            if not answer.done() and data.startswith(cookie + b" "):
                answer.set_result(data[len(cookie) + 1:])

        def error_received(self, exc: Exception) -> None:
            if not answer.done():
                answer.set_exception(exc)

    transport, _ = await loop.create_datagram_endpoint(_Client, remote_addr=(host, port))
    try:
        transport.sendto(cookie + b" d7:command4:pinge")
        reply = await asyncio.wait_for(answer, timeout)
    except (TimeoutError, OSError):
        return False
    finally:
        transport.close()
    return b"pong" in reply


class RtpEngine(RunsChild):
    """The supervised rtpengine process of the SIP edge."""

    def __init__(self, settings: Settings, log: logging.Logger | None = None) -> None:
        self.settings = settings
        self.log = log or logging.getLogger("voicecenter.edge.rtpengine")
        sip = settings.sip
        port = sip.rtpengine_ng_port
        self._child = ChildProcess(
            "rtpengine", rtpengine_command(settings),
            ready=until(lambda: ng_ping(port), f"ng 127.0.0.1:{port}, media ports "
                        f"{sip.rtpengine_port_min}-{sip.rtpengine_port_max}"),
            log=self.log, parse_line=_parse_line, prepare=self._ng_port_free,
            error=RtpEngineStartError, where=f"ng port {port}",
        )

    async def start(self) -> None:
        """Start rtpengine and return once it answers ``ping``.

        If it cannot start now the error is logged and the supervisor keeps
        trying with back-off: the SIP edge must come up regardless, and only
        browser calls have no media until rtpengine starts.
        """
        await self._child.start(keep_trying=True)

    async def _ng_port_free(self) -> None:
        busy = await ports_in_use("127.0.0.1", udp=[self.settings.sip.rtpengine_ng_port], tcp=[])
        if busy:
            raise RtpEngineStartError(f"ng port already in use: {busy}")


def _parse_line(line: str) -> tuple[int, str]:
    match = _LINE_LEVEL.match(line)
    if match is None:
        return logging.INFO, line.strip()
    return _LEVELS.get(match.group(1), logging.INFO), line[match.end():].strip()
