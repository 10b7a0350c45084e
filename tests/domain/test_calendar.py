"""Exchange sessions, holidays and expiry rules, in IST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from openalgo.domain.calendar import (
    SPECIAL_SESSION,
    TRADING_HOLIDAY,
    CalendarError,
    ExpiryRule,
    MarketCalendar,
    Weekday,
    last_weekday,
    load_holiday_rules,
)
from openalgo.domain.clock import IST
from openalgo.domain.enums import Exchange


@pytest.fixture(scope="module")
def cal() -> MarketCalendar:
    return MarketCalendar.bundled()


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), IST)


WEDNESDAY = date(2026, 12, 2)
HOLI_2026 = date(2026, 3, 3)
CHRISTMAS_2026 = date(2026, 12, 25)


def test_bundled_years_cover_2025_to_2027(cal: MarketCalendar) -> None:
    assert cal.years == [2025, 2026, 2027]
    assert all(len(cal.holidays(y)) >= 9 for y in (2025, 2026, 2027))


def test_equity_session_hours(cal: MarketCalendar) -> None:
    session = cal.session(Exchange.NSE, WEDNESDAY)
    assert session is not None
    assert (session.start, session.end) == (at(WEDNESDAY, 9, 15), at(WEDNESDAY, 15, 30))
    assert cal.is_open("NSE", at(WEDNESDAY, 9, 15))
    assert cal.is_open("NFO", at(WEDNESDAY, 15, 29))
    assert not cal.is_open("NSE", at(WEDNESDAY, 15, 30))
    assert not cal.is_open("NSE", at(WEDNESDAY, 9, 14))
    # The same instant given in UTC.
    assert cal.is_open("NSE", datetime(2026, 12, 2, 4, 0, tzinfo=UTC))
    assert cal.is_open("NSE_INDEX", at(WEDNESDAY, 10))


def test_weekend_is_closed_except_crypto(cal: MarketCalendar) -> None:
    saturday = date(2026, 11, 28)
    assert not cal.is_open("NSE", at(saturday, 11))
    assert not cal.is_open("MCX", at(saturday, 11))
    assert cal.is_open("CRYPTO", at(saturday, 3))
    assert [s.exchange for s in cal.timings(saturday)] == ["CRYPTO"]


def test_mcx_close_follows_us_daylight_saving(cal: MarketCalendar) -> None:
    winter = cal.session("MCX", WEDNESDAY)
    summer = cal.session("MCX", date(2026, 7, 1))
    assert winter is not None and summer is not None
    assert winter.end.time() == time(23, 30)
    assert summer.end.time() == time(23, 55)


def test_holiday_closes_equity_and_opens_mcx_evening(cal: MarketCalendar) -> None:
    assert not cal.is_trading_day("NSE", HOLI_2026)
    assert not cal.is_open("CDS", at(HOLI_2026, 10))
    assert not cal.is_open("MCX", at(HOLI_2026, 10))
    assert cal.is_open("MCX", at(HOLI_2026, 18))
    (holi,) = [h for h in cal.holidays(2026) if h.day == HOLI_2026]
    assert holi.holiday_type == TRADING_HOLIDAY
    assert holi.description == "Holi"
    assert "NSE" in holi.closed_exchanges and "MCX" not in holi.closed_exchanges
    assert [(s.exchange, s.start.time()) for s in holi.open_exchanges] == [
        ("MCX", time(17, 0)),
        ("NCO", time(17, 0)),
    ]
    # MCX is shut all day on Christmas; only crypto trades.
    assert [s.exchange for s in cal.timings(CHRISTMAS_2026)] == ["CRYPTO"]


def test_special_session_is_the_only_session(cal: MarketCalendar) -> None:
    muhurat = date(2025, 10, 21)
    session = cal.session("NSE", muhurat)
    assert session is not None
    assert (session.start.time(), session.end.time()) == (time(13, 45), time(14, 45))
    (row,) = [h for h in cal.holidays(2025) if h.day == muhurat]
    assert row.holiday_type == SPECIAL_SESSION


def test_timings_epoch_ms(cal: MarketCalendar) -> None:
    nse = cal.timings(WEDNESDAY)[0]
    assert nse.exchange == "NSE"
    assert nse.start_ms == int(at(WEDNESDAY, 9, 15).timestamp() * 1000)
    assert [s.exchange for s in cal.timings(WEDNESDAY)] == [
        "NSE",
        "BSE",
        "NFO",
        "BFO",
        "CDS",
        "BCD",
        "MCX",
        "NCO",
        "CRYPTO",
    ]


def test_next_open_and_close(cal: MarketCalendar) -> None:
    friday_evening = at(date(2026, 11, 27), 16)
    assert cal.next_open("NSE", friday_evening) == at(date(2026, 11, 30), 9, 15)
    assert cal.next_close("NSE", at(WEDNESDAY, 10)) == at(WEDNESDAY, 15, 30)
    assert cal.next_close("NSE", at(WEDNESDAY, 16)) == at(date(2026, 12, 3), 15, 30)
    # Christmas Friday 2026 pushes the next open to Monday.
    assert cal.next_open("NSE", at(date(2026, 12, 24), 16)) == at(date(2026, 12, 28), 9, 15)
    assert cal.previous_trading_day("NSE", date(2026, 12, 28)) == date(2026, 12, 24)


def test_last_session(cal: MarketCalendar) -> None:
    sunday = at(date(2026, 11, 29), 12)
    last = cal.last_session("NSE", sunday)
    assert last is not None and last.start.date() == date(2026, 11, 27)
    during = cal.last_session("NSE", at(WEDNESDAY, 10))
    assert during is not None and during.start.date() == WEDNESDAY


def test_always_open_mode() -> None:
    cal = MarketCalendar.bundled(always_open=True)
    assert cal.cutoffs_suspended
    assert cal.is_open("NSE", at(date(2026, 11, 29), 3))  # Sunday, 3 am
    assert cal.is_open("NSE", at(CHRISTMAS_2026, 22))
    # The exchanges' own timings do not change.
    assert cal.exchange_session("NSE", CHRISTMAS_2026) is None
    assert not MarketCalendar.bundled().cutoffs_suspended


def test_last_weekday() -> None:
    assert last_weekday(2026, 12, Weekday.TUE) == date(2026, 12, 29)
    assert last_weekday(2026, 12, Weekday.THU) == date(2026, 12, 31)
    assert last_weekday(2027, 2, Weekday.TUE) == date(2027, 2, 23)


def test_weekly_and_monthly_expiries(cal: MarketCalendar) -> None:
    weekly = cal.expiries("NFO", ExpiryRule("weekly", Weekday.TUE), date(2026, 11, 28), 4)
    assert weekly == [date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 15), date(2026, 12, 22)]
    monthly = cal.expiries("NFO", ExpiryRule("monthly", Weekday.TUE), date(2026, 11, 28), 3)
    assert monthly == [date(2026, 12, 29), date(2027, 1, 26) - timedelta(days=1), date(2027, 2, 23)]
    # 26 Jan 2027 (last Tuesday) is Republic Day: the expiry moves to Monday the 25th.


def test_expiry_on_a_holiday_moves_to_previous_trading_day(cal: MarketCalendar) -> None:
    # A Friday weekly series meets Christmas 2026 (a Friday) and settles on Thursday the 24th.
    rule = ExpiryRule("weekly", Weekday.FRI)
    assert cal.expiries("CDS", rule, date(2026, 12, 21), 1) == [date(2026, 12, 24)]
    # An expiry due today is still listed; yesterday's is gone.
    assert cal.expiries("NFO", ExpiryRule("weekly"), date(2026, 12, 1), 1) == [date(2026, 12, 1)]
    assert cal.expiries("NFO", ExpiryRule("weekly"), date(2026, 12, 2), 1) == [date(2026, 12, 8)]


def test_day_of_month_and_before_month_end(cal: MarketCalendar) -> None:
    crude = cal.expiries("MCX", ExpiryRule("day_of_month", day=19), date(2026, 11, 28), 3)
    assert crude == [date(2026, 12, 18), date(2027, 1, 19), date(2027, 2, 19)]  # 19 Dec is Sat
    usd = cal.expiries("CDS", ExpiryRule("before_month_end", offset=2), date(2026, 11, 28), 2)
    # Dec 2026: last trading day Thu 31st, two trading days before: Tue 29th.
    assert usd == [date(2026, 12, 29), date(2027, 1, 27)]


def test_expiry_cutoff(cal: MarketCalendar) -> None:
    assert cal.expiry_cutoff("NFO", WEDNESDAY) == at(WEDNESDAY, 15, 30)
    assert cal.expiry_cutoff("CDS", WEDNESDAY) == at(WEDNESDAY, 12, 30)
    assert cal.expiry_cutoff("MCX", WEDNESDAY) == at(WEDNESDAY, 23, 30)


def test_damaged_holiday_data_is_a_clear_error() -> None:
    with pytest.raises(CalendarError, match="malformed"):
        load_holiday_rules('{"holidays": [{"date": "2026-13-01", "description": "x"}]}')
    with pytest.raises(CalendarError):
        load_holiday_rules("{}")
