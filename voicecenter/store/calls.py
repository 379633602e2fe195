"""Calls: SIP call legs, their states, and their part of the timeline.

Every state change here records an event (and so an MQTT message) in the
same transaction. Ending is idempotent, because a BYE, a worker's death and
an operator's hang-up can all race to end the same call: the first one wins,
and the timeline says ``call.ended`` once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voicecenter.store.errors import InvalidState, NoSuchCall, NoSuchInteraction
from voicecenter.store.interactions import ENDED, create_interaction
from voicecenter.store.interactions import end_interaction as _end_interaction
from voicecenter.store.models import Call, CallEvent, Interaction, utcnow
from voicecenter.store.records import CallRecord, EventRecord
from voicecenter.store.timeline import record_event

if TYPE_CHECKING:
    from voicecenter.store.database import Store

DIRECTIONS = ("inbound", "outbound")


class CallRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create_call(
        self,
        *,
        direction: str,
        from_uri: str,
        to_uri: str,
        called_number: str | None = None,
        sip_call_id: str | None = None,
        interaction_id: str | None = None,
        customer: str | None = None,
        worker_id: int | None = None,
        flow: str | None = None,
        call_id: str | None = None,
        state: str = "ringing",
    ) -> CallRecord:
        """Record a new call leg; records ``call.created``.

        Without ``interaction_id`` a new voice interaction is created with it
        (customer: ``customer``, else the caller's URI for inbound calls). With
        one, the call joins that conversation (an agent leg, an escalation).
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be inbound or outbound, not {direction!r}")
        prefix = self._store.topic_prefix
        async with self._store.write() as session:
            if interaction_id is None:
                if customer is None and direction == "inbound":
                    customer = from_uri
                interaction = await create_interaction(session, prefix, "voice", customer=customer)
            else:
                found = await session.get(Interaction, interaction_id)
                if found is None:
                    raise NoSuchInteraction(interaction_id)
                if found.state == ENDED:
                    raise InvalidState(f"interaction {interaction_id} has ended")
                interaction = found
            row = Call(
                id=call_id or uuid.uuid4().hex, interaction_id=interaction.id,
                sip_call_id=sip_call_id, direction=direction, from_uri=from_uri, to_uri=to_uri,
                called_number=called_number, worker_id=worker_id, state=state, flow=flow,
                started_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            await record_event(
                session, prefix, kind="call.created", interaction_id=interaction.id,
                call_id=row.id, at=row.started_at,
                data={
                    "direction": direction, "from_uri": from_uri, "to_uri": to_uri,
                    "called_number": called_number, "sip_call_id": sip_call_id,
                    "worker_id": worker_id, "flow": flow,
                },
            )
            return CallRecord.of(row)

    async def get(self, call_id: str) -> CallRecord:
        async with self._store.read() as session:
            return CallRecord.of(await _load(session, call_id))

    async def find_by_sip_call_id(self, sip_call_id: str) -> CallRecord | None:
        """The most recent call with this SIP Call-ID, if any."""
        async with self._store.read() as session:
            row = await session.scalar(
                select(Call).where(Call.sip_call_id == sip_call_id)
                .order_by(Call.started_at.desc()).limit(1)
            )
            return CallRecord.of(row) if row else None

    async def assign(
        self,
        call_id: str,
        *,
        worker_id: int | None = None,
        sip_call_id: str | None = None,
        flow: str | None = None,
    ) -> CallRecord:
        """Fill in facts learned after creation (the worker, the Call-ID, the flow).

        No event: these are not state changes; ``flow.started`` and the like
        are recorded by whoever starts the flow.
        """
        async with self._store.write() as session:
            row = await _load(session, call_id)
            if worker_id is not None:
                row.worker_id = worker_id
            if sip_call_id is not None:
                row.sip_call_id = sip_call_id
            if flow is not None:
                row.flow = flow
            return CallRecord.of(row)

    async def add_event(
        self,
        call_id: str,
        kind: str,
        data: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> EventRecord:
        """Append an event about this call (dtmf.received, flow.step, ...)."""
        async with self._store.write() as session:
            row = await _load(session, call_id)
            return await record_event(
                session, self._store.topic_prefix, kind=kind, interaction_id=row.interaction_id,
                call_id=row.id, data=data, at=at,
            )

    async def mark_answered(self, call_id: str, *, at: datetime | None = None) -> CallRecord:
        """ringing -> answered; records ``call.answered``. Answering twice is a no-op."""
        async with self._store.write() as session:
            row = await _load(session, call_id)
            if row.state == ENDED:
                raise InvalidState(f"call {call_id} has ended")
            if row.answered_at is None:
                row.state = "answered"
                row.answered_at = at or utcnow()
                await record_event(
                    session, self._store.topic_prefix, kind="call.answered",
                    interaction_id=row.interaction_id, call_id=row.id, at=row.answered_at,
                )
            return CallRecord.of(row)

    async def set_state(
        self, call_id: str, state: str, kind: str, data: dict[str, Any] | None = None
    ) -> CallRecord:
        """Any other change of state (``held`` with ``call.hold_started``...)."""
        if state == ENDED:
            raise ValueError("use end_call() to end a call")
        async with self._store.write() as session:
            row = await _load(session, call_id)
            if row.state == ENDED:
                raise InvalidState(f"call {call_id} has ended")
            row.state = state
            await record_event(
                session, self._store.topic_prefix, kind=kind, interaction_id=row.interaction_id,
                call_id=row.id, data={"state": state, **(data or {})},
            )
            return CallRecord.of(row)

    async def end_call(
        self,
        call_id: str,
        reason: str,
        *,
        at: datetime | None = None,
        end_interaction: bool = True,
    ) -> CallRecord:
        """End the call (idempotent: a second end changes nothing and records nothing).

        A voice interaction ends with its last live call unless
        ``end_interaction`` is False; chat and SMS interactions outlive their
        voice legs.
        """
        async with self._store.write() as session:
            row = await _load(session, call_id)
            await self._end(session, row, reason, at, end_interaction)
            return CallRecord.of(row)

    async def end_calls_of_worker(self, worker_id: int, reason: str) -> list[str]:
        """End every live call on a media worker (it died); the ids that were ended."""
        async with self._store.write() as session:
            rows = await session.scalars(
                select(Call).where(Call.worker_id == worker_id, Call.state != ENDED)
                .order_by(Call.started_at)
            )
            ended = []
            for row in rows.all():
                await self._end(session, row, reason, None, True)
                ended.append(row.id)
            return ended

    async def timeline(self, call_id: str) -> list[EventRecord]:
        """This call's events, oldest first."""
        async with self._store.read() as session:
            await _load(session, call_id)
            rows = await session.scalars(
                select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
            )
            return [EventRecord.of(row) for row in rows]

    async def recent(self, limit: int = 50) -> list[CallRecord]:
        """The latest calls, newest first."""
        async with self._store.read() as session:
            rows = await session.scalars(
                select(Call).order_by(Call.started_at.desc()).limit(limit)
            )
            return [CallRecord.of(row) for row in rows]

    async def live(self, *, worker_id: int | None = None) -> list[CallRecord]:
        """Calls not yet ended (on one worker if given), oldest first."""
        query = select(Call).where(Call.state != ENDED).order_by(Call.started_at)
        if worker_id is not None:
            query = query.where(Call.worker_id == worker_id)
        async with self._store.read() as session:
            return [CallRecord.of(row) for row in await session.scalars(query)]

    async def _end(
        self,
        session: AsyncSession,
        row: Call,
        reason: str,
        at: datetime | None,
        end_interaction_too: bool,
    ) -> None:
        if row.state == ENDED:
            return
        prefix = self._store.topic_prefix
        row.state = ENDED
        row.end_reason = reason
        row.ended_at = at or utcnow()
        talk = (row.ended_at - row.answered_at).total_seconds() if row.answered_at else 0.0
        await record_event(
            session, prefix, kind="call.ended", interaction_id=row.interaction_id,
            call_id=row.id, at=row.ended_at,
            data={
                "reason": reason,
                "duration_s": round((row.ended_at - row.started_at).total_seconds(), 3),
                "talk_s": round(talk, 3),
            },
        )
        if not end_interaction_too:
            return
        interaction = await session.get(Interaction, row.interaction_id)
        if interaction is None or interaction.channel != "voice":
            return
        others = await session.scalar(
            select(Call.id).where(
                Call.interaction_id == row.interaction_id, Call.state != ENDED, Call.id != row.id
            ).limit(1)
        )
        if others is None:
            await _end_interaction(session, prefix, interaction, reason)


async def _load(session: AsyncSession, call_id: str) -> Call:
    row = await session.get(Call, call_id)
    if row is None:
        raise NoSuchCall(call_id)
    return row
