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
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ..children import ChildProcess, ChildStartError, RestartPolicy, RunsChild
from ..settings import Settings, SpeechSettings
from .model import ModelError, describe_model, resolve_model_path

log = logging.getLogger("voicecenter.speech")

class ServiceError(ChildStartError):
    """The speech process could not be started; the message says why."""


class SpeechService(RunsChild):
    """What CallSession.listen and transcription read: url, sample_rate, available."""

    def __init__(self, settings: Settings | SpeechSettings, runtime_dir: Path) -> None:
        self.settings = settings.speech if isinstance(settings, Settings) else settings
        self.runtime_dir = Path(runtime_dir)
        self.url = self.settings.service_url
        self.sample_rate = self.settings.sample_rate
        self.model: dict[str, Any] | None = None
        self._error: str | None = None  # why it was never started
        # argv is set at start(), once the model is found; stderr is a Python traceback at worst
        self._child = ChildProcess(
            "speech service", [], ready=self._ready_line, log=log,
            parse_line=lambda line: (logging.DEBUG, line), prepare=self._make_runtime_dir,
            cwd=self.runtime_dir, stdout_to_log=False,
            start_timeout=self.settings.start_timeout_s,
            restart=RestartPolicy.doubling(0.2, 5.0), error=ServiceError, where=self.url,
        )

    @property
    def available(self) -> bool:
        if not self.settings.enabled:
            return False
        if self.settings.url:
            return True
        return self._child.is_ready and self._child.running

    @property
    def error(self) -> str | None:
        """Why speech is unavailable: never started, or the last restart failed."""
        return self._error or self._child.last_error

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
        self._child.argv = [
            sys.executable, "-m", "voicecenter.speech.server",
            "--host", self.settings.host, "--port", str(self.settings.port),
            "--model", str(path), "--threads", str(self.settings.threads),
        ]
        try:
            await self._child.start()
        except (ServiceError, OSError) as exc:
            self._fail(str(exc))

    def _fail(self, message: str) -> None:
        self._error = message
        log.error("%s; speech is unavailable and flows fall back to DTMF", message)

    async def _make_runtime_dir(self) -> None:
        self.runtime_dir.mkdir(parents=True, exist_ok=True)

    async def _ready_line(self, process: asyncio.subprocess.Process) -> str | None:
        """The service says it is ready, and with which model, in one JSON line on stdout."""
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:  # it is exiting: its status and stderr say why
            await process.wait()
            return None
        try:
            ready = json.loads(line)
        except ValueError as exc:
            raise ServiceError(f"speech service said {line[:200]!r}, not ready") from exc
        self.model = ready.get("model", self.model)
        model = self.model or {}
        return (f"on {self.url}: model {model.get('name')} (grammars: "
                f"{model.get('grammars')}, loaded in {model.get('load_seconds')} s)")
