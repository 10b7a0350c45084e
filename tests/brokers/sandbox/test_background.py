"""The engine's own tasks: polling fallback, tick subscriptions, maintenance, resync, the writer.

These run the loops for real on the manual clock: moving the clock wakes them.
"""

# mypy: disable-error-code="comparison-overlap"
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from openalgo.brokers.sandbox import EngineTiming, SandboxEngine
from openalgo.brokers.sandbox.state import PositionKey
from openalgo.brokers.sandbox.store import LedgerTx, StaleState
from openalgo.domain.clock import ManualClock
from openalgo.errors import ServiceUnavailable
from tests.brokers.sandbox.conftest import MORNING, Checker, EngineFactory, order
from tests.fakes.market import FakeMarket, RecordingFeed, tick

D = Decimal


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    seconds: float = 5.0,
    nudge: Callable[[], None] | None = None,
) -> None:
    """Let the engine's tasks run until ``check`` passes (real time, bounded). ``nudge`` moves
    the manual clock on each round, for loops that went to sleep just before the test moved it."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        if nudge is not None:
            nudge()
        await asyncio.sleep(0.01)


async def test_polling_fills_orders_on_symbols_without_ticks(
    make_engine: EngineFactory,
    user: int,
    clock: ManualClock,
    market: FakeMarket,
    assert_consistent: Checker,
) -> None:
    engine = await make_engine(background=True, timing=EngineTiming(order_check_interval=1.0))
    oid = await engine.place_order(user, order("SBIN", "BUY", 5, pricetype="LIMIT", price="790"))
    market.set("SBIN", "NSE", 785.0)
    quotes_before = market.quote_calls
    clock.advance(6)  # the last price is now stale; the polling loop wakes

    async def filled() -> bool:
        return (await engine.order(user, oid)).status == "complete"

    await eventually(filled, nudge=lambda: clock.advance(1))
    assert market.quote_calls > quotes_before
    assert (await engine.order(user, oid)).average_price == 790
    await assert_consistent(user)


async def test_ticks_are_asked_for_while_something_rests_and_released_after(
    engine: SandboxEngine, user: int, feed: RecordingFeed
) -> None:
    oid = await engine.place_order(user, order("SBIN", "BUY", 1, pricetype="LIMIT", price="790"))
    await engine.place_gtt(
        user,
        trigger_type="SINGLE",
        symbol="INFY",
        exchange="NSE",
        action="BUY",
        product="CNC",
        quantity=1,
        price=D("1400"),
        triggerprice_sl=D("1401"),
    )
    assert feed.wanted == {("NSE", "SBIN"), ("NSE", "INFY")}
    engine.release_idle()
    assert feed.wanted == {("NSE", "SBIN"), ("NSE", "INFY")}  # still in use
    await engine.cancel_order(user, oid)
    engine.release_idle()
    assert feed.wanted == {("NSE", "INFY")}
    assert ("release", "NSE", "SBIN") in feed.calls


async def test_maintenance_loop_squares_off_when_the_clock_reaches_the_cut_off(
    make_engine: EngineFactory, user: int, clock: ManualClock, assert_consistent: Checker
) -> None:
    engine = await make_engine(background=True)
    await engine.place_order(user, order("SBIN", "BUY", 10))
    clock.set(MORNING.replace(hour=15, minute=15, second=30))

    async def flat() -> bool:
        lines = await engine.position_lines(user)
        return all(line.position.quantity == 0 for line in lines)

    await eventually(flat, nudge=lambda: clock.advance(31))
    await assert_consistent(user)


async def test_a_stopped_engine_refuses_work_clearly(make_engine: EngineFactory, user: int) -> None:
    engine = await make_engine(background=True)
    await engine.stop()
    with pytest.raises(ServiceUnavailable, match="sandbox engine is not running"):
        await engine.place_order(user, order("SBIN"))
    await engine.stop()  # twice is fine


async def test_resync_learns_other_workers_orders_and_forgets_closed_ones(
    make_engine: EngineFactory, user: int
) -> None:
    first = await make_engine()
    second = await make_engine()
    oid = await first.place_order(user, order("SBIN", "BUY", 1, pricetype="LIMIT", price="790"))
    assert oid not in second.book.orders
    await second.resync()
    assert oid in second.book.orders
    await first.cancel_order(user, oid)
    await second.resync()
    assert oid not in second.book.orders


async def test_restart_rebuilds_the_book_from_the_database(
    make_engine: EngineFactory, user: int, assert_consistent: Checker
) -> None:
    first = await make_engine()
    oid = await first.place_order(
        user, order("SBIN", "SELL", 2, pricetype="SL-M", trigger_price="790")
    )
    await first.stop()
    second = await make_engine()
    assert oid in second.book.orders
    second.on_tick(tick("SBIN", "NSE", 789.0))
    await second.drain()
    assert (await second.order(user, oid)).status == "complete"
    await assert_consistent(user)


async def test_fills_record_their_latency(engine: SandboxEngine, user: int) -> None:
    await engine.place_order(user, order("SBIN", "BUY", 1, pricetype="LIMIT", price="790"))
    engine.on_tick(tick("SBIN", "NSE", 790.0))
    await engine.drain()
    assert len(engine.fill_latencies) == 1 and 0 < engine.fill_latencies[0] < 5


class _Op:
    """A hand-written writer operation (the writer is generic; this is not ledger code)."""

    def __init__(self, user_id: int, behaviour: Callable[[LedgerTx], Awaitable[Any]]) -> None:
        self.user_id = user_id
        self.behaviour = behaviour

    @property
    def user_ids(self) -> Iterable[int]:
        return (self.user_id,)

    @property
    def position_keys(self) -> Iterable[PositionKey]:
        return ()

    async def apply(self, tx: LedgerTx) -> Any:
        return await self.behaviour(tx)


async def test_writer_retries_a_batch_that_lost_a_race(engine: SandboxEngine, user: int) -> None:
    attempts = 0

    async def flaky(tx: LedgerTx) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise StaleState("simulated concurrent change")
        funds = await tx.funds(user)
        funds.block(D("1.00"))
        return "done"

    retries = engine.writer.retries
    assert await engine.writer.run(_Op(user, flaky)) == "done"
    assert attempts == 2 and engine.writer.retries == retries + 1
    assert (await engine.funds_view(user)).funds.used_margin == D("1.00")


async def test_one_failing_operation_does_not_sink_its_batch(
    engine: SandboxEngine, user: int
) -> None:
    async def good(tx: LedgerTx) -> str:
        (await tx.funds(user)).block(D("2.00"))
        return "ok"

    async def bad(tx: LedgerTx) -> str:
        raise RuntimeError("boom")

    results = await asyncio.gather(
        engine.writer.run(_Op(user, good)),
        engine.writer.run(_Op(user, bad)),
        engine.writer.run(_Op(user, good)),
        return_exceptions=True,
    )
    assert results[0] == "ok" and results[2] == "ok"
    assert isinstance(results[1], RuntimeError)
    assert (await engine.funds_view(user)).funds.used_margin == D("4.00")


async def test_quotes_are_not_fetched_when_a_fresh_tick_is_known(
    engine: SandboxEngine, user: int, market: FakeMarket, clock: ManualClock
) -> None:
    engine.on_tick(tick("SBIN", "NSE", 801.0))
    calls = market.quote_calls
    await engine.place_order(user, order("SBIN", "BUY", 1))
    assert market.quote_calls == calls
    clock.advance(timedelta(seconds=6))
    await engine.place_order(user, order("SBIN", "BUY", 1))
    assert market.quote_calls == calls + 1


async def test_a_price_outside_its_own_day_range_is_not_traded_on(
    engine: SandboxEngine, user: int
) -> None:
    from openalgo.domain.enums import TickMode
    from openalgo.domain.market import Quote, Tick

    oid = await engine.place_order(user, order("SBIN", "BUY", 1, pricetype="LIMIT", price="790"))

    def quote_tick(ltp: float, high: float, low: float) -> Tick:
        quote = Quote(ltp=ltp, open=ltp, high=high, low=low, prev_close=ltp, volume=1, bid=0, ask=0)
        return Tick("NSE", "SBIN", TickMode.QUOTE, ltp, 0, quote=quote)

    engine.on_tick(quote_tick(700.0, high=810.0, low=795.0))  # stale: LTP below the day's low
    await engine.drain()
    assert (await engine.order(user, oid)).status == "open"
    engine.on_tick(quote_tick(789.0, high=810.0, low=780.0))
    await engine.drain()
    assert (await engine.order(user, oid)).status == "complete"


async def test_callback_feed_subscribes_once_and_survives_unknown_symbols(
    make_engine: EngineFactory, user: int
) -> None:
    from openalgo.brokers.sandbox import CallbackFeed

    calls: list[tuple[str, str, str]] = []

    def subscribe(exchange: str, symbol: str) -> None:
        if symbol == "INFY":
            raise LookupError("not in this market")
        calls.append(("sub", exchange, symbol))

    def unsubscribe(exchange: str, symbol: str) -> None:
        calls.append(("unsub", exchange, symbol))

    engine = await make_engine(feed=CallbackFeed(subscribe, unsubscribe))
    a = await engine.place_order(user, order("SBIN", "BUY", 1, pricetype="LIMIT", price="700"))
    await engine.place_order(user, order("SBIN", "BUY", 1, pricetype="LIMIT", price="710"))
    await engine.place_order(user, order("INFY", "BUY", 1, pricetype="LIMIT", price="1400"))
    assert calls == [("sub", "NSE", "SBIN")]
    await engine.cancel_all_orders(user)
    engine.release_idle()
    assert calls == [("sub", "NSE", "SBIN"), ("unsub", "NSE", "SBIN")]
    engine.publish(tick("SBIN", "NSE", 650.0))  # the TickSink spelling of on_tick
    await engine.drain()
    assert (await engine.order(user, a)).status == "cancelled"
