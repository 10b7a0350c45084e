"""Today's realised P&L lives on the position row: the writer books each fill into the bucket of its
session day, reads take it from the row, and it always equals the sum of the day's trades (on every
write path, across the session's turn at 03:00 IST, and after the migration that introduced it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.brokers.sandbox import EngineTiming, SandboxEngine, SandboxVenue, views
from openalgo.brokers.sandbox.driver_reads import Reads
from openalgo.brokers.sandbox.sessions import session_day, session_start
from openalgo.brokers.sandbox.store import FUNDS, POSITIONS, TRADES
from openalgo.db import migrations
from openalgo.db.engine import create_engine
from openalgo.db.session import create_sessionmaker
from openalgo.domain.clock import IST, ManualClock, ist
from tests.brokers.sandbox.conftest import USERS, Checker, EngineFactory, order
from tests.conftest import Database, make_settings
from tests.fakes.market import FakeMarket, tick
from tests.support.services import drop_postgres, provision_postgres, worker_suffix

D = Decimal
MONDAY = date(2026, 12, 14)
TUESDAY = date(2026, 12, 15)
# The revision before the bucket existed.
BEFORE_BUCKET = "5c1e0b7d2f93"


async def bucket(db: AsyncEngine, user: int, symbol: str) -> tuple[Decimal, date | None, Decimal]:
    """(today_realized_pnl, realized_on, realized_pnl) of the user's MIS position in ``symbol``."""
    async with db.connect() as conn:
        row = (
            await conn.execute(
                select(
                    POSITIONS.c.today_realized_pnl,
                    POSITIONS.c.realized_on,
                    POSITIONS.c.realized_pnl,
                ).where(
                    POSITIONS.c.user_id == user,
                    POSITIONS.c.symbol == symbol,
                    POSITIONS.c.product == "MIS",
                )
            )
        ).one()
    return D(row[0]), row[1], D(row[2])


def quote(symbol: str, price: float, *engines: SandboxEngine) -> None:
    """The market moves: a tick to each engine (a tick is fresher than any polled quote)."""
    for engine in engines:
        engine.on_tick(tick(symbol, "NSE", price))


async def trades_sum(engine: SandboxEngine, user: int, symbol: str | None = None) -> Decimal:
    """Realised P&L of this session's trades (the engine's own "today"), for one symbol or all."""
    return sum(
        (t.realized_pnl for t in await engine.trades(user) if symbol in (None, t.symbol)), D(0)
    )


async def test_the_bucket_after_many_fills_in_a_day_is_the_sum_of_the_days_trades(
    engine: SandboxEngine,
    user: int,
    market: FakeMarket,
    db: AsyncEngine,
    assert_consistent: Checker,
) -> None:
    # Opens, partial closes, a flip through zero and a re-open, at prices that book odd paise.
    steps = [
        ("SBIN", "BUY", 10, 800.05),
        ("SBIN", "SELL", 3, 801.15),
        ("SBIN", "SELL", 9, 799.35),  # closes 7, opens 2 short
        ("SBIN", "BUY", 2, 797.45),
        ("SBIN", "BUY", 5, 798.0),
        ("SBIN", "SELL", 5, 803.1),
        ("INFY", "SELL", 4, 1500.3),
        ("INFY", "BUY", 1, 1490.95),
    ]
    for symbol, action, qty, price in steps:
        quote(symbol, price, engine)
        await engine.place_order(user, order(symbol, action, qty))

    for symbol in ("SBIN", "INFY"):
        today, on, total = await bucket(db, user, symbol)
        assert on == MONDAY
        assert today == total == await trades_sum(engine, user, symbol) != 0
    view = await engine.funds_view(user)
    assert view.today_realized == await trades_sum(engine, user)
    body = await SandboxVenue(engine, user).positionbook_body()
    assert D(str(body["total_today_realized_pnl"])) == await trades_sum(engine, user)
    await assert_consistent(user)


