"""Instrument master: one set of rows per broker, with exact, token and text-search indexes.

The text-search index is backend-specific and invisible to the ORM (see openalgo.db.unmanaged):
SQLite gets an FTS5 trigram table over ``search_text`` kept in step by triggers; PostgreSQL gets
pg_trgm and a GIN trigram index, which serves ``LIKE '%term%'``.

Revision ID: a7928378572a
Revises: 97e901ea5a14
Create Date: 2026-11-28 05:06:00.192360+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openalgo.db.base

revision: str = "a7928378572a"
down_revision: str | Sequence[str] | None = "97e901ea5a14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instrument_masters",
        sa.Column("broker", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("loaded_at", openalgo.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("broker", name=op.f("pk_instrument_masters")),
    )
    op.create_table(
        "instruments",
        sa.Column("broker", sa.String(length=32), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("broker_symbol", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("broker_exchange", sa.String(length=32), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("instrument_type", sa.String(length=8), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("strike", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("lot_size", sa.Integer(), nullable=False),
        sa.Column("tick_size", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("search_text", sa.String(length=512), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruments")),
        sa.UniqueConstraint(
            "broker", "exchange", "symbol", name=op.f("uq_instruments_broker_exchange_symbol")
        ),
    )
    with op.batch_alter_table("instruments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_instruments_broker_name_exchange_expiry",
            ["broker", "name", "exchange", "expiry"],
            unique=False,
        )
        batch_op.create_index("ix_instruments_broker_symbol", ["broker", "symbol"], unique=False)
        batch_op.create_index("ix_instruments_broker_token", ["broker", "token"], unique=False)
    _create_search_index()


def _create_search_index() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE instruments_search USING fts5("
            "search_text, content='instruments', content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER instruments_search_insert AFTER INSERT ON instruments BEGIN "
            "INSERT INTO instruments_search(rowid, search_text) VALUES (new.id, new.search_text); "
            "END"
        )
        op.execute(
            "CREATE TRIGGER instruments_search_delete AFTER DELETE ON instruments BEGIN "
            "INSERT INTO instruments_search(instruments_search, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER instruments_search_update AFTER UPDATE OF search_text ON instruments "
            "BEGIN INSERT INTO instruments_search(instruments_search, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); "
            "INSERT INTO instruments_search(rowid, search_text) VALUES (new.id, new.search_text); "
            "END"
        )
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX instruments_search_trgm ON instruments "
            "USING gin (search_text gin_trgm_ops)"
        )


def _drop_search_index() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS instruments_search_{trigger}")
        op.execute("DROP TABLE IF EXISTS instruments_search")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS instruments_search_trgm")


def downgrade() -> None:
    _drop_search_index()
    with op.batch_alter_table("instruments", schema=None) as batch_op:
        batch_op.drop_index("ix_instruments_broker_token")
        batch_op.drop_index("ix_instruments_broker_symbol")
        batch_op.drop_index("ix_instruments_broker_name_exchange_expiry")

    op.drop_table("instruments")
    op.drop_table("instrument_masters")
