"""Which calls and conversations ran a flow, and on which version.

Every run of a flow (and of a subflow) records ``flow.started`` with the
flow's name and version, and ``flow.ended`` with its outcome, in the
interaction's timeline. Reading those events answers "which calls used
which version" for calls and chat/SMS conversations alike, without a
column of its own: the version a call ran is a fact of its timeline.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..store import Store
from ..store.models import Call, CallEvent, Interaction


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="microseconds") if value is not None else None


async def runs_of(store: Store, name: str, limit: int = 50,
                  version: str | None = None) -> list[dict[str, Any]]:
    """The newest runs of flow `name` (newest first), each with its version and outcome."""
    flow_of = CallEvent.data["flow"].as_string()
    query = (
        select(CallEvent.id, CallEvent.at, CallEvent.call_id, CallEvent.interaction_id,
               CallEvent.data, Interaction.channel, Call.started_at, Call.state,
               Call.end_reason, Call.called_number, Call.from_uri)
        .join(Interaction, Interaction.id == CallEvent.interaction_id)
        .outerjoin(Call, Call.id == CallEvent.call_id)
        .where(CallEvent.kind == "flow.started", flow_of == name)
        .order_by(CallEvent.id.desc()).limit(limit))
    if version is not None:
        query = query.where(CallEvent.data["version"].as_string() == version)
    async with store.read() as session:
        started = (await session.execute(query)).all()
        interactions = {row.interaction_id for row in started}
        ended = (await session.execute(
            select(CallEvent.id, CallEvent.call_id, CallEvent.interaction_id, CallEvent.at,
                   CallEvent.data)
            .where(CallEvent.kind == "flow.ended", flow_of == name,
                   CallEvent.interaction_id.in_(interactions))
            .order_by(CallEvent.id))).all() if interactions else []
    runs = []
    for row in started:
        # The run's end: the first flow.ended of this flow after it, on the same leg.
        end = next((e for e in ended if e.id > row.id and e.call_id == row.call_id
                    and e.interaction_id == row.interaction_id), None)
        data = row.data or {}
        runs.append({
            "call_id": row.call_id, "interaction_id": row.interaction_id,
            "channel": row.channel, "version": data.get("version"),
            "subflow": bool(data.get("depth")),
            "started_at": _iso(row.at), "call_started_at": _iso(row.started_at),
            "from": row.from_uri, "called_number": row.called_number,
            "outcome": (end.data or {}).get("outcome") if end is not None else None,
            "ended_at": _iso(end.at) if end is not None else None,
            "call_state": row.state, "end_reason": row.end_reason,
        })
    return runs


async def runs_per_version(store: Store, name: str) -> dict[str, int]:
    """How many runs each version of flow `name` had."""
    version_of = CallEvent.data["version"].as_string()
    async with store.read() as session:
        rows = (await session.execute(
            select(version_of, func.count())
            .where(CallEvent.kind == "flow.started",
                   CallEvent.data["flow"].as_string() == name)
            .group_by(version_of))).all()
    return {str(version): int(count) for version, count in rows if version is not None}
