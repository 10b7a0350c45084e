"""Instrument master: drop the database text-search index; search runs from the in-memory cache.

The FTS5 trigram table on SQLite (kept in step by per-row triggers) made loading 100,000 rows take
over 20 s and still could not rank a broad query (``NIFTY``) in under 10 ms; pg_trgm on PostgreSQL
had the same ranking cost and needs ``CREATE EXTENSION`` rights that managed databases often
withhold. Search is now served by `openalgo.services.instrument_search` from memory; the database
keeps ``search_text`` for the rare query that arrives before the cache is warm, answered by a plain
``LIKE`` scan.

Revision ID: 5c1e0b7d2f93
Revises: 433cd06dcc14
Create Date: 2026-11-29 01:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "5c1e0b7d2f93"
down_revision: str | Sequence[str] | None = "433cd06dcc14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS instruments_search_{trigger}")
        op.execute("DROP TABLE IF EXISTS instruments_search")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS instruments_search_trgm")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE instruments_search USING fts5("
            "search_text, content='instruments', content_rowid='id', tokenize='trigram')"
        )
        op.execute("INSERT INTO instruments_search(instruments_search) VALUES ('rebuild')")
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
