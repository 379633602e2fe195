"""Customers (account, hashed PIN, segment, lockout) and every flow version loaded.

Revision ID: 0002
Revises: 0001
Create Date: 2024-12-02

Demo customers are seeded so the sample main line (dial 1000) can be tried
at once: accounts 100001-100004 (see docs/flows.md). Their PINs are stored
as PBKDF2 hashes, spelled out here as the hashing of its day.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PBKDF2_ROUNDS = 20_000
DEMO_CUSTOMERS = (
    # account, PIN, name, segment, language, caller id
    ("100001", "1234", "Ada Lovelace", "standard", "en", "sip:ada@127.0.0.1"),
    ("100002", "4321", "Grace Hopper", "vip", "en", "sip:grace@127.0.0.1"),
    ("100003", "5555", "Marta Lopez", "standard", "es", "sip:marta@127.0.0.1"),
    ("100004", "2468", "Alan Turing", "standard", "en", "sip:alan@127.0.0.1"),
)


def _pin_hash(pin: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, PBKDF2_ROUNDS)
    return f"pbkdf2_sha256${PBKDF2_ROUNDS}${salt.hex()}${digest.hex()}"


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    customers = op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("pin_hash", sa.String(255), nullable=True),
        sa.Column("caller_id", sa.String(255), nullable=True),
        sa.Column("segment", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        _when("locked_until", nullable=True),
        _when("created_at"),
    )
    op.create_index("ix_customers_caller_id", "customers", ["caller_id"])
    now = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(customers, [
        {"account": account, "name": name, "pin_hash": _pin_hash(pin), "caller_id": caller,
         "segment": segment, "language": language, "attributes": {}, "failed_attempts": 0,
         "locked_until": None, "created_at": now}
        for account, pin, name, segment, language, caller in DEMO_CUSTOMERS
    ])

    op.create_table(
        "flow_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("flow", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("path", sa.String(1024), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        _when("loaded_at"),
        sa.UniqueConstraint("flow", "version", name="uq_flow_versions_flow_version"),
    )


def downgrade() -> None:
    op.drop_table("flow_versions")
    op.drop_index("ix_customers_caller_id", "customers")
    op.drop_table("customers")
