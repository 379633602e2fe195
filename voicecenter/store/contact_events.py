"""The timeline events that reports and the figures' restart need, by time.

Reports (voicecenter/reports/) are computed from the interactions'
timelines rather than from counters, so they are exact and can be asked for
any past day. This module only selects the few event kinds that say what
happened to a queued interaction: queued, assigned, offer missed, bridged,
transferred, dequeued, callback asked for, disposition, call and interaction
ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from voicecenter.store.models import CallEvent

if TYPE_CHECKING:
    from voicecenter.store.database import Store

CONTACT_KINDS = (
    "interaction.queued", "interaction.assigned", "interaction.offer_missed",
    "interaction.dequeued", "interaction.disposition_set", "interaction.ended",
    "call.bridged", "call.transferred", "call.ended", "callback.requested",
)


@dataclass(frozen=True)
class ContactEvent:
    id: int
    interaction_id: str
    call_id: str | None
    at: datetime
    kind: str
    data: dict[str, Any]


async def contact_events(store: Store, start: datetime, end: datetime,
                         queue: str | None = None) -> list[ContactEvent]:
    """Every contact event of interactions queued in [start, end), oldest first.

    Events after ``end`` are included for those interactions (an answer or a
    disposition after midnight still belongs to the day the caller queued).
    """
    queued = select(CallEvent.interaction_id).where(
        CallEvent.kind == "interaction.queued", CallEvent.at >= start, CallEvent.at < end)
    query = (select(CallEvent)
             .where(CallEvent.interaction_id.in_(queued.scalar_subquery()),
                    CallEvent.kind.in_(CONTACT_KINDS))
             .order_by(CallEvent.interaction_id, CallEvent.id))
    async with store.read() as session:
        rows = await session.scalars(query)
        events = [ContactEvent(id=row.id, interaction_id=row.interaction_id,
                               call_id=row.call_id, at=row.at, kind=row.kind,
                               data=dict(row.data or {})) for row in rows]
    if queue is not None:
        # Narrowed here, not in SQL: the queue is in the queued event's JSON.
        wanted = {e.interaction_id for e in events
                  if e.kind == "interaction.queued" and e.data.get("queue") == queue}
        events = [e for e in events if e.interaction_id in wanted]
    return events
