"""The SQLite write gate: this process's writers queue in order instead of meeting SQLite's busy
handler, a nested writer still fails rather than hangs, and nothing is gated where nothing needs
it (PostgreSQL, in-memory SQLite, read-only views)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.db.engine import create_engine, reader
from openalgo.db.session import SessionMaker, create_sessionmaker, transaction
from openalgo.db.write_gate import write_gate
from tests.conftest import Database, make_settings


async def _counter_engine(tmp_path: Path, busy_timeout_ms: int = 5000) -> AsyncEngine:
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}",
        sqlite_busy_timeout_ms=busy_timeout_ms,
    )
    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE events (n INTEGER NOT NULL, who TEXT NOT NULL)"))
    return engine


async def insert_in_own_transaction(sessionmaker: SessionMaker, *, then_fail: bool = False) -> None:
    async with transaction(sessionmaker) as session:
        await session.execute(text("INSERT INTO events (n, who) VALUES (9, 'inner')"))
        if then_fail:
            raise RuntimeError("boom")


async def test_writers_of_one_process_take_turns_in_arrival_order(tmp_path: Path) -> None:
    engine = await _counter_engine(tmp_path)
    sessionmaker = create_sessionmaker(engine)
    order: list[str] = []
    first_in = asyncio.Event()
    release_first = asyncio.Event()

    async def writer(name: str, hold: asyncio.Event | None = None) -> None:
        async with transaction(sessionmaker) as session:
            order.append(name)
            await session.execute(
                text("INSERT INTO events (n, who) VALUES (:n, :who)"),
                {"n": len(order), "who": name},
            )
            if hold is not None:
                first_in.set()
                await hold.wait()

    try:
        first = asyncio.create_task(writer("first", release_first))
        await first_in.wait()
        gate = write_gate(engine)
        assert gate is not None and gate.lock.locked()
        others = [asyncio.create_task(writer(f"w{i}")) for i in range(5)]
        await asyncio.sleep(0.05)  # all five are queued on the gate, none in SQLite's handler
        assert order == ["first"]
        assert gate.waits == 5
        release_first.set()
        await asyncio.gather(first, *others)
        assert order == ["first", "w0", "w1", "w2", "w3", "w4"]
        assert gate.timeouts == 0 and not gate.lock.locked()
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT n, who FROM events ORDER BY n"))).all()
        assert [tuple(r) for r in rows] == list(enumerate(order, start=1))
    finally:
        await engine.dispose()


async def test_a_writer_inside_another_fails_after_the_busy_timeout_instead_of_hanging(
    tmp_path: Path,
) -> None:
    engine = await _counter_engine(tmp_path, busy_timeout_ms=300)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with transaction(sessionmaker) as outer:
            await outer.execute(text("INSERT INTO events (n, who) VALUES (1, 'outer')"))
            with pytest.raises(OperationalError, match="database is locked"):
                await asyncio.wait_for(insert_in_own_transaction(sessionmaker), timeout=10)
        gate = write_gate(engine)
        assert gate is not None and gate.timeouts == 1 and not gate.lock.locked()
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT who FROM events"))).scalars().all()
        assert rows == ["outer"]  # the outer transaction committed; the inner wrote nothing
    finally:
        await engine.dispose()


async def test_an_error_inside_the_transaction_releases_the_gate(tmp_path: Path) -> None:
    engine = await _counter_engine(tmp_path)
    sessionmaker = create_sessionmaker(engine)
    try:
        with pytest.raises(RuntimeError):
            await insert_in_own_transaction(sessionmaker, then_fail=True)
        gate = write_gate(engine)
        assert gate is not None and not gate.lock.locked()
        async with transaction(sessionmaker) as session:
            await session.execute(text("INSERT INTO events (n, who) VALUES (2, 'kept')"))
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT who FROM events"))).scalars().all()
        assert rows == ["kept"]
    finally:
        await engine.dispose()


async def test_no_gate_where_sqlite_has_no_shared_write_lock_to_wait_for(
    tmp_path: Path, database: Database
) -> None:
    engine = create_engine(make_settings(tmp_path, database.url))
    memory = create_engine(make_settings(tmp_path, "sqlite+aiosqlite:///:memory:"))
    try:
        gate = write_gate(engine)
        if database.backend == "postgresql":
            assert gate is None  # row locks, no busy handler
        else:
            assert gate is not None
            assert write_gate(reader(engine)) is None  # readers take no write lock
            # Every view of the engine shares one gate (they share the pool).
            assert write_gate(engine.execution_options(isolation_level="SERIALIZABLE")) is gate
        assert write_gate(memory) is None  # one connection: nothing to queue for
        assert write_gate(None) is None
    finally:
        await engine.dispose()
        await memory.dispose()