async def test_a_fill_on_the_next_session_day_starts_a_new_bucket(
    engine: SandboxEngine,
    user: int,
    market: FakeMarket,
    clock: ManualClock,
    db: AsyncEngine,
    assert_consistent: Checker,
) -> None:
    await engine.place_order(user, order("SBIN", "BUY", 10))
    quote("SBIN", 810.0, engine)
    await engine.place_order(user, order("SBIN", "SELL", 4))  # +40 on Monday
    assert await bucket(db, user, "SBIN") == (D("40.00"), MONDAY, D("40.00"))

    clock.advance(timedelta(days=1))
    # Tuesday, before any fill: Monday's bucket is still on the row, and reads as nothing.
    assert await bucket(db, user, "SBIN") == (D("40.00"), MONDAY, D("40.00"))
    assert (await engine.funds_view(user)).today_realized == 0
    [line] = await engine.position_lines(user)
    assert line.today_realized == 0

    quote("SBIN", 805.0, engine)
    await engine.place_order(user, order("SBIN", "SELL", 2))  # +10 on Tuesday
    assert await bucket(db, user, "SBIN") == (D("10.00"), TUESDAY, D("50.00"))
    view = await engine.funds_view(user)
    assert view.today_realized == D("10.00") == await trades_sum(engine, user)
    assert view.funds.realized_pnl == D("50.00")
    await assert_consistent(user)


async def test_the_day_turns_at_the_session_start_not_at_midnight(
    make_engine: EngineFactory,
    user: int,
    market: FakeMarket,
    clock: ManualClock,
    db: AsyncEngine,
    assert_consistent: Checker,
) -> None:
    engine = await make_engine(timing=EngineTiming(market_always_open=True))
    await engine.place_order(user, order("SBIN", "BUY", 10))
    quote("SBIN", 810.0, engine)
    await engine.place_order(user, order("SBIN", "SELL", 2))  # +20, Monday 10:00

    clock.set(datetime(2026, 12, 15, 2, 0, tzinfo=IST))  # Tuesday 02:00: still Monday's session
    quote("SBIN", 810.0, engine)
    await engine.place_order(user, order("SBIN", "SELL", 1))  # +10
    assert await bucket(db, user, "SBIN") == (D("30.00"), MONDAY, D("30.00"))
    assert (await engine.funds_view(user)).today_realized == D("30.00")
    assert await trades_sum(engine, user) == D("30.00")

    clock.set(datetime(2026, 12, 15, 3, 0, tzinfo=IST))  # Tuesday's session begins
    assert (await engine.funds_view(user)).today_realized == 0
    quote("SBIN", 810.0, engine)
    await engine.place_order(user, order("SBIN", "SELL", 1))  # +10
    assert await bucket(db, user, "SBIN") == (D("10.00"), TUESDAY, D("40.00"))
    assert (await engine.funds_view(user)).today_realized == D("10.00")
    await assert_consistent(user)


def test_the_writer_and_the_reads_agree_on_the_session_day() -> None:
    at = time(3, 0)
    for local, day in [
        (datetime(2026, 12, 15, 2, 59, 59, 999999, tzinfo=IST), MONDAY),
        (datetime(2026, 12, 15, 3, 0, tzinfo=IST), TUESDAY),
        (datetime(2026, 12, 15, 23, 59, tzinfo=IST), TUESDAY),
        (datetime(2026, 12, 14, 21, 30, tzinfo=UTC), TUESDAY),  # 03:00 IST on Tuesday
    ]:
        start = session_start(local, at)
        assert start <= local < start + timedelta(days=1)
        assert session_day(start) == day


async def test_a_bucket_from_an_earlier_day_reads_as_zero(
    engine: SandboxEngine, user: int, market: FakeMarket, db: AsyncEngine
) -> None:
    await engine.place_order(user, order("SBIN", "BUY", 10))
    quote("SBIN", 810.0, engine)
    await engine.place_order(user, order("SBIN", "SELL", 4))
    assert (await engine.funds_view(user)).today_realized == D("40.00")
    async with db.begin() as conn:  # as if the fill had been on Sunday
        await conn.execute(
            update(POSITIONS)
            .where(POSITIONS.c.user_id == user)
            .values(realized_on=date(2026, 12, 13))
        )

    assert (await engine.funds_view(user)).today_realized == 0
    body = await SandboxVenue(engine, user).positionbook_body()
    assert body["total_today_realized_pnl"] == 0
    assert body["data"][0]["today_realized_pnl"] == 0


