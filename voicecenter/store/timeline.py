"""Writing events: the timeline row and its outbox row, always together.

This is the only code that inserts into ``call_events`` or ``outbox``. Both
rows are added to the caller's session, so they commit or roll back with the
state change that caused them: an event is stored if and only if it will be
published, and a broker outage only delays it (the publisher picks up every
unpublished outbox row once the broker is back).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voicecenter.events.topics import topic_for
from voicecenter.store.models import CallEvent, OutboxMessage, utcnow
from voicecenter.store.records import EventRecord

# Set in session.info when a transaction adds outbox rows; Store.write() wakes
# the publisher after such a transaction commits (not before: it would find nothing).
OUTBOX_WRITTEN = "voicecenter.outbox_written"


async def record_event(
    session: AsyncSession,
    prefix: str,
    *,
    kind: str,
    interaction_id: str,
    call_id: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> EventRecord:
    """Add a timeline event and its MQTT message to the session's transaction."""
    # Resolve the topic first: an unknown kind must fail before anything is written.
    topic = topic_for(prefix, kind, call_id=call_id, interaction_id=interaction_id)
    at = at or utcnow()
    data = dict(data or {})
    row = CallEvent(interaction_id=interaction_id, call_id=call_id, at=at, kind=kind, data=data)
    session.add(row)
    await session.flush()  # assigns row.id, which subscribers deduplicate on
    payload = {
        "event_id": row.id,
        "kind": kind,
        "at": at.isoformat(timespec="microseconds"),
        "interaction_id": interaction_id,
        "call_id": call_id,
        "data": data,
    }
    enqueue(session, topic, payload, at)
    return EventRecord.of(row)


async def record_events(
    session: AsyncSession, prefix: str,
    events: list[tuple[str, str, dict[str, Any], datetime]],
) -> None:
    """Many (interaction_id, kind, data, at) events with one flush, in order.

    A busy chat service writes hundreds of lines a second; one round trip per
    line kept them (and every page waiting on them) behind the database.
    """
    topics = [topic_for(prefix, kind, interaction_id=interaction_id)
              for interaction_id, kind, _, _ in events]
    rows = [CallEvent(interaction_id=interaction_id, call_id=None, at=at, kind=kind,
                      data=dict(data))
            for interaction_id, kind, data, at in events]
    session.add_all(rows)
    await session.flush()
    for topic, row in zip(topics, rows, strict=True):
        enqueue(session, topic, {
            "event_id": row.id, "kind": row.kind,
            "at": row.at.isoformat(timespec="microseconds"),
            "interaction_id": row.interaction_id, "call_id": None, "data": row.data}, row.at)


def enqueue(
    session: AsyncSession, topic: str, payload: dict[str, Any], at: datetime | None = None
) -> None:
    """Add an outbox message to the session (for events with no timeline, e.g. agents)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    session.add(OutboxMessage(topic=topic, payload=text, created_at=at or utcnow()))
    session.info[OUTBOX_WRITTEN] = True
