"""QA scorecards: the scores reviewers give interactions.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Spelled out here rather than imported from store/reviews.py: a migration
must keep creating the schema of its day even after the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qa_scores",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("interaction_id", sa.String(32), sa.ForeignKey("interactions.id"),
                  nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_qa_scores_interaction_id", "qa_scores", ["interaction_id"])


def downgrade() -> None:
    op.drop_index("ix_qa_scores_interaction_id", table_name="qa_scores")
    op.drop_table("qa_scores")
