# Decimal == int is exact in Python and reads better in these scenarios.
# mypy: disable-error-code="comparison-overlap"
"""Acceptance scenarios for the paper-trading ledger, written as a trader would tell them.

Prices come from the fake market (quotes) or from ticks the test sends; time from a manual clock
that starts on a Monday at 10:00 IST. Every scenario ends by checking the ledger against its trades.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from openalgo.brokers.base import InsufficientFunds, OrderRejected
from openalgo.brokers.sandbox import SandboxConfig, SandboxEngine
from openalgo.brokers.sandbox.ops import OrderStateError
from openalgo.domain.clock import IST, ManualClock
from openalgo.domain.orders import ModifyRequest
from tests.brokers.sandbox.conftest import MORNING, Checker, EngineFactory, order
from tests.fakes.market import CollectingSink, FakeMarket, tick

CAPITAL = Decimal("10000000.00")
D = Decimal


async def cash(engine: SandboxEngine, user: int) -> tuple[Decimal, Decimal, Decimal]:
    """(available, used margin, realised P&L)."""
    view = await engine.funds_view(user)
    return view.funds.available, view.funds.used_margin, view.funds.realized_pnl


async def position(
    engine: SandboxEngine, user: int, symbol: str, product: str = "MIS"
) -> tuple[Decimal, Decimal]:
    """(net quantity, average price) of one position."""
    for line in await engine.position_lines(user):
        pos = line.position
        if (pos.symbol, pos.product) == (symbol, product):
            return pos.quantity, pos.average_price
    return D(0), D(0)


async def status(engine: SandboxEngine, user: int, orderid: str) -> str:
    return (await engine.order(user, orderid)).status


class TestIntradayRoundTrip:
    async def test_mis_buy_then_sell_books_the_profit(
        self, engine: SandboxEngine, user: int, sink: CollectingSink, assert_consistent: Checker
    ) -> None:
        buy = await engine.place_order(user, order("SBIN", "BUY", 10))
        # MIS equity at 5x: 10 x 800 / 5 blocked.
        assert await cash(engine, user) == (CAPITAL - 1600, D("1600.00"), D(0))
        assert await position(engine, user, "SBIN") == (10, 800)

        engine.on_tick(tick("SBIN", "NSE", 810.0))
        sell = await engine.place_order(user, order("SBIN", "SELL", 10))

        assert await cash(engine, user) == (CAPITAL + 100, D(0), D("100.00"))
        assert await position(engine, user, "SBIN") == (0, 0)
        trades = await engine.trades(user)
        assert [(t.action, t.quantity, t.price, t.realized_pnl) for t in trades] == [
            ("BUY", 10, 800, 0),
            ("SELL", 10, 810, 100),
        ]
        assert sink.kinds(buy) == ["filled"] and sink.kinds(sell) == ["filled"]
        assert all(e.mode == "analyze" and e.venue == "sandbox" for e in sink.events)
        lines = await engine.position_lines(user)
        assert [(line.today_realized, line.unrealized) for line in lines] == [(100, 0)]
        await assert_consistent(user)

    async def test_market_orders_pay_the_ask_and_receive_the_bid(
        self, engine: SandboxEngine, user: int, assert_consistent: Checker
    ) -> None:
        engine.on_tick(tick("SBIN", "NSE", 800.0, bid=799.95, ask=800.10))
        await engine.place_order(user, order("SBIN", "BUY", 10))
        await engine.place_order(user, order("SBIN", "SELL", 10))
        prices = [t.price for t in await engine.trades(user)]
        assert prices == [D("800.10"), D("799.95")]
        assert (await cash(engine, user))[2] == D("-1.50")
        await assert_consistent(user)

    async def test_unrealised_pnl_follows_the_price(self, engine: SandboxEngine, user: int) -> None:
        await engine.place_order(user, order("SBIN", "SELL", 10))  # a short at 800
        engine.on_tick(tick("SBIN", "NSE", 790.0))
        view = await engine.funds_view(user)
        assert view.unrealized == D("100.00")
        [line] = await engine.position_lines(user)
        assert (line.ltp, line.unrealized) == (790, 100)


class TestCncSells:
    async def test_cnc_sell_without_holdings_is_rejected_and_recorded(
        self, engine: SandboxEngine, user: int, sink: CollectingSink, assert_consistent: Checker
    ) -> None:
        with pytest.raises(OrderRejected, match="no holdings or CNC position") as info:
            await engine.place_order(
                user, order("ZEEL", "SELL", 100, exchange="BSE", product="CNC")
            )
        rejected = await engine.order(user, info.value.orderid or "")
        assert rejected.status == "rejected"
        assert "no holdings" in rejected.rejection_reason
        assert rejected.margin_blocked == 0
        assert sink.kinds(rejected.orderid) == ["rejected"]
        assert await cash(engine, user) == (CAPITAL, 0, 0)
        await assert_consistent(user)

    async def test_sell_is_limited_to_position_plus_holdings(
        self, engine: SandboxEngine, user: int, clock: ManualClock, assert_consistent: Checker
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 100, product="CNC"))
        clock.advance(timedelta(days=1))  # settles into a holding of 100
        await engine.place_order(user, order("SBIN", "BUY", 50, product="CNC"))
        with pytest.raises(OrderRejected, match="Only 150 shares"):
            await engine.place_order(user, order("SBIN", "SELL", 151, product="CNC"))
        await engine.place_order(user, order("SBIN", "SELL", 120, product="CNC"))
        # The day's long of 50 is closed first; the holding stays 100 until T+1.
        assert await position(engine, user, "SBIN", "CNC") == (-70, 800)
        assert [(h.holding.quantity) for h in await engine.holding_lines(user)] == [100]
        await assert_consistent(user)

    async def test_open_sell_orders_hold_back_their_shares(
        self, engine: SandboxEngine, user: int, clock: ManualClock
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 100, product="CNC"))
        clock.advance(timedelta(days=1))
        await engine.place_order(
            user, order("SBIN", "SELL", 60, product="CNC", pricetype="LIMIT", price="900")
        )
        with pytest.raises(OrderRejected, match="Only 40 shares"):
            await engine.place_order(user, order("SBIN", "SELL", 50, product="CNC"))

    async def test_mis_short_selling_is_allowed(self, engine: SandboxEngine, user: int) -> None:
        await engine.place_order(user, order("SBIN", "SELL", 100))
        assert await position(engine, user, "SBIN") == (-100, 800)

    async def test_cnc_buy_sell_sell_releases_margin_step_by_step(
        self, engine: SandboxEngine, user: int, assert_consistent: Checker
    ) -> None:
        await engine.place_order(user, order("ZEEL", "BUY", 100, exchange="BSE", product="CNC"))
        assert (await cash(engine, user))[1] == D("11237.00")
        await engine.place_order(user, order("ZEEL", "SELL", 50, exchange="BSE", product="CNC"))
        assert (await cash(engine, user))[1] == D("5618.50")
        await engine.place_order(user, order("ZEEL", "SELL", 50, exchange="BSE", product="CNC"))
        assert await cash(engine, user) == (CAPITAL, 0, 0)
        await assert_consistent(user)


class TestRestingOrders:
    async def test_limit_rests_then_fills_at_its_price_on_a_crossing_tick(
        self, engine: SandboxEngine, user: int, sink: CollectingSink, assert_consistent: Checker
    ) -> None:
        oid = await engine.place_order(
            user, order("SBIN", "BUY", 10, pricetype="LIMIT", price="790")
        )
        assert await status(engine, user, oid) == "open"
        assert (await cash(engine, user))[1] == D("1580.00")  # blocked at the limit price

        engine.on_tick(tick("SBIN", "NSE", 795.0))
        await engine.drain()
        assert await status(engine, user, oid) == "open"

        engine.on_tick(tick("SBIN", "NSE", 789.5))
        await engine.drain()
        filled = await engine.order(user, oid)
        assert (filled.status, filled.average_price) == ("complete", 790)
        assert sink.kinds(oid) == ["open", "filled"]
        assert await position(engine, user, "SBIN") == (10, 790)
        await assert_consistent(user)

    async def test_marketable_limit_fills_at_the_market_price(
        self, engine: SandboxEngine, user: int
    ) -> None:
        oid = await engine.place_order(
            user, order("SBIN", "BUY", 10, pricetype="LIMIT", price="805")
        )
        assert (await engine.order(user, oid)).average_price == 800

    async def test_sl_m_stop_loss_triggers_and_fills_at_the_market(
        self, engine: SandboxEngine, user: int, sink: CollectingSink, assert_consistent: Checker
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 10))
        stop = await engine.place_order(
            user, order("SBIN", "SELL", 10, pricetype="SL-M", trigger_price="790")
        )
        assert await status(engine, user, stop) == "trigger pending"
        assert (await cash(engine, user))[1] == D("1600.00")  # a reduction blocks nothing more
        engine.on_tick(tick("SBIN", "NSE", 791.0))
        await engine.drain()
        assert await status(engine, user, stop) == "trigger pending"
        engine.on_tick(tick("SBIN", "NSE", 788.0))
        await engine.drain()
        assert (await engine.order(user, stop)).average_price == 788
        assert await cash(engine, user) == (CAPITAL - 120, 0, D("-120.00"))
        assert sink.kinds(stop) == ["open", "filled"]
        await assert_consistent(user)

    async def test_sl_limit_triggers_then_rests_until_its_limit(
        self, engine: SandboxEngine, user: int, sink: CollectingSink, assert_consistent: Checker
    ) -> None:
        oid = await engine.place_order(
            user,
            order("SBIN", "BUY", 10, pricetype="SL", price="806", trigger_price="805"),
        )
        engine.on_tick(tick("SBIN", "NSE", 808.0))  # trigger hit, limit not reachable
        await engine.drain()
        assert await status(engine, user, oid) == "open"
        engine.on_tick(tick("SBIN", "NSE", 805.5))
        await engine.drain()
        assert (await engine.order(user, oid)).average_price == 806
        assert sink.kinds(oid) == ["open", "triggered", "filled"]
        await assert_consistent(user)

    async def test_sl_fills_on_the_triggering_tick_when_the_limit_allows(
        self, engine: SandboxEngine, user: int
    ) -> None:
        oid = await engine.place_order(
            user,
            order("SBIN", "BUY", 10, pricetype="SL", price="806", trigger_price="805"),
        )
        engine.on_tick(tick("SBIN", "NSE", 805.5))
        await engine.drain()
        assert (await engine.order(user, oid)).average_price == D("805.5")

    async def test_modify_then_cancel(
        self, engine: SandboxEngine, user: int, sink: CollectingSink, assert_consistent: Checker
    ) -> None:
        oid = await engine.place_order(
            user, order("SBIN", "BUY", 10, pricetype="LIMIT", price="790")
        )
        await engine.modify_order(
            user,
            ModifyRequest(
                orderid=oid,
                symbol="SBIN",
                exchange="NSE",
                action="BUY",  # type: ignore[arg-type]
                quantity=20,
                pricetype="LIMIT",  # type: ignore[arg-type]
                product="MIS",  # type: ignore[arg-type]
                price=D("780"),
            ),
        )
        modified = await engine.order(user, oid)
        assert (modified.quantity, modified.price) == (20, 780)
        assert (await cash(engine, user))[1] == D("3120.00")  # margin follows the modification
        engine.on_tick(tick("SBIN", "NSE", 785.0))  # would have filled the old order
        await engine.drain()
        assert await status(engine, user, oid) == "open"

        await engine.cancel_order(user, oid)
        assert await status(engine, user, oid) == "cancelled"
        assert await cash(engine, user) == (CAPITAL, 0, 0)
        with pytest.raises(OrderStateError, match="Cannot cancel order in cancelled status"):
            await engine.cancel_order(user, oid)
        assert sink.kinds(oid) == ["open", "modified", "cancelled"]
        await assert_consistent(user)

    async def test_modify_or_cancel_of_a_complete_order_is_refused(
        self, engine: SandboxEngine, user: int
    ) -> None:
        oid = await engine.place_order(user, order("SBIN", "BUY", 1))
        with pytest.raises(OrderStateError, match="Cannot cancel order in complete status"):
            await engine.cancel_order(user, oid)
        with pytest.raises(OrderStateError, match="Cannot modify order in complete status"):
            await engine.modify_order(
                user,
                ModifyRequest(
                    orderid=oid,
                    symbol="SBIN",
                    exchange="NSE",
                    action="BUY",  # type: ignore[arg-type]
                    quantity=2,
                    pricetype="LIMIT",  # type: ignore[arg-type]
                    product="MIS",  # type: ignore[arg-type]
                    price=D("790"),
                ),
            )

    async def test_cancel_all_cancels_only_open_orders(
        self, engine: SandboxEngine, user: int, assert_consistent: Checker
    ) -> None:
        a = await engine.place_order(user, order("SBIN", "BUY", 1, pricetype="LIMIT", price="700"))
        b = await engine.place_order(
            user, order("INFY", "SELL", 1, pricetype="SL-M", trigger_price="1400")
        )
        await engine.place_order(user, order("SBIN", "BUY", 1))
        result = await engine.cancel_all_orders(user)
        assert sorted(result.cancelled) == sorted([a, b])
        assert (await engine.cancel_all_orders(user)).cancelled == []
        assert (await cash(engine, user))[1] == D("160.00")  # only the filled MIS position
        await assert_consistent(user)


class TestPositions:
    async def test_partial_close_releases_margin_proportionally(
        self, engine: SandboxEngine, user: int, assert_consistent: Checker
    ) -> None:
        fut = "NIFTY29DEC26FUT"
        await engine.place_order(user, order(fut, "BUY", 150, exchange="NFO", product="NRML"))
        assert (await cash(engine, user))[1] == D("360000.00")  # futures at 10x
        engine.on_tick(tick(fut, "NFO", 24100.0))
        await engine.place_order(user, order(fut, "SELL", 75, exchange="NFO", product="NRML"))
        assert await cash(engine, user) == (
            CAPITAL - 180000 + 7500,
            D("180000.00"),
            D("7500.00"),
        )
        assert await position(engine, user, fut, "NRML") == (75, 24000)
        await assert_consistent(user)

    async def test_position_flips_through_zero(
        self, engine: SandboxEngine, user: int, assert_consistent: Checker
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 10))
        engine.on_tick(tick("SBIN", "NSE", 810.0))
        await engine.place_order(user, order("SBIN", "SELL", 25))
        # 10 closed at +10 each; 15 now short at 810 with margin for those 15 only.
        assert await position(engine, user, "SBIN") == (-15, 810)
        assert await cash(engine, user) == (CAPITAL + 100 - 2430, D("2430.00"), D("100.00"))
        await assert_consistent(user)

    async def test_a_resting_reduction_that_now_opens_pays_margin_at_the_fill(
        self, engine: SandboxEngine, user: int, assert_consistent: Checker
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 10))
        stop = await engine.place_order(
            user, order("SBIN", "SELL", 10, pricetype="LIMIT", price="810")
        )
        assert (await cash(engine, user))[1] == D("1600.00")  # the sell was a reduction
        await engine.place_order(user, order("SBIN", "SELL", 10))  # closed some other way
        assert (await cash(engine, user))[1] == 0
        engine.on_tick(tick("SBIN", "NSE", 810.0))
        await engine.drain()
        assert await status(engine, user, stop) == "complete"
        assert await position(engine, user, "SBIN") == (-10, 810)
        assert (await cash(engine, user))[1] == D("1620.00")  # now a short: margin at 810/5
        await assert_consistent(user)

    async def test_a_resting_order_that_cannot_pay_at_the_fill_is_rejected_then(
        self, engine: SandboxEngine, user: int, sink: CollectingSink, assert_consistent: Checker
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 10))
        sell = await engine.place_order(
            user, order("SBIN", "SELL", 10, pricetype="LIMIT", price="810")
        )
        await engine.place_order(user, order("SBIN", "SELL", 10))  # flat again
        await engine.place_order(user, order("RELIANCE", "BUY", 4000, product="CNC"))  # all cash
        assert (await cash(engine, user))[0] == 0
        engine.on_tick(tick("SBIN", "NSE", 810.0))
        await engine.drain()
        refused = await engine.order(user, sell)
        assert refused.status == "rejected"
        assert refused.rejection_reason.startswith("Insufficient funds. Required: ₹1,620.00")
        assert sink.kinds(sell) == ["open", "rejected"]
        assert await position(engine, user, "SBIN") == (0, 0)
        await assert_consistent(user)

    async def test_a_resting_entry_that_now_reduces_releases_its_margin(
        self, engine: SandboxEngine, user: int, assert_consistent: Checker
    ) -> None:
        buy = await engine.place_order(
            user, order("SBIN", "BUY", 10, pricetype="LIMIT", price="790")
        )
        assert (await cash(engine, user))[1] == D("1580.00")
        await engine.place_order(user, order("SBIN", "SELL", 10))  # short 10 at 800
        assert (await cash(engine, user))[1] == D("3180.00")
        engine.on_tick(tick("SBIN", "NSE", 789.0))
        await engine.drain()
        assert await status(engine, user, buy) == "complete"
        assert await cash(engine, user) == (CAPITAL + 100, 0, D("100.00"))
        await assert_consistent(user)

    async def test_cnc_sells_never_sell_the_same_shares_twice(
        self, engine: SandboxEngine, user: int, clock: ManualClock, assert_consistent: Checker
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 10, product="CNC"))
        resting = await engine.place_order(
            user, order("SBIN", "SELL", 10, product="CNC", pricetype="LIMIT", price="850")
        )
        await engine.cancel_order(user, resting)
        resting = await engine.place_order(
            user, order("SBIN", "SELL", 6, product="CNC", pricetype="LIMIT", price="850")
        )
        await engine.place_order(user, order("SBIN", "SELL", 4, product="CNC"))
        with pytest.raises(OrderRejected, match="In open sell orders: 6"):
            await engine.place_order(user, order("SBIN", "SELL", 1, product="CNC"))
        engine.on_tick(tick("SBIN", "NSE", 850.0))
        await engine.drain()
        assert await status(engine, user, resting) == "complete"
        assert await position(engine, user, "SBIN", "CNC") == (0, 0)
        await assert_consistent(user)

    async def test_adding_to_a_position_averages_the_price(
        self, engine: SandboxEngine, user: int, assert_consistent: Checker
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 1))
        engine.on_tick(tick("SBIN", "NSE", 801.0))
        await engine.place_order(user, order("SBIN", "BUY", 2))
        qty, avg = await position(engine, user, "SBIN")
        assert qty == 3 and round(avg, 4) == D("800.6667")
        engine.on_tick(tick("SBIN", "NSE", 801.0))
        await engine.place_order(user, order("SBIN", "SELL", 3))
        # The cost basis is exact: 1 x 800 + 2 x 801 = 2402, sold for 2403.
        assert (await cash(engine, user))[2] == D("1.00")
        await assert_consistent(user)

    async def test_close_all_positions(
        self, engine: SandboxEngine, user: int, assert_consistent: Checker
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 10))
        await engine.place_order(user, order("INFY", "SELL", 5))
        result = await engine.close_all_positions(user)
        assert len(result.closed) == 2 and result.failed == []
        assert all(line.position.quantity == 0 for line in await engine.position_lines(user))
        assert (await engine.close_all_positions(user)).closed == []
        await assert_consistent(user)


class TestSettlement:
    async def test_cnc_buy_becomes_a_holding_the_next_day(
        self, engine: SandboxEngine, user: int, clock: ManualClock, assert_consistent: Checker
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 10, product="CNC"))
        assert await cash(engine, user) == (CAPITAL - 8000, D("8000.00"), 0)
        assert await engine.holding_lines(user) == []

        clock.advance(timedelta(days=1))
        [holding] = await engine.holding_lines(user)
        assert (holding.holding.quantity, holding.average_price) == (10, 800)
        assert holding.holding.settled_on == (MORNING + timedelta(days=1)).date()
        assert await cash(engine, user) == (CAPITAL - 8000, 0, 0)
        assert await engine.position_lines(user) == []
        await assert_consistent(user)

    async def test_selling_a_holding_settles_the_proceeds_the_next_day(
        self,
        engine: SandboxEngine,
        user: int,
        clock: ManualClock,
        market: FakeMarket,
        assert_consistent: Checker,
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 10, product="CNC"))
        clock.advance(timedelta(days=1))
        market.set("SBIN", "NSE", 850.0)
        await engine.place_order(user, order("SBIN", "SELL", 4, product="CNC"))
        # Until T+1 the holding is intact and the sale shows as a CNC day position.
        assert [h.holding.quantity for h in await engine.holding_lines(user)] == [10]
        assert await position(engine, user, "SBIN", "CNC") == (-4, 850)
        assert await cash(engine, user) == (CAPITAL - 8000, 0, 0)
        await assert_consistent(user)

        clock.advance(timedelta(days=1))
        [holding] = await engine.holding_lines(user)
        assert (holding.holding.quantity, holding.holding.cost) == (6, 4800)
        assert await cash(engine, user) == (CAPITAL - 8000 + 3400, 0, D("200.00"))
        await assert_consistent(user)


class TestSquareOff:
    async def test_mis_positions_and_orders_close_at_the_cut_off(
        self,
        engine: SandboxEngine,
        user: int,
        clock: ManualClock,
        market: FakeMarket,
        assert_consistent: Checker,
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 10))
        resting = await engine.place_order(
            user, order("INFY", "BUY", 1, pricetype="LIMIT", price="1400")
        )
        await engine.place_order(user, order("RELIANCE", "BUY", 1, product="CNC"))

        clock.set(MORNING.replace(hour=15, minute=14))
        await engine.run_maintenance()
        assert await position(engine, user, "SBIN") == (10, 800)

        market.set("SBIN", "NSE", 805.0)
        clock.set(MORNING.replace(hour=15, minute=15))
        await engine.run_maintenance()
        assert await position(engine, user, "SBIN") == (0, 0)
        assert await status(engine, user, resting) == "cancelled"
        assert await position(engine, user, "RELIANCE", "CNC") == (1, 2500)  # CNC untouched
        closing = [t for t in await engine.trades(user) if t.strategy == "Auto Square-off"]
        assert [(t.action, t.quantity, t.price) for t in closing] == [("SELL", 10, 805)]
        assert (await cash(engine, user))[2] == D("50.00")
        await assert_consistent(user)

    async def test_no_new_mis_positions_after_the_cut_off_but_reductions_pass(
        self, engine: SandboxEngine, user: int, clock: ManualClock
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 10))
        clock.set(MORNING.replace(hour=15, minute=20))
        with pytest.raises(OrderRejected, match="not accepted after the square-off time 15:15"):
            await engine.place_order(user, order("INFY", "BUY", 1))
        await engine.place_order(user, order("SBIN", "SELL", 4))  # reduces the long
        await engine.place_order(user, order("SBIN", "BUY", 1, product="CNC"))  # not MIS
        clock.set(MORNING.replace(hour=8, minute=59))
        with pytest.raises(OrderRejected, match="accepted from 09:00"):
            await engine.place_order(user, order("INFY", "BUY", 1))

    async def test_each_exchange_has_its_own_cut_off(
        self, engine: SandboxEngine, user: int, clock: ManualClock
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 1))
        await engine.place_order(user, order("CRUDEOIL29DEC26FUT", "BUY", 100, exchange="MCX"))
        clock.set(MORNING.replace(hour=16, minute=0))
        await engine.run_maintenance()
        assert await position(engine, user, "SBIN") == (0, 0)
        assert (await position(engine, user, "CRUDEOIL29DEC26FUT"))[0] == 100
        clock.set(MORNING.replace(hour=23, minute=30))
        await engine.run_maintenance()
        assert (await position(engine, user, "CRUDEOIL29DEC26FUT"))[0] == 0

    async def test_square_off_survives_a_restart_after_the_cut_off(
        self,
        make_engine: EngineFactory,
        user: int,
        clock: ManualClock,
        market: FakeMarket,
        assert_consistent: Checker,
    ) -> None:
        first = await make_engine()
        await first.place_order(user, order("SBIN", "BUY", 10))
        await first.stop()  # the process dies before 15:15

        clock.set(MORNING.replace(hour=15, minute=40))
        market.set("SBIN", "NSE", 790.0)
        second = await make_engine(background=True)  # maintenance runs at start
        for _ in range(200):
            if (await position(second, user, "SBIN"))[0] == 0:
                break
            await second.drain()
        assert await position(second, user, "SBIN") == (0, 0)
        assert (await cash(second, user))[2] == D("-100.00")
        await assert_consistent(user)

    async def test_next_morning_catch_up_closes_yesterdays_mis_at_the_last_price(
        self,
        make_engine: EngineFactory,
        user: int,
        clock: ManualClock,
        market: FakeMarket,
        assert_consistent: Checker,
    ) -> None:
        first = await make_engine()
        await first.place_order(user, order("SBIN", "BUY", 10))
        await first.stop()
        clock.set(MORNING + timedelta(days=1, hours=-0.5))  # 09:30 the next day
        market.down = True  # no quotes: the last fill price is used
        second = await make_engine()
        await second.run_maintenance()
        assert await position(second, user, "SBIN") == (0, 0)
        [close] = [t for t in await second.trades(user, all_sessions=True) if t.action == "SELL"]
        assert close.price == 800
        await assert_consistent(user)

    async def test_market_always_open_suspends_the_cut_offs(
        self, make_engine: EngineFactory, user: int, clock: ManualClock
    ) -> None:
        from openalgo.brokers.sandbox import EngineTiming

        engine = await make_engine(timing=EngineTiming(market_always_open=True))
        clock.set(MORNING.replace(hour=22, minute=0))
        await engine.place_order(user, order("SBIN", "BUY", 10))
        await engine.run_maintenance()
        assert (await position(engine, user, "SBIN"))[0] == 10


class TestExpiry:
    async def test_expired_future_settles_at_the_last_price(
        self,
        engine: SandboxEngine,
        user: int,
        clock: ManualClock,
        market: FakeMarket,
        assert_consistent: Checker,
    ) -> None:
        fut = "NIFTY29DEC26FUT"
        await engine.place_order(user, order(fut, "BUY", 75, exchange="NFO", product="NRML"))
        resting = await engine.place_order(
            user,
            order(fut, "BUY", 75, exchange="NFO", product="NRML", pricetype="LIMIT", price="20000"),
        )
        expiry_close = clockwork(2026, 12, 29, 15, 40)
        clock.set(expiry_close - timedelta(minutes=1))
        await engine.run_maintenance()
        assert (await position(engine, user, fut, "NRML"))[0] == 75

        market.set(fut, "NFO", 24200.0)
        clock.set(expiry_close)
        await engine.run_maintenance()
        assert (await position(engine, user, fut, "NRML"))[0] == 0
        assert await status(engine, user, resting) == "cancelled"
        assert (await cash(engine, user))[1:] == (0, D("15000.00"))
        await assert_consistent(user)

    async def test_options_can_expire_worthless_by_config(
        self, make_engine: EngineFactory, user: int, clock: ManualClock, assert_consistent: Checker
    ) -> None:
        engine = await make_engine(config=SandboxConfig(option_expiry_settlement="zero"))
        ce = "NIFTY29DEC2624000CE"
        await engine.place_order(user, order(ce, "BUY", 75, exchange="NFO", product="NRML"))
        clock.set(clockwork(2026, 12, 29, 15, 40))
        await engine.run_maintenance()
        assert (await cash(engine, user))[2] == D("-11250.00")
        await assert_consistent(user)


class TestMargins:
    async def test_option_buyer_pays_the_premium_and_seller_blocks_it(
        self, engine: SandboxEngine, user: int, assert_consistent: Checker
    ) -> None:
        await engine.place_order(
            user, order("NIFTY29DEC2624000CE", "BUY", 75, exchange="NFO", product="NRML")
        )
        assert (await cash(engine, user))[1] == D("11250.00")  # 75 x 150
        await engine.place_order(
            user, order("NIFTY29DEC2624000PE", "SELL", 75, exchange="NFO", product="NRML")
        )
        assert (await cash(engine, user))[1] == D("20250.00")  # + 75 x 120
        await assert_consistent(user)

    async def test_leverage_is_configurable(self, make_engine: EngineFactory, user: int) -> None:
        engine = await make_engine(
            config=SandboxConfig(option_sell_leverage=D("3"), futures_leverage=D("20"))
        )
        await engine.place_order(
            user, order("NIFTY29DEC2624000PE", "SELL", 75, exchange="NFO", product="NRML")
        )
        assert (await cash(engine, user))[1] == D("3000.00")
        await engine.place_order(
            user, order("NIFTY29DEC26FUT", "BUY", 75, exchange="NFO", product="MIS")
        )
        assert (await cash(engine, user))[1] == D("93000.00")  # + 75 x 24000 / 20

    async def test_per_user_overrides_come_from_the_database(
        self, engine: SandboxEngine, user: int
    ) -> None:
        await engine.set_config(user, "equity_mis_leverage", "10")
        await engine.place_order(user, order("SBIN", "BUY", 10))
        assert (await cash(engine, user))[1] == D("800.00")

    async def test_insufficient_funds_rejects_and_moves_nothing(
        self, engine: SandboxEngine, user: int, assert_consistent: Checker
    ) -> None:
        with pytest.raises(
            InsufficientFunds, match=r"Required: ₹12,500,000.00, Available: ₹10,000,000.00"
        ):
            await engine.place_order(user, order("RELIANCE", "BUY", 5000, product="CNC"))
        assert await cash(engine, user) == (CAPITAL, 0, 0)
        [rejected] = await engine.orders(user)
        assert rejected.status == "rejected" and "Shortage" in rejected.rejection_reason
        await assert_consistent(user)


class TestReset:
    async def test_reset_restores_capital_and_clears_the_book(
        self,
        engine: SandboxEngine,
        user: int,
        clock: ManualClock,
        sink: CollectingSink,
        assert_consistent: Checker,
    ) -> None:
        await engine.place_order(user, order("SBIN", "BUY", 10, product="CNC"))
        clock.advance(timedelta(days=1))
        await engine.place_order(user, order("INFY", "BUY", 10))
        resting = await engine.place_order(
            user, order("SBIN", "BUY", 1, pricetype="LIMIT", price="700")
        )
        gtt = await engine.place_gtt(
            user,
            trigger_type="SINGLE",
            symbol="SBIN",
            exchange="NSE",
            action="BUY",
            product="CNC",
            quantity=1,
            price=D("700"),
            triggerprice_sl=D("705"),
        )
        await engine.reset(user)
        view = await engine.funds_view(user)
        assert (view.funds.available, view.funds.used_margin, view.funds.reset_count) == (
            CAPITAL,
            0,
            1,
        )
        assert await engine.position_lines(user) == []
        assert await engine.holding_lines(user) == []
        assert await status(engine, user, resting) == "cancelled"
        assert [g.status for g in await engine.gtts(user, active_only=False)] == ["cancelled"]
        assert gtt
        assert len(await engine.trades(user, all_sessions=True)) == 2  # history is kept
        await assert_consistent(user)
        await engine.place_order(user, order("SBIN", "BUY", 1))
        await assert_consistent(user)

    async def test_scheduled_reset_runs_once_per_slot(
        self, engine: SandboxEngine, user: int, clock: ManualClock
    ) -> None:
        await engine.set_config(user, "reset_day", "sunday")
        await engine.set_config(user, "reset_time", "00:00")
        await engine.place_order(user, order("SBIN", "BUY", 10))
        await engine.run_maintenance()
        assert (await engine.funds_view(user)).funds.reset_count == 0
        clock.set(clockwork(2026, 12, 20, 0, 5))  # the next Sunday
        await engine.run_maintenance()
        await engine.run_maintenance()
        assert (await engine.funds_view(user)).funds.reset_count == 1


def clockwork(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=IST)
