"""Initial schema: interactions, calls, timeline, outbox, agents, SIP accounts.

Revision ID: 0001
Revises:
Create Date: 2024-11-23

Spelled out here rather than imported from models.py: a migration must keep
creating the schema of its day even after the models move on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kamailio auth_db refuses a credentials table whose row in Kamailio's own
# `version` table is not the subscriber table's version.
KAMAILIO_AUTH_TABLE_VERSION = 7


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "interactions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("customer", sa.String(255), nullable=True),
        sa.Column("attached", sa.JSON(), nullable=False),
        _when("created_at"),
        _when("ended_at", nullable=True),
    )
    op.create_index("ix_interactions_state", "interactions", ["state"])
    op.create_index("ix_interactions_created_at", "interactions", ["created_at"])

    op.create_table(
        "calls",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("interaction_id", sa.String(32), sa.ForeignKey("interactions.id"),
                  nullable=False),
        sa.Column("sip_call_id", sa.String(255), nullable=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("from_uri", sa.String(512), nullable=False),
        sa.Column("to_uri", sa.String(512), nullable=False),
        sa.Column("called_number", sa.String(64), nullable=True),
        sa.Column("worker_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("end_reason", sa.String(64), nullable=True),
        sa.Column("flow", sa.String(128), nullable=True),
        _when("started_at"),
        _when("answered_at", nullable=True),
        _when("ended_at", nullable=True),
    )
    for column in ("interaction_id", "sip_call_id", "worker_id", "state", "started_at"):
        op.create_index(f"ix_calls_{column}", "calls", [column])

    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("interaction_id", sa.String(32), sa.ForeignKey("interactions.id"),
                  nullable=False),
        sa.Column("call_id", sa.String(32), sa.ForeignKey("calls.id"), nullable=True),
        _when("at"),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_call_events_interaction_id", "call_events", ["interaction_id"])
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        _when("created_at"),
        _when("published_at", nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.create_index(
        "ix_outbox_pending", "outbox", ["id"],
        sqlite_where=sa.text("published_at IS NULL"),
        postgresql_where=sa.text("published_at IS NULL"),
    )

    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        _when("created_at"),
    )

    op.create_table(
        "sip_accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.Text(), nullable=False, unique=True),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("ha1", sa.Text(), nullable=False),
        sa.Column("ha1b", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id", ondelete="CASCADE"),
                  nullable=True),
    )
    op.create_index("ix_sip_accounts_agent_id", "sip_accounts", ["agent_id"])

    version = op.create_table(
        "version",
        sa.Column("table_name", sa.String(32), primary_key=True),
        sa.Column("table_version", sa.Integer(), nullable=False),
    )
    op.bulk_insert(
        version, [{"table_name": "sip_accounts", "table_version": KAMAILIO_AUTH_TABLE_VERSION}]
    )


def downgrade() -> None:
    for table in ("version", "sip_accounts", "agents", "outbox", "call_events", "calls",
                  "interactions"):
        op.drop_table(table)
