"""Queue figures history: one sample per queue every few seconds, for wallboard charts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Spelled out here rather than imported from store/figure_samples.py: a
migration must keep creating the schema of its day even after the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "queue_figure_samples",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("longest_wait_s", sa.Float(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("service_level", sa.Float(), nullable=True),
        sa.Column("asa_s", sa.Float(), nullable=True),
        sa.Column("aht_s", sa.Float(), nullable=True),
        sa.Column("agents", sa.JSON(), nullable=False),
    )
    op.create_index("ix_queue_figure_samples_queue_at", "queue_figure_samples",
                    ["queue", "at"])
    op.create_index("ix_queue_figure_samples_at", "queue_figure_samples", ["at"])


def downgrade() -> None:
    op.drop_index("ix_queue_figure_samples_at", table_name="queue_figure_samples")
    op.drop_index("ix_queue_figure_samples_queue_at", table_name="queue_figure_samples")
    op.drop_table("queue_figure_samples")
