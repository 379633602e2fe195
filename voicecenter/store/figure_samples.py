"""Queue figures over time: one stored sample per queue every few seconds.

Live figures (distribution/figures.py) live in memory; a wallboard's charts
of the last hours need them on disk, so they survive a restart. Each sample
keeps the headline numbers as columns (cheap to chart and to query by queue
and time) and the agents' counts by state as JSON.

Reports do not read these samples: they recompute from the interactions'
timelines (store/contact_events.py), which are exact, while a sample is only
what a sliding window showed at one moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)

from voicecenter.store.models import Base, UTCDateTime

if TYPE_CHECKING:
    from voicecenter.store.database import Store

samples = Table(
    "queue_figure_samples", Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("queue", String(64), nullable=False),
    Column("waiting", Integer, nullable=False),
    Column("longest_wait_s", Float, nullable=False),
    Column("answered", Integer, nullable=False),
    Column("abandoned", Integer, nullable=False),
    Column("service_level", Float, nullable=True),
    Column("asa_s", Float, nullable=True),
    Column("aht_s", Float, nullable=True),
    Column("agents", JSON, nullable=False),
    Index("ix_queue_figure_samples_queue_at", "queue", "at"),
    Index("ix_queue_figure_samples_at", "at"),
)


@dataclass(frozen=True)
class FigureSample:
    at: datetime
    queue: str
    waiting: int
    longest_wait_s: float
    answered: int
    abandoned: int
    service_level: float | None
    asa_s: float | None
    aht_s: float | None
    agents: dict[str, int]

    @classmethod
    def of_snapshot(cls, at: datetime, snapshot: dict[str, Any]) -> FigureSample:
        """A sample of one queue's live figures (QueueFigures.snapshot)."""
        counts: dict[str, int] = {}
        for agent in snapshot.get("agents", []):
            counts[agent["state"]] = counts.get(agent["state"], 0) + 1
        return cls(at=at, queue=snapshot["name"], waiting=snapshot["waiting"],
                   longest_wait_s=snapshot["longest_wait_s"], answered=snapshot["answered"],
                   abandoned=snapshot["abandoned"],
                   service_level=snapshot["service_level"]["percent"],
                   asa_s=snapshot["asa_s"], aht_s=snapshot["aht_s"], agents=counts)

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(timespec="seconds"), "queue": self.queue,
                "waiting": self.waiting, "longest_wait_s": self.longest_wait_s,
                "answered": self.answered, "abandoned": self.abandoned,
                "service_level": self.service_level, "asa_s": self.asa_s,
                "aht_s": self.aht_s, "agents": dict(self.agents)}


_FIELDS = ("at", "queue", "waiting", "longest_wait_s", "answered", "abandoned",
           "service_level", "asa_s", "aht_s", "agents")


class FigureSampleRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(self, rows: list[FigureSample]) -> None:
        if not rows:
            return
        async with self._store.write() as session:
            await session.execute(insert(samples), [
                {name: getattr(row, name) for name in _FIELDS} for row in rows])

    async def since(self, since: datetime, queue: str | None = None) -> list[FigureSample]:
        """Samples from ``since`` on, oldest first (one queue or all)."""
        query = select(*(samples.c[name] for name in _FIELDS)).where(samples.c.at >= since)
        if queue is not None:
            query = query.where(samples.c.queue == queue)
        async with self._store.read() as session:
            result = await session.execute(query.order_by(samples.c.at, samples.c.id))
            return [FigureSample(**dict(row._mapping)) for row in result]

    async def queues(self, since: datetime) -> list[str]:
        """Queues sampled since ``since``: the wallboard shows them even when quiet."""
        async with self._store.read() as session:
            result = await session.execute(
                select(samples.c.queue).where(samples.c.at >= since).group_by(samples.c.queue))
            return sorted(name for (name,) in result)

    async def latest(self) -> datetime | None:
        async with self._store.read() as session:
            return await session.scalar(select(func.max(samples.c.at)))

    async def prune(self, before: datetime) -> int:
        async with self._store.write() as session:
            result = await session.execute(delete(samples).where(samples.c.at < before))
            return int(getattr(result, "rowcount", 0) or 0)
