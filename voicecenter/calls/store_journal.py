"""The call journal backed by the store (and through its outbox, MQTT).

Flows write an event at every step; waiting for one SQLite transaction per
event made a caller's next prompt wait behind every other call's writes.
So the journal has one writer task: events are queued and written in
batches, many per transaction, in the order they happened; the other
entries (a call created, answered, ended) go through the same queue, so the
timeline keeps its order. `event` returns once queued; `created`, `answered`
and `ended` return once written. `stop` writes what is still queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..events.topics import topic_for
from ..store import Store
from ..store.errors import InvalidState, NoSuchCall
from ..store.models import Call, CallEvent, utcnow
from ..store.timeline import enqueue

log = logging.getLogger("voicecenter.calls")

MAX_BATCH = 500
RETRY_S = 0.5


@dataclass
class _Entry:
    """An event to write, or an operation to run, in queue order."""

    call_id: str
    kind: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)  # when it happened, not when written
    operation: Callable[[], Awaitable[Any]] | None = None
    done: asyncio.Future[Any] | None = None


class StoreJournal:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.queue: asyncio.Queue[_Entry] = asyncio.Queue()
        self.interactions: dict[str, str] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._writer(), name="call-journal")

    async def stop(self) -> None:
        """Write everything still queued, then stop the writer."""
        if self.task is None:
            return
        marker = self._submit(_Entry("", operation=_nothing))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(marker, 10)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.task = None

    # -- CallJournal ------------------------------------------------------
    async def created(self, call_id: str, worker_id: int, info: dict[str, Any]) -> str:
        """Record a new call leg; the interaction it belongs to (new for inbound callers)."""

        async def create() -> str:
            record = await self.store.calls.create_call(
                call_id=call_id,
                direction=info.get("direction", "inbound"),
                interaction_id=info.get("interaction_id"),
                from_uri=info["from"],
                to_uri=info["to"],
                called_number=info.get("called_number"),
                sip_call_id=info.get("sip_call_id"),
                worker_id=worker_id,
                flow=info.get("flow"),
            )
            self.interactions[call_id] = record.interaction_id
            return record.interaction_id

        return await self._submit(_Entry(call_id, operation=create))

    async def event(self, call_id: str, kind: str, data: dict[str, Any]) -> None:
        try:
            topic_for(self.store.topic_prefix, kind, call_id=call_id or "-",
                      interaction_id="-")
        except ValueError as exc:  # an event kind without a topic: a bug, not the call's end
            log.error("call=%s event %s not recorded: %s", call_id, kind, exc)
            return
        self.queue.put_nowait(_Entry(call_id, kind, dict(data)))
        self._ensure_writer()

    async def answered(self, call_id: str) -> None:
        async def answer() -> None:
            try:
                await self.store.calls.mark_answered(call_id)
            except InvalidState:
                log.info("call=%s answered after it ended", call_id)

        await self._submit(_Entry(call_id, operation=answer))

    async def ended(self, call_id: str, reason: str) -> None:
        async def end() -> None:
            try:
                await self.store.calls.end_call(call_id, reason)
            except NoSuchCall:
                log.error("call=%s ended but the store does not know it", call_id)
            self.interactions.pop(call_id, None)

        await self._submit(_Entry(call_id, operation=end))

    async def ended_on_worker(self, worker_id: int, reason: str) -> list[str]:
        async def end_all() -> list[str]:
            return await self.store.calls.end_calls_of_worker(worker_id, reason)

        return await self._submit(_Entry("", operation=end_all))

    async def close_stale(self, reason: str) -> int:
        """End calls a previous run left open (it crashed or was killed)."""
        stale = await self.store.calls.live()
        for call in stale:
            await self.store.calls.end_call(call.id, reason)
        return len(stale)

    # -- the writer -------------------------------------------------------
    def _submit(self, entry: _Entry) -> asyncio.Future[Any]:
        entry.done = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(entry)
        self._ensure_writer()
        return entry.done

    def _ensure_writer(self) -> None:
        # Used without start() (scripts, tests): the first entry starts it.
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._writer(), name="call-journal")

    async def _writer(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self.queue.get_nowait())
            start = 0
            while start < len(batch):
                if batch[start].operation is not None:
                    await self._run(batch[start])
                    start += 1
                    continue
                end = start
                while end < len(batch) and batch[end].operation is None:
                    end += 1
                await self._write_events(batch[start:end])
                start = end

    async def _run(self, entry: _Entry) -> None:
        assert entry.operation is not None and entry.done is not None
        try:
            result = await entry.operation()
        except Exception as exc:
            log.exception("call=%s journal operation failed", entry.call_id)
            if not entry.done.done():
                entry.done.set_exception(exc)
        else:
            if not entry.done.done():
                entry.done.set_result(result)

    async def _write_events(self, events: list[_Entry]) -> None:
        """One transaction (and one flush) for a run of events; retried, never dropped."""
        for attempt in range(1, 6):
            try:
                async with self.store.write() as session:
                    await self._add_events(session, events)
                return
            except Exception:
                log.exception("writing %d call events failed (attempt %d)", len(events),
                              attempt)
                await asyncio.sleep(RETRY_S * attempt)
        log.error("gave up writing %d call events: %s", len(events),
                  [(e.call_id, e.kind) for e in events])

    async def _add_events(self, session: AsyncSession, events: list[_Entry]) -> None:
        missing = {e.call_id for e in events if e.call_id not in self.interactions}
        if missing:
            found = await session.execute(
                select(Call.id, Call.interaction_id).where(Call.id.in_(missing)))
            self.interactions.update(dict(found.tuples().all()))
        rows: list[tuple[_Entry, CallEvent, str]] = []
        for entry in events:
            interaction = self.interactions.get(entry.call_id)
            if interaction is None:
                log.error("call=%s event %s for a call the store does not know",
                          entry.call_id, entry.kind)
                continue
            row = CallEvent(interaction_id=interaction, call_id=entry.call_id, at=entry.at,
                            kind=entry.kind, data=entry.data)
            rows.append((entry, row, interaction))
        session.add_all([row for _, row, _ in rows])
        await session.flush()  # assigns the ids subscribers deduplicate on
        prefix = self.store.topic_prefix
        for entry, row, interaction in rows:
            topic = topic_for(prefix, entry.kind, call_id=entry.call_id,
                              interaction_id=interaction)
            enqueue(session, topic, {
                "event_id": row.id, "kind": entry.kind,
                "at": entry.at.isoformat(timespec="microseconds"),
                "interaction_id": interaction, "call_id": entry.call_id, "data": entry.data,
            }, entry.at)


async def _nothing() -> None:
    return None
