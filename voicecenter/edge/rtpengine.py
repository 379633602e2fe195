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
import contextlib
import logging
import os
import re
import signal
import time
from collections import deque

from voicecenter.edge.probe import ports_in_use
from voicecenter.settings import Settings

from ..children import die_with_parent

START_TIMEOUT = 10.0
STOP_TIMEOUT = 3.0
PING_TIMEOUT = 0.3
_RESTART_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
_STABLE_AFTER = 30.0  # a run this long resets the restart back-off
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


class RtpEngineStartError(RuntimeError):
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


class RtpEngine:
    """The supervised rtpengine process of the SIP edge."""

    def __init__(self, settings: Settings, log: logging.Logger | None = None) -> None:
        self.settings = settings
        self.log = log or logging.getLogger("voicecenter.edge.rtpengine")
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._launched_at = 0.0
        self._recent: deque[str] = deque(maxlen=40)

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process and process.returncode is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    async def start(self) -> None:
        """Start rtpengine and return once it answers ``ping``.

        If it cannot start now the error is logged and the supervisor keeps
        trying with back-off: the SIP edge must come up regardless.
        """
        if self._supervisor is not None:
            raise RuntimeError("rtpengine is already started")
        self._stopping = False
        try:
            await self._launch()
        except (RtpEngineStartError, OSError) as exc:
            self.log.error("rtpengine: %s; browser calls have no media until it starts", exc)
            self._process = None
        self._supervisor = asyncio.create_task(self._supervise(), name="rtpengine-supervisor")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; no rtpengine is left running."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._terminate()

    async def _launch(self) -> None:
        sip = self.settings.sip
        busy = await ports_in_use("127.0.0.1", udp=[sip.rtpengine_ng_port], tcp=[])
        if busy:
            raise RtpEngineStartError(f"ng port already in use: {busy}")
        self._recent.clear()
        command = rtpengine_command(self.settings)
        try:
            self._process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        except OSError as exc:
            raise RtpEngineStartError(f"cannot run {command[0]}: {exc.strerror}") from exc
        self._launched_at = time.monotonic()
        self._pump = asyncio.create_task(self._pump_logs(self._process), name="rtpengine-log")
        try:
            await self._wait_ready(self._process)
        except BaseException:
            await self._terminate()
            raise
        self.log.info("rtpengine %s ready: ng 127.0.0.1:%d, media ports %d-%d",
                      self._process.pid, sip.rtpengine_ng_port, sip.rtpengine_port_min,
                      sip.rtpengine_port_max)

    async def _wait_ready(self, process: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        port = self.settings.sip.rtpengine_ng_port
        while time.monotonic() < deadline and process.returncode is None:
            if await ng_ping(port) and process.returncode is None:
                return
            await asyncio.sleep(0.05)
        if process.returncode is not None and self._pump is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._pump), 1.0)
        tail = " | ".join(list(self._recent)[-5:])
        state = "exited" if process.returncode is not None else "did not answer ping"
        raise RtpEngineStartError(f"rtpengine {state} on ng port {port}: {tail}")

    async def _terminate(self) -> None:
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(_exited(process), STOP_TIMEOUT)
            except TimeoutError:
                self.log.warning("rtpengine %s ignored SIGTERM, killing it", process.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        if self._pump is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._pump, 1.0)
            self._pump = None

    async def _pump_logs(self, process: asyncio.subprocess.Process) -> None:
        """rtpengine's stderr into our log; it must be drained or rtpengine blocks."""
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            if not line.strip():
                continue
            self._recent.append(line)
            match = _LINE_LEVEL.match(line)
            level = _LEVELS.get(match.group(1), logging.INFO) if match else logging.INFO
            text = line[match.end():].strip() if match else line.strip()
            self.log.log(level, "rtpengine: %s", text)

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            process = self._process
            if process is not None:
                code = await _exited(process)
                if self._stopping:
                    return
                if time.monotonic() - self._launched_at > _STABLE_AFTER:
                    failures = 0
                self.log.error("rtpengine exited with status %s; restarting it", code)
                await self._terminate()
            delay = _RESTART_DELAYS[min(failures, len(_RESTART_DELAYS) - 1)]
            failures += 1
            await asyncio.sleep(delay)
            try:
                await self._launch()
                self.restarts += 1
            except (RtpEngineStartError, OSError) as exc:
                self.log.error("rtpengine: restart failed: %s", exc)
                self._process = None


async def _exited(process: asyncio.subprocess.Process) -> int:
    """The process's exit status as soon as it is reaped (not when its pipe closes)."""
    while process.returncode is None:  # noqa: ASYNC110 - no public exit event to await
        await asyncio.sleep(0.1)
    return process.returncode