async def test_closing_paths_book_into_the_bucket(
    make_engine: EngineFactory,
    user: int,
    market: FakeMarket,
    clock: ManualClock,
    db: AsyncEngine,
    assert_consistent: Checker,
) -> None:
    """Close-all and the MIS square-off close through the same fill, so they book the same way."""
    engine = await make_engine()
    await engine.place_order(user, order("SBIN", "BUY", 10))
    await engine.place_order(user, order("INFY", "SELL", 2))
    quote("SBIN", 801.25, engine)
    await engine.close_all_positions(user)  # closes both
    quote("INFY", 1495.5, engine)
    await engine.place_order(user, order("INFY", "SELL", 2))
    clock.set(datetime(2026, 12, 14, 15, 20, tzinfo=IST))  # past the MIS square-off
    assert await engine.square_off_due() == 1
    assert all(line.position.quantity == 0 for line in await engine.position_lines(user))

    for symbol in ("SBIN", "INFY"):
        today, on, total = await bucket(db, user, symbol)
        assert (today, on) == (await trades_sum(engine, user, symbol), MONDAY)
        assert today == total != 0
    assert (await engine.funds_view(user)).today_realized == await trades_sum(engine, user)
    await assert_consistent(user)


async def test_an_expiry_settlement_books_into_the_bucket_of_its_day(
    engine: SandboxEngine,
    user: int,
    market: FakeMarket,
    clock: ManualClock,
    db: AsyncEngine,
    assert_consistent: Checker,
) -> None:
    fut = "NIFTY29DEC26FUT"
    await engine.place_order(user, order(fut, "BUY", 75, exchange="NFO", product="NRML"))
    market.set(fut, "NFO", 24200.0)
    clock.set(datetime(2026, 12, 29, 15, 40, tzinfo=IST))  # the contract's expiry close
    await engine.run_maintenance()

    async with db.connect() as conn:
        row = (
            await conn.execute(
                select(
                    POSITIONS.c.quantity, POSITIONS.c.today_realized_pnl, POSITIONS.c.realized_on
                )
            )
        ).one()
    assert tuple(row) == (0, D("15000.00"), date(2026, 12, 29))  # 75 x 200
    assert (await engine.funds_view(user)).today_realized == D("15000.00")
    await assert_consistent(user)


async def test_after_a_reset_the_day_starts_again(
    engine: SandboxEngine,
    user: int,
    market: FakeMarket,
    db: AsyncEngine,
    assert_consistent: Checker,
) -> None:
    """A reset wipes the positions and their buckets: the day's P&L is the new epoch's, as the
    funds' realised P&L is (the trades-summing read counted the old epoch's trades again as soon
    as a position with the same key reopened)."""
    await engine.place_order(user, order("SBIN", "BUY", 10))
    quote("SBIN", 810.0, engine)
    await engine.place_order(user, order("SBIN", "SELL", 10))  # +100, then reset
    await engine.reset(user)
    await engine.place_order(user, order("SBIN", "BUY", 5))
    quote("SBIN", 812.0, engine)
    await engine.place_order(user, order("SBIN", "SELL", 5))  # +10 in the new epoch

    view = await engine.funds_view(user)
    assert view.today_realized == view.funds.realized_pnl == D("10.00")
    assert await bucket(db, user, "SBIN") == (D("10.00"), MONDAY, D("10.00"))
    await assert_consistent(user)


