"""The writer's shortcuts cannot be wrong about money: cached rows, optimistic fill batches and the
held connection, each shown failing over to the safe path."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.brokers.sandbox import SandboxEngine
from openalgo.domain.clock import ManualClock
from tests.brokers.sandbox.conftest import Checker, EngineFactory, order
from tests.fakes.market import tick

D = Decimal


async def test_a_cached_row_another_engine_changed_is_noticed_and_the_batch_redone(
    make_engine: EngineFactory, user: int, assert_consistent: Checker
) -> None:
    first = await make_engine()
    second = await make_engine()
    resting = await first.place_order(
        user, order("SBIN", "BUY", 10, pricetype="LIMIT", price="790")
    )
    assert user in first.rows.funds  # the placement's commit left the funds row cached
    # Another worker moves this user's money: the cached copy is now behind.
    await second.place_order(user, order("INFY", "BUY", 2))
    retries = first.writer.retries

    first.on_tick(tick("SBIN", "NSE", 789.0))
    await first.drain()

    assert (await first.order(user, resting)).status == "complete"
    assert first.writer.retries == retries + 1  # the stale copy failed its compare-and-set
    funds = (await first.funds_view(user)).funds
    # 10 x 790 / 5 for SBIN and 2 x 1500 / 5 for INFY, both still held.
    assert funds.used_margin == D("1580.00") + D("600.00")
    await assert_consistent(user)


async def test_a_fill_on_a_new_day_settles_first_and_takes_the_locking_way(
    engine: SandboxEngine,
    user: int,
    clock: ManualClock,
    db: AsyncEngine,
    assert_consistent: Checker,
) -> None:
    resting = await engine.place_order(
        user, order("SBIN", "BUY", 10, product="CNC", pricetype="LIMIT", price="790")
    )
    await engine.place_order(user, order("INFY", "BUY", 2, product="CNC"))
    clock.advance(timedelta(days=1))  # Tuesday: yesterday's INFY is due to settle
    relocked = engine.writer.relocked

    engine.on_tick(tick("SBIN", "NSE", 789.0))
    await engine.drain()

    assert (await engine.order(user, resting)).status == "complete"
    # PostgreSQL runs a batch of fills without read locks; settlement needs them, so the batch
    # ran again the locking way. SQLite's batches hold the write lock from the start.
    postgresql = db.dialect.name == "postgresql"
    assert engine.writer.relocked == relocked + (1 if postgresql else 0)
    assert [h.holding.symbol for h in await engine.holding_lines(user)] == ["INFY"]
    await assert_consistent(user)


async def test_a_cnc_sell_fill_reads_the_holding_under_its_lock(
    engine: SandboxEngine, user: int, clock: ManualClock, assert_consistent: Checker
) -> None:
    await engine.place_order(user, order("SBIN", "BUY", 10, product="CNC"))
    clock.advance(timedelta(days=1))
    sell = await engine.place_order(
        user, order("SBIN", "SELL", 10, product="CNC", pricetype="LIMIT", price="810")
    )
    relocked = engine.writer.relocked
    engine.on_tick(tick("SBIN", "NSE", 811.0))
    await engine.drain()
    assert (await engine.order(user, sell)).status == "complete"
    assert engine.writer.relocked == relocked  # never tried without locks
    await assert_consistent(user)


async def test_the_writer_reconnects_when_the_database_drops_its_connection(
    engine: SandboxEngine, user: int, db: AsyncEngine, assert_consistent: Checker
) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("a server-side disconnect needs a server")
    await engine.place_order(user, order("SBIN", "BUY", 1))  # the writer holds a connection
    async with db.connect() as conn:
        dropped = (
            await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        ).scalar_one()
    assert dropped >= 1

    await engine.place_order(user, order("SBIN", "BUY", 2))  # retried on a new connection

    [line] = await engine.position_lines(user)
    assert line.position.quantity == 3
    await assert_consistent(user)


async def test_the_writers_session_settings_do_not_leak_into_the_pool(
    make_engine: EngineFactory, user: int, db: AsyncEngine
) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("session settings are PostgreSQL's")
    engine = await make_engine()
    await engine.place_order(user, order("SBIN", "BUY", 1))  # a locking batch
    engine.on_tick(tick("SBIN", "NSE", 800.0))
    await engine.drain()  # optimistic barriers: the autocommit connection too
    await engine.stop()

    pooled = db.pool.checkedin()  # type: ignore[attr-defined]
    assert pooled >= 2
    conns = [await db.connect() for _ in range(pooled)]
    try:
        for conn in conns:
            settings = (
                await conn.execute(
                    text(
                        "SELECT current_setting('enable_seqscan'), "
                        "current_setting('synchronous_commit')"
                    )
                )
            ).one()
            assert tuple(settings) == ("on", "on")
    finally:
        for conn in conns:
            await conn.close()
