"""A real baresip softphone for tests: registers to the SIP edge, answers calls.

Tests need a genuine SIP user agent as an agent's phone (digest auth, its own
Contact, RTP), not a SIPp script that only does what it is told. baresip runs
with a generated config dir (``baresip -f DIR``) and is driven over its
ctrl_tcp interface: JSON in netstrings, commands answered with a token, and
events (REGISTER_OK, REGISTER_FAIL, CALL_INCOMING, CALL_ESTABLISHED,
CALL_CLOSED, ...) pushed as they happen.

Measured with baresip 1.0.0 (Debian 12):
- it also listens for SIP over TLS on sip_port + 1, so both ports must be free;
- without an audio device the aubridge module works as a silent source and a
  player that drops everything; ausine only runs at 48 kHz, which G.711 can't
  use without a resampler;
- with an aufile source, baresip HANGS UP the call when the file ends, so an
  audio file must be longer than the call;
- ``net_interface 127.0.0.1`` keeps Contact and SDP on 127.0.0.1 (the name
  ``lo`` is refused: "could not get IPv4 address").

Usage::

    phone = Softphone(tmp_path / "alice", "alice", "secret", "127.0.0.1", edge_port)
    await phone.start()
    await phone.wait_registered()
    ...
    event = await phone.wait_event("CALL_ESTABLISHED")
    await phone.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
from pathlib import Path
from typing import Any

BARESIP = shutil.which("baresip") or "/usr/bin/baresip"
MODULE_PATH = "/usr/lib/baresip/modules"


class SoftphoneError(RuntimeError):
    """baresip did not start, register or do what it was asked."""


def free_sip_port() -> int:
    """A port free for UDP and TCP, with the next one free too (baresip's TLS)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65535 and all(port_free(p) for p in (port, port + 1)):
            return port
    raise SoftphoneError("no free port pair for baresip")


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int) -> bool:
    """Nothing holds `port` on 127.0.0.1, for UDP or TCP (SIP uses both)."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


class Softphone:
    """One baresip process with one account, registered to a registrar."""

    def __init__(
        self,
        workdir: Path,
        username: str,
        password: str,
        registrar_host: str,
        registrar_port: int,
        *,
        domain: str | None = None,
        auto_answer: bool = True,
        audio_file: Path | None = None,
        register_interval: int = 60,
        transport: str = "udp",
    ) -> None:
        self.workdir = Path(workdir)
        self.username = username
        self.password = password
        self.registrar_host = registrar_host
        self.registrar = f"{registrar_host}:{registrar_port}"
        self.domain = domain or registrar_host
        self.auto_answer = auto_answer
        self.audio_file = audio_file
        self.register_interval = register_interval
        self.transport = transport
        self.sip_port = 0
        self.ctrl_port = 0
        self.events: list[dict[str, Any]] = []
        self.output: list[str] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._responses: dict[str, dict[str, Any]] = {}
        self._token = 0
        self.account_line = ""

    @property
    def aor(self) -> str:
        return f"sip:{self.username}@{self.domain}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.returncode is None else None

    def write_config(self) -> None:
        """The config dir baresip reads: config, an empty accounts, contacts."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_sip_port()
        self.ctrl_port = free_tcp_port()
        if self.audio_file:
            source, source_module = f"aufile,{self.audio_file}", "aufile.so"
        else:
            source, source_module = "aubridge,silence", "aubridge.so"
        config = {
            "poll_method": "epoll",
            "sip_listen": f"127.0.0.1:{self.sip_port}",
            "net_interface": "127.0.0.1",
            "call_local_timeout": "120",
            "call_max_calls": "4",
            "audio_player": "aubridge,nowhere",
            "audio_source": source,
            "audio_alert": "aubridge,nowhere",
            "module_path": MODULE_PATH,
        }
        lines = [f"{key}\t\t{value}" for key, value in config.items()]
        modules = ["g711.so", "aubridge.so", source_module]
        lines += [f"module\t\t\t{name}" for name in dict.fromkeys(modules)]
        lines += ["module_app\t\taccount.so", "module_app\t\tmenu.so", "module_app\t\tctrl_tcp.so"]
        lines.append(f"ctrl_tcp_listen\t\t127.0.0.1:{self.ctrl_port}")
        (self.workdir / "config").write_text("\n".join(lines) + "\n")
        answer = "auto" if self.auto_answer else "manual"
        params = []
        if self.domain == self.registrar_host:
            uri = f"sip:{self.username}@{self.registrar}"
        else:  # a SIP domain that is not the registrar's address
            uri = f"sip:{self.username}@{self.domain}"
            params.append(f'outbound="sip:{self.registrar};transport={self.transport}"')
        if self.transport != "udp":
            uri += f";transport={self.transport}"
        params += [
            f"auth_pass={self.password}",
            f"answermode={answer}",
            f"regint={self.register_interval}",
            "mwi=no",
            "ptime=20",
        ]
        # The account is added over ctrl_tcp once connected (uanew): from the
        # accounts file baresip would register before anyone listens for
        # REGISTER_OK.
        self.account_line = f"<{uri}>;{';'.join(params)}"
        (self.workdir / "accounts").write_text(f"# added at run time: {self.account_line}\n")
        (self.workdir / "contacts").write_text("")

    async def start(self, timeout: float = 5.0) -> None:
        """Start baresip and connect to its control port."""
        self.write_config()
        self._process = await asyncio.create_subprocess_exec(
            BARESIP, "-f", str(self.workdir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self._tasks.append(asyncio.create_task(self._read_output(self._process)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    "127.0.0.1", self.ctrl_port
                )
                break
            except OSError:
                if self._process.returncode is not None or loop.time() > deadline:
                    await self.stop()
                    raise SoftphoneError(
                        f"baresip did not open its control port: {' | '.join(self.output[-8:])}"
                    ) from None
                await asyncio.sleep(0.05)
        self._tasks.append(asyncio.create_task(self._read_control(self._reader)))
        await self.command("uanew", self.account_line)

    async def stop(self, timeout: float = 3.0) -> None:
        """Unregister and quit; SIGKILL if baresip does not go."""
        process = self._process
        if process is None:
            return
        if process.returncode is None and self._writer is not None:
            with contextlib.suppress(OSError, SoftphoneError, TimeoutError):
                await self.command("quit", timeout=1.0)
        if process.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        if self._writer is not None:
            self._writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._process = None

    async def command(self, command: str, params: str = "", timeout: float = 3.0) -> dict[str, Any]:
        """Run a baresip command (dial, accept, hangup, reginfo, quit ...)."""
        if self._writer is None:
            raise SoftphoneError("softphone is not started")
        self._token += 1
        token = f"t{self._token}"
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._writer.write(b"%d:%s," % (len(body), body))
        await self._writer.drain()
        await self._wait_for(lambda: token in self._responses, timeout, f"answer to {command}")
        return self._responses.pop(token)

    async def dial(self, uri: str) -> dict[str, Any]:
        return await self.command("dial", uri)

    async def answer(self) -> dict[str, Any]:
        return await self.command("accept")

    async def hangup(self) -> dict[str, Any]:
        return await self.command("hangup")

    async def wait_event(
        self, *types: str, timeout: float = 5.0, since: int = 0
    ) -> dict[str, Any]:
        """The first event (from index ``since`` on) whose type is one of ``types``."""

        def found() -> bool:
            return any(e.get("type") in types for e in self.events[since:])

        await self._wait_for(found, timeout, "/".join(types))
        return next(e for e in self.events[since:] if e.get("type") in types)

    async def wait_registered(self, timeout: float = 5.0) -> dict[str, Any]:
        """REGISTER_OK, or SoftphoneError carrying the registrar's answer."""
        event = await self.wait_event("REGISTER_OK", "REGISTER_FAIL", timeout=timeout)
        if event["type"] != "REGISTER_OK":
            raise SoftphoneError(f"registration failed: {event.get('param')}")
        return event

    async def _wait_for(self, condition: Any, timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            left = deadline - loop.time()
            if left <= 0 or self._process is None:
                raise SoftphoneError(
                    f"{self.username}: no {what} within {timeout} s; "
                    f"events {[e.get('type') for e in self.events]}; "
                    f"output {' | '.join(self.output[-6:])}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def _read_control(self, reader: asyncio.StreamReader) -> None:
        """Netstrings from ctrl_tcp: '<len>:<json>,'."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                length = int((await reader.readuntil(b":"))[:-1])
                message = json.loads(await reader.readexactly(length))
                await reader.readexactly(1)  # the trailing comma
                if message.get("event"):
                    self.events.append(message)
                elif message.get("response"):
                    self._responses[str(message.get("token"))] = message
                self._changed.set()

    async def _read_output(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            self.output.append(raw.decode(errors="replace").rstrip())
        self._changed.set()
