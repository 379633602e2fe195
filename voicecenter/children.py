"""Child processes of the server: they die with it, and the supervised ones come back.

If the control plane is killed outright (SIGKILL, OOM), Kamailio, Mosquitto
and the media workers must not live on holding ports and calls nobody
drives; the kernel sends them SIGTERM when their parent dies.

Kamailio, rtpengine, Mosquitto and the speech service are all run the same
way by ChildProcess: in their own process group (so a stop reaps every
process they forked), their output in our log (a pipe nobody drains blocks
the child), counted ready only when a check of their own says so, and
restarted with back-off when they die, because each one is a part the
server cannot do without for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1

Process = asyncio.subprocess.Process
# Returns once the child is ready (with a few words for the log line that says so).
ReadyCheck = Callable[[Process], Awaitable[str | None]]
# One output line -> the log level and text it is logged with.
LineParser = Callable[[str], tuple[int, str]]


def die_with_parent() -> None:
    """preexec_fn for subprocesses: SIGTERM this child when its parent dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class ChildStartError(RuntimeError):
    """A child process could not be started or did not get ready; the message says why."""


@dataclass(frozen=True)
class RestartPolicy:
    """How long to wait before each restart of a child that died.

    The delays grow with every restart in a row, so a child that cannot run
    is not spun on; a run of ``stable_after`` seconds starts them over.
    """

    delays: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0)
    stable_after: float = 30.0

    @classmethod
    def doubling(cls, first: float, longest: float) -> RestartPolicy:
        delays = [first]
        while 0 < delays[-1] < longest:
            delays.append(min(delays[-1] * 2, longest))
        return cls(tuple(delays))

    def delay(self, failures: int) -> float:
        return self.delays[min(failures, len(self.delays) - 1)]


def info_line(line: str) -> tuple[int, str]:
    """The default LineParser: every line at INFO, as it is."""
    return logging.INFO, line.strip()


def until(check: Callable[[], Awaitable[bool]], note: str | None = None,
          interval: float = 0.05) -> ReadyCheck:
    """A ReadyCheck that asks ``check()`` again every ``interval`` until it says yes."""

    async def ready(process: Process) -> str | None:
        while not await check():  # noqa: ASYNC110 - a probe, not an event
            await asyncio.sleep(interval)
        return note

    return ready


async def exited(process: Process) -> int:
    """The main process's exit status, as soon as it exits.

    Process.wait() also waits for the output pipe to close, and children of
    the program (Kamailio's) keep it open when the main process dies alone
    (SIGKILL), so it would wait forever; returncode is set as soon as the
    main process is reaped.
    """
    while process.returncode is None:  # noqa: ASYNC110 - no public exit event to await
        await asyncio.sleep(0.1)
    return process.returncode


