"""Interactions: channel-independent conversations and their timelines."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voicecenter.store.errors import InvalidState, NoSuchInteraction
from voicecenter.store.models import Call, CallEvent, Interaction, utcnow
from voicecenter.store.records import CallRecord, EventRecord, InteractionRecord
from voicecenter.store.timeline import record_event

if TYPE_CHECKING:
    from voicecenter.store.database import Store

CHANNELS = ("voice", "chat", "sms")
ENDED = "ended"


class InteractionRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(
        self,
        channel: str,
        *,
        customer: str | None = None,
        attached: dict[str, Any] | None = None,
        state: str = "active",
    ) -> InteractionRecord:
        """Start a conversation; records ``interaction.created``."""
        async with self._store.write() as session:
            row = await create_interaction(
                session, self._store.topic_prefix, channel, customer=customer,
                attached=attached, state=state,
            )
            return InteractionRecord.of(row)

    async def get(self, interaction_id: str) -> InteractionRecord:
        async with self._store.read() as session:
            return InteractionRecord.of(await _load(session, interaction_id))

    async def attach(self, interaction_id: str, data: dict[str, Any]) -> InteractionRecord:
        """Merge ``data`` into the attached variables; records ``interaction.data_attached``."""
        async with self._store.write() as session:
            row = await _load(session, interaction_id)
            row.attached = {**(row.attached or {}), **data}
            await record_event(
                session, self._store.topic_prefix, kind="interaction.data_attached",
                interaction_id=row.id, data={"attached": data},
            )
            return InteractionRecord.of(row)

    async def set_state(
        self, interaction_id: str, state: str, kind: str, data: dict[str, Any] | None = None
    ) -> InteractionRecord:
        """Move to ``state`` (queued, assigned...) and record ``kind`` for it."""
        if state == ENDED:
            raise ValueError("use end() to end an interaction")
        async with self._store.write() as session:
            row = await _load(session, interaction_id)
            if row.state == ENDED:
                raise InvalidState(f"interaction {interaction_id} has ended")
            row.state = state
            await record_event(
                session, self._store.topic_prefix, kind=kind, interaction_id=row.id,
                data={"state": state, **(data or {})},
            )
            return InteractionRecord.of(row)

    async def add_event(
        self,
        interaction_id: str,
        kind: str,
        data: dict[str, Any] | None = None,
        *,
        call_id: str | None = None,
        at: datetime | None = None,
    ) -> EventRecord:
        """Append to the timeline (chat lines, flow steps on chat, ...)."""
        async with self._store.write() as session:
            await _load(session, interaction_id)
            return await record_event(
                session, self._store.topic_prefix, kind=kind, interaction_id=interaction_id,
                call_id=call_id, data=data, at=at,
            )

    async def end(self, interaction_id: str, reason: str | None = None) -> InteractionRecord:
        """End the conversation (idempotent); records ``interaction.ended`` once."""
        async with self._store.write() as session:
            row = await _load(session, interaction_id)
            await end_interaction(session, self._store.topic_prefix, row, reason)
            return InteractionRecord.of(row)

    async def timeline(self, interaction_id: str) -> list[EventRecord]:
        """Every event of every channel of the interaction, oldest first.

        By the time each event happened, not by row id: calls and text channels
        have writers of their own that batch, so a chat line can be stored after
        a call leg that came later.
        """
        async with self._store.read() as session:
            await _load(session, interaction_id)
            rows = await session.scalars(
                select(CallEvent).where(CallEvent.interaction_id == interaction_id)
                .order_by(CallEvent.at, CallEvent.id)
            )
            return [EventRecord.of(row) for row in rows]

    async def calls(self, interaction_id: str) -> list[CallRecord]:
        async with self._store.read() as session:
            rows = await session.scalars(
                select(Call).where(Call.interaction_id == interaction_id).order_by(Call.started_at)
            )
            return [CallRecord.of(row) for row in rows]

    async def recent(self, limit: int = 50) -> list[InteractionRecord]:
        async with self._store.read() as session:
            rows = await session.scalars(
                select(Interaction).order_by(Interaction.created_at.desc()).limit(limit)
            )
            return [InteractionRecord.of(row) for row in rows]


async def create_interaction(
    session: AsyncSession,
    prefix: str,
    channel: str,
    *,
    customer: str | None = None,
    attached: dict[str, Any] | None = None,
    state: str = "active",
) -> Interaction:
    """Insert an interaction and its ``interaction.created`` event into the session."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
    row = Interaction(
        id=uuid.uuid4().hex, channel=channel, state=state, customer=customer,
        attached=dict(attached or {}), created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await record_event(
        session, prefix, kind="interaction.created", interaction_id=row.id,
        data={"channel": channel, "customer": customer}, at=row.created_at,
    )
    return row


async def end_interaction(
    session: AsyncSession, prefix: str, row: Interaction, reason: str | None
) -> bool:
    """End ``row`` unless it already has; True if this call ended it."""
    if row.state == ENDED:
        return False
    row.state = ENDED
    row.ended_at = utcnow()
    await record_event(
        session, prefix, kind="interaction.ended", interaction_id=row.id,
        data={"reason": reason}, at=row.ended_at,
    )
    return True


async def _load(session: AsyncSession, interaction_id: str) -> Interaction:
    row = await session.get(Interaction, interaction_id)
    if row is None:
        raise NoSuchInteraction(interaction_id)
    return row
