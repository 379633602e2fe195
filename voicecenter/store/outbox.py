"""The outbox, as the publisher sees it: what is waiting, what went out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update

from voicecenter.store.models import OutboxMessage, utcnow
from voicecenter.store.records import OutboxRecord

if TYPE_CHECKING:
    from voicecenter.store.database import Store


class OutboxRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def pending(self, limit: int = 100) -> list[OutboxRecord]:
        """Unpublished messages, oldest first.

        Selected by ``published_at IS NULL`` rather than "after the last id
        sent": on PostgreSQL a lower id can commit after a higher one, and it
        must still go out.
        """
        async with self._store.read() as session:
            rows = await session.scalars(
                select(OutboxMessage).where(OutboxMessage.published_at.is_(None))
                .order_by(OutboxMessage.id).limit(limit)
            )
            return [OutboxRecord.of(row) for row in rows]

    async def mark_published(self, ids: Sequence[int], at: datetime | None = None) -> None:
        if not ids:
            return
        async with self._store.write() as session:
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(list(ids)))
                .values(published_at=at or utcnow())
            )

    async def count_pending(self) -> int:
        async with self._store.read() as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxMessage)
                .where(OutboxMessage.published_at.is_(None))
            )
            return int(count or 0)

    async def all(self) -> list[OutboxRecord]:
        """Every row, oldest first (for tests and diagnostics, not for big tables)."""
        async with self._store.read() as session:
            rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
            return [OutboxRecord.of(row) for row in rows]

    async def purge_published(self, older_than: timedelta) -> int:
        """Delete messages published more than ``older_than`` ago; how many went.

        The timeline (call_events) keeps the history; outbox rows are only a
        delivery queue and would otherwise grow forever.
        """
        cutoff = utcnow() - older_than
        async with self._store.write() as session:
            result = await session.execute(
                delete(OutboxMessage).where(OutboxMessage.published_at < cutoff)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
