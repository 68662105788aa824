"""Broker accounts: the paper broker's OpenAlgo API key, an upstream OpenAlgo server's URL and key.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import algovisor.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broker_accounts",
        sa.Column("broker", sa.String(length=32), nullable=False),
        sa.Column("api_key_secret", sa.Text(), nullable=False),
        sa.Column("api_key_hash", sa.String(length=64), nullable=False),
        sa.Column("upstream_url", sa.Text(), nullable=True),
        sa.Column("upstream_key_secret", sa.Text(), nullable=True),
        sa.Column("created_at", algovisor.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("broker"),
        sa.UniqueConstraint("api_key_hash"),
    )


def downgrade() -> None:
    op.drop_table("broker_accounts")
