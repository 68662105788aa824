"""Resource history: a run's CPU and memory sampled over the last hours, for the web UI's chart.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import algovisor.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resource_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("at", algovisor.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cpu_percent", sa.Float(), nullable=False),
        sa.Column("rss_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["strategy_id"], ["strategies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("resource_samples", schema=None) as batch_op:
        batch_op.create_index(
            "ix_resource_samples_strategy_at", ["strategy_id", "at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_resource_samples_at"), ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("resource_samples")
