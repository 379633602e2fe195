"""Transcripts of recordings, and the queue of transcription jobs that makes them.

Jobs live in the database, not in memory, so a restart loses none: a job
left 'running' by a process that died goes back to 'pending' when the queue
starts again (requeue_running). A transcript is one channel of one
recording (caller and agent apart), with its words, their times and
confidence; finishing a job stores every channel and records
`transcript.completed` on the call's timeline in one transaction.

Search is a plain substring match on the text: enough for QA to find calls
that mention something, and it works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Integer,
    RowMapping,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from voicecenter.store.models import Base, Call, UTCDateTime, utcnow
from voicecenter.store.timeline import record_event

if TYPE_CHECKING:
    from voicecenter.store.database import Store

# Core tables on the models' MetaData (so foreign keys to calls resolve and the
# schema check sees one schema), created by migration 0003.
METADATA = Base.metadata
transcription_jobs = Table(
    "transcription_jobs", METADATA,
    Column("id", Integer, primary_key=True),
    Column("path", String(1024), nullable=False),
    Column("call_id", String(32), ForeignKey("calls.id"), nullable=True, index=True),
    Column("labels", JSON, nullable=False),  # channel names: ["caller", "agent"]
    Column("sensitive", JSON, nullable=False),  # [[start_s, end_s], ...] to redact digits in
    Column("state", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
)
transcripts = Table(
    "transcripts", METADATA,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, ForeignKey("transcription_jobs.id"), nullable=False, index=True),
    Column("call_id", String(32), ForeignKey("calls.id"), nullable=True, index=True),
    Column("channel", Integer, nullable=False),
    Column("label", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("words", JSON, nullable=False),  # [{word, start, end, conf}], times in seconds
    Column("confidence", Float, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Job:
    id: int
    path: str
    call_id: str | None
    labels: list[str]
    sensitive: list[list[float]]
    state: str
    attempts: int
    error: str | None = None

    @classmethod
    def of(cls, row: RowMapping) -> Job:
        return cls(row["id"], row["path"], row["call_id"], list(row["labels"] or []),
                   list(row["sensitive"] or []), row["state"], row["attempts"], row["error"])


@dataclass(frozen=True)
class ChannelText:
    """One channel's transcript as transcription produces it."""

    channel: int
    label: str
    text: str
    words: list[dict[str, Any]]
    confidence: float
    duration_s: float


def _transcript(row: RowMapping) -> dict[str, Any]:
    created: datetime = row["created_at"]
    return {"id": row["id"], "job_id": row["job_id"], "call_id": row["call_id"],
            "channel": row["channel"], "label": row["label"], "text": row["text"],
            "words": list(row["words"] or []), "confidence": row["confidence"],
            "duration_s": row["duration_s"], "created_at": created.isoformat()}


class TranscriptRepository:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def enqueue(self, path: str, *, call_id: str | None = None,
                      labels: list[str] | None = None,
                      sensitive: list[list[float]] | None = None) -> int:
        """Queue a recording; labels name its channels (default: caller, agent)."""
        async with self._store.write() as session:
            result = await session.execute(insert(transcription_jobs).values(
                path=path, call_id=call_id, labels=labels or ["caller", "agent"],
                sensitive=sensitive or [], state=PENDING, attempts=0, created_at=utcnow()))
            return int(result.inserted_primary_key[0])

    async def claim(self) -> Job | None:
        """The oldest pending job, now marked running (one claimer at a time)."""
        async with self._store.write() as session:
            row = (await session.execute(
                select(transcription_jobs).where(transcription_jobs.c.state == PENDING)
                .order_by(transcription_jobs.c.id).limit(1))).mappings().first()
            if row is None:
                return None
            claimed = await session.execute(
                update(transcription_jobs)
                .where(transcription_jobs.c.id == row["id"],
                       transcription_jobs.c.state == PENDING)
                .values(state=RUNNING, attempts=row["attempts"] + 1, started_at=utcnow()))
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return None
            return Job.of({**row, "state": RUNNING, "attempts": row["attempts"] + 1})

    async def requeue_running(self) -> int:
        """Jobs a dead process left running go back to pending; how many."""
        async with self._store.write() as session:
            result = await session.execute(
                update(transcription_jobs).where(transcription_jobs.c.state == RUNNING)
                .values(state=PENDING))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def complete(self, job: Job, channels: list[ChannelText]) -> None:
        """Store every channel and record transcript.completed, all in one transaction."""
        now = utcnow()
        async with self._store.write() as session:
            for channel in channels:
                await session.execute(insert(transcripts).values(
                    job_id=job.id, call_id=job.call_id, channel=channel.channel,
                    label=channel.label, text=channel.text, words=channel.words,
                    confidence=channel.confidence, duration_s=channel.duration_s,
                    created_at=now))
            await session.execute(update(transcription_jobs)
                                  .where(transcription_jobs.c.id == job.id)
                                  .values(state=DONE, finished_at=now, error=None))
            call = await session.get(Call, job.call_id) if job.call_id else None
            if call is not None:
                await record_event(
                    session, self._store.topic_prefix, kind="transcript.completed",
                    interaction_id=call.interaction_id, call_id=call.id,
                    data={"job": job.id, "path": job.path,
                          "channels": [{"label": c.label, "words": len(c.words)}
                                       for c in channels]})

    async def fail(self, job: Job, error: str) -> str:
        """Record a failure; the job is retried until MAX_ATTEMPTS. Returns its new state."""
        state = FAILED if job.attempts >= MAX_ATTEMPTS else PENDING
        async with self._store.write() as session:
            await session.execute(update(transcription_jobs)
                                  .where(transcription_jobs.c.id == job.id)
                                  .values(state=state, error=error[:2000],
                                          finished_at=utcnow() if state == FAILED else None))
        return state

    async def job(self, job_id: int) -> Job | None:
        async with self._store.read() as session:
            row = (await session.execute(select(transcription_jobs).where(
                transcription_jobs.c.id == job_id))).mappings().first()
            return Job.of(row) if row else None

    async def for_call(self, call_id: str) -> list[dict[str, Any]]:
        async with self._store.read() as session:
            rows = (await session.execute(
                select(transcripts).where(transcripts.c.call_id == call_id)
                .order_by(transcripts.c.job_id, transcripts.c.channel))).mappings()
            return [_transcript(row) for row in rows]

    async def search(self, text: str, limit: int = 50) -> list[dict[str, Any]]:
        """Transcripts containing `text`, newest first."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        async with self._store.read() as session:
            rows = (await session.execute(
                select(transcripts).where(transcripts.c.text.like(pattern, escape="\\"))
                .order_by(transcripts.c.id.desc()).limit(limit))).mappings()
            return [_transcript(row) for row in rows]
