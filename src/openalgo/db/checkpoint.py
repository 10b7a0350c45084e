"""SQLite WAL checkpoints in the background, not in a committing writer.

Why: in WAL mode SQLite copies the log back into the database file (a checkpoint) once the log
passes ``wal_autocheckpoint`` pages, and it does so inside the ``COMMIT`` that crossed the line,
with an fsync of the database file. Under a steady order flow that commit is the sandbox writer's
or the order journal's: every order waiting on it paid for the copy. Measured in-process (32
concurrent ``placeorder`` callers, `bench/rest_inprocess.py`), the log crossed the default 1,000
pages every 0.7-2 s and each crossing held the writers for 15-25 ms; that stall alone was the
difference between a p99 of 29 and of 44 ms.

What it does: a server on a file-backed SQLite database checkpoints every
`CHECKPOINT_SECONDS` from its own pooled connection, in aiosqlite's thread (the copy and the
fsync run outside the event loop, and sqlite3 releases the GIL while it works). The mode is
``PASSIVE``: it copies what it can without waiting for readers or writers, and writers keep
appending meanwhile. Every connection's ``wal_autocheckpoint`` is raised to
`WAL_AUTOCHECKPOINT_PAGES` rather than switched off: a process without this loop (the CLI, a
test app without background tasks) or a checkpointer that cannot keep up still bounds the log,
as SQLite always did, only at a larger size. PostgreSQL and in-memory SQLite have nothing to do.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("openalgo.db.checkpoint")

# 16,384 pages of 4 KiB: a 64 MiB log at most before a writer checkpoints by itself. The loop
# keeps the log far below it (at full order load the log grows by ~6 MiB a second here).
WAL_AUTOCHECKPOINT_PAGES = 16_384
CHECKPOINT_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """SQLite's answer to ``PRAGMA wal_checkpoint``: whether it was blocked, the log's size in
    frames, and how many of them are now in the database file."""

    busy: bool
    log_frames: int
    checkpointed: int


def checkpoints_apply(engine: AsyncEngine) -> bool:
    """True for a file-backed SQLite database (the only kind with a write-ahead log here)."""
    url = engine.url
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


async def checkpoint(engine: AsyncEngine, mode: str = "PASSIVE") -> CheckpointResult:
    """One checkpoint on a connection of ``engine``'s pool.

    Straight on the driver connection: through SQLAlchemy the statement would first open a
    transaction (``BEGIN IMMEDIATE``, the write lock), and a checkpoint must run outside one.
    """
    if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
        raise ValueError(f"unknown checkpoint mode {mode!r}")
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        cursor = await driver.execute(f"PRAGMA wal_checkpoint({mode})")
        try:
            row = await cursor.fetchone()
        finally:
            await cursor.close()
    assert row is not None
    busy, frames, done = (int(v) for v in row)
    return CheckpointResult(busy=bool(busy), log_frames=frames, checkpointed=done)


async def run_checkpoints(engine: AsyncEngine, every: float = CHECKPOINT_SECONDS) -> None:
    """The lifespan task: a ``PASSIVE`` checkpoint every ``every`` seconds, until cancelled.

    A failed round (the database briefly unavailable) is logged and the next one tries again;
    SQLite's own checkpoints still bound the log meanwhile.
    """
    while True:
        await asyncio.sleep(every)
        try:
            result = await checkpoint(engine)
        except Exception:
            log.exception("WAL checkpoint failed")
            continue
        if result.log_frames >= WAL_AUTOCHECKPOINT_PAGES // 2:
            # Readers that never let go of old snapshots keep the log from being reused.
            log.warning(
                "WAL at %d frames, %d checkpointed: long-running readers hold it",
                result.log_frames,
                result.checkpointed,
            )
