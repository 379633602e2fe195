"""The pool of media worker processes, seen from the control plane.

Workers connect back over TCP (so they can live on other hosts later) and
say hello with their true call capacity. A worker is declared lost the moment
its process exits, its connection closes, or its heartbeats stop; its slot is
refilled with a new process on the same SIP port and RTP range, so the SIP
edge's dispatcher list never has to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..children import die_with_parent
from ..edge.targets import WorkerTarget
from ..settings import MediaSettings
from .worker_link import WorkerLink

log = logging.getLogger("voicecenter.media.pool")

EventHandler = Callable[[WorkerLink, dict[str, Any]], Awaitable[None]]
LostHandler = Callable[[int, str], Awaitable[None]]
ReadyHandler = Callable[[WorkerLink], Awaitable[None]]

DEFAULT_CAPACITY = 4
HELLO_TIMEOUT_S = 15.0


class WorkerSlot:
    """One place in the pool: its ports, its current process and link."""

    def __init__(self, index: int, settings: MediaSettings) -> None:
        self.index = index
        self.sip_port = settings.sip_port_base + index
        self.rtp_port = settings.rtp_port_base + index * settings.rtp_ports_per_worker
        self.process: asyncio.subprocess.Process | None = None
        self.link: WorkerLink | None = None
        self.capacity = DEFAULT_CAPACITY
        self.restarts = 0
        self.ready = asyncio.Event()
        self.lost_reported = False
        self.output: deque[str] = deque(maxlen=20)


class WorkerPool:
    def __init__(self, settings: MediaSettings, on_event: EventHandler, on_lost: LostHandler,
                 on_ready: ReadyHandler | None = None, pj_log_level: int = 1) -> None:
        self.settings = settings
        self.on_event = on_event
        self.on_lost = on_lost
        self.on_ready = on_ready
        self.pj_log_level = pj_log_level
        self.slots = [WorkerSlot(i, settings) for i in range(settings.workers)]
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopping = False
        self._ids = itertools.count(1)

    # -- lifecycle --------------------------------------------------------
    async def start(self) -> None:
        taken = [slot for slot in self.slots if not _udp_port_free(self.settings.address,
                                                                  slot.sip_port)]
        if taken:
            ports = ", ".join(f"{s.sip_port} (worker {s.index})" for s in taken)
            raise RuntimeError(f"media worker SIP ports in use by another program: {ports}; "
                               "change media.sip_port_base")
        self.server = await asyncio.start_server(
            self._accept, self.settings.control_host, self.settings.control_port
        )
        for slot in self.slots:
            await self._spawn(slot)
        self._spawn_task(self._watchdog())
        waits = [asyncio.wait_for(slot.ready.wait(), HELLO_TIMEOUT_S) for slot in self.slots]
        try:
            await asyncio.gather(*waits)
        except TimeoutError as exc:
            missing = [s.index for s in self.slots if not s.ready.is_set()]
            raise RuntimeError(f"media workers {missing} did not start within "
                               f"{HELLO_TIMEOUT_S:.0f} s") from exc
        log.info("media pool ready: %d workers, %d calls", len(self.slots), self.capacity)

    @property
    def capacity(self) -> int:
        return sum(slot.capacity for slot in self.slots if slot.ready.is_set())

    def targets(self) -> list[WorkerTarget]:
        return [
            WorkerTarget(slot.index, self.settings.address, slot.sip_port, slot.capacity)
            for slot in self.slots
        ]

    def link(self, worker_id: int) -> WorkerLink | None:
        if 0 <= worker_id < len(self.slots):
            return self.slots[worker_id].link
        return None

    async def stop(self, grace_s: float = 3.0) -> None:
        """Ask every worker to hang up and exit; kill what is left after grace_s."""
        self.stopping = True
        for slot in self.slots:
            if slot.link is not None:
                slot.link.send({"type": "shutdown", "id": next(self._ids)})
        procs = [s.process for s in self.slots if s.process and s.process.returncode is None]
        if procs:
            _, pending = await asyncio.wait([asyncio.create_task(p.wait()) for p in procs],
                                            timeout=grace_s)
            for proc in procs:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            for task in pending:
                with contextlib.suppress(Exception):
                    await task
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- processes --------------------------------------------------------
    async def _spawn(self, slot: WorkerSlot) -> None:
        slot.ready.clear()
        slot.lost_reported = False
        slot.output.clear()
        cmd = [
            sys.executable, "-m", "voicecenter.media.worker",
            "--worker", str(slot.index),
            "--control", f"{self.settings.control_host}:{self.settings.control_port}",
            "--address", self.settings.address,
            "--sip-port", str(slot.sip_port),
            "--rtp-port", str(slot.rtp_port),
            "--rtp-range", str(self.settings.rtp_ports_per_worker),
            "--poll-ms", str(self.settings.poll_interval_ms),
            "--clock-rate", str(self.settings.clock_rate),
            "--pj-log-level", str(self.pj_log_level),
        ]
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C for serve must not kill workers under it
            preexec_fn=die_with_parent,
        )
        slot.process = proc
        log.info("worker=%d started pid=%d sip_port=%d", slot.index, proc.pid, slot.sip_port)
        self._spawn_task(self._pipe_output(slot, proc))
        self._spawn_task(self._wait_exit(slot, proc))

    async def _pipe_output(self, slot: WorkerSlot, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            text = line.decode(errors="replace").rstrip()
            slot.output.append(text)
            log.debug("worker=%d %s", slot.index, text)

    async def _wait_exit(self, slot: WorkerSlot, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        reason = f"worker exited with code {code}"
        if code < 0:
            try:
                reason = f"worker killed by {signal.Signals(-code).name}"
            except ValueError:
                reason = f"worker killed by signal {-code}"
        await self._lost(slot, proc, reason)

    async def _lost(self, slot: WorkerSlot, proc: asyncio.subprocess.Process, reason: str) -> None:
        if slot.process is not proc or slot.lost_reported:
            return
        slot.lost_reported = True
        slot.ready.clear()
        if slot.link is not None:
            slot.link.close(reason)
            slot.link = None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if self.stopping:
            return
        log.warning("worker=%d lost: %s", slot.index, reason)
        for text in slot.output:
            log.warning("worker=%d output: %s", slot.index, text)
        await self.on_lost(slot.index, reason)
        await asyncio.sleep(self.settings.restart_delay_ms / 1000)
        if not self.stopping:
            slot.restarts += 1
            await self._spawn(slot)

    async def _watchdog(self) -> None:
        """Kill workers whose heartbeats stopped (hung in pjsua2, stopped by a signal).

        Silence only counts while this loop could listen: after the control
        plane itself stalled, every worker looks silent, so that round is skipped.
        """
        limit = self.settings.heartbeat_timeout_ms / 1000
        tick = 0.1
        last = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            stalled, last = now - last > tick + 0.25, now
            if stalled:
                for slot in self.slots:
                    if slot.link is not None:
                        slot.link.last_seen = max(slot.link.last_seen, now - tick)
                continue
            for slot in self.slots:
                link, proc = slot.link, slot.process
                if link and proc and slot.ready.is_set() and now - link.last_seen > limit:
                    self._spawn_task(self._lost(slot, proc, "worker stopped answering"))

    # -- connections ------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = WorkerLink(reader, writer, self._ids)
        try:
            hello = await asyncio.wait_for(link.read_hello(), HELLO_TIMEOUT_S)
        except (TimeoutError, ValueError, ConnectionError) as exc:
            log.warning("rejected worker connection: %s", exc)
            writer.close()
            return
        index = hello["worker"]
        if not 0 <= index < len(self.slots) or self.slots[index].process is None \
                or self.slots[index].process.pid != hello["pid"]:
            log.warning("rejected hello from unknown worker %s pid %s", index, hello["pid"])
            writer.close()
            return
        slot = self.slots[index]
        slot.link = link
        slot.capacity = hello["capacity"]
        slot.ready.set()
        log.info("worker=%d connected pid=%d capacity=%d", index, hello["pid"], slot.capacity)
        if self.on_ready is not None:
            await self.on_ready(link)
        proc = slot.process
        await link.read_events(self.on_event)
        if proc is None:
            return
        # A dying worker's socket closes a moment before its exit status is
        # known; wait for the status, which says why (signal, exit code).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), 0.3)
        if proc.returncode is None:
            await self._lost(slot, proc, "worker connection closed")

    def _spawn_task(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def _udp_port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True
