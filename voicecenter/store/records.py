"""Immutable snapshots of rows, handed out by the repositories.

ORM objects are tied to the session that loaded them; once it is closed,
touching a lazy attribute raises in async code. Repositories therefore return
frozen dataclasses: safe to keep, to pass to other tasks and to serialize.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from voicecenter.store import models


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="microseconds") if value else None


class _Record:
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO 8601 UTC), for the API and the CLI."""
        return {
            key: _iso(value) if isinstance(value, datetime) else value
            for key, value in asdict(self).items()  # type: ignore[call-overload]
        }


@dataclass(frozen=True)
class InteractionRecord(_Record):
    id: str
    channel: str
    state: str
    customer: str | None
    attached: dict[str, Any]
    created_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, row: models.Interaction) -> InteractionRecord:
        return cls(
            id=row.id,
            channel=row.channel,
            state=row.state,
            customer=row.customer,
            attached=dict(row.attached or {}),
            created_at=row.created_at,
            ended_at=row.ended_at,
        )


@dataclass(frozen=True)
class CallRecord(_Record):
    id: str
    interaction_id: str
    sip_call_id: str | None
    direction: str
    from_uri: str
    to_uri: str
    called_number: str | None
    worker_id: int | None
    state: str
    end_reason: str | None
    flow: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None

    @property
    def live(self) -> bool:
        return self.state != "ended"

    @classmethod
    def of(cls, row: models.Call) -> CallRecord:
        return cls(
            id=row.id,
            interaction_id=row.interaction_id,
            sip_call_id=row.sip_call_id,
            direction=row.direction,
            from_uri=row.from_uri,
            to_uri=row.to_uri,
            called_number=row.called_number,
            worker_id=row.worker_id,
            state=row.state,
            end_reason=row.end_reason,
            flow=row.flow,
            started_at=row.started_at,
            answered_at=row.answered_at,
            ended_at=row.ended_at,
        )


@dataclass(frozen=True)
class EventRecord(_Record):
    id: int
    interaction_id: str
    call_id: str | None
    at: datetime
    kind: str
    data: dict[str, Any]

    @classmethod
    def of(cls, row: models.CallEvent) -> EventRecord:
        return cls(
            id=row.id,
            interaction_id=row.interaction_id,
            call_id=row.call_id,
            at=row.at,
            kind=row.kind,
            data=dict(row.data or {}),
        )


@dataclass(frozen=True)
class AgentRecord(_Record):
    id: int
    name: str
    display_name: str
    skills: dict[str, int]
    created_at: datetime
    sip_username: str | None
    sip_domain: str | None
    team: str | None = None

    @classmethod
    def of(cls, row: models.Agent, account: models.SipAccount | None) -> AgentRecord:
        return cls(
            id=row.id,
            name=row.name,
            display_name=row.display_name,
            skills={str(k): int(v) for k, v in (row.skills or {}).items()},
            created_at=row.created_at,
            sip_username=account.username if account else None,
            sip_domain=account.domain if account else None,
            team=row.team,
        )


@dataclass(frozen=True)
class OutboxRecord(_Record):
    id: int
    topic: str
    payload: str
    created_at: datetime
    published_at: datetime | None

    @classmethod
    def of(cls, row: models.OutboxMessage) -> OutboxRecord:
        return cls(
            id=row.id,
            topic=row.topic,
            payload=row.payload,
            created_at=row.created_at,
            published_at=row.published_at,
        )
