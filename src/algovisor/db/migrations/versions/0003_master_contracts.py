"""Master contracts: per-broker status, and instrument rows kept by generation.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import algovisor.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "master_contract_status",
        sa.Column("broker", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("last_updated", algovisor.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("total_symbols", sa.Integer(), nullable=False),
        sa.Column("is_ready", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("last_generation", sa.Integer(), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=True),
        sa.Column("loaded_at", algovisor.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("exchange_counts", sa.JSON(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("rejections", sa.JSON(), nullable=False),
        sa.Column("step_secs", sa.JSON(), nullable=False),
        sa.Column("source_kind", sa.String(length=8), nullable=True),
        sa.Column("source_format", sa.String(length=16), nullable=True),
        sa.Column("source_location", sa.Text(), nullable=True),
        sa.Column("source_secret", sa.Text(), nullable=True),
        sa.Column("attempt_id", sa.String(length=32), nullable=True),
        sa.Column(
            "attempt_started_at", algovisor.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "attempt_deadline_at", algovisor.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("attempt_step", sa.String(length=16), nullable=True),
        sa.Column("attempt_owner", sa.String(length=160), nullable=True),
        sa.Column("progress_bytes", sa.BigInteger(), nullable=False),
        sa.Column("progress_total_bytes", sa.BigInteger(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", algovisor.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("broker"),
    )
    op.create_table(
        "master_contracts",
        sa.Column("broker", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("exchange", algovisor.db.types.byte_order_text(16), nullable=False),
        sa.Column("symbol", algovisor.db.types.byte_order_text(64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("broker_symbol", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("broker_exchange", sa.String(length=16), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("strike", sa.Float(), nullable=True),
        sa.Column("lot_size", sa.Integer(), nullable=False),
        sa.Column("instrument_type", sa.String(length=8), nullable=False),
        sa.Column("tick_size", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("broker", "generation", "exchange", "symbol"),
    )
    with op.batch_alter_table("master_contracts", schema=None) as batch_op:
        batch_op.create_index(
            "uq_master_contracts_token",
            ["broker", "generation", "exchange", "token"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("master_contracts", schema=None) as batch_op:
        batch_op.drop_index("uq_master_contracts_token")

    op.drop_table("master_contracts")
    op.drop_table("master_contract_status")
