"""SpeechService: the speech process `serve` runs and watches, or an external one.

The model takes seconds to load and hundreds of megabytes, so it lives in
one process shared by every call, not in each media worker. A model that
cannot be loaded is reported once, at start, and speech is then marked
unavailable: calls still work and listen() says 'unavailable', so flows
fall back to DTMF. If the process dies later it is started again; while it
is down, listens are 'unavailable' too.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ..children import die_with_parent
from ..settings import Settings, SpeechSettings
from .model import ModelError, describe_model, resolve_model_path

log = logging.getLogger("voicecenter.speech")

STOP_GRACE_S = 3.0
RESTART_DELAY_MIN_S = 0.2
RESTART_DELAY_MAX_S = 5.0


class ServiceError(Exception):
    """The speech process could not be started; the message says why."""


class SpeechService:
    """What CallSession.listen and transcription read: url, sample_rate, available."""

    def __init__(self, settings: Settings | SpeechSettings, runtime_dir: Path) -> None:
        self.settings = settings.speech if isinstance(settings, Settings) else settings
        self.runtime_dir = Path(runtime_dir)
        self.url = self.settings.service_url
        self.sample_rate = self.settings.sample_rate
        self.model: dict[str, Any] | None = None
        self.error: str | None = None
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._ready = False
        self._supervisor: asyncio.Task[None] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)

    @property
    def available(self) -> bool:
        if not self.settings.enabled:
            return False
        if self.settings.url:
            return True
        process = self._process
        return self._ready and process is not None and process.returncode is None

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process and process.returncode is None else None

    def describe(self) -> dict[str, Any]:
        """For health pages and `voicecenter doctor`."""
        return {"enabled": self.settings.enabled, "url": self.url, "available": self.available,
                "external": bool(self.settings.url), "model": self.model, "error": self.error,
                "restarts": self.restarts}

    async def start(self) -> None:
        """Start the service; a bad model is logged once and leaves speech unavailable."""
        if not self.settings.enabled:
            log.info("speech disabled (speech.enabled: false): listen falls back to DTMF")
            return
        if self.settings.url:
            log.info("speech: using the external service at %s", self.settings.url)
            return
        try:
            path = resolve_model_path(self.settings.model_path)
        except ModelError as exc:
            self._fail(str(exc))
            return
        info = describe_model(path)
        if not info["usable"]:
            self._fail(f"speech model not usable: {info['error']}")
            return
        self.model = info
        try:
            await self._launch(path)
        except ServiceError as exc:
            self._fail(str(exc))
            return
        self._supervisor = asyncio.create_task(self._supervise(path), name="speech-supervisor")

    def _fail(self, message: str) -> None:
        self.error = message
        log.error("%s; speech is unavailable and flows fall back to DTMF", message)

    async def stop(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        await self._terminate()

    async def _launch(self, path: Path) -> None:
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        self._ready = False
        self._stderr.clear()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "voicecenter.speech.server",
            "--host", self.settings.host, "--port", str(self.settings.port),
            "--model", str(path), "--threads", str(self.settings.threads),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
            preexec_fn=die_with_parent, cwd=self.runtime_dir,
        )
        self._process = process
        stderr_task = asyncio.create_task(self._read_stderr(process))
        assert process.stdout is not None
        try:
            async with asyncio.timeout(self.settings.start_timeout_s):
                line = await process.stdout.readline()
        except TimeoutError:
            await self._terminate()
            raise ServiceError(
                f"speech service not ready in {self.settings.start_timeout_s:g} s") from None
        if not line:
            await process.wait()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    await stderr_task
            raise ServiceError(" | ".join(self._stderr) or
                             f"speech service exited with status {process.returncode}")
        ready = json.loads(line)
        self.model = ready.get("model", self.model)
        self._ready = True
        self.error = None
        log.info("speech service %d on %s: model %s (grammars: %s, loaded in %s s)",
                 process.pid, self.url, self.model and self.model.get("name"),
                 self.model and self.model.get("grammars"),
                 self.model and self.model.get("load_seconds"))

    async def _supervise(self, path: Path) -> None:
        delay = RESTART_DELAY_MIN_S
        while True:
            process = self._process
            if process is not None:
                status = await process.wait()
                self._ready = False
                log.warning("speech service exited with status %s; restarting in %.1f s",
                            status, delay)
            await asyncio.sleep(delay)
            try:
                await self._launch(path)
                self.restarts += 1
                delay = RESTART_DELAY_MIN_S
            except (ServiceError, OSError, ValueError) as exc:
                self._process = None
                self.error = str(exc)
                log.error("restarting the speech service failed: %s", exc)
                delay = min(delay * 2, RESTART_DELAY_MAX_S)

    async def _terminate(self) -> None:
        process, self._process = self._process, None
        self._ready = False
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(STOP_GRACE_S):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self._stderr.append(line)
                log.debug("speech: %s", line)