async def test_a_stale_cached_position_is_retried_and_the_bucket_stays_exact(
    make_engine: EngineFactory,
    user: int,
    market: FakeMarket,
    db: AsyncEngine,
    assert_consistent: Checker,
) -> None:
    first = await make_engine()
    second = await make_engine()
    await first.place_order(user, order("SBIN", "BUY", 10))
    await first.place_order(user, order("SBIN", "BUY", 10))  # the pair is now read with its id
    quote("SBIN", 805.0, second)
    await second.place_order(user, order("SBIN", "SELL", 4))  # first's copies are now behind
    retries = first.writer.retries

    quote("SBIN", 803.0, first)
    await first.place_order(user, order("SBIN", "SELL", 3))

    assert first.writer.retries == retries + 1  # the stale copy failed its compare-and-set
    today, on, _ = await bucket(db, user, "SBIN")
    assert (today, on) == (D("29.00"), MONDAY)  # 4 x 5 + 3 x 3
    assert today == await trades_sum(first, user)
    await assert_consistent(user)


async def test_two_engines_racing_fills_on_one_position_keep_the_bucket_exact(
    make_engine: EngineFactory,
    user: int,
    market: FakeMarket,
    db: AsyncEngine,
    assert_consistent: Checker,
) -> None:
    engines = [await make_engine(), await make_engine()]
    await engines[0].place_order(user, order("SBIN", "BUY", 100))
    prices = [800.05, 800.1, 799.95, 800.35, 799.8]

    async def trade(n: int) -> None:
        quote("SBIN", prices[n % len(prices)], *engines)
        action = "SELL" if n % 3 else "BUY"
        await engines[n % 2].place_order(user, order("SBIN", action, 1 + n % 4))

    await asyncio.gather(*(trade(n) for n in range(60)))

    today, on, total = await bucket(db, user, "SBIN")
    assert on == MONDAY
    assert today == total == await trades_sum(engines[0], user) != 0
    await assert_consistent(user)


async def test_the_invariant_check_notices_a_wrong_bucket(
    engine: SandboxEngine, user: int, market: FakeMarket, db: AsyncEngine, read_sessionmaker: Any
) -> None:
    from openalgo.brokers.sandbox import check_ledger

    await engine.place_order(user, order("SBIN", "BUY", 10))
    quote("SBIN", 810.0, engine)
    await engine.place_order(user, order("SBIN", "SELL", 4))
    async with read_sessionmaker() as session:
        assert await check_ledger(session, "sandbox", user) == []
    async with db.begin() as conn:
        await conn.execute(update(POSITIONS).values(today_realized_pnl=D("39.99")))
    async with read_sessionmaker() as session:
        found = await check_ledger(session, "sandbox", user)
    assert found == [
        "position ('SBIN', 'NSE', 'MIS'): P&L of 2026-12-14 is 39.99, its trades say 40.00"
    ]
    async with db.begin() as conn:  # the right sum, filed under a day before the fill
        await conn.execute(
            update(POSITIONS).values(today_realized_pnl=D("0"), realized_on=date(2026, 12, 13))
        )
    async with read_sessionmaker() as session:
        found = await check_ledger(session, "sandbox", user)
    assert len(found) == 1 and "later days booked" in found[0]


# --- the migration ------------------------------------------------------------------------------


