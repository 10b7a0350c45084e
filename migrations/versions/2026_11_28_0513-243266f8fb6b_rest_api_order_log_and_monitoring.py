"""REST API: the order log, idempotency keys, and the request-log and order-latency tables.

The order log and idempotency keys are per user (cascade with the user); the two monitoring
tables are append-only history written in batches and carry user_id without a foreign key.

Revision ID: 243266f8fb6b
Revises: a7928378572a
Create Date: 2026-11-28 05:13:16.964032+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openalgo.db.base

revision: str = "243266f8fb6b"
down_revision: str | Sequence[str] | None = "a7928378572a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_latency",
        sa.Column("created_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("endpoint", sa.String(length=32), nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("validation_ms", sa.Float(), nullable=False),
        sa.Column("venue_ms", sa.Float(), nullable=False),
        sa.Column("response_ms", sa.Float(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("order_log_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_latency")),
    )
    with op.batch_alter_table("order_latency", schema=None) as batch_op:
        batch_op.create_index(
            "ix_order_latency_endpoint_created_at", ["endpoint", "created_at"], unique=False
        )

    op.create_table(
        "request_log",
        sa.Column("created_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_log")),
    )
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.create_index("ix_request_log_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_request_log_route_created_at", ["route", "created_at"], unique=False
        )

    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("endpoint", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("order_log_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index("ix_idempotency_keys_expires_at", ["expires_at"], unique=False)
        batch_op.create_index("uq_idempotency_keys_user_id_key", ["user_id", "key"], unique=True)

    op.create_table(
        "order_log",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("endpoint", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("strategy", sa.String(length=255), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=True),
        sa.Column("exchange", sa.String(length=16), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("orderid", sa.String(length=64), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("venue_ms", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("created_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_order_log_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_log")),
    )
    with op.batch_alter_table("order_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_order_log_status_created_at", ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_order_log_user_id_created_at", ["user_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("order_log", schema=None) as batch_op:
        batch_op.drop_index("ix_order_log_user_id_created_at")
        batch_op.drop_index("ix_order_log_status_created_at")

    op.drop_table("order_log")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index("uq_idempotency_keys_user_id_key")
        batch_op.drop_index("ix_idempotency_keys_expires_at")

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.drop_index("ix_request_log_route_created_at")
        batch_op.drop_index("ix_request_log_created_at")

    op.drop_table("request_log")
    with op.batch_alter_table("order_latency", schema=None) as batch_op:
        batch_op.drop_index("ix_order_latency_endpoint_created_at")

    op.drop_table("order_latency")
