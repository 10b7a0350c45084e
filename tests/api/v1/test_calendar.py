"""``/market/holidays`` and ``/market/timings`` through the real app.

They report the exchanges' real calendar (bundled holiday list, regular hours in IST), even
though the test app's simulated market is open around the clock. Expected values are written out
from the exchanges' published 2025-2026 calendars, not computed by the code under test.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import pytest

from openalgo.domain.clock import IST
from tests.api.v1.test_market import refused
from tests.api.v1.test_sdk_payloads import SDK_CALLS
from tests.support.appfixtures import START, LiveApp
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader

__all__ = ["shared_trading_live", "trader"]  # fixtures: one app per module, a user per test


@pytest.fixture(autouse=True)
def _at_start(shared_trading_live: LiveApp) -> None:
    """Tests share the app (and its clock); each starts at `START`."""
    shared_trading_live.clock.set(START)


CLOSED_ON_HOLIDAYS = ["NSE", "BSE", "NFO", "BFO", "CDS", "BCD"]


def ms(day: date, hh: int, mm: int) -> int:
    return int(datetime.combine(day, time(hh, mm), IST).timestamp() * 1000)


def hours(sessions: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """exchange -> (start, end) as IST "HH:MM" (24:00 for midnight at the end)."""
    out = {}
    for s in sessions:
        assert set(s) == {"exchange", "start_time", "end_time"}
        start = datetime.fromtimestamp(s["start_time"] / 1000, IST)
        end = datetime.fromtimestamp(s["end_time"] / 1000, IST)
        stop = (
            "24:00"
            if end.time() == time(0) and end.date() > start.date()
            else end.strftime("%H:%M")
        )
        out[s["exchange"]] = (start.strftime("%H:%M"), stop)
    return out


# --- holidays -----------------------------------------------------------------------------------


async def test_holidays_of_a_year(trader: Trader) -> None:
    body = await trader.ok("market/holidays", year=2026)
    assert set(body) == {"status", "year", "timezone", "data"}
    assert (body["year"], body["timezone"]) == (2026, "Asia/Kolkata")
    days = [h["date"] for h in body["data"]]
    assert days == sorted(days) and all(d.startswith("2026-") for d in days)
    assert len(days) == 16
    by_day = {h["date"]: h for h in body["data"]}
    republic = by_day["2026-01-26"]
    assert republic == {
        "date": "2026-01-26",
        "description": "Republic Day",
        "holiday_type": "TRADING_HOLIDAY",
        "closed_exchanges": [*CLOSED_ON_HOLIDAYS, "MCX", "NCO"],
        "open_exchanges": [],
    }
    # Commodities trade the evening session on most equity holidays.
    evening = by_day["2026-11-24"]
    assert evening["closed_exchanges"] == CLOSED_ON_HOLIDAYS
    assert hours(evening["open_exchanges"]) == {
        "MCX": ("17:00", "23:30"),
        "NCO": ("17:00", "23:30"),
    }
    assert evening["open_exchanges"][0]["start_time"] == ms(date(2026, 11, 24), 17, 0)
    for holiday in body["data"]:  # no weekend is listed
        assert date.fromisoformat(holiday["date"]).weekday() < 5


async def test_a_special_session_is_listed_with_its_hours(trader: Trader) -> None:
    body = await trader.ok("market/holidays", year="2025")  # a string, as OpenAlgo allows
    assert body["year"] == 2025 and len(body["data"]) == 14
    (muhurat,) = [h for h in body["data"] if h["date"] == "2025-10-21"]
    assert muhurat["holiday_type"] == "SPECIAL_SESSION"
    assert muhurat["closed_exchanges"] == ["NCO"]
    assert hours(muhurat["open_exchanges"]) == dict.fromkeys(
        ["NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX"], ("13:45", "14:45")
    )


async def test_holidays_default_to_this_year(trader: Trader) -> None:
    assert (await trader.ok("market/holidays"))["year"] == 2026  # the clock's year in IST
    r = await trader.client.post(
        "/api/v1/market/holidays",
        headers={"X-API-KEY": trader.api_key, "Content-Type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["year"] == 2026  # no body at all


async def test_holiday_requests_are_validated(trader: Trader) -> None:
    assert await refused(trader, "market/holidays", "year", year=2051) == "must be at most 2050"
    assert await refused(trader, "market/holidays", "year", year=2019) == "must be at least 2020"
    assert await refused(trader, "market/holidays", "year", year="next") == "must be an integer"
    assert await refused(trader, "market/holidays", "year", year=2026.5) == "must be an integer"
    assert await refused(trader, "market/holidays", "month", month=1) == "unknown field"
    r = await trader.post("market/holidays", year=2030)
    assert r.status_code == 404
    assert r.json()["message"] == (
        "No holiday calendar for 2030; calendars are available for 2025, 2026, 2027"
    )
    r = await trader.client.post("/api/v1/market/holidays", json={"apikey": "not-a-key"})
    assert (r.status_code, r.json()["message"]) == (403, "Invalid openalgo apikey")


# --- timings ------------------------------------------------------------------------------------


async def test_timings_of_a_trading_day(trader: Trader) -> None:
    day = date(2026, 11, 30)
    body = await trader.ok("market/timings", date=day.isoformat())
    assert set(body) == {"status", "data"}
    assert hours(body["data"]) == {
        "NSE": ("09:15", "15:30"),
        "BSE": ("09:15", "15:30"),
        "NFO": ("09:15", "15:30"),
        "BFO": ("09:15", "15:30"),
        "CDS": ("09:00", "17:00"),
        "BCD": ("09:00", "17:00"),
        "MCX": ("09:00", "23:30"),  # US winter time
        "NCO": ("09:00", "23:30"),
        "CRYPTO": ("00:00", "24:00"),
    }
    assert body["data"][0] == {
        "exchange": "NSE",
        "start_time": ms(day, 9, 15),
        "end_time": ms(day, 15, 30),
    }
    summer = await trader.ok("market/timings", date="2026-06-01")
    assert hours(summer["data"])["MCX"] == ("09:00", "23:55")


async def test_timings_of_weekends_holidays_and_special_sessions(trader: Trader) -> None:
    weekend = await trader.ok("market/timings", date="2026-11-28")
    assert hours(weekend["data"]) == {"CRYPTO": ("00:00", "24:00")}
    republic = await trader.ok("market/timings", date="2026-01-26")
    assert hours(republic["data"]) == {"CRYPTO": ("00:00", "24:00")}
    evening = await trader.ok("market/timings", date="2026-11-24")
    assert hours(evening["data"]) == {
        "MCX": ("17:00", "23:30"),
        "NCO": ("17:00", "23:30"),
        "CRYPTO": ("00:00", "24:00"),
    }
    muhurat = await trader.ok("market/timings", date="2025-10-21")
    assert hours(muhurat["data"])["NSE"] == ("13:45", "14:45")
    assert "NCO" not in hours(muhurat["data"])


async def test_timings_default_to_today(trader: Trader) -> None:
    today = await trader.ok("market/timings")
    assert today == await trader.ok("market/timings", date="2026-11-30")


async def test_timing_requests_are_validated(trader: Trader) -> None:
    for bad in ("2026-11-31", "30-11-2026", "2026/11/30", "20261130", 20261130):
        assert await refused(trader, "market/timings", "date", date=bad) == (
            "must be a date in YYYY-MM-DD format"
        )
    for outside in ("2019-12-31", "2051-01-01"):
        assert await refused(trader, "market/timings", "date", date=outside) == (
            "must be between 2020-01-01 and 2050-12-31"
        )
    assert await refused(trader, "market/timings", "exchange", exchange="NSE") == "unknown field"


async def test_sdk_payloads_are_served(trader: Trader) -> None:
    calls = [p for name, p in SDK_CALLS.values() if name in ("market/holidays", "market/timings")]
    assert len(calls) == 3
    for payload in calls:
        name = "market/timings" if "date" in payload else "market/holidays"
        await trader.ok(name, **{k: v for k, v in payload.items() if k != "apikey"})
