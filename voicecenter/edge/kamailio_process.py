"""Run Kamailio as the SIP edge: write its config, start it, keep it running.

Kamailio runs in the foreground (-DD) and logs to stderr (-E), so it is a
plain child of the control plane: its log lines go through voicecenter's
logging, and its death is seen at once (a daemonized Kamailio would need pid
file polling). If it dies while it should be running it is restarted, because
without the edge no call gets in. Worker states the control plane set are
written into dispatcher.list too, so a restart does not bring back a worker
the control plane took out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from voicecenter.edge.kamailio_config import (
    CONFIG_FILE,
    DISPATCHER_FILE,
    DISPATCHER_SET,
    PID_FILE,
    render_dispatcher_list,
    render_kamailio,
    rpc_socket_path,
)
from voicecenter.edge.probe import ports_in_use, sip_ping
from voicecenter.edge.rpc import KamailioRpc, KamailioRpcError
from voicecenter.edge.targets import WorkerTarget
from voicecenter.settings import Settings

from ..children import ChildProcess, ChildStartError, RunsChild, until

_LEVELS = (
    ("CRITICAL", logging.CRITICAL),
    ("ALERT", logging.CRITICAL),
    ("BUG", logging.CRITICAL),
    ("ERROR", logging.ERROR),
    ("WARNING", logging.WARNING),
    ("NOTICE", logging.INFO),
    ("INFO", logging.INFO),
    ("DEBUG", logging.DEBUG),
)


class EdgeStartError(ChildStartError):
    """Kamailio refused the configuration or did not come up."""


class KamailioEdge(RunsChild):
    """The Kamailio process of the SIP edge, supervised.

    ``workers`` may be replaced by the control plane before reload_dispatcher()
    when the pool itself changes (not needed when a worker merely restarts).
    """

    def __init__(
        self,
        settings: Settings,
        workers: list[WorkerTarget],
        runtime_dir: Path,
        log: logging.Logger | None = None,
    ) -> None:
        self.settings = settings
        self.workers = list(workers)
        self.runtime_dir = Path(runtime_dir).resolve()
        self.log = log or logging.getLogger("voicecenter.edge")
        self.rpc = KamailioRpc(rpc_socket_path(self.runtime_dir))
        self._disabled: set[int] = set()
        sip = settings.sip
        self._child = ChildProcess(
            "kamailio",
            [sip.kamailio_binary, "-f", str(self.config_path), "-P", str(self.pid_path),
             "-DD", "-E"],
            ready=until(self._answers, f"listening on {sip.address}:{sip.port} (udp, tcp), "
                        f"ws port {sip.websocket_port}"),
            log=self.log, parse_line=_parse_line, prepare=self._prepare,
            error=EdgeStartError, where=f"{sip.address}:{sip.port}",
        )

    @property
    def config_path(self) -> Path:
        return self.runtime_dir / CONFIG_FILE

    @property
    def pid_path(self) -> Path:
        return self.runtime_dir / PID_FILE

    async def start(self) -> None:
        """Write and check the config, start Kamailio, return once it answers SIP."""
        if self._child.supervised:
            raise RuntimeError("the SIP edge is already started")
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        self._write_files()
        await self._check_config()
        await self._child.start()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL; no Kamailio process, pid file or RPC socket is left."""
        await self._child.stop()
        for path in (self.pid_path, self.rpc.socket_path):
            path.unlink(missing_ok=True)

    async def set_worker_state(self, worker: WorkerTarget, active: bool) -> None:
        """Put a worker back (active, probed again) or take it out (disabled).

        A disabled worker gets no calls and no probes until the control plane
        puts it back, so a worker that still answers OPTIONS but lost its
        control connection is not handed calls behind the control plane's back.
        """
        if active:
            self._disabled.discard(worker.worker_id)
        else:
            self._disabled.add(worker.worker_id)
        self._write_dispatcher_list()  # what a (re)start of Kamailio will read
        if not self.running:
            return
        state = "ap" if active else "d"
        await self.rpc.call("dispatcher.set_state", state, DISPATCHER_SET, worker.uri)
        self.log.info("edge: worker %s (%s) %s", worker.worker_id, worker.uri,
                      "active" if active else "taken out")

    async def reload_dispatcher(self) -> None:
        """Rewrite dispatcher.list from ``workers`` and make Kamailio read it.

        A reload resets Kamailio's per-worker call counts to zero (calls in
        progress are no longer counted), so it is for pool changes, not for
        routine state changes, which set_worker_state covers.
        """
        self._write_dispatcher_list()
        for attempt in range(4):
            try:
                await self.rpc.call("dispatcher.reload")
                return
            except KamailioRpcError as exc:
                # reload_delta allows one reload a second; wait it out
                if "Ongoing reload" not in str(exc) or attempt == 3:
                    raise
                await asyncio.sleep(1.0)

    # -- files -------------------------------------------------------------

    def _write_files(self) -> None:
        files = render_kamailio(self.settings, self.workers, self.runtime_dir)
        for name, content in files.items():
            _write_atomic(self.runtime_dir / name, content)
        self._write_dispatcher_list()

    def _write_dispatcher_list(self) -> None:
        content = render_dispatcher_list(self.workers, frozenset(self._disabled))
        _write_atomic(self.runtime_dir / DISPATCHER_FILE, content)

    async def _check_config(self) -> None:
        binary = self.settings.sip.kamailio_binary
        try:
            proc = await asyncio.create_subprocess_exec(
                binary, "-c", "-f", str(self.config_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            raise EdgeStartError(f"cannot run {binary}: {exc.strerror}") from exc
        output, _ = await proc.communicate()
        if proc.returncode != 0:
            lines = output.decode(errors="replace").splitlines()
            errors = [line.strip() for line in lines if "ERROR" in line or "CRITICAL" in line]
            detail = "; ".join(errors[-5:]) or "\n".join(lines[-10:])
            raise EdgeStartError(f"kamailio rejects {self.config_path}: {detail}")

    # -- process -----------------------------------------------------------

    async def _reclaim_orphan(self) -> None:
        """Stop a Kamailio left running by an earlier control plane on this runtime dir.

        It outlives a control plane that was killed outright, and would hold
        the SIP ports; it is recognised by our own config path on its command
        line, so no other process is ever touched.
        """
        pid = self._orphan_pid()
        if pid is None:
            return
        self.log.warning("edge: stopping kamailio %s left over from an earlier run", pid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            for _ in range(30):
                try:
                    os.killpg(pid, 0)
                except ProcessLookupError:
                    return
                await asyncio.sleep(0.1)

    def _orphan_pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        if str(self.config_path).encode() not in cmdline or pid == self.pid:
            return None
        return pid

    async def _prepare(self) -> None:
        """Before every launch: current files, no old Kamailio, free ports, no stale pid file."""
        self._write_files()  # the pool may have changed since the last launch
        await self._reclaim_orphan()
        sip = self.settings.sip
        busy = await ports_in_use(sip.address, udp=[sip.port], tcp=[sip.port, sip.websocket_port])
        if busy:
            raise EdgeStartError(f"already in use, is another SIP server running? {busy}")
        # Kamailio refuses to start when its pid file names any live process
        # (a reused pid after a crash) or holds no number at all
        self.pid_path.unlink(missing_ok=True)
        self.rpc.socket_path.unlink(missing_ok=True)

    async def _answers(self) -> bool:
        """This Kamailio answers RPC on its own socket and SIP on its port.

        An OPTIONS answer alone can come from another server on the same port
        (Kamailio binds UDP with SO_REUSEADDR, so a second one shares the UDP
        port and only dies a moment later on the TCP bind); the RPC socket is
        ours alone, and its process is forked only after every bind succeeded.
        """
        sip = self.settings.sip
        try:
            await KamailioRpc(self.rpc.socket_path, timeout=0.2).call("core.version")
        except KamailioRpcError:
            return False
        return await sip_ping(sip.address, sip.port, timeout=0.5)


def _parse_line(line: str) -> tuple[int, str]:
    head = line[:40]
    for word, level in _LEVELS:
        if f" {word}:" in head:
            return level, line.strip()
    return logging.INFO, line.strip()
def _write_atomic(path: Path, content: str) -> None:
    """Kamailio may read dispatcher.list at any reload: never let it see half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)
