"""The fast read path cannot be wrong about money: one statement per book, today's P&L read
from the position rows' buckets (kept by the writer, `test_today_pnl.py`), rows read on the
driver connection equal to SQLAlchemy's, and nothing cached between reads (a write by this
engine or another is in the next read)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, insert, literal_column, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.brokers.base import OrderNotFound
from openalgo.brokers.sandbox import SandboxEngine, views
from openalgo.brokers.sandbox.driver_reads import PreparedRead, Reads
from openalgo.brokers.sandbox.sessions import session_day
from openalgo.brokers.sandbox.store import FUNDS, POSITIONS, TRADES
from openalgo.db.session import SessionMaker
from openalgo.domain.clock import ManualClock, ist
from tests.brokers.sandbox.conftest import Checker, EngineFactory, order
from tests.fakes.market import tick

D = Decimal


def _position(
    user: int,
    symbol: str,
    quantity: str,
    cost: str,
    when: datetime,
    *,
    today: str = "0.00",
    on: date | None = None,
) -> dict[str, Any]:
    return {
        "user_id": user,
        "ledger": "sandbox",
        "symbol": symbol,
        "exchange": "NSE",
        "product": "MIS",
        "quantity": D(quantity),
        "cost": D(cost),
        "margin_blocked": D("0.00"),
        "realized_pnl": D("0.00"),
        "today_realized_pnl": D(today),
        "realized_on": on,
        "last_price": D("100.0000"),
        "instrument_type": "EQ",
        "opened_on": when.date(),
        "created_at": when,
        "updated_at": when,
    }


def _trade(
    user: int,
    n: int,
    symbol: str,
    pnl: str,
    when: datetime,
    *,
    ledger: str = "sandbox",
    product: str = "MIS",
) -> dict[str, Any]:
    return {
        "user_id": user,
        "ledger": ledger,
        "tradeid": f"T{n}",
        "orderid": f"O{n}",
        "strategy": "",
        "symbol": symbol,
        "exchange": "NSE",
        "product": product,
        "action": "SELL",
        "quantity": D(1),
        "price": D("100.0000"),
        "realized_pnl": D(pnl),
        "epoch": 0,
        "created_at": when,
    }


async def test_todays_realized_pnl_is_read_from_the_position_rows(
    engine: SandboxEngine, user: int, db: AsyncEngine
) -> None:
    """Each position's P&L of the day is its row's bucket when the bucket is today's, else 0;
    the day's trades are not read (here they disagree with the rows, and lose)."""
    await engine.settle_if_due(user)  # makes the funds row
    start = engine.session_start()
    now = start + timedelta(hours=7)
    yesterday = start - timedelta(hours=2)
    today, before = session_day(start), session_day(start - timedelta(days=1))
    big = "12345678901.52"
    async with db.begin() as conn:
        await conn.execute(
            insert(POSITIONS),
            [
                _position(user, "SBIN", "0", "0", now, today=big, on=today),  # closed today
                _position(user, "INFY", "5", "7500.5", now, today="0.07", on=today),
                _position(user, "WIPRO", "2", "200", now, today="9.00", on=before),  # old bucket
                _position(user, "TCS", "0", "0", yesterday, today="3.00", on=before),  # not shown
            ],
        )
        await conn.execute(insert(TRADES), [_trade(user, 1, "SBIN", "1000.00", now)])

    account = await views.load_account(engine.reads, "sandbox", user, start)

    pnl = {b.position.symbol: b.today_realized for b in account.positions}
    assert pnl == {"SBIN": D(big), "INFY": D("0.07"), "WIPRO": D(0), "TCS": D(0)}
    assert [b.position.quantity for b in account.positions] == [0, 5, 2, 0]
    assert account.positions[1].position.cost == D("7500.5")
    lines = await engine.position_lines(user)
    assert [line.position.symbol for line in lines] == ["SBIN", "INFY", "WIPRO"]
    view = await engine.funds_view(user)
    assert view.today_realized == D("12345678901.59")


