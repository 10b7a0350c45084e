"""Market data through the real app on the simulator: ``/quotes``, ``/multiquotes``, ``/depth``,
``/history``, ``/intervals`` and ``GET /ticker``; shapes, values that agree with each other and
with the venue, and every bad input.

The app's clock is a `ManualClock` at `START` (Monday 30 November 2026, 10:00 IST) and the market
is always open unless a test starts its own app with real sessions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from openalgo.domain.clock import IST
from openalgo.domain.enums import InstrumentType
from tests.api.v1.test_sdk_payloads import SDK_CALLS
from tests.support.appfixtures import START, LiveApp, StartApp
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader, new_trader

__all__ = ["shared_trading_live", "trader"]  # fixtures: one app per module, a user per test


@pytest.fixture(autouse=True)
def _at_start(shared_trading_live: LiveApp) -> None:
    """Tests share the app (and its clock); each starts at `START`."""
    shared_trading_live.clock.set(START)


QUOTE_KEYS = {"open", "high", "low", "ltp", "ask", "bid", "prev_close", "volume", "oi"}
CANDLE_KEYS = {"timestamp", "open", "high", "low", "close", "volume", "oi"}


async def refused(trader: Trader, name: str, field: str, **fields: Any) -> str:
    """POST and expect a 400 blamed on exactly ``field``; its problem text."""
    r = await trader.post(name, **fields)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == "error"
    assert list(body["errors"]) == [field], body
    assert body["message"].startswith(f"{field}: "), body
    problem: str = body["errors"][field][0]
    return problem


def listed_strike(
    trader: Trader, underlying: str, exchange: str, expiry: date, *, fractional: bool = False
) -> str:
    """A strike the master lists for ``underlying``'s calls (the middle one: near the money; with
    ``fractional``, the first with a fractional part), written as option symbols write it. The
    simulator centres strikes on its running prices, so they are looked up, not hard-coded."""
    strikes = trader.live.runtime.instruments.strikes(
        underlying, exchange, expiry, InstrumentType.CE
    )
    assert strikes, (underlying, exchange, expiry)
    strike = (
        next(k for k in strikes if k != k.to_integral_value())
        if fractional
        else strikes[len(strikes) // 2]
    )
    return str(int(strike)) if strike == strike.to_integral_value() else str(strike.normalize())


def sane(candle: dict[str, Any]) -> None:
    assert set(candle) == CANDLE_KEYS
    assert candle["low"] <= min(candle["open"], candle["close"])
    assert candle["high"] >= max(candle["open"], candle["close"])
    assert candle["volume"] >= 0 and candle["oi"] >= 0


# --- quotes -------------------------------------------------------------------------------------


async def test_quote_is_the_venues_quote_now(trader: Trader) -> None:
    body = await trader.ok("quotes", symbol="SBIN", exchange="NSE")
    data = body["data"]
    assert set(data) == QUOTE_KEYS and "mode" not in body
    venue = await trader.live.runtime.simulator.quote("SBIN", "NSE")
    assert data["ltp"] == venue.ltp and data["bid"] == venue.bid and data["ask"] == venue.ask
    assert data["low"] <= data["ltp"] <= data["high"]
    assert data["low"] <= data["open"] <= data["high"]
    assert data["bid"] < data["ask"] and data["bid"] <= data["ltp"] <= data["ask"]
    assert data["volume"] > 0 and data["oi"] == 0 and data["prev_close"] > 0


async def test_quote_moves_with_the_clock(trader: Trader) -> None:
    first = (await trader.ok("quotes", symbol="RELIANCE", exchange="NSE"))["data"]
    trader.live.clock.advance(timedelta(minutes=30))
    later = (await trader.ok("quotes", symbol="RELIANCE", exchange="NSE"))["data"]
    assert later["ltp"] != first["ltp"]
    assert later["volume"] > first["volume"]
    assert (later["open"], later["prev_close"]) == (first["open"], first["prev_close"])
    assert later["high"] >= first["high"] and later["low"] <= first["low"]


async def test_derivatives_and_indices_are_quoted(trader: Trader) -> None:
    future = (await trader.ok("quotes", symbol="NIFTY29DEC26FUT", exchange="NFO"))["data"]
    index = (await trader.ok("quotes", symbol="NIFTY", exchange="NSE_INDEX"))["data"]
    strike = listed_strike(trader, "NIFTY", "NFO", date(2026, 12, 29))
    call = (await trader.ok("quotes", symbol=f"NIFTY29DEC26{strike}CE", exchange="NFO"))["data"]
    assert future["oi"] > 0 and call["oi"] > 0 and index["volume"] == 0
    assert future["ltp"] > index["ltp"]  # cost of carry to expiry
    assert call["ltp"] >= max(index["ltp"] - int(strike), 0)  # never below intrinsic value


async def test_market_data_ignores_analyzer_mode(trader: Trader) -> None:
    live = await trader.ok("quotes", symbol="SBIN", exchange="NSE")
    await trader.analyzer(True)
    analyzed = await trader.ok("quotes", symbol="SBIN", exchange="NSE")
    assert analyzed == live and "mode" not in analyzed
    assert "mode" not in await trader.ok("depth", symbol="SBIN", exchange="NSE")
    r = await trader.post("quotes", symbol="SBIN1", exchange="NSE")
    assert r.status_code == 400 and "mode" not in r.json()


async def test_unknown_symbols_name_the_field(trader: Trader) -> None:
    for name in ("quotes", "depth"):
        assert await refused(trader, name, "symbol", symbol="SBIN1", exchange="NSE") == (
            "unknown symbol SBIN1 on NSE"
        )
        # NIFTY is an index: not listed on NSE's cash market.
        assert await refused(trader, name, "symbol", symbol="NIFTY", exchange="NSE") == (
            "unknown symbol NIFTY on NSE"
        )
    assert await refused(trader, "quotes", "symbol", symbol="sbin", exchange="NSE") == (
        "unknown symbol sbin on NSE (symbols are upper case: SBIN)"
    )


async def test_quote_requests_are_validated(trader: Trader) -> None:
    assert await refused(trader, "quotes", "symbol", exchange="NSE") == "field required"
    assert await refused(trader, "quotes", "symbol", symbol="", exchange="NSE") == (
        "must not be empty"
    )
    assert (await refused(trader, "quotes", "exchange", symbol="SBIN", exchange="nse")).startswith(
        "must be one of: NSE, BSE"
    )
    assert await refused(trader, "depth", "extra", symbol="SBIN", exchange="NSE", extra=1) == (
        "unknown field"
    )
    r = await trader.client.post(
        "/api/v1/quotes", json={"apikey": "x" * 64, "symbol": "SBIN", "exchange": "NSE"}
    )
    assert (r.status_code, r.json()["message"]) == (403, "Invalid openalgo apikey")


async def test_key_may_travel_in_the_header(trader: Trader) -> None:
    r = await trader.client.post(
        "/api/v1/quotes",
        json={"symbol": "SBIN", "exchange": "NSE"},
        headers={"X-API-KEY": trader.api_key},
    )
    assert r.status_code == 200 and r.json()["data"]["ltp"] > 0
    # With or without the trailing slash, as in OpenAlgo.
    r = await trader.client.post(
        "/api/v1/quotes/", json={"apikey": trader.api_key, "symbol": "SBIN", "exchange": "NSE"}
    )
    assert r.status_code == 200 and r.json()["data"]["ltp"] > 0
    days = {"from": "2026-11-25", "to": "2026-11-27", "apikey": trader.api_key}
    r = await trader.client.get("/api/v1/ticker/NSE:SBIN/", params=days)
    assert r.status_code == 200 and len(r.json()["data"]) == 3


# --- multiquotes --------------------------------------------------------------------------------


async def test_multiquotes_in_request_order_agree_with_single_quotes(trader: Trader) -> None:
    refs = [
        {"symbol": "SBIN", "exchange": "NSE"},
        {"symbol": "NIFTY", "exchange": "NSE_INDEX"},
        {"symbol": "SBIN", "exchange": "BSE"},
        {"symbol": "NIFTY29DEC26FUT", "exchange": "NFO"},
    ]
    results = (await trader.ok("multiquotes", symbols=refs))["results"]
    assert [(r["symbol"], r["exchange"]) for r in results] == [
        (r["symbol"], r["exchange"]) for r in refs
    ]
    for ref, result in zip(refs, results, strict=True):
        assert set(result) == {"symbol", "exchange", "data"}
        assert result["data"] == (await trader.ok("quotes", **ref))["data"]


async def test_multiquotes_reports_unknown_symbols_per_item(trader: Trader) -> None:
    refs = [
        {"symbol": "SBIN", "exchange": "NSE"},
        {"symbol": "NOPE", "exchange": "NSE"},
        {"symbol": "NIFTY", "exchange": "NFO"},
    ]
    results = (await trader.ok("multiquotes", symbols=refs))["results"]
    assert results[0]["data"]["ltp"] > 0 and "error" not in results[0]
    assert results[1] == {
        "symbol": "NOPE",
        "exchange": "NSE",
        "error": "unknown symbol NOPE on NSE",
    }
    assert results[2] == {
        "symbol": "NIFTY",
        "exchange": "NFO",
        "error": "unknown symbol NIFTY on NFO",
    }


async def test_multiquotes_with_no_known_symbol_is_a_400(trader: Trader) -> None:
    r = await trader.post(
        "multiquotes",
        symbols=[{"symbol": "NOPE", "exchange": "NSE"}, {"symbol": "sbin", "exchange": "NSE"}],
    )
    assert r.status_code == 400
    body = r.json()
    assert body["message"] == "symbols.0.symbol: unknown symbol NOPE on NSE"
    assert body["errors"] == {
        "symbols.0.symbol": ["unknown symbol NOPE on NSE"],
        "symbols.1.symbol": ["unknown symbol sbin on NSE (symbols are upper case: SBIN)"],
    }
    assert body["invalid_symbols"] == [
        {"symbol": "NOPE", "exchange": "NSE", "error": "unknown symbol NOPE on NSE"},
        {
            "symbol": "sbin",
            "exchange": "NSE",
            "error": "unknown symbol sbin on NSE (symbols are upper case: SBIN)",
        },
    ]


async def test_multiquotes_requests_are_validated(trader: Trader) -> None:
    one = {"symbol": "SBIN", "exchange": "NSE"}
    assert await refused(trader, "multiquotes", "symbols", symbols=[]) == "must not be empty"
    assert await refused(trader, "multiquotes", "symbols", symbols=[one] * 501) == (
        "must have at most 500 items"
    )
    assert await refused(trader, "multiquotes", "symbols", symbols="SBIN") == "must be a list"
    assert await refused(
        trader, "multiquotes", "symbols.1.exchange", symbols=[one, {"symbol": "X"}]
    ) == ("field required")
    assert await refused(
        trader, "multiquotes", "symbols.0.token", symbols=[{**one, "token": "1"}]
    ) == ("unknown field")
    assert await refused(trader, "multiquotes", "symbols") == "field required"


async def test_multiquotes_takes_500_symbols(trader: Trader) -> None:
    results = (
        await trader.ok("multiquotes", symbols=[{"symbol": "TCS", "exchange": "NSE"}] * 500)
    )["results"]
    assert len(results) == 500 and len({r["data"]["ltp"] for r in results}) == 1


# --- depth --------------------------------------------------------------------------------------


async def test_depth_agrees_with_the_quote(trader: Trader) -> None:
    for symbol, exchange in DEPTH_CASES:
        await depth_agrees(trader, symbol, exchange)


DEPTH_CASES = [
    ("SBIN", "NSE"),
    ("NIFTY", "NSE_INDEX"),
    ("NIFTY29DEC26FUT", "NFO"),
    ("USDINR29DEC26FUT", "CDS"),
]


async def depth_agrees(trader: Trader, symbol: str, exchange: str) -> None:
    book = (await trader.ok("depth", symbol=symbol, exchange=exchange))["data"]
    quote = (await trader.ok("quotes", symbol=symbol, exchange=exchange))["data"]
    assert set(book) == {
        "open", "high", "low", "ltp", "ltq", "prev_close", "volume", "oi",
        "totalbuyqty", "totalsellqty", "asks", "bids",
    }  # fmt: skip
    for key in ("open", "high", "low", "ltp", "prev_close", "volume", "oi"):
        assert book[key] == quote[key], key
    bids, asks = book["bids"], book["asks"]
    assert len(bids) == len(asks) == 5
    assert all(set(level) == {"price", "quantity"} for level in bids + asks)
    assert bids[0]["price"] == quote["bid"] and asks[0]["price"] == quote["ask"]
    assert [b["price"] for b in bids] == sorted((b["price"] for b in bids), reverse=True)
    assert [a["price"] for a in asks] == sorted(a["price"] for a in asks)
    assert bids[0]["price"] < asks[0]["price"]
    assert all(level["quantity"] > 0 for level in bids + asks)
    assert book["totalbuyqty"] >= sum(b["quantity"] for b in bids)
    assert book["totalsellqty"] >= sum(a["quantity"] for a in asks)
    lot = (await trader.ok("symbol", symbol=symbol, exchange=exchange))["data"]["lotsize"]
    assert book["ltq"] > 0 and book["ltq"] % lot == 0


async def test_depth_of_a_contract_at_the_price_floor_is_padded(trader: Trader) -> None:
    cache = trader.live.runtime.instruments
    expiry = cache.option_expiries("NIFTY", "NFO")[0]
    strike = cache.strikes("NIFTY", "NFO", expiry, InstrumentType.CE)[-1]  # the furthest OTM
    symbol = f"NIFTY{expiry.strftime('%d%b%y').upper()}{int(strike)}CE"
    book = (await trader.ok("depth", symbol=symbol, exchange="NFO"))["data"]
    tick = 0.05
    assert book["ltp"] == tick  # worthless a day before expiry: quoted at one tick
    real = min(5, round(book["bids"][0]["price"] / tick))  # no bid below one tick
    assert real < 5
    prices = [b["price"] for b in book["bids"]]
    assert prices[:real] == sorted(set(prices[:real]), reverse=True) and min(prices[:real]) >= tick
    assert book["bids"][real:] == [{"price": 0.0, "quantity": 0}] * (5 - real)
    assert len({a["price"] for a in book["asks"]}) == 5


# --- history ------------------------------------------------------------------------------------


async def history(trader: Trader, **fields: Any) -> list[dict[str, Any]]:
    body = await trader.ok("history", **{"symbol": "SBIN", "exchange": "NSE", **fields})
    assert set(body) == {"status", "data"}
    data: list[dict[str, Any]] = body["data"]
    for candle in data:
        sane(candle)
    return data


async def test_intraday_candles_tile_the_range_up_to_now(trader: Trader) -> None:
    # The fixture's market is open around the clock: today's 5m candles run from 00:00 IST to
    # the clock (10:00), the one starting at 10:00 just begun.
    today = START.date().isoformat()
    candles = await history(trader, interval="5m", start_date=today, end_date=today)
    midnight = int(datetime.combine(START.date(), datetime.min.time(), IST).timestamp())
    assert [c["timestamp"] for c in candles] == [midnight + 300 * i for i in range(121)]
    for before, after in zip(candles, candles[1:], strict=False):
        assert after["open"] == before["close"]  # one continuous price path
    last = candles[-1]
    quote = (await trader.ok("quotes", symbol="SBIN", exchange="NSE"))["data"]
    assert last["close"] == quote["ltp"]
    assert max(c["high"] for c in candles) == quote["high"]
    assert min(c["low"] for c in candles) == quote["low"]
    assert candles[0]["open"] == quote["open"]


async def test_coarser_candles_aggregate_finer_ones(trader: Trader) -> None:
    day = "2026-11-27"
    ones = await history(trader, interval="1m", start_date=day, end_date=day)
    fifteens = await history(trader, interval="15m", start_date=day, end_date=day)
    (daily,) = await history(trader, interval="D", start_date=day, end_date=day)
    assert len(ones) == 24 * 60 and len(fifteens) == 24 * 4
    for i, candle in enumerate(fifteens):
        group = ones[15 * i : 15 * i + 15]
        assert candle["timestamp"] == group[0]["timestamp"]
        assert candle["open"] == group[0]["open"] and candle["close"] == group[-1]["close"]
        assert candle["high"] == max(c["high"] for c in group)
        assert candle["low"] == min(c["low"] for c in group)
    assert daily["open"] == ones[0]["open"] and daily["close"] == ones[-1]["close"]
    assert daily["high"] == max(c["high"] for c in ones)
    assert daily["low"] == min(c["low"] for c in ones)
    assert abs(daily["volume"] - sum(c["volume"] for c in ones)) <= len(ones)  # rounding


async def test_daily_candles_one_per_day_stamped_with_the_ist_date(trader: Trader) -> None:
    candles = await history(trader, interval="D", start_date="2026-11-01", end_date="2026-11-30")
    days = [datetime.fromtimestamp(c["timestamp"], IST).date() for c in candles]
    assert days == [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]
    # As OpenAlgo's: 00:00 UTC of the IST date (the SDK reads daily stamps as UTC), although this
    # market's sessions open at midnight IST, the evening before in UTC.
    assert [datetime.fromtimestamp(c["timestamp"], UTC).date() for c in candles] == days
    assert all(c["timestamp"] % 86400 == 0 for c in candles)


async def test_history_follows_real_sessions(start_trading_app: StartApp) -> None:
    async with start_trading_app(market_always_open=False) as live:
        trader = await new_trader(live)
        week = await history(trader, interval="15m", start_date="2026-11-23", end_date="2026-11-29")
        daily = await history(trader, interval="D", start_date="2026-11-23", end_date="2026-11-29")
        holidays = await trader.ok("market/holidays", year=2026)
    closed = {h["date"] for h in holidays["data"] if "NSE" in h["closed_exchanges"]}
    assert "2026-11-24" in closed  # a trading holiday midweek; 28 and 29 are the weekend
    trading_days = [date(2026, 11, d) for d in (23, 25, 26, 27)]
    stamps = [datetime.fromtimestamp(c["timestamp"], IST) for c in week]
    assert sorted({s.date() for s in stamps}) == trading_days
    for day in trading_days:
        times = [s.strftime("%H:%M") for s in stamps if s.date() == day]
        opening = datetime.combine(day, datetime.min.time()).replace(hour=9, minute=15)
        assert times == [(opening + timedelta(minutes=15 * i)).strftime("%H:%M") for i in range(25)]
    assert [datetime.fromtimestamp(c["timestamp"], IST).date() for c in daily] == trading_days


async def test_history_of_the_future_is_empty(trader: Trader) -> None:
    assert await history(trader, interval="D", start_date="2026-12-01", end_date="2026-12-31") == []


async def test_history_requests_are_validated(trader: Trader) -> None:
    base = {"symbol": "SBIN", "exchange": "NSE", "interval": "5m"}
    dates = {"start_date": "2026-11-02", "end_date": "2026-11-06"}
    assert await refused(trader, "history", "symbol", **{**base, **dates, "symbol": "SBI"}) == (
        "unknown symbol SBI on NSE"
    )
    assert await refused(trader, "history", "interval", **{**base, **dates, "interval": "2m"}) == (
        "2m is not offered by simulator; use one of: 1m, 3m, 5m, 10m, 15m, 30m, 1h, D"
    )
    assert (
        await refused(trader, "history", "interval", **{**base, **dates, "interval": "7m"})
    ).startswith("must be one of: 1s, 5s")
    assert await refused(
        trader, "history", "end_date", **base, start_date="2026-11-06", end_date="2026-11-02"
    ) == ("must not be before start_date")
    for interval, days in (("1m", 60), ("5m", 100), ("30m", 200), ("1h", 366), ("D", 2000)):
        # Ranges in the future: accepted or refused by their length alone, and cheap to serve.
        span = {**base, "interval": interval, "start_date": "2026-12-01"}
        end = date(2026, 12, 1) + timedelta(days=days)
        assert await history(trader, **span, end_date=end.isoformat()) == []
        late = (end + timedelta(days=1)).isoformat()
        assert await refused(trader, "history", "end_date", **span, end_date=late) == (
            f"{interval} history spans at most {days} days per request"
        )
    for bad in ("2026-13-01", "01-11-2026", "2026/11/01", "20261101", 1795977000, None):
        assert await refused(
            trader, "history", "start_date", **{**base, **dates, "start_date": bad}
        ) in (
            "must be a date in YYYY-MM-DD format",
            "field required",
        )
    for field in ("start_date", "end_date"):
        for outside in ("0004-01-01", "1969-12-31", "2100-01-01", "9999-12-31"):
            assert await refused(trader, "history", field, **{**base, **dates, field: outside}) == (
                "must be between 1970-01-01 and 2099-12-31"
            )
    assert await refused(trader, "history", "source", **base, **dates, source="cache") == (
        "must be one of: 'api', 'db'"
    )
    assert await refused(trader, "history", "end_date", **{**base, "start_date": "2026-11-02"}) == (
        "field required"
    )


async def test_history_from_the_local_store_finds_nothing(trader: Trader) -> None:
    r = await trader.post(
        "history", symbol="SBIN", exchange="NSE", interval="5m",
        start_date="2026-11-02", end_date="2026-11-06", source="db",
    )  # fmt: skip
    assert r.status_code == 404
    assert r.json()["message"].startswith(
        "No data found for SBIN:NSE interval 5m in local database"
    )


async def test_intervals_are_the_venues(trader: Trader) -> None:
    body = await trader.ok("intervals")
    assert body["data"] == {
        "seconds": [],
        "minutes": ["1m", "3m", "5m", "10m", "15m", "30m"],
        "hours": ["1h"],
        "days": ["D"],
        "weeks": [],
        "months": [],
    }
    every = [i for bucket in body["data"].values() for i in bucket]
    for interval in every:  # each one it lists works
        await history(trader, interval=interval, start_date="2026-11-30", end_date="2026-11-30")


# --- ticker -------------------------------------------------------------------------------------


async def ticker(trader: Trader, path: str, **query: str) -> httpx.Response:
    return await trader.client.get(
        f"/api/v1/ticker/{path}", params={"apikey": trader.api_key, **query}
    )


async def test_ticker_json_is_history(trader: Trader) -> None:
    r = await ticker(
        trader, "NSE:SBIN", interval="1h", **{"from": "2026-11-27", "to": "2026-11-30"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    same = await history(trader, interval="1h", start_date="2026-11-27", end_date="2026-11-30")
    assert r.json() == {"status": "success", "data": same}


async def test_ticker_text_has_one_line_per_candle(trader: Trader) -> None:
    daily = await ticker(
        trader, "NSE:SBIN", format="txt", **{"from": "2026-11-25", "to": "2026-11-27"}
    )
    assert daily.status_code == 200 and daily.headers["content-type"].startswith("text/plain")
    candles = await history(trader, interval="D", start_date="2026-11-25", end_date="2026-11-27")
    assert daily.text.splitlines() == [
        f"NSE:SBIN,2026-11-{25 + i},{c['open']},{c['high']},{c['low']},{c['close']},{c['volume']}"
        for i, c in enumerate(candles)
    ]
    intraday = await ticker(
        trader, "NFO:NIFTY29DEC26FUT", interval="30m", format="txt",
        **{"from": "2026-11-30", "to": "2026-11-30"},
    )  # fmt: skip
    lines = intraday.text.splitlines()
    assert len(lines) == 21  # 00:00 to 10:00 IST
    assert lines[0].startswith("NFO:NIFTY29DEC26FUT,2026-11-30,00:00:00,")
    assert lines[-1].startswith("NFO:NIFTY29DEC26FUT,2026-11-30,10:00:00,")
    assert all(len(line.split(",")) == 8 for line in lines)


async def test_ticker_defaults_to_daily_and_clamps_long_ranges(trader: Trader) -> None:
    r = await ticker(trader, "NSE:INFY", **{"from": "2026-11-28", "to": "2026-11-30"})
    assert len(r.json()["data"]) == 3  # D by default
    r = await ticker(
        trader, "NSE:INFY", interval="1h", **{"from": "2020-01-01", "to": "2026-11-30"}
    )
    first = datetime.fromtimestamp(r.json()["data"][0]["timestamp"], IST)
    assert first.date() == date(2026, 10, 31)  # thirty days before `to`, as OpenAlgo clamps


async def test_ticker_requests_are_validated(trader: Trader) -> None:
    days = {"from": "2026-11-25", "to": "2026-11-27"}

    async def bad(path: str, field: str, **query: str) -> str:
        r = await ticker(trader, path, **query)
        assert r.status_code == 400, r.text
        assert list(r.json()["errors"]) == [field], r.text
        problem: str = r.json()["errors"][field][0]
        return problem

    assert await bad("SBIN", "ticker", **days) == "must be EXCHANGE:SYMBOL, like NSE:SBIN"
    assert await bad("NSE:SBIN:X", "ticker", **days) == "must be EXCHANGE:SYMBOL, like NSE:SBIN"
    assert (await bad("nse:SBIN", "ticker", **days)).startswith("unknown exchange nse; use one of")
    assert await bad("NSE:NOPE", "ticker", **days) == "unknown symbol NOPE on NSE"
    assert await bad("NSE:SBIN", "from", to="2026-11-27") == "field required"
    assert await bad("NSE:SBIN", "to", **{"from": "2026-11-27", "to": "2026-11-25"}) == (
        "must not be before from"
    )
    assert await bad("NSE:SBIN", "to", **{"from": "2026-11-25", "to": "27-11-2026"}) == (
        "must be a date in YYYY-MM-DD format"
    )
    assert (await bad("NSE:SBIN", "format", format="csv", **days)).startswith("must be one of")
    assert await bad("NSE:SBIN", "interval", interval="2h", **days) == (
        "2h is not offered by simulator; use one of: 1m, 3m, 5m, 10m, 15m, 30m, 1h, D"
    )
    assert await bad("NSE:SBIN", "adjusted", adjusted="true", **days) == "unknown field"
    assert await bad("NSE:SBIN", "to", **{"from": "2026-11-25", "to": "9999-12-31"}) == (
        "must be between 1970-01-01 and 2099-12-31"
    )
    assert await bad("NSE:SBIN", "from", **{"from": "0004-01-01", "to": "2026-11-27"}) == (
        "must be between 1970-01-01 and 2099-12-31"
    )
    r = await trader.client.get("/api/v1/ticker/NSE:SBIN", params=days)
    assert (r.status_code, r.json()["message"]) == (403, "Invalid openalgo apikey")
    r = await trader.client.get(
        "/api/v1/ticker/NSE:SBIN", params=days, headers={"X-API-KEY": trader.api_key}
    )
    assert r.status_code == 200 and len(r.json()["data"]) == 3


# --- the SDK's payloads -------------------------------------------------------------------------


async def test_sdk_payloads_are_served(trader: Trader) -> None:
    served = {"quotes", "multiquotes", "depth", "intervals"}
    calls = [(name, payload) for name, payload in SDK_CALLS.values() if name in served]
    assert {name for name, _ in calls} == served
    for name, payload in calls:
        await trader.ok(name, **{k: v for k, v in payload.items() if k != "apikey"})


async def test_sdk_history_payload_is_served(trader: Trader) -> None:
    name, payload = SDK_CALLS["history(symbol, exchange, interval, start_date, end_date)"]
    fields = {k: v for k, v in payload.items() if k != "apikey"}
    assert (
        len((await trader.ok(name, **fields))["data"]) == 5 * 288
    )  # five whole days of 5m candles, market always open
