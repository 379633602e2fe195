"""Quality review in the store: finding interactions, and the scores reviewers give.

Search filters on what the timeline already records (``interaction.assigned``
names the agent, ``interaction.queued`` the queue,
``interaction.disposition_set`` the disposition) and looks for words in
transcripts and in chat and SMS lines. It is plain SQL through SQLAlchemy's
JSON accessors (json_extract on SQLite, ->> on PostgreSQL) and LIKE on
lower-cased text, so it works the same on both databases without a full-text
index to keep in step; a deployment with millions of interactions would add
one (FTS5 or tsvector) behind this same method.

A score is kept with the questions it answered (weights and scales of the
day), so changing the scorecard later does not reinterpret old reviews.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Float,
    ForeignKey,
    Integer,
    RowMapping,
    String,
    Table,
    Text,
    exists,
    func,
    insert,
    select,
)

from voicecenter.store.errors import NoSuchInteraction
from voicecenter.store.models import Base, Call, CallEvent, Interaction, UTCDateTime, utcnow
from voicecenter.store.records import CallRecord, EventRecord, InteractionRecord
from voicecenter.store.transcripts import transcripts

if TYPE_CHECKING:
    from voicecenter.store.database import Store

qa_scores = Table(
    "qa_scores", Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("interaction_id", String(32), ForeignKey("interactions.id"), nullable=False,
           index=True),
    Column("reviewer", String(64), nullable=False),
    Column("answers", JSON, nullable=False),  # {question_id: value}
    Column("questions", JSON, nullable=False),  # the scorecard as answered
    Column("comment", Text, nullable=False),
    Column("total", Float, nullable=False),  # weighted percentage, 0-100
    Column("created_at", UTCDateTime, nullable=False),
)

# Timeline kinds that hold a line of text from or to the customer.
LINE_KINDS = ("chat.message_received", "chat.message_sent", "sms.received", "sms.sent")
_FACT_KINDS = ("interaction.assigned", "interaction.queued", "interaction.disposition_set")


@dataclass(frozen=True)
class SearchFilters:
    """What a reviewer searches by; None means any."""

    start: datetime | None = None
    end: datetime | None = None
    agent: str | None = None
    queue: str | None = None
    disposition: str | None = None
    channel: str | None = None
    words: list[str] = field(default_factory=list)
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Match:
    """Where the first searched word was found: a transcript channel or a chat line."""

    source: str  # "transcript" or "line"
    label: str  # caller/agent, or customer/agent/bot for lines
    text: str
    call_id: str | None = None
    start: float | None = None  # seconds into the recording (transcripts)
    words: list[dict[str, Any]] = field(default_factory=list)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own % and _ taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _line_text() -> ColumnElement[str]:
    return func.lower(CallEvent.data["text"].as_string())


def _word_found(word: str) -> ColumnElement[bool]:
    pattern = like_pattern(word)
    in_transcript = exists(
        select(transcripts.c.id).join(Call, Call.id == transcripts.c.call_id).where(
            Call.interaction_id == Interaction.id,
            func.lower(transcripts.c.text).like(pattern, escape="\\")))
    in_line = exists(select(CallEvent.id).where(
        CallEvent.interaction_id == Interaction.id, CallEvent.kind.in_(LINE_KINDS),
        _line_text().like(pattern, escape="\\")))
    return in_transcript | in_line


def _event_says(kind: str, key: str, value: str) -> ColumnElement[bool]:
    return exists(select(CallEvent.id).where(
        CallEvent.interaction_id == Interaction.id, CallEvent.kind == kind,
        CallEvent.data[key].as_string() == value))


def _conditions(filters: SearchFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.start is not None:
        where.append(Interaction.created_at >= filters.start)
    if filters.end is not None:
        where.append(Interaction.created_at < filters.end)
    if filters.channel:
        where.append(Interaction.channel == filters.channel)
    if filters.agent:
        where.append(_event_says("interaction.assigned", "agent", filters.agent))
    if filters.queue:
        where.append(_event_says("interaction.queued", "queue", filters.queue))
    if filters.disposition:
        where.append(_event_says("interaction.disposition_set", "disposition",
                                 filters.disposition))
    where.extend(_word_found(word) for word in filters.words)
    return where


def _score(row: RowMapping) -> dict[str, Any]:
    created: datetime = row["created_at"]
    return {"id": row["id"], "interaction_id": row["interaction_id"],
            "reviewer": row["reviewer"], "answers": dict(row["answers"] or {}),
            "questions": list(row["questions"] or []), "comment": row["comment"],
            "total": row["total"], "created_at": created.isoformat(timespec="seconds")}


class ReviewRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def search(self, filters: SearchFilters) -> tuple[list[dict[str, Any]], int]:
        """One page of matching interactions, newest first, and how many match in all.

        Each item has the interaction's facts (agent, queue, disposition:
        the latest of each on its timeline), its latest score and, when words
        were searched, ``match``: where the first word was found (unredacted:
        the API redacts it).
        """
        where = _conditions(filters)
        async with self._store.read() as session:
            total = int(await session.scalar(
                select(func.count()).select_from(Interaction).where(*where)) or 0)
            rows = list(await session.scalars(
                select(Interaction).where(*where)
                .order_by(Interaction.created_at.desc(), Interaction.id.desc())
                .limit(filters.limit).offset(filters.offset)))
            ids = [row.id for row in rows]
            facts = await self._facts(session, ids)
            scores = await self._latest_scores(session, ids)
            matches = await self._matches(session, ids, filters.words[0]) \
                if filters.words and ids else {}
        items = []
        for row in rows:
            record = InteractionRecord.of(row)
            ended = record.ended_at
            items.append({
                "id": record.id, "channel": record.channel, "state": record.state,
                "started_at": record.created_at.isoformat(timespec="seconds"),
                "ended_at": ended.isoformat(timespec="seconds") if ended else None,
                "duration_s": round((ended - record.created_at).total_seconds(), 1)
                if ended else None,
                **facts.get(record.id, {"agent": None, "queue": None, "disposition": None}),
                "score": scores.get(record.id),
                "match": matches.get(record.id),
            })
        return items, total

    async def _facts(self, session: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
        facts: dict[str, dict[str, Any]] = {
            i: {"agent": None, "queue": None, "disposition": None} for i in ids}
        if not ids:
            return facts
        events = await session.scalars(
            select(CallEvent).where(CallEvent.interaction_id.in_(ids),
                                    CallEvent.kind.in_(_FACT_KINDS)).order_by(CallEvent.id))
        key = {"interaction.assigned": ("agent", "agent"),
               "interaction.queued": ("queue", "queue"),
               "interaction.disposition_set": ("disposition", "disposition")}
        for event in events:
            name, data_key = key[event.kind]
            value = (event.data or {}).get(data_key)
            if value is not None:
                facts[event.interaction_id][name] = value
        return facts

    async def _latest_scores(self, session: Any, ids: list[str]) -> dict[str, float]:
        if not ids:
            return {}
        rows = await session.execute(
            select(qa_scores.c.interaction_id, qa_scores.c.total)
            .where(qa_scores.c.interaction_id.in_(ids)).order_by(qa_scores.c.id))
        return {interaction: total for interaction, total in rows}

    async def _matches(self, session: Any, ids: list[str], word: str) -> dict[str, Match]:
        pattern = like_pattern(word)
        found: dict[str, Match] = {}
        rows = await session.execute(
            select(Call.interaction_id, transcripts.c.call_id, transcripts.c.label,
                   transcripts.c.text, transcripts.c.words)
            .join(Call, Call.id == transcripts.c.call_id)
            .where(Call.interaction_id.in_(ids),
                   func.lower(transcripts.c.text).like(pattern, escape="\\"))
            .order_by(transcripts.c.id))
        for interaction, call_id, label, text, words in rows:
            found.setdefault(interaction, Match("transcript", label, text, call_id,
                                                words=list(words or [])))
        events = await session.scalars(
            select(CallEvent).where(CallEvent.interaction_id.in_(ids),
                                    CallEvent.kind.in_(LINE_KINDS),
                                    _line_text().like(pattern, escape="\\"))
            .order_by(CallEvent.id))
        for event in events:
            data = event.data or {}
            sender = data.get("from") or ("customer" if event.kind.endswith("received")
                                          else "agent")
            found.setdefault(event.interaction_id,
                             Match("line", str(sender), str(data.get("text", ""))))
        return found

    async def review(self, interaction_id: str) -> dict[str, Any]:
        """The raw material of a review: the interaction, its calls, events, transcripts."""
        async with self._store.read() as session:
            row = await session.get(Interaction, interaction_id)
            if row is None:
                raise NoSuchInteraction(interaction_id)
            calls = [CallRecord.of(c) for c in await session.scalars(
                select(Call).where(Call.interaction_id == interaction_id)
                .order_by(Call.started_at))]
            events = [EventRecord.of(e) for e in await session.scalars(
                select(CallEvent).where(CallEvent.interaction_id == interaction_id)
                .order_by(CallEvent.id))]
            texts = [dict(t) for t in (await session.execute(
                select(transcripts).where(transcripts.c.call_id.in_([c.id for c in calls]))
                .order_by(transcripts.c.job_id, transcripts.c.channel))).mappings()]
            return {"interaction": InteractionRecord.of(row), "calls": calls,
                    "events": events, "transcripts": texts}

    async def recording(self, call_id: str) -> dict[str, Any] | None:
        """The call's latest recording.completed data (path, compressed...), if any."""
        async with self._store.read() as session:
            event = await session.scalar(
                select(CallEvent).where(CallEvent.call_id == call_id,
                                        CallEvent.kind == "recording.completed")
                .order_by(CallEvent.id.desc()).limit(1))
            return dict(event.data or {}) if event is not None else None

    async def add_score(self, interaction_id: str, *, reviewer: str, answers: dict[str, int],
                        questions: list[dict[str, Any]], comment: str,
                        total: float) -> dict[str, Any]:
        """Store a reviewer's scorecard for the interaction; returns it as stored."""
        now = utcnow()
        async with self._store.write() as session:
            if await session.get(Interaction, interaction_id) is None:
                raise NoSuchInteraction(interaction_id)
            result = await session.execute(insert(qa_scores).values(
                interaction_id=interaction_id, reviewer=reviewer, answers=answers,
                questions=questions, comment=comment, total=total, created_at=now))
            score_id = int(result.inserted_primary_key[0])
        return _score({"id": score_id, "interaction_id": interaction_id, "reviewer": reviewer,
                       "answers": answers, "questions": questions, "comment": comment,
                       "total": total, "created_at": now})

    async def scores(self, interaction_id: str) -> list[dict[str, Any]]:
        """Every score given to the interaction, oldest first."""
        async with self._store.read() as session:
            if await session.get(Interaction, interaction_id) is None:
                raise NoSuchInteraction(interaction_id)
            rows = (await session.execute(
                select(qa_scores).where(qa_scores.c.interaction_id == interaction_id)
                .order_by(qa_scores.c.id))).mappings()
            return [_score(row) for row in rows]