async def test_a_fill_is_in_the_very_next_read(
    engine: SandboxEngine, user: int, assert_consistent: Checker
) -> None:
    resting = await engine.place_order(
        user, order("SBIN", "BUY", 10, pricetype="LIMIT", price="790")
    )
    before = await engine.funds_view(user)
    assert before.funds.used_margin == D("1580.00")
    assert await engine.position_lines(user) == []

    engine.on_tick(tick("SBIN", "NSE", 789.0))
    await engine.drain()

    assert (await engine.order(user, resting)).status == "complete"
    [line] = await engine.position_lines(user)
    assert line.position.quantity == 10
    assert [t.orderid for t in await engine.trades(user)] == [resting]
    assert await engine.open_quantity(user, "SBIN", "NSE", "MIS") == 10
    after = await engine.funds_view(user)
    assert after.funds.version > before.funds.version
    assert after.gross_exposure == D("7890.00")  # 10 at the last tick
    await assert_consistent(user)


async def test_writes_by_another_engine_are_read_at_once(
    make_engine: EngineFactory, user: int
) -> None:
    first = await make_engine()
    second = await make_engine()
    assert (await first.funds_view(user)).funds.used_margin == 0
    assert await first.open_quantity(user, "INFY", "NSE", "MIS") == 0

    orderid = await second.place_order(user, order("INFY", "BUY", 2))

    assert (await first.funds_view(user)).funds.used_margin == D("600.00")
    [line] = await first.position_lines(user)
    assert line.position.symbol == "INFY"
    assert line.position.quantity == 2
    assert [o.orderid for o in await first.orders(user)] == [orderid]
    assert (await first.order(user, orderid)).status == "complete"
    assert await first.open_quantity(user, "INFY", "NSE", "MIS") == 2


async def test_a_settlement_by_another_engine_or_before_a_restart_is_seen(
    make_engine: EngineFactory, user: int, clock: ManualClock, assert_consistent: Checker
) -> None:
    first = await make_engine()
    second = await make_engine()
    await first.place_order(user, order("INFY", "BUY", 4, product="CNC"))
    for engine in (first, second):  # both remember "settled today"
        assert len(await engine.position_lines(user)) == 1
        assert await engine.holding_lines(user) == []

    clock.advance(timedelta(days=1))  # Tuesday: Monday's CNC buy settles into holdings
    assert await first.settle_due() == 1

    for engine in (second, await make_engine()):  # the other worker, and one started afresh
        assert await engine.position_lines(user) == []
        [holding] = await engine.holding_lines(user)
        assert holding.holding.symbol == "INFY"
        assert holding.holding.quantity == 4
        view = await engine.funds_view(user)
        assert view.funds.settled_on == ist(clock.now()).date()
        assert view.funds.used_margin == 0
    await assert_consistent(user)


async def test_a_funds_row_gone_after_the_settled_memo_is_made_again(
    engine: SandboxEngine, user: int, db: AsyncEngine
) -> None:
    assert (await engine.funds_view(user)).funds.available == D("10000000.00")
    async with db.begin() as conn:  # e.g. an administrator removed the user's ledger
        await conn.execute(delete(FUNDS).where(FUNDS.c.user_id == user))

    view = await engine.funds_view(user)

    assert view.funds.available == D("10000000.00")
    assert view.unrealized == 0


async def test_reads_of_what_does_not_exist(engine: SandboxEngine, user: int) -> None:
    await engine.place_order(user, order("SBIN", "BUY", 3))
    await engine.place_order(user, order("SBIN", "SELL", 3))
    assert await engine.open_quantity(user, "SBIN", "NSE", "MIS") == 0  # closed
    assert await engine.open_quantity(user, "SBIN", "NSE", "CNC") == 0  # another product
    assert await engine.open_quantity(user, "NOPE", "NSE", "MIS") == 0
    with pytest.raises(OrderNotFound):
        await engine.order(user, "123")
    assert await engine.orders(user + 1) == []
    assert await engine.trades(user + 1) == []


