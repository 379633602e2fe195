"""Writing text conversations' timelines in batches.

A busy chat server sends thousands of lines a second; one SQL transaction
per line would make the database the limit. Lines and flow events are
queued in order and written many per transaction, so the timeline keeps
their order and a reader who needs everything so far awaits `flush()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from ..store import Store
from ..store.models import utcnow
from ..store.timeline import record_events

log = logging.getLogger("voicecenter.channels")

BATCH = 50


class TimelineWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[tuple[str, str, dict[str, Any], datetime]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="text-timeline")

    async def stop(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def add(self, interaction_id: str, kind: str, data: dict[str, Any]) -> None:
        """Queue an event; its time is now, not when the batch is written."""
        self._pending.append((interaction_id, kind, data, utcnow()))
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        if self._task is None:
            await self._write_all()
            return
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._write_all()

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            try:
                async with self.store.write() as session:
                    await record_events(session, self.store.topic_prefix, batch)
            except Exception:  # one bad event must not stop every conversation's timeline
                log.exception("timeline batch of %d events not written", len(batch))
        self._idle.set()