@dataclass(eq=False)
class ChildProcess:
    """One program the server runs, keeps running and stops with nothing left behind.

    ``prepare`` runs before every launch (files to write, ports to check) and
    may raise ``error``; ``ready`` decides when a launch succeeded. With
    ``stdout_to_log=False`` stdout is left to ``ready`` (a program that says
    it is ready on stdout) and only stderr is logged. ``where`` (an address)
    goes into start errors so they say which port did not come up.
    """

    name: str
    argv: list[str]
    _: KW_ONLY
    ready: ReadyCheck
    log: logging.Logger
    parse_line: LineParser = info_line
    prepare: Callable[[], Awaitable[None]] | None = None
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    stdout_to_log: bool = True
    start_timeout: float = 10.0
    stop_timeout: float = 3.0
    restart: RestartPolicy = RestartPolicy()
    error: type[ChildStartError] = ChildStartError
    where: str = ""
    restarts: int = field(default=0, init=False)
    is_ready: bool = field(default=False, init=False)
    last_error: str | None = field(default=None, init=False)
    # its last words, for start errors
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=40), init=False)
    _process: Process | None = field(default=None, init=False, repr=False)
    _pump: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _supervisor: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _stopping: bool = field(default=False, init=False, repr=False)
    _launched_at: float = field(default=0.0, init=False, repr=False)

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process and process.returncode is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def supervised(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    async def start(self, *, keep_trying: bool = False) -> None:
        """Launch the program, return once it is ready, then restart it whenever it dies.

        A first launch that fails raises ``error``, unless ``keep_trying``: then
        it is logged and retried with back-off, for parts the server can start without.
        """
        if self._supervisor is not None:
            raise RuntimeError(f"{self.name} is already started")
        self._stopping = False
        try:
            await self._launch()
        except (ChildStartError, OSError) as exc:
            if not keep_trying:
                raise
            self._process = None
            self.last_error = str(exc)
            self.log.error("%s did not start: %s; trying again", self.name, exc)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"{self.name}-supervisor")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole group after stop_timeout; nothing is left."""
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        await self._terminate()

    async def _launch(self) -> None:
        if self.prepare is not None:
            await self.prepare()
        self.recent.clear()
        self.is_ready = False
        pipe = asyncio.subprocess.PIPE
        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=pipe,
                stderr=asyncio.subprocess.STDOUT if self.stdout_to_log else pipe,
                start_new_session=True,  # its own process group: stop() reaps every child
                preexec_fn=die_with_parent,
                env=self.env,
                cwd=self.cwd,
            )
        except OSError as exc:
            raise self.error(f"cannot run {self.argv[0]}: {exc.strerror}") from exc
        self._process = process
        self._launched_at = time.monotonic()
        output = process.stdout if self.stdout_to_log else process.stderr
        assert output is not None
        self._pump = asyncio.create_task(self._pump_lines(output), name=f"{self.name}-log")
        try:
            note = await self._wait_ready(process)
        except BaseException:
            await self._terminate()
            raise
        self.is_ready = True
        self.last_error = None
        self.log.info("%s %d ready%s", self.name, process.pid, f": {note}" if note else "")

    async def _wait_ready(self, process: Process) -> str | None:
        """Until ``ready`` says so, the program exits or start_timeout passes."""
        ready = asyncio.ensure_future(self.ready(process))
        exit_ = asyncio.create_task(exited(process))
        try:
            done, _ = await asyncio.wait({ready, exit_}, timeout=self.start_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            exit_.cancel()
            await asyncio.gather(ready, exit_, return_exceptions=True)
        if ready in done and process.returncode is None:
            try:
                return ready.result()
            except ChildStartError:
                raise
            except Exception as exc:  # a bug in a check must not end the supervision
                raise self.error(f"{self.name}: readiness check failed: {exc!r}") from exc
        if process.returncode is not None:
            state = f"exited with status {process.returncode}"
            if self._pump is not None:  # let the pump read why it exited
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._pump), 1.0)
        else:
            state = f"was not ready within {self.start_timeout:g} s"
        where = f" on {self.where}" if self.where else ""
        errors = [line for line in self.recent if "error" in line.lower()]
        last_words = " | ".join((errors or list(self.recent))[-5:]) or "no output"
        raise self.error(f"{self.name} {state}{where}: {last_words}")

    async def _terminate(self) -> None:
        process = self._process
        self.is_ready = False
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(exited(process), self.stop_timeout)
            except TimeoutError:
                self.log.warning("%s %d ignored SIGTERM, killing it", self.name, process.pid)
        # children that outlive the main process (or a main that ignored SIGTERM)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        pump, self._pump = self._pump, None
        if pump is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(pump, 1.0)

    async def _pump_lines(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            if not line.strip():
                continue
            self.recent.append(line)
            level, text = self.parse_line(line)
            if self._stopping:
                # children closing their ends at shutdown complain; that is no error
                level = min(level, logging.INFO)
            self.log.log(level, "%s: %s", self.name, text)

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            process = self._process
            if process is not None:
                code = await exited(process)
                if self._stopping:
                    return
                self.is_ready = False
                if time.monotonic() - self._launched_at > self.restart.stable_after:
                    failures = 0
                self.log.error("%s exited with status %s; restarting it in %.1f s",
                               self.name, code, self.restart.delay(failures))
                await self._terminate()  # reap children still holding its ports
            await asyncio.sleep(self.restart.delay(failures))
            failures += 1
            try:
                await self._launch()
                self.restarts += 1
            except (ChildStartError, OSError) as exc:
                self._process = None
                self.last_error = str(exc)
                self.log.error("%s: restart failed: %s", self.name, exc)


class RunsChild:
    """What the owner of a ChildProcess (``_child``) shows of it to the server and health."""

    _child: ChildProcess

    @property
    def pid(self) -> int | None:
        return self._child.pid

    @property
    def running(self) -> bool:
        return self._child.running

    @property
    def restarts(self) -> int:
        return self._child.restarts

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL to its whole process group; nothing is left running."""
        await self._child.stop()