async def test_driver_rows_equal_sqlalchemy_rows_value_for_value(
    engine: SandboxEngine,
    user: int,
    clock: ManualClock,
    read_sessionmaker: SessionMaker,
) -> None:
    await engine.reset(user)  # a last_reset_at timestamp
    await engine.place_order(user, order("INFY", "BUY", 4, product="CNC"))
    clock.advance(timedelta(days=1))  # a holding, a settled_on date, a new session
    await engine.place_order(user, order("SBIN", "BUY", 10, pricetype="LIMIT", price="790.05"))
    await engine.place_order(user, order("RELIANCE", "BUY", 3))
    await engine.place_order(user, order("RELIANCE", "SELL", 1))
    await engine.place_order(user, order("ZEEL", "BUY", 7, exchange="BSE"))
    await engine.place_gtt(
        user,
        trigger_type="SINGLE",
        symbol="SBIN",
        exchange="NSE",
        action="BUY",
        product="CNC",
        quantity=2,
        price=D("700"),
        triggerprice_sl=D("705"),
    )
    since = engine.session_start() - timedelta(days=3)
    direct = Reads(read_sessionmaker)
    through_sqlalchemy = Reads(read_sessionmaker, direct=False)
    assert direct.direct and not through_sqlalchemy.direct

    base = {"ledger": "sandbox", "user_id": user}
    reads: list[tuple[PreparedRead, dict[str, Any]]] = [
        (views._ACCOUNT, base),
        (views._ORDERS[True], {**base, "since": since}),
        (views._ORDERS[False], base),
        (views._TRADES[False], base),
        (views._POSITIONS, base),
        (views._HOLDINGS, base),
        (views._FUNDS, base),
        (views._GTTS[False], base),
        (views._OPEN_QUANTITY, {**base, "symbol": "ZEEL", "exchange": "BSE", "product": "MIS"}),
    ]
    try:
        for read, params in reads:
            ours = await direct.all(read, params)
            theirs = await through_sqlalchemy.all(read, params)
            assert ours, str(read.stmt)
            assert [tuple(r) for r in ours] == [tuple(r) for r in theirs]
            for mine, reference in zip(ours, theirs, strict=True):
                for a, b in zip(mine, reference, strict=True):
                    assert type(a) is type(b)
                    if isinstance(a, datetime):
                        assert a.tzinfo is not None and a.utcoffset() == b.utcoffset()
                        assert a.astimezone(UTC) == b
    finally:
        await direct.aclose()  # its held connection goes back to the pool


async def test_a_missing_parameter_is_an_error_not_a_null(engine: SandboxEngine, user: int) -> None:
    with pytest.raises(KeyError, match="user_id"):
        await engine.reads.all(views._FUNDS, {"ledger": "sandbox"})


async def test_a_failing_read_raises_a_dbapi_error_and_the_pool_recovers(
    engine: SandboxEngine, user: int
) -> None:
    broken = PreparedRead(select(FUNDS).where(FUNDS.c.user_id == literal_column("no_such_column")))
    with pytest.raises(DBAPIError):
        await engine.reads.all(broken, {})
    await engine.place_order(user, order("SBIN", "BUY", 1))
    assert await engine.open_quantity(user, "SBIN", "NSE", "MIS") == 1


async def test_reads_after_the_first_of_the_day_do_not_queue_on_the_writer(
    engine: SandboxEngine, user: int, clock: ManualClock
) -> None:
    await engine.place_order(user, order("SBIN", "BUY", 1, product="CNC"))
    await engine.funds_view(user)
    batches = engine.writer.batches

    for _ in range(3):
        await engine.funds_view(user)
        await engine.position_lines(user)
        await engine.holding_lines(user)
    assert engine.writer.batches == batches

    clock.advance(timedelta(days=1))  # a new day: the first read settles, once
    [holding] = await engine.holding_lines(user)
    assert holding.holding.quantity == 1
    await engine.funds_view(user)
    assert engine.writer.batches == batches + 1
