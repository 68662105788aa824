"""Schedules: a strategy's window, days and exchange; skipping the rest of a window.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import algovisor.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.alter_column(
            "stop_reason",
            existing_type=sa.VARCHAR(length=32),
            type_=sa.String(length=64),
            existing_nullable=True,
        )
    with op.batch_alter_table("strategies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_start", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("schedule_stop", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("schedule_days", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("schedule_exchange", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column(
                "schedule_special_sessions",
                sa.Boolean(),
                nullable=False,
                server_default=sa.true(),
            )
        )
        batch_op.add_column(
            sa.Column(
                "window_skipped_until",
                algovisor.db.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("strategies", schema=None) as batch_op:
        batch_op.drop_column("window_skipped_until")
        batch_op.drop_column("schedule_special_sessions")
        batch_op.drop_column("schedule_exchange")
        batch_op.drop_column("schedule_days")
        batch_op.drop_column("schedule_stop")
        batch_op.drop_column("schedule_start")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.alter_column(
            "stop_reason",
            existing_type=sa.String(length=64),
            type_=sa.VARCHAR(length=32),
            existing_nullable=True,
        )
