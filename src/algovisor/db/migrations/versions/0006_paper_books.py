"""The paper broker's books (orders and trades); upstream accounts need no paper key.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import algovisor.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broker_accounts", schema=None) as batch_op:
        batch_op.alter_column("api_key_secret", existing_type=sa.Text(), nullable=True)
        batch_op.alter_column("api_key_hash", existing_type=sa.String(length=64), nullable=True)
    op.create_table(
        "paper_orders",
        sa.Column("order_id", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=4), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("pricetype", sa.String(length=8), nullable=False),
        sa.Column("product", sa.String(length=8), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("trigger_price", sa.Float(), nullable=False),
        sa.Column("strategy", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", algovisor.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", algovisor.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("filled_quantity", sa.BigInteger(), nullable=False),
        sa.Column("average_price", sa.Float(), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=False),
        sa.Column("margin_per_unit", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    with op.batch_alter_table("paper_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paper_orders_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_paper_orders_created_at"), ["created_at"], unique=False
        )
    op.create_table(
        "paper_trades",
        sa.Column("trade_id", sa.String(length=24), nullable=False),
        sa.Column("order_id", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("product", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=4), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("at", algovisor.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("strategy", sa.String(length=128), nullable=False),
        sa.Column("margin_per_unit", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["paper_orders.order_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("trade_id"),
    )
    with op.batch_alter_table("paper_trades", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paper_trades_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_paper_trades_at"), ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("paper_trades")
    op.drop_table("paper_orders")
    with op.batch_alter_table("broker_accounts", schema=None) as batch_op:
        batch_op.alter_column("api_key_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("api_key_secret", existing_type=sa.Text(), nullable=False)
