"""Customer profiles across identities (phone, SIP URI, chat visitor, e-mail, account).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Spelled out here rather than imported from store/customers_identity.py: a
migration must keep creating the schema of its day even after the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_profiles",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("display_name", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "customer_identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("profile_id", sa.String(32), sa.ForeignKey("customer_profiles.id"),
                  nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "value", name="uq_customer_identity"),
    )
    op.create_index("ix_customer_identities_profile_id", "customer_identities", ["profile_id"])


def downgrade() -> None:
    op.drop_index("ix_customer_identities_profile_id", table_name="customer_identities")
    op.drop_table("customer_identities")
    op.drop_table("customer_profiles")
