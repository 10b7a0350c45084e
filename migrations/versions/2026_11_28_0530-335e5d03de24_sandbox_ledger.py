"""Sandbox ledger: orders, trades, positions, holdings, funds, GTT and config, per user and ledger.

Money, prices and quantities use ExactDecimal: NUMERIC on PostgreSQL, decimal text on SQLite.

Revision ID: 335e5d03de24
Revises: 243266f8fb6b
Create Date: 2026-11-28 05:30:51.452515+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openalgo.db.base
import openalgo.db.types

revision: str = "335e5d03de24"
down_revision: str | Sequence[str] | None = "243266f8fb6b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sandbox_config",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ledger", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sandbox_config_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_config")),
        sa.UniqueConstraint(
            "user_id", "ledger", "key", name=op.f("uq_sandbox_config_user_id_ledger_key")
        ),
    )
    op.create_table(
        "sandbox_funds",
        sa.Column("capital", openalgo.db.types.ExactDecimal(precision=18, scale=2), nullable=False),
        sa.Column(
            "available", openalgo.db.types.ExactDecimal(precision=18, scale=2), nullable=False
        ),
        sa.Column(
            "used_margin", openalgo.db.types.ExactDecimal(precision=18, scale=2), nullable=False
        ),
        sa.Column(
            "realized_pnl", openalgo.db.types.ExactDecimal(precision=18, scale=2), nullable=False
        ),
        sa.Column("reset_count", sa.Integer(), nullable=False),
        sa.Column("last_reset_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ledger", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sandbox_funds_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_funds")),
        sa.UniqueConstraint("user_id", "ledger", name=op.f("uq_sandbox_funds_user_id_ledger")),
    )
    op.create_table(
        "sandbox_gtt",
        sa.Column("gtt_id", sa.String(length=40), nullable=False),
        sa.Column("trigger_type", sa.String(length=8), nullable=False),
        sa.Column("strategy", sa.String(length=100), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=4), nullable=False),
        sa.Column("product", sa.String(length=8), nullable=False),
        sa.Column(
            "quantity", openalgo.db.types.ExactDecimal(precision=24, scale=8), nullable=False
        ),
        sa.Column("pricetype", sa.String(length=8), nullable=False),
        sa.Column(
            "trigger_sl", openalgo.db.types.ExactDecimal(precision=18, scale=4), nullable=True
        ),
        sa.Column("price_sl", openalgo.db.types.ExactDecimal(precision=18, scale=4), nullable=True),
        sa.Column(
            "trigger_tg", openalgo.db.types.ExactDecimal(precision=18, scale=4), nullable=True
        ),
        sa.Column("price_tg", openalgo.db.types.ExactDecimal(precision=18, scale=4), nullable=True),
        sa.Column(
            "last_price", openalgo.db.types.ExactDecimal(precision=18, scale=4), nullable=False
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column(
            "margin_blocked", openalgo.db.types.ExactDecimal(precision=18, scale=2), nullable=False
        ),
        sa.Column("fired_leg", sa.Integer(), nullable=True),
        sa.Column("orderid", sa.String(length=20), nullable=True),
        sa.Column("rejection_reason", sa.String(length=300), nullable=False),
        sa.Column("expires_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ledger", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sandbox_gtt_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_gtt")),
        sa.UniqueConstraint("ledger", "gtt_id", name=op.f("uq_sandbox_gtt_ledger_gtt_id")),
    )
    with op.batch_alter_table("sandbox_gtt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sandbox_gtt_ledger_status"), ["ledger", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sandbox_gtt_user_id_ledger_created_at"),
            ["user_id", "ledger", "created_at"],
            unique=False,
        )

    op.create_table(
        "sandbox_holdings",
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column(
            "quantity", openalgo.db.types.ExactDecimal(precision=24, scale=8), nullable=False
        ),
        sa.Column("cost", openalgo.db.types.ExactDecimal(precision=18, scale=2), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ledger", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sandbox_holdings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_holdings")),
        sa.UniqueConstraint(
            "user_id",
            "ledger",
            "symbol",
            "exchange",
            name=op.f("uq_sandbox_holdings_user_id_ledger_symbol_exchange"),
        ),
    )
    op.create_table(
        "sandbox_orders",
        sa.Column("orderid", sa.String(length=20), nullable=False),
        sa.Column("strategy", sa.String(length=100), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=4), nullable=False),
        sa.Column(
            "quantity", openalgo.db.types.ExactDecimal(precision=24, scale=8), nullable=False
        ),
        sa.Column("pricetype", sa.String(length=8), nullable=False),
        sa.Column("product", sa.String(length=8), nullable=False),
        sa.Column("price", openalgo.db.types.ExactDecimal(precision=18, scale=4), nullable=False),
        sa.Column(
            "trigger_price", openalgo.db.types.ExactDecimal(precision=18, scale=4), nullable=False
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("triggered", sa.Boolean(), nullable=False),
        sa.Column(
            "margin_blocked", openalgo.db.types.ExactDecimal(precision=18, scale=2), nullable=False
        ),
        sa.Column(
            "margin_price", openalgo.db.types.ExactDecimal(precision=18, scale=4), nullable=False
        ),
        sa.Column(
            "average_price", openalgo.db.types.ExactDecimal(precision=18, scale=4), nullable=False
        ),
        sa.Column(
            "filled_quantity", openalgo.db.types.ExactDecimal(precision=24, scale=8), nullable=False
        ),
        sa.Column("rejection_reason", sa.String(length=300), nullable=False),
        sa.Column("instrument_type", sa.String(length=8), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("gtt_id", sa.String(length=40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ledger", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sandbox_orders_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_orders")),
        sa.UniqueConstraint("ledger", "gtt_id", name=op.f("uq_sandbox_orders_ledger_gtt_id")),
        sa.UniqueConstraint("ledger", "orderid", name=op.f("uq_sandbox_orders_ledger_orderid")),
    )
    with op.batch_alter_table("sandbox_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sandbox_orders_ledger_status"), ["ledger", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sandbox_orders_user_id_ledger_created_at"),
            ["user_id", "ledger", "created_at"],
            unique=False,
        )

    op.create_table(
        "sandbox_positions",
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("product", sa.String(length=8), nullable=False),
        sa.Column(
            "quantity", openalgo.db.types.ExactDecimal(precision=24, scale=8), nullable=False
        ),
        sa.Column("cost", openalgo.db.types.ExactDecimal(precision=22, scale=4), nullable=False),
        sa.Column(
            "margin_blocked", openalgo.db.types.ExactDecimal(precision=18, scale=2), nullable=False
        ),
        sa.Column(
            "realized_pnl", openalgo.db.types.ExactDecimal(precision=18, scale=2), nullable=False
        ),
        sa.Column(
            "last_price", openalgo.db.types.ExactDecimal(precision=18, scale=4), nullable=False
        ),
        sa.Column("instrument_type", sa.String(length=8), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ledger", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sandbox_positions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_positions")),
        sa.UniqueConstraint(
            "user_id",
            "ledger",
            "symbol",
            "exchange",
            "product",
            name=op.f("uq_sandbox_positions_user_id_ledger_symbol_exchange_product"),
        ),
    )
    op.create_table(
        "sandbox_trades",
        sa.Column("tradeid", sa.String(length=40), nullable=False),
        sa.Column("orderid", sa.String(length=20), nullable=False),
        sa.Column("strategy", sa.String(length=100), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("product", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=4), nullable=False),
        sa.Column(
            "quantity", openalgo.db.types.ExactDecimal(precision=24, scale=8), nullable=False
        ),
        sa.Column("price", openalgo.db.types.ExactDecimal(precision=18, scale=4), nullable=False),
        sa.Column(
            "realized_pnl", openalgo.db.types.ExactDecimal(precision=18, scale=2), nullable=False
        ),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ledger", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sandbox_trades_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_trades")),
        sa.UniqueConstraint("ledger", "orderid", name=op.f("uq_sandbox_trades_ledger_orderid")),
        sa.UniqueConstraint("ledger", "tradeid", name=op.f("uq_sandbox_trades_ledger_tradeid")),
    )
    with op.batch_alter_table("sandbox_trades", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sandbox_trades_user_id_ledger_created_at"),
            ["user_id", "ledger", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("sandbox_trades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_trades_user_id_ledger_created_at"))

    op.drop_table("sandbox_trades")
    op.drop_table("sandbox_positions")
    with op.batch_alter_table("sandbox_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_orders_user_id_ledger_created_at"))
        batch_op.drop_index(batch_op.f("ix_sandbox_orders_ledger_status"))

    op.drop_table("sandbox_orders")
    op.drop_table("sandbox_holdings")
    with op.batch_alter_table("sandbox_gtt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_gtt_user_id_ledger_created_at"))
        batch_op.drop_index(batch_op.f("ix_sandbox_gtt_ledger_status"))

    op.drop_table("sandbox_gtt")
    op.drop_table("sandbox_funds")
    op.drop_table("sandbox_config")
