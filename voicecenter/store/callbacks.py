"""Callbacks: customers waiting to be called back, kept in the database.

A callback is stored the moment it is asked for (a caller pressing the
callback key, or POST /callbacks), so a restart loses none: the routing
service re-enqueues every pending one on start with its original enqueue
time, and it keeps its place. ``due_at`` is when it may be routed (a
scheduled callback, or the next attempt after a customer did not answer);
``router_id`` is the id the router knows it by (the caller's call id when it
came from a queue, so the place in the queue is the same item). The calls of
a callback form their own interaction (``interaction_id``, set at the first
dial: the caller's ended when it hung up); ``origin`` is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    RowMapping,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from voicecenter.store.models import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from voicecenter.store.database import Store

callbacks = Table(
    "callbacks", Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("router_id", String(64), nullable=False, unique=True),
    Column("number", String(64), nullable=False),
    Column("uri", String(256), nullable=False),
    Column("queue", String(64), nullable=False),
    Column("skills", JSON, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("interaction_id", String(32), nullable=True),
    Column("origin", String(32), nullable=True),
    Column("state", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("enqueued_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=True),
    Column("agent", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

PENDING, CALLING, CONNECTED, DONE, FAILED = "pending", "calling", "connected", "done", "failed"
OPEN = (PENDING, CALLING)


@dataclass(frozen=True)
class CallbackRecord:
    id: int
    router_id: str
    number: str
    uri: str
    queue: str
    skills: list[str]
    priority: int
    interaction_id: str | None
    origin: str | None
    state: str
    attempts: int
    enqueued_at: datetime
    due_at: datetime | None
    agent: str | None
    error: str | None

    @classmethod
    def of(cls, row: RowMapping) -> CallbackRecord:
        return cls(row["id"], row["router_id"], row["number"], row["uri"], row["queue"],
                   list(row["skills"] or []), row["priority"], row["interaction_id"],
                   row["origin"], row["state"], row["attempts"], row["enqueued_at"], row["due_at"],
                   row["agent"], row["error"])

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "number": self.number, "uri": self.uri, "queue": self.queue,
                "skills": self.skills, "priority": self.priority,
                "interaction_id": self.interaction_id, "origin": self.origin,
                "state": self.state,
                "attempts": self.attempts, "enqueued_at": self.enqueued_at.isoformat(),
                "due_at": self.due_at.isoformat() if self.due_at else None,
                "agent": self.agent, "error": self.error}


class NoSuchCallback(LookupError):
    pass


class CallbackRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(self, *, router_id: str, number: str, uri: str, queue: str,
                  skills: list[str], enqueued_at: datetime, priority: int = 0,
                  due_at: datetime | None = None,
                  origin: str | None = None) -> CallbackRecord:
        now = utcnow()
        async with self._store.write() as session:
            result = await session.execute(insert(callbacks).values(
                router_id=router_id, number=number, uri=uri, queue=queue, skills=skills,
                priority=priority, origin=origin, state=PENDING, attempts=0,
                enqueued_at=enqueued_at, due_at=due_at, created_at=now, updated_at=now))
            ident = int(result.inserted_primary_key[0])
        return await self.get(ident)

    async def get(self, ident: int) -> CallbackRecord:
        async with self._store.read() as session:
            row = (await session.execute(
                select(callbacks).where(callbacks.c.id == ident))).mappings().first()
        if row is None:
            raise NoSuchCallback(ident)
        return CallbackRecord.of(row)

    async def list(self, states: tuple[str, ...] | None = None,
                   limit: int = 500) -> list[CallbackRecord]:
        query = select(callbacks).order_by(callbacks.c.id.desc()).limit(limit)
        if states:
            query = query.where(callbacks.c.state.in_(states))
        async with self._store.read() as session:
            rows = (await session.execute(query)).mappings().all()
        return [CallbackRecord.of(row) for row in rows]

    async def open(self) -> list[CallbackRecord]:
        """Callbacks still to make, oldest first (what a restart re-enqueues)."""
        async with self._store.read() as session:
            rows = (await session.execute(
                select(callbacks).where(callbacks.c.state.in_(OPEN))
                .order_by(callbacks.c.enqueued_at, callbacks.c.id))).mappings().all()
        return [CallbackRecord.of(row) for row in rows]

    async def update(self, ident: int, **values: Any) -> CallbackRecord:
        async with self._store.write() as session:
            await session.execute(update(callbacks).where(callbacks.c.id == ident)
                                  .values(**values, updated_at=utcnow()))
        return await self.get(ident)
