"""Background WAL checkpoints: connections no longer checkpoint at SQLite's default 1,000 pages, the
server's loop copies the log into the database while writers keep committing, and it applies only
where there is a log (file-backed SQLite)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.app import create_app
from openalgo.db.checkpoint import (
    WAL_AUTOCHECKPOINT_PAGES,
    checkpoint,
    checkpoints_apply,
    run_checkpoints,
)
from openalgo.db.engine import create_engine
from tests.conftest import make_settings
from tests.support.databases import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path) as url:
        yield url


async def _engine(tmp_path: Path) -> AsyncEngine:
    engine = create_engine(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}"))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE rows (n INTEGER NOT NULL, pad TEXT NOT NULL)"))
    return engine


async def _write(engine: AsyncEngine, count: int, start: int = 0) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO rows (n, pad) VALUES (:n, :pad)"),
            [{"n": start + n, "pad": "x" * 2000} for n in range(count)],
        )


def _wal_pages(tmp_path: Path) -> int:
    wal = tmp_path / "wal.db-wal"
    return wal.stat().st_size // 4096 if wal.exists() else 0


async def test_writers_leave_the_log_to_the_checkpointer(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    try:
        async with engine.connect() as conn:
            pages = (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar_one()
        assert pages == WAL_AUTOCHECKPOINT_PAGES
        # ~1,500 pages of log: past SQLite's default threshold, so a default connection would
        # have checkpointed (and restarted the log) inside one of these commits.
        for batch in range(6):
            await _write(engine, 500, start=batch * 500)
        before = await checkpoint(engine)
        assert before.log_frames > 1000
        assert before.checkpointed == before.log_frames  # nobody else was reading or writing
        assert not before.busy
        # The next writer starts the log again from its beginning: it no longer grows.
        size = _wal_pages(tmp_path)
        await _write(engine, 10, start=10_000)
        again = await checkpoint(engine)
        assert again.log_frames < 50
        assert _wal_pages(tmp_path) == size
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM rows"))).scalar_one()
        assert count == 3010
    finally:
        await engine.dispose()


async def test_the_loop_checkpoints_while_writers_commit(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    task = asyncio.create_task(run_checkpoints(engine, every=0.01))
    try:
        for batch in range(40):
            await _write(engine, 50, start=batch * 50)
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        # Checkpointed as it went: the log was restarted along the way, not grown to the whole
        # 4,000 pages written.
        assert _wal_pages(tmp_path) < 2000
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM rows"))).scalar_one()
        assert count == 2000
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        await engine.dispose()


async def test_a_reader_holding_a_snapshot_does_not_block_the_checkpoint(tmp_path: Path) -> None:
    """PASSIVE: what a reader still needs stays in the log; the call returns, nobody waits."""
    engine = await _engine(tmp_path)
    try:
        await _write(engine, 200)
        async with engine.connect() as reader:
            raw = await reader.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.execute("BEGIN")
            await (await driver.execute("SELECT count(*) FROM rows")).fetchall()
            await _write(engine, 200, start=200)  # after the reader's snapshot
            result = await asyncio.wait_for(checkpoint(engine), timeout=5)
            assert result.checkpointed < result.log_frames
            await driver.execute("ROLLBACK")
        assert (await checkpoint(engine)).checkpointed == (await checkpoint(engine)).log_frames
    finally:
        await engine.dispose()


async def test_a_failed_round_is_logged_and_the_loop_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await _engine(tmp_path)
    await engine.dispose()
    (tmp_path / "wal.db").unlink()
    (tmp_path / "wal.db").mkdir()  # the database path is now a directory: every round fails
    task = asyncio.create_task(run_checkpoints(engine, every=0.01))
    try:
        with caplog.at_level(logging.ERROR, logger="openalgo.db.checkpoint"):
            for _ in range(200):
                if sum("WAL checkpoint failed" in r.message for r in caplog.records) >= 2:
                    break
                await asyncio.sleep(0.01)
        assert sum("WAL checkpoint failed" in r.message for r in caplog.records) >= 2
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await engine.dispose()


async def test_checkpoint_rejects_an_unknown_mode(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    try:
        with pytest.raises(ValueError, match="unknown checkpoint mode"):
            await checkpoint(engine, "PASSIVE); DROP TABLE rows; --")
    finally:
        await engine.dispose()


async def test_only_file_backed_sqlite_has_a_log(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    cases = {
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}": True,
        "sqlite+aiosqlite://": False,
        "sqlite+aiosqlite:///:memory:": False,
        "postgresql+asyncpg://nobody@127.0.0.1:1/none": False,
    }
    for url, expected in cases.items():
        engine = create_engine(settings, url)
        try:
            assert checkpoints_apply(engine) is expected, url
        finally:
            await engine.dispose()


async def test_the_server_runs_the_loop_on_sqlite_only(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, database_url, background_tasks=True))
    async with app.router.lifespan_context(app):
        names = {t.get_name() for t in asyncio.all_tasks()}
    assert ("wal-checkpoints" in names) is database_url.startswith("sqlite")
