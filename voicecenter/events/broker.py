"""MosquittoBroker: the embedded MQTT broker that ``serve`` runs by default.

A contact center's event consumers (wallboards, CRMs, the desk) should not
need a broker installed to try voicecenter, so ``serve`` runs Mosquitto
itself unless ``mqtt.url`` names an external one. The broker is supervised:
if it dies it is started again, and meanwhile events wait in the outbox.

Anonymous access is only allowed on a loopback listener; any other address
needs mqtt.username/password, which become a Mosquitto password file (PBKDF2,
written here so the password never appears on a command line).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import ipaddress
import logging
import os
import secrets
import socket
from pathlib import Path

from voicecenter.children import die_with_parent
from voicecenter.settings import MqttSettings, Settings

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 3.0


class BrokerError(RuntimeError):
    """The broker could not be started; the message says why."""


def mosquitto_password_line(username: str, password: str) -> str:
    """One password-file line in Mosquitto's PBKDF2-SHA512 format (``$7$``)."""
    salt = secrets.token_bytes(12)
    iterations = 101
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return (
        f"{username}:$7${iterations}${base64.b64encode(salt).decode()}"
        f"${base64.b64encode(digest).decode()}"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MosquittoBroker:
    """A supervised ``mosquitto -c <runtime_dir>/mosquitto.conf``."""

    def __init__(
        self,
        mqtt: MqttSettings | Settings,
        runtime_dir: Path,
        *,
        start_timeout: float = 5.0,
        restart_delay_min: float = 0.2,
        restart_delay_max: float = 2.0,
    ) -> None:
        self.mqtt = mqtt.mqtt if isinstance(mqtt, Settings) else mqtt
        self.runtime_dir = Path(runtime_dir)
        self.conf_path = self.runtime_dir / "mosquitto.conf"
        self._start_timeout = start_timeout
        self._delay_min = restart_delay_min
        self._delay_max = restart_delay_max
        self._process: asyncio.subprocess.Process | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process and process.returncode is None else None

    @property
    def running(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    def write_config(self) -> Path:
        """Write mosquitto.conf (and the password file if credentials are set)."""
        mqtt = self.mqtt
        credentials = bool(mqtt.username and mqtt.password)
        if not credentials and not _is_loopback(mqtt.host):
            raise BrokerError(
                f"mqtt.host {mqtt.host} is not loopback: set mqtt.username and "
                "mqtt.password (anonymous access is only allowed on loopback)"
            )
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            "# Written by voicecenter at every start; edits are lost.",
            "per_listener_settings false",
            f"listener {mqtt.port} {mqtt.host}",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_timestamp false",
            # Started as root, Mosquitto would switch to the `mosquitto` user and
            # then fail to read files in our private runtime directory; it is our
            # child process, so it runs as whoever runs voicecenter.
            f"user {_current_user()}",
        ]
        if credentials:
            passwd = self.runtime_dir / "mosquitto.passwd"
            passwd.write_text(mosquitto_password_line(mqtt.username or "", mqtt.password or "")
                              + "\n")
            passwd.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        self.conf_path.write_text("\n".join(lines) + "\n")
        return self.conf_path

    async def start(self) -> None:
        """Launch Mosquitto, wait until it accepts connections, then supervise it."""
        if self.running:
            return
        self.write_config()
        if not _port_free(self.mqtt.host, self.mqtt.port):
            raise BrokerError(f"cannot listen on {self.mqtt.host}:{self.mqtt.port}: port in use")
        await self._launch()
        self._supervisor = asyncio.create_task(self._supervise(), name="mosquitto-supervisor")

    async def stop(self) -> None:
        """Stop supervising and terminate Mosquitto; no process is left behind."""
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        await self._terminate()

    async def __aenter__(self) -> MosquittoBroker:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _launch(self) -> None:
        binary = self.mqtt.mosquitto_binary
        if not os.access(binary, os.X_OK):
            raise BrokerError(f"mosquitto not found at {binary} (mqtt.mosquitto_binary)")
        self._stderr_tail.clear()
        self._process = await asyncio.create_subprocess_exec(
            binary, "-c", str(self.conf_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C meant for us is ours to pass on
            preexec_fn=die_with_parent,
        )
        self._stderr_task = asyncio.create_task(self._read_stderr(self._process))
        try:
            await self._wait_ready(self._process)
        except BaseException:
            await self._terminate()
            raise
        log.info("mosquitto %d listening on %s:%d", self._process.pid, self.mqtt.host,
                 self.mqtt.port)

    async def _wait_ready(self, process: asyncio.subprocess.Process) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start_timeout
        while True:
            if process.returncode is not None:
                await self._drain_stderr()
                raise BrokerError(
                    f"mosquitto exited with status {process.returncode}: "
                    + (" | ".join(self._stderr_tail) or "no output")
                )
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(self.mqtt.host, self.mqtt.port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
            if loop.time() > deadline:
                raise BrokerError(
                    f"mosquitto did not listen on {self.mqtt.host}:{self.mqtt.port} "
                    f"within {self._start_timeout:g} s"
                )
            await asyncio.sleep(0.02)

    async def _supervise(self) -> None:
        delay = self._delay_min
        while True:
            process = self._process
            if process is not None:
                status = await process.wait()
                await self._drain_stderr()
                log.warning("mosquitto exited with status %s; restarting in %.1f s",
                            status, delay)
            await asyncio.sleep(delay)
            try:
                await self._launch()
                self.restarts += 1
                delay = self._delay_min
            except BrokerError as exc:
                self._process = None
                log.error("restarting mosquitto failed: %s", exc)
                delay = min(delay * 2, self._delay_max)

    async def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(STOP_GRACE_SECONDS):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        await self._drain_stderr()

    async def _drain_stderr(self) -> None:
        task, self._stderr_task = self._stderr_task, None
        if task is not None:
            # The pipe closes when the process exits; don't hang on a stuck reader.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(1.0):
                    await task
            task.cancel()

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            if not line:
                continue
            self._stderr_tail.append(line)
            level = logging.DEBUG
            if line.startswith(("Error", "Warning")) and "run as root" not in line:
                level = logging.WARNING
            log.log(level, "mosquitto: %s", line)


def _current_user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "root" if os.geteuid() == 0 else "nobody"


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
