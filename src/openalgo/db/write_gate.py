"""One in-process queue in front of SQLite's write lock.

Why: SQLite lets one transaction at a time hold a database's write lock (``BEGIN IMMEDIATE`` takes
it here, see `engine.py`). Another writer does not queue for it: it waits in SQLite's busy handler,
which sleeps and retries on a fixed schedule (1, 2, 5, 10, 15, 20, 25, 25, 25, 50 ... ms) instead of
waking when the lock is released. Under a steady order flow three writers of this process take
turns (the order journal, the ledger's writer, the traffic monitor), and the one that lost a race
sleeps for milliseconds while the lock sits free: that was most of ``/placeorder``'s p99 on SQLite.
Here the writers of this process queue on an `asyncio.Lock` before ``BEGIN IMMEDIATE`` and are
woken as soon as the previous writer has committed.

What it does not change: SQLite's lock still decides between processes (the CLI, another worker),
and a writer that does not use the gate simply meets SQLite's busy handler as before. A writer
waits on the gate at most the busy timeout; after that it goes on to SQLite's own wait, so a
transaction opened inside another one fails as it always did ("database is locked") instead of
hanging. PostgreSQL locks rows, not the database: no gate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("openalgo.db.write_gate")

_ATTRIBUTE = "_openalgo_write_gate"
# Execution option read by the SQLite BEGIN hook (`db.engine`): "IMMEDIATE" for writers (the
# default), "DEFERRED" for `engine.reader`'s views, whose transactions take no write lock. Defined
# here, not in `engine`, which imports this module.
SQLITE_BEGIN_OPTION = "openalgo_sqlite_begin"


class WriteGate:
    """The queue of this process's writers to one SQLite database (on one event loop)."""

    __slots__ = ("loop", "lock", "timeout", "waits", "timeouts")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.lock = asyncio.Lock()
        self.timeout = timeout
        self.waits = 0  # acquisitions that had to wait for another writer
        self.timeouts = 0  # waits that gave up and went on to SQLite's busy handler

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        lock = self.lock
        acquired = True
        if not lock.locked():
            await lock.acquire()
        else:
            self.waits += 1
            try:
                async with asyncio.timeout(self.timeout):
                    await lock.acquire()
            except TimeoutError:
                acquired = False
                self.timeouts += 1
                log.warning(
                    "a writer waited %.1f s for this process's SQLite write gate; "
                    "going on to SQLite's own lock wait",
                    self.timeout,
                )
        try:
            yield
        finally:
            if acquired:
                lock.release()


def write_gate(bind: Any) -> WriteGate | None:
    """The gate of ``bind``'s database (an engine or connection), or None where none applies:
    PostgreSQL, an in-memory SQLite database (one connection), or a read-only view (`reader`)."""
    if isinstance(bind, AsyncConnection):
        bind = bind.engine
    if not isinstance(bind, AsyncEngine):
        return None
    sync = bind.sync_engine
    if sync.dialect.name != "sqlite" or sync.url.database in (None, "", ":memory:"):
        return None
    if (
        str(bind.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")).upper()
        != "IMMEDIATE"
    ):
        return None
    loop = asyncio.get_running_loop()
    pool = sync.pool  # shared by every execution-options view of the engine
    gate: WriteGate | None = getattr(pool, _ATTRIBUTE, None)
    if gate is None or gate.loop is not loop:
        timeout = float(getattr(pool, "_openalgo_busy_timeout", 5.0))
        gate = WriteGate(loop, timeout)
        setattr(pool, _ATTRIBUTE, gate)
    return gate


@asynccontextmanager
async def gated(bind: Any) -> AsyncIterator[None]:
    """Hold ``bind``'s write gate (if it has one) for the body: wrap a whole write transaction,
    from before its ``BEGIN`` to after its commit or rollback."""
    gate = write_gate(bind)
    if gate is None:
        yield
        return
    async with gate.held():
        yield


def set_busy_timeout(engine: AsyncEngine, seconds: float) -> None:
    """Record SQLite's busy timeout on ``engine``: the longest a writer waits on the gate."""
    engine.sync_engine.pool._openalgo_busy_timeout = seconds  # type: ignore[attr-defined]
