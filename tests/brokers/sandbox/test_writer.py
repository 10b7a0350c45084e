"""The writer's shortcuts cannot be wrong about money: cached rows, optimistic fill batches and the
held connection, each shown failing over to the safe path."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.brokers.sandbox import SandboxEngine, writes
from openalgo.brokers.sandbox.store import fill_warmups
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


async def test_fills_after_start_up_run_the_statements_the_warm_up_prepared(
    make_engine: EngineFactory, user: int, db: AsyncEngine, assert_consistent: Checker
) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("prepared statements on the writer's autocommit connection are PostgreSQL's")
    await db.dispose()  # new connections: none has statements prepared by earlier tests' writers
    engine = await make_engine()
    first = await engine.place_order(user, order("SBIN", "BUY", 10, pricetype="LIMIT", price="790"))
    second = await engine.place_order(user, order("SBIN", "BUY", 5, pricetype="LIMIT", price="780"))
    lane = engine.writer._lanes[user % engine.writer.lanes]
    conn = lane.conns[True]  # opened and warmed at start, before any fill

    async def prepared() -> set[str]:
        query = (
            "SELECT statement FROM pg_prepared_statements "
            "WHERE statement NOT LIKE '%pg_prepared_statements%'"
        )
        statements = set((await conn.execute(text(query))).scalars())
        await conn.commit()
        return statements

    warmed = await prepared()
    # Funds, orders, trades and positions (opened, changed or both), and the positions lookup.
    assert len([s for s in warmed if s.startswith("WITH p0 ")]) == 3
    assert len([s for s in warmed if s.startswith("SELECT sandbox_positions.")]) == 1
    relocked = engine.writer.relocked
    waits = len(engine.writer.wait_seconds)

    engine.on_tick(tick("SBIN", "NSE", 789.0))  # opens the position
    await engine.drain()
    engine.on_tick(tick("SBIN", "NSE", 779.0))  # adds to it
    await engine.drain()

    assert (await engine.order(user, first)).status == "complete"
    assert (await engine.order(user, second)).status == "complete"
    assert engine.writer.relocked == relocked  # both went the optimistic way, on that connection
    assert await prepared() == warmed  # and neither needed a statement of its own
    assert len(engine.writer.wait_seconds) >= waits + 2  # every operation's wait is recorded
    [line] = await engine.position_lines(user)
    assert line.position.quantity == 15
    await assert_consistent(user)


async def test_positions_fills_open_are_cached_with_their_ids_on_postgresql(
    engine: SandboxEngine, user: int, db: AsyncEngine, assert_consistent: Checker
) -> None:
    sbin = await engine.place_order(user, order("SBIN", "BUY", 10, pricetype="LIMIT", price="790"))
    infy = await engine.place_order(user, order("INFY", "SELL", 4, pricetype="LIMIT", price="1510"))
    await engine.place_order(user, order("SBIN", "BUY", 5, pricetype="LIMIT", price="780"))

    # Both fills in one batch: two positions opened by one insert.
    engine.on_tick(tick("SBIN", "NSE", 789.0))
    engine.on_tick(tick("INFY", "NSE", 1511.0))
    await engine.drain()

    assert (await engine.order(user, sbin)).status == "complete"
    assert (await engine.order(user, infy)).status == "complete"
    async with db.connect() as conn:
        rows = await conn.execute(
            text("SELECT symbol, id FROM sandbox_positions WHERE user_id = :u"), {"u": user}
        )
        stored: dict[str, int] = {str(r[0]): int(r[1]) for r in rows}
    if db.dialect.name != "postgresql":
        # SQLite's inserts do not bring ids back: the pairs are read again next time.
        assert (user, "SBIN") not in engine.rows.pairs
        return
    cached = {
        symbol: [p.id for p in engine.rows.pairs[(user, symbol)].values()]
        for symbol in ("SBIN", "INFY")
    }
    assert cached == {"SBIN": [stored["SBIN"]], "INFY": [stored["INFY"]]}

    hits = engine.rows.hits
    engine.on_tick(tick("SBIN", "NSE", 779.0))  # adds to the cached position
    await engine.drain()
    assert engine.rows.hits > hits
    [line] = [p for p in await engine.position_lines(user) if p.position.symbol == "SBIN"]
    assert line.position.quantity == 15
    await assert_consistent(user)


async def test_fills_after_start_up_find_their_sqlite_statements_built(
    make_engine: EngineFactory, user: int, db: AsyncEngine, assert_consistent: Checker
) -> None:
    """The SQLite warm-up builds every fill batch's statements before the first fills, so the
    burst that follows start-up does not pay for compiling them."""
    if db.dialect.name != "sqlite":
        pytest.skip("the statement builder warmed here is SQLite's")
    writes._SQLITE.clear()  # as in a new process: nothing built yet
    engine = await make_engine()
    first = await engine.place_order(user, order("SBIN", "BUY", 10, pricetype="LIMIT", price="790"))
    second = await engine.place_order(user, order("SBIN", "BUY", 5, pricetype="LIMIT", price="780"))
    await engine.drain()
    built = set(writes._SQLITE)
    warm = {
        (db.dialect.name, piece.shape)
        for w in fill_warmups("x", order_key="orderid")
        for piece in w.pieces
    }
    assert warm <= built  # funds, orders, trades and positions (opened, changed or both)

    engine.on_tick(tick("SBIN", "NSE", 789.0))  # opens the position
    await engine.drain()
    engine.on_tick(tick("SBIN", "NSE", 779.0))  # adds to it
    await engine.drain()

    assert (await engine.order(user, first)).status == "complete"
    assert (await engine.order(user, second)).status == "complete"
    fill_shapes = set(writes._SQLITE) - built
    assert not fill_shapes, fill_shapes  # the fills needed no statement the warm-up had not built
    await assert_consistent(user)
