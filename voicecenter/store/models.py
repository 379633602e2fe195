"""SQLAlchemy models: the tables the control plane keeps (and Kamailio reads).

The schema itself is created only by the Alembic migrations next to this
module; these classes describe it for queries and for autogenerate. Keep the
two in step: a test compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite too.

    SQLite has no time zones: it stores the text it is given and hands back
    naive values, so timelines from SQLite and PostgreSQL would compare
    differently. Values are stored as naive UTC there and made aware on read;
    naive input is refused, because guessing its zone corrupts timelines.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Interaction(Base):
    """A conversation with a customer, whatever its channels."""

    __tablename__ = "interactions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    customer: Mapped[str | None] = mapped_column(String(255))
    attached: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ended_at: Mapped[datetime | None]


class Call(Base):
    """One SIP call leg of an interaction."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id"), index=True)
    sip_call_id: Mapped[str | None] = mapped_column(String(255), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    from_uri: Mapped[str] = mapped_column(String(512))
    to_uri: Mapped[str] = mapped_column(String(512))
    called_number: Mapped[str | None] = mapped_column(String(64))
    worker_id: Mapped[int | None] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    end_reason: Mapped[str | None] = mapped_column(String(64))
    flow: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class CallEvent(Base):
    """One entry of an interaction's timeline (the name predates chat)."""

    __tablename__ = "call_events"
    # AUTOINCREMENT: an id is never reused, so subscribers can deduplicate on it.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id"), index=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxMessage(Base):
    """An event waiting to be (or already) published on MQTT."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The publisher only ever looks for unpublished rows; keep that lookup
        # cheap however many published rows have piled up.
        Index(
            "ix_outbox_pending",
            "id",
            sqlite_where=text("published_at IS NULL"),
            postgresql_where=text("published_at IS NULL"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(index=True)


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    skills: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The team the agent belongs to (supervisors group agents by it); None: no team.
    team: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)


class SipAccount(Base):
    """Digest credentials, read directly by Kamailio's auth_db.

    Column names and TEXT types are Kamailio's: ``ha1`` is
    md5("username:realm:password") and ``ha1b`` md5("username@domain:realm:password").
    The plain password is never stored.
    """

    __tablename__ = "sip_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    domain: Mapped[str] = mapped_column(Text)
    ha1: Mapped[str] = mapped_column(Text)
    ha1b: Mapped[str] = mapped_column(Text)
    agent_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )


class KamailioVersion(Base):
    """Kamailio's ``version`` table: auth_db checks it before using sip_accounts."""

    __tablename__ = "version"

    table_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    table_version: Mapped[int] = mapped_column(Integer, default=0)
