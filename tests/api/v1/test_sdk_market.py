"""The official OpenAlgo SDK (``openalgo==2.0.5`` from PyPI) calls the market-data, symbol and
calendar endpoints of a real server (uvicorn on 127.0.0.1, the simulator broker) and parses what
we answer: dicts as they come, and the pandas DataFrames its ``history()`` and ``instruments()``
build from our JSON.

One SDK script per scenario, each making several calls (a subprocess costs about a second). The
SDK has no wrapper for ``/ticker`` (reference 9.3), so that endpoint is not exercised here.
"""

from __future__ import annotations

import textwrap
from datetime import date
from typing import Any

import pytest

from tests.api.v1.test_market import listed_strike
from tests.support.appfixtures import START, LiveApp, served
from tests.support.sdk import run_sdk, sdk_python
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader

__all__ = ["shared_trading_live", "trader"]  # fixtures: one app per module, a user per test


@pytest.fixture(autouse=True)
def _at_start(shared_trading_live: LiveApp) -> None:
    """Tests share the app (and its clock); each starts at `START`."""
    shared_trading_live.clock.set(START)


pytestmark = pytest.mark.slow

PRELUDE = """
import json, sys
import openalgo
from openalgo import api

assert ".venv-sdk" in openalgo.__file__, openalgo.__file__
key, host = sys.argv[1], sys.argv[2]
client = api(api_key=key, host=f"http://{host}")

def frame(df):
    # What a user of the DataFrame sees: its columns, index, size and first/last rows.
    if not hasattr(df, "columns"):
        return {"not_a_frame": df}
    return {
        "columns": list(df.columns),
        "index_name": df.index.name,
        "index_tz": str(getattr(df.index, "tz", None)),
        "rows": len(df),
        "first_index": df.index[0].isoformat() if len(df) and hasattr(df.index[0], "isoformat") else None,
        "last_index": df.index[-1].isoformat() if len(df) and hasattr(df.index[-1], "isoformat") else None,
        "first": json.loads(df.head(1).to_json(orient="records"))[0] if len(df) else None,
        "sorted": bool(df.index.is_monotonic_increasing),
    }
"""

MARKET_SCRIPT = textwrap.dedent(
    PRELUDE
    + """
out = {}
out["quotes"] = client.quotes(symbol="SBIN", exchange="NSE")
out["multiquotes"] = client.multiquotes(symbols=[
    {"symbol": "SBIN", "exchange": "NSE"},
    {"symbol": "NIFTY", "exchange": "NSE_INDEX"},
    {"symbol": "NOPE", "exchange": "NSE"},
])
out["depth"] = client.depth(symbol="NIFTY29DEC26FUT", exchange="NFO")
out["intervals"] = client.intervals()
out["interval"] = client.interval()
out["intraday"] = frame(client.history(
    symbol="SBIN", exchange="NSE", interval="5m", start_date="2026-11-30", end_date="2026-11-30"))
out["daily"] = frame(client.history(
    symbol="SBIN", exchange="NSE", interval="D", start_date="2026-11-25", end_date="2026-11-27"))
out["empty"] = client.history(
    symbol="SBIN", exchange="NSE", interval="D", start_date="2026-12-07", end_date="2026-12-08")
out["unknown"] = client.quotes(symbol="SBIN1", exchange="NSE")
out["bad_interval"] = client.history(
    symbol="SBIN", exchange="NSE", interval="2m", start_date="2026-11-30", end_date="2026-11-30")
print(json.dumps(out))
"""
)

SYMBOLS_SCRIPT = textwrap.dedent(
    PRELUDE
    + """
out = {}
out["symbol"] = client.symbol(symbol="NIFTY29DEC26FUT", exchange="NFO")
out["search"] = client.search(query="SBIN")
out["search_nse"] = client.search(query=f"NIFTY {sys.argv[3]} DEC CE", exchange="NFO")
out["expiry"] = client.expiry(symbol="NIFTY", exchange="NFO", instrumenttype="futures")
out["nse"] = frame(client.instruments(exchange="NSE_INDEX"))
every = client.instruments()
out["all"] = {"rows": len(every), "columns": list(every.columns),
              "exchanges": sorted(set(every["exchange"]))}
out["holidays"] = client.holidays()
out["holidays_2025"] = client.holidays(year=2025)
out["timings"] = client.timings(date="2026-11-30")
out["timings_today"] = client.timings()
out["bad_year"] = client.holidays(year=2051)
print(json.dumps(out))
"""
)


@pytest.fixture(autouse=True)
def _need_sdk() -> None:
    sdk_python()


async def run(trader: Trader, script: str, *args: str) -> dict[str, Any]:
    async with served(trader.live) as host:
        out: dict[str, Any] = (await run_sdk(script, trader.api_key, host, *args)).result()
    return out


