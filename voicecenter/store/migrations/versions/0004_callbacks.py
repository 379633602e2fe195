"""Callbacks that keep the caller's place and survive a restart.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Spelled out here rather than imported from store/callbacks.py: a migration
must keep creating the schema of its day even after the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("router_id", sa.String(64), nullable=False, unique=True),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("uri", sa.String(256), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.String(32), nullable=True),
        sa.Column("origin", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("enqueued_at"),
        _when("due_at", nullable=True),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_index("ix_callbacks_state", "callbacks", ["state"])


def downgrade() -> None:
    op.drop_table("callbacks")
