"""The exchange calendar in the ledger: T+1 counts trading days, the MIS cut-off is the day's.

Dates: 2026-12-18 is a Friday, 2026-12-25 (Christmas, a Friday) an exchange holiday, and
2025-10-21 the Diwali Muhurat session (NSE trades 13:45-14:45 only).
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from openalgo.brokers.base import OrderRejected
from openalgo.brokers.sandbox import SandboxConfig, SandboxEngine, check_ledger
from openalgo.brokers.sandbox.rules import square_off_cutoff, t1_settlement_day
from openalgo.db.session import SessionMaker
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import IST, ManualClock
from tests.brokers.sandbox.conftest import Checker, EngineFactory, order
from tests.fakes.market import FakeMarket

D = Decimal
CFG = SandboxConfig()
REAL = MarketCalendar.bundled()
ALWAYS = MarketCalendar.bundled(always_open=True)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=IST)


@pytest.mark.parametrize(
    ("calendar", "traded", "settles"),
    [
        (REAL, date(2026, 12, 14), date(2026, 12, 15)),  # Monday -> Tuesday
        (REAL, date(2026, 12, 18), date(2026, 12, 21)),  # Friday -> Monday
        (REAL, date(2026, 12, 24), date(2026, 12, 28)),  # over Christmas and the weekend
        (REAL, date(2026, 12, 19), date(2026, 12, 21)),  # a Saturday trade: next trading day
        (ALWAYS, date(2026, 12, 18), date(2026, 12, 19)),  # market always open: every day
        (None, date(2026, 12, 18), date(2026, 12, 19)),  # no calendar: the next day
    ],
)
def test_t1_is_the_next_trading_day(
    calendar: MarketCalendar | None, traded: date, settles: date
) -> None:
    assert t1_settlement_day(calendar, "NSE", traded) == settles


def test_t1_for_an_exchange_the_calendar_does_not_know_is_the_next_day() -> None:
    assert t1_settlement_day(REAL, "NOWHERE", date(2026, 12, 18)) == date(2026, 12, 19)


@pytest.mark.parametrize(
    ("exchange", "day", "expected"),
    [
        ("NSE", date(2026, 12, 14), time(15, 15)),  # a regular day: the configured time
        ("MCX", date(2026, 12, 14), time(23, 30)),
        ("CDS", date(2026, 12, 14), time(16, 45)),
        ("NSE", date(2026, 12, 25), None),  # holiday: nothing trades, nothing to square off
        ("NSE", date(2026, 12, 19), None),  # Saturday
        ("NSE", date(2025, 10, 21), time(14, 30)),  # Muhurat 13:45-14:45: 15 min before close
        ("CRYPTO", date(2026, 12, 19), None),  # no MIS cut-off at all
    ],
)
def test_square_off_cutoff_follows_the_days_session(
    exchange: str, day: date, expected: time | None
) -> None:
    cutoff = square_off_cutoff(CFG, REAL, exchange, day)
    assert (cutoff.astimezone(IST).time() if cutoff else None) == expected


def test_without_a_calendar_the_cutoff_is_the_configured_time() -> None:
    cutoff = square_off_cutoff(CFG, None, "NSE", date(2026, 12, 25))
    assert cutoff == at(date(2026, 12, 25), 15, 15)


class TestTPlusOne:
    async def test_a_friday_buy_settles_on_monday_not_over_the_weekend(
        self, engine: SandboxEngine, user: int, clock: ManualClock, assert_consistent: Checker
    ) -> None:
        clock.set(at(date(2026, 12, 18), 10))
        await engine.place_order(user, order("SBIN", "BUY", 10, product="CNC"))

        clock.set(at(date(2026, 12, 19), 10))  # Saturday
        await engine.run_maintenance()
        assert await engine.holding_lines(user) == []
        [line] = await engine.position_lines(user)
        assert (line.position.product, line.position.quantity) == ("CNC", D(10))
        await assert_consistent(user)

        clock.set(at(date(2026, 12, 21), 9, 5))  # Monday
        await engine.run_maintenance()
        [holding] = await engine.holding_lines(user)
        assert (holding.holding.quantity, holding.holding.settled_on) == (D(10), date(2026, 12, 21))
        assert await engine.position_lines(user) == []
        await assert_consistent(user)

    async def test_a_buy_before_a_holiday_waits_for_the_next_trading_day(
        self, engine: SandboxEngine, user: int, clock: ManualClock, assert_consistent: Checker
    ) -> None:
        clock.set(at(date(2026, 12, 24), 11))
        await engine.place_order(user, order("SBIN", "BUY", 5, product="CNC"))
        clock.set(at(date(2026, 12, 25), 11))  # Christmas
        assert await engine.holding_lines(user) == []
        await assert_consistent(user)
        clock.set(at(date(2026, 12, 28), 11))
        assert [h.holding.quantity for h in await engine.holding_lines(user)] == [5]
        await assert_consistent(user)

    async def test_the_ledger_check_uses_the_calendar_too(
        self, engine: SandboxEngine, user: int, clock: ManualClock, read_sessionmaker: SessionMaker
    ) -> None:
        clock.set(at(date(2026, 12, 18), 10))
        await engine.place_order(user, order("SBIN", "BUY", 10, product="CNC"))
        clock.set(at(date(2026, 12, 19), 10))
        await engine.run_maintenance()  # Saturday: nothing settles
        async with read_sessionmaker() as session:
            assert await check_ledger(session, "sandbox", user, calendar=REAL) == []
            # A checker that counted calendar days would expect a holding already.
            assert await check_ledger(session, "sandbox", user, calendar=ALWAYS) != []


class TestMisOnTheCalendar:
    async def test_mis_entries_are_refused_on_a_day_the_exchange_is_closed(
        self, engine: SandboxEngine, user: int, clock: ManualClock
    ) -> None:
        for closed in (date(2026, 12, 19), date(2026, 12, 25)):
            clock.set(at(closed, 11))
            with pytest.raises(OrderRejected, match="the exchange is closed") as refused:
                await engine.place_order(user, order("SBIN", "BUY", 1))
            assert refused.value.orderid is not None
            assert (await engine.order(user, refused.value.orderid)).status == "rejected"
        # Delivery orders are not intraday positions: accepted.
        await engine.place_order(user, order("SBIN", "BUY", 1, product="CNC"))
        assert (await engine.funds_view(user)).funds.used_margin == D("800.00")

    async def test_a_special_session_is_squared_off_before_it_ends(
        self,
        engine: SandboxEngine,
        user: int,
        clock: ManualClock,
        market: FakeMarket,
        assert_consistent: Checker,
    ) -> None:
        muhurat = date(2025, 10, 21)
        clock.set(at(muhurat, 14, 0))
        await engine.place_order(user, order("SBIN", "BUY", 10))
        clock.set(at(muhurat, 14, 29))
        await engine.run_maintenance()
        [line] = await engine.position_lines(user)
        assert line.position.quantity == 10

        market.set("SBIN", "NSE", 802.0)
        clock.set(at(muhurat, 14, 30))
        await engine.run_maintenance()
        [line] = await engine.position_lines(user)
        assert line.position.quantity == 0
        assert (await engine.funds_view(user)).funds.realized_pnl == D("20.00")
        with pytest.raises(OrderRejected, match="after the square-off time 14:30"):
            await engine.place_order(user, order("SBIN", "BUY", 1))
        await assert_consistent(user)

    async def test_intraday_left_open_before_a_holiday_is_closed_on_the_holiday(
        self, make_engine: EngineFactory, user: int, clock: ManualClock, assert_consistent: Checker
    ) -> None:
        first = await make_engine()
        clock.set(at(date(2026, 12, 24), 10))
        await first.place_order(user, order("SBIN", "BUY", 10))
        await first.stop()  # down through the cut-off
        clock.set(at(date(2026, 12, 25), 10))  # no session today, but the position is stale
        second = await make_engine()
        assert await second.square_off_due() == 1
        [line] = await second.position_lines(user)
        assert line.position.quantity == 0
        await assert_consistent(user)