@pytest.fixture
async def old_schema(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A database of its own at the revision before the bucket existed."""
    name = f"openalgo_today_pnl_{worker_suffix()}"
    if database.backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('old') / 'old.db'}"
    else:
        url = await provision_postgres(name)
    eng = create_engine(make_settings(tmp_path_factory.mktemp("old-data"), url))
    await migrations.upgrade(eng, BEFORE_BUCKET)
    yield eng
    await eng.dispose()
    if database.backend != "sqlite":
        await drop_postgres(name)


def _row(user: int, symbol: str, when: datetime, **values: Any) -> dict[str, Any]:
    return {"user_id": user, "ledger": "sandbox", "symbol": symbol, "exchange": "NSE"} | values


async def test_the_migration_fills_the_bucket_from_todays_trades(old_schema: AsyncEngine) -> None:
    """A database upgraded mid-day reads the same P&L of the day as before the upgrade."""
    now = datetime.now(UTC)
    start = session_start(now, EngineTiming().session_start)
    earlier = start - timedelta(microseconds=1)  # the end of the previous session
    async with old_schema.begin() as conn:
        user = (
            await conn.execute(
                insert(USERS)
                .values(
                    username="t",
                    password_hash="x",
                    is_admin=False,
                    is_active=True,
                    created_at=now,
                    updated_at=now,
                )
                .returning(USERS.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(FUNDS),
            [
                {
                    "user_id": user,
                    "ledger": ledger,
                    "capital": D("1000.00"),
                    "available": D("1000.00"),
                    "used_margin": D("0.00"),
                    "realized_pnl": D("0.00"),
                    "reset_count": 1,
                    "settled_on": ist(now).date(),
                    "version": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for ledger in ("sandbox", "simulator")
            ],
        )
        position = {
            "product": "MIS",
            "quantity": D(0),
            "cost": D(0),
            "margin_blocked": D("0.00"),
            "realized_pnl": D("0.00"),
            "last_price": D("1.0000"),
            "instrument_type": "EQ",
            "opened_on": ist(now).date(),
            "version": 0,
            "created_at": now,
            "updated_at": now,
        }
        await conn.execute(
            insert(POSITIONS),
            [
                _row(user, "SBIN", now, **position),
                _row(user, "INFY", now, **position),  # traded only before today
                _row(user, "TCS", now, **position) | {"ledger": "simulator"},
            ],
        )
        trades = [
            ("SBIN", "12345678901.23", start, 1),  # binary floats would lose the paise
            ("SBIN", "0.10", now, 1),
            ("SBIN", "-0.01", now, 1),
            ("SBIN", "500.00", now, 0),  # before the reset: another epoch
            ("SBIN", "1000.00", earlier, 1),  # the previous session
            ("INFY", "7.00", earlier, 1),
        ]
        await conn.execute(
            insert(TRADES),
            [
                {
                    "user_id": user,
                    "ledger": "sandbox",
                    "tradeid": f"T{n}",
                    "orderid": f"O{n}",
                    "strategy": "",
                    "symbol": symbol,
                    "exchange": "NSE",
                    "product": "MIS",
                    "action": "SELL",
                    "quantity": D(1),
                    "price": D("1.0000"),
                    "realized_pnl": D(pnl),
                    "epoch": epoch,
                    "created_at": when,
                }
                for n, (symbol, pnl, when, epoch) in enumerate(trades)
            ]
            + [
                {
                    "user_id": user,
                    "ledger": "simulator",
                    "tradeid": "S1",
                    "orderid": "S1",
                    "strategy": "",
                    "symbol": "TCS",
                    "exchange": "NSE",
                    "product": "MIS",
                    "action": "SELL",
                    "quantity": D(1),
                    "price": D("1.0000"),
                    "realized_pnl": D("3.00"),
                    "epoch": 1,
                    "created_at": now,
                }
            ],
        )

    await migrations.upgrade(old_schema)
    await migrations.check(old_schema)

    reads = Reads(create_sessionmaker(old_schema))
    try:
        account = await views.load_account(reads, "sandbox", user, start)
        other = await views.load_account(reads, "simulator", user, start)
    finally:
        await reads.aclose()  # its read lanes go back to the pool
    assert {b.position.symbol: b.today_realized for b in account.positions} == {
        "SBIN": D("12345678901.32"),
        "INFY": D(0),
    }
    assert [b.today_realized for b in other.positions] == [D("3.00")]
    async with old_schema.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    POSITIONS.c.symbol, POSITIONS.c.today_realized_pnl, POSITIONS.c.realized_on
                ).order_by(POSITIONS.c.id)
            )
        ).all()
    day = session_day(start)
    assert [tuple(r) for r in rows] == [
        ("SBIN", D("12345678901.32"), day),
        ("INFY", D(0), None),
        ("TCS", D("3.00"), day),
    ]
