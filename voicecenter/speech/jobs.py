"""TranscriptionQueue: works off the transcription jobs the store holds.

The control plane enqueues a job when a recording is complete; this runs
them one (or `concurrency`) at a time against the speech service, so live
calls keep priority on the service's threads. At start it takes back jobs
a previous process left running. While speech is unavailable jobs simply
wait; a job that fails is retried, then marked failed with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from ..store.transcripts import Job, TranscriptRepository
from .client import SpeechUnavailable
from .live import SpeechEndpoint
from .transcribe import TranscriptionError, transcribe_file

log = logging.getLogger("voicecenter.speech.jobs")

IDLE_POLL_S = 2.0


class TranscriptionQueue:
    def __init__(self, repository: TranscriptRepository, speech: SpeechEndpoint,
                 concurrency: int = 1) -> None:
        self.repository = repository
        self.speech = speech
        self.concurrency = concurrency
        self.wake = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.done = 0

    async def enqueue(self, path: Path, call_id: str | None = None,
                      labels: list[str] | None = None,
                      sensitive: list[list[float]] | None = None) -> int:
        job_id = await self.repository.enqueue(str(path), call_id=call_id, labels=labels,
                                               sensitive=sensitive)
        self.wake.set()
        return job_id

    async def start(self) -> None:
        requeued = await self.repository.requeue_running()
        if requeued:
            log.warning("took back %d transcription jobs left running", requeued)
        self.tasks = [asyncio.create_task(self._work(), name=f"transcribe-{i}")
                      for i in range(self.concurrency)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []

    async def _work(self) -> None:
        while True:
            job = await self.repository.claim() if self.speech.available else None
            if job is None:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_POLL_S):
                        await self.wake.wait()
                continue
            await self.run(job)

    async def run(self, job: Job) -> None:
        try:
            channels = await transcribe_file(Path(job.path), self.speech.url, job.labels,
                                             job.sensitive)
        except (TranscriptionError, SpeechUnavailable) as exc:
            state = await self.repository.fail(job, str(exc))
            log.warning("transcription job %d (%s) failed: %s; now %s", job.id, job.path,
                        exc, state)
            if isinstance(exc, SpeechUnavailable):
                await asyncio.sleep(IDLE_POLL_S)
            return
        await self.repository.complete(job, channels)
        self.done += 1
        log.info("transcribed %s (job %d): %s", job.path, job.id,
                 ", ".join(f"{c.label} {len(c.words)} words" for c in channels))