async def test_sdk_market_data(trader: Trader) -> None:
    out = await run(trader, MARKET_SCRIPT)
    quote = out["quotes"]
    assert quote["status"] == "success" and "mode" not in quote
    assert quote["data"] == (await trader.ok("quotes", symbol="SBIN", exchange="NSE"))["data"]

    results = out["multiquotes"]["results"]
    assert [r["symbol"] for r in results] == ["SBIN", "NIFTY", "NOPE"]
    assert results[0]["data"] == quote["data"] and results[1]["data"]["ltp"] > 20000
    assert results[2]["error"] == "unknown symbol NOPE on NSE"

    depth = out["depth"]["data"]
    assert len(depth["bids"]) == len(depth["asks"]) == 5
    assert depth["bids"][0]["price"] < depth["asks"][0]["price"] and depth["oi"] > 0

    assert out["intervals"]["data"]["minutes"] == ["1m", "3m", "5m", "10m", "15m", "30m"]
    assert out["interval"] == out["intervals"]

    intraday = out["intraday"]
    assert intraday["columns"] == ["open", "high", "low", "close", "volume", "oi"]
    assert (intraday["index_name"], intraday["index_tz"]) == ("timestamp", "Asia/Kolkata")
    assert intraday["rows"] == 121 and intraday["sorted"]
    assert intraday["first_index"] == "2026-11-30T00:00:00+05:30"
    assert intraday["last_index"] == "2026-11-30T10:00:00+05:30"
    daily = out["daily"]
    assert (daily["rows"], daily["index_tz"]) == (3, "None")
    # The SDK reads daily stamps as UTC: each must land on its IST date.
    assert daily["first_index"] == "2026-11-25T00:00:00"
    assert daily["last_index"] == "2026-11-27T00:00:00"
    assert out["empty"] == {
        "status": "error",
        "message": "No data available for the specified period",
        "error_type": "no_data",
    }

    unknown = out["unknown"]
    assert (unknown["status"], unknown["code"], unknown["error_type"]) == (
        "error",
        400,
        "http_error",
    )
    assert "symbol: unknown symbol SBIN1 on NSE" in unknown["message"]
    assert out["bad_interval"]["code"] == 400
    assert "interval: 2m is not offered by simulator" in out["bad_interval"]["message"]


async def test_sdk_market_data_in_analyzer_mode(trader: Trader) -> None:
    """Analyzer mode changes where orders go, not where quotes come from."""
    await trader.analyzer(True)
    out = await run(trader, MARKET_SCRIPT)
    assert "mode" not in out["quotes"] and out["quotes"]["data"]["ltp"] > 0
    assert out["intraday"]["rows"] == 121
    assert out["multiquotes"]["results"][2]["error"] == "unknown symbol NOPE on NSE"


async def test_sdk_symbols_and_calendar(trader: Trader) -> None:
    strike = listed_strike(trader, "NIFTY", "NFO", date(2026, 12, 29))
    out = await run(trader, SYMBOLS_SCRIPT, strike)
    symbol = out["symbol"]["data"]
    assert (symbol["symbol"], symbol["expiry"], symbol["lotsize"]) == (
        "NIFTY29DEC26FUT",
        "29-DEC-26",
        75,
    )

    search = out["search"]
    assert search["message"] == f"Found {len(search['data'])} matching symbols"
    assert [r["symbol"] for r in search["data"][:2]] == ["SBIN", "SBIN"]
    assert out["search_nse"]["data"]
    assert all(r["strike"] == float(strike) for r in out["search_nse"]["data"])

    assert out["expiry"]["data"] == ["29-DEC-26", "25-JAN-27", "23-FEB-27"]

    nse = out["nse"]
    assert nse["columns"] == [
        "symbol", "brsymbol", "name", "exchange", "brexchange", "token", "expiry", "strike",
        "lotsize", "instrumenttype", "tick_size",
    ]  # fmt: skip
    assert nse["rows"] == 4 and nse["first"]["symbol"] == "NIFTY"
    # Without an exchange the SDK fetches nine exchanges one by one and concatenates them.
    listed = trader.live.runtime.instruments.counts()
    assert out["all"]["rows"] == sum(listed.values())
    assert out["all"]["exchanges"] == sorted(listed)

    holidays = out["holidays"]
    assert (holidays["year"], holidays["timezone"]) == (2026, "Asia/Kolkata")
    assert len(holidays["data"]) == 16 and len(out["holidays_2025"]["data"]) == 14
    timings = {s["exchange"] for s in out["timings"]["data"]}
    assert timings == {"NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX", "NCO", "CRYPTO"}
    assert out["timings_today"]["status"] == "success"  # the SDK sends its own local date
    assert (
        out["bad_year"]["code"] == 400
        and "year: must be at most 2050" in out["bad_year"]["message"]
    )
