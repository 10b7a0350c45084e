"""Async engines for the two supported databases.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on. pysqlite's
own transaction handling is switched off and we emit BEGIN ourselves, which is what makes SAVEPOINTs
(and therefore rolled-back test transactions) behave. Sessions that write take the write lock at
BEGIN (``BEGIN IMMEDIATE``), so two concurrent writers queue on the busy timeout instead of one of
them failing with "database is locked" when it upgrades a read lock mid-transaction.

PostgreSQL goes through asyncpg with a bounded pool and pre-ping, so a restarted server costs one
failed checkout rather than a failed request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from openalgo.db.checkpoint import WAL_AUTOCHECKPOINT_PAGES
from openalgo.db.write_gate import SQLITE_BEGIN_OPTION, set_busy_timeout
from openalgo.settings import Settings

# Connections each sandbox ledger's reads hold on SQLite (`brokers.sandbox.driver_reads.Reads`).
# bench/sandbox_reads.py, 32 concurrent callers of a funds-row read: 16-18k reads/s in one
# process on 1, 2, 4 or 8 lanes (the event loop is the limit, not the lanes' threads). Two, so
# that one slow read (a busy account's day of trades) does not hold up all the others.
SQLITE_READ_LANES = 2
# The ledgers that hold them: the sandbox (analyzer mode) and the simulator broker's.
SQLITE_LEDGERS = 2


def create_engine(settings: Settings, url: str | None = None, **overrides: Any) -> AsyncEngine:
    """Build the engine for ``url`` (default: the configured database)."""
    url = url or settings.resolved_database_url
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, settings, **overrides)
    return _postgres_engine(url, settings, **overrides)


def _sqlite_engine(url: str, settings: Settings, **overrides: Any) -> AsyncEngine:
    database = make_url(url).database
    in_memory = database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {
            "timeout": settings.sqlite_busy_timeout_ms / 1000,
            "check_same_thread": False,
        },
    }
    if in_memory:
        kwargs["poolclass"] = StaticPool
    else:
        # The pool has no overflow, so the connections the ledgers' reads hold for good are
        # added on top: holding them must not leave sessions (and the writers) waiting.
        kwargs["pool_size"] = min(settings.db_pool_size, 8) + SQLITE_LEDGERS * SQLITE_READ_LANES
        kwargs["max_overflow"] = 0
        kwargs["pool_timeout"] = settings.db_pool_timeout
    kwargs.update(overrides)
    engine = create_async_engine(url, **kwargs)
    busy_ms = settings.sqlite_busy_timeout_ms
    set_busy_timeout(engine, busy_ms / 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; see the module docstring.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints are the server's background task (`db.checkpoint`); this is the bound
            # for a process without one.
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: str, settings: Settings, **overrides: Any) -> AsyncEngine:
    kwargs: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        "pool_pre_ping": True,
        "connect_args": {"timeout": settings.db_connect_timeout},
    }
    kwargs.update(overrides)
    return create_async_engine(url, **kwargs)


def reader(engine: AsyncEngine) -> AsyncEngine:
    """A view of ``engine`` whose SQLite transactions do not take the write lock at BEGIN."""
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)
