"""Transcripts of recordings and the queue of transcription jobs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Spelled out here rather than imported from store/transcripts.py: a migration
must keep creating the schema of its day even after the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "transcription_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("call_id", sa.String(32), sa.ForeignKey("calls.id"), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("sensitive", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _when("created_at"),
        _when("started_at", nullable=True),
        _when("finished_at", nullable=True),
    )
    op.create_index("ix_transcription_jobs_call_id", "transcription_jobs", ["call_id"])
    op.create_index("ix_transcription_jobs_state", "transcription_jobs", ["state"])

    op.create_table(
        "transcripts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("transcription_jobs.id"),
                  nullable=False),
        sa.Column("call_id", sa.String(32), sa.ForeignKey("calls.id"), nullable=True),
        sa.Column("channel", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("words", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        _when("created_at"),
    )
    op.create_index("ix_transcripts_job_id", "transcripts", ["job_id"])
    op.create_index("ix_transcripts_call_id", "transcripts", ["call_id"])


def downgrade() -> None:
    op.drop_table("transcripts")
    op.drop_table("transcription_jobs")
