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
import contextlib
import hashlib
import ipaddress
import logging
import os
import secrets
from pathlib import Path

from voicecenter.children import ChildProcess, ChildStartError, RestartPolicy, RunsChild, until
from voicecenter.edge.probe import ports_in_use
from voicecenter.settings import MqttSettings, Settings

log = logging.getLogger(__name__)


class BrokerError(ChildStartError):
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


class MosquittoBroker(RunsChild):
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
        where = f"{self.mqtt.host}:{self.mqtt.port}"
        self._child = ChildProcess(
            "mosquitto", [self.mqtt.mosquitto_binary, "-c", str(self.conf_path)],
            ready=until(self._accepts, f"listening on {where}", interval=0.02),
            log=log, parse_line=_parse_line, prepare=self._prepare,
            start_timeout=start_timeout,
            restart=RestartPolicy.doubling(restart_delay_min, restart_delay_max),
            error=BrokerError, where=where,
        )

    @property
    def running(self) -> bool:
        """Supervised: a Mosquitto being restarted still counts, start() is then a no-op."""
        return self._child.supervised

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
        await self._child.start()

    async def __aenter__(self) -> MosquittoBroker:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _prepare(self) -> None:
        binary = self.mqtt.mosquitto_binary
        if not os.access(binary, os.X_OK):
            raise BrokerError(f"mosquitto not found at {binary} (mqtt.mosquitto_binary)")
        if await ports_in_use(self.mqtt.host, udp=[], tcp=[self.mqtt.port]):
            raise BrokerError(f"cannot listen on {self.mqtt.host}:{self.mqtt.port}: port in use")

    async def _accepts(self) -> bool:
        try:
            _, writer = await asyncio.open_connection(self.mqtt.host, self.mqtt.port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True


def _parse_line(line: str) -> tuple[int, str]:
    if line.startswith(("Error", "Warning")) and "run as root" not in line:
        return logging.WARNING, line
    return logging.DEBUG, line


def _current_user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "root" if os.geteuid() == 0 else "nobody"
