"""The instrument master through the real app: ``/symbol``, ``/search``, ``/expiry`` and
``GET /instruments`` (JSON and CSV), on the simulator's master for 30 November 2026.

Search is checked against an independent statement of OpenAlgo's rule applied to the full
``/instruments`` listing: every term in the symbol, broker symbol, name or token; exact symbol
matches first, then symbols starting with the first term (by symbol, exchange), then the rest in
master order; at most 500.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from openalgo.api.v1.schemas.symbols import InstrumentsResponse
from tests.api.v1.test_market import listed_strike, refused
from tests.api.v1.test_sdk_payloads import SDK_CALLS, SDK_INSTRUMENT_EXCHANGES
from tests.support.appfixtures import START, LiveApp, StartApp
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader, new_trader

__all__ = ["shared_trading_live", "trader"]  # fixtures: one app per module, a user per test


@pytest.fixture(autouse=True)
def _at_start(shared_trading_live: LiveApp) -> None:
    """Tests share the app (and its clock); each starts at `START`."""
    shared_trading_live.clock.set(START)


ROW_KEYS = [
    "symbol", "brsymbol", "name", "exchange", "brexchange", "token", "expiry", "strike",
    "lotsize", "instrumenttype", "tick_size",
]  # fmt: skip


async def instruments(trader: Trader, **query: str) -> httpx.Response:
    return await trader.client.get(
        "/api/v1/instruments", params={"apikey": trader.api_key, **query}
    )


async def master(trader: Trader, exchange: str | None = None) -> list[dict[str, Any]]:
    r = await instruments(trader, **({"exchange": exchange} if exchange else {}))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["status"] == "success" and body["message"] == f"Found {len(body['data'])} instruments"
    )
    InstrumentsResponse.model_validate(body)  # the documented schema, built without it
    rows: list[dict[str, Any]] = body["data"]
    return rows


def expected_search(rows: list[dict[str, Any]], query: str) -> list[tuple[str, str]]:
    terms = query.upper().split()

    def text(row: dict[str, Any]) -> str:
        parts = [row["symbol"]]
        for value in (row["brsymbol"], row["name"], row["token"]):
            if value and value not in parts:
                parts.append(value)
        return " ".join(parts).upper()

    found = [r for r in rows if all(t in text(r) for t in terms)]
    first = terms[0]
    exact = sorted((r for r in found if r["symbol"] == first), key=lambda r: r["exchange"])
    prefix = sorted(
        (r for r in found if r["symbol"].startswith(first) and r["symbol"] != first),
        key=lambda r: (r["symbol"], r["exchange"]),
    )
    rest = [r for r in found if not r["symbol"].startswith(first)]
    return [(r["symbol"], r["exchange"]) for r in exact + prefix + rest][:500]


# --- symbol -------------------------------------------------------------------------------------


async def test_symbol_rows(trader: Trader) -> None:
    equity = (await trader.ok("symbol", symbol="SBIN", exchange="NSE"))["data"]
    assert list(equity) == [*ROW_KEYS, "freeze_qty"]  # no `id`: OpenAlgo's row id means nothing
    assert (equity["name"], equity["instrumenttype"], equity["expiry"], equity["strike"]) == (
        "State Bank of India", "EQ", "", 0.0,
    )  # fmt: skip
    assert (equity["lotsize"], equity["tick_size"], equity["freeze_qty"]) == (1, 0.05, 1)
    future = (await trader.ok("symbol", symbol="NIFTY29DEC26FUT", exchange="NFO"))["data"]
    assert (future["name"], future["instrumenttype"], future["expiry"], future["lotsize"]) == (
        "NIFTY", "FUT", "29-DEC-26", 75,
    )  # fmt: skip
    strike = listed_strike(trader, "USDINR", "CDS", date(2026, 12, 29), fractional=True)
    option = (await trader.ok("symbol", symbol=f"USDINR29DEC26{strike}CE", exchange="CDS"))["data"]
    assert (option["instrumenttype"], option["strike"], option["expiry"]) == (
        "CE",
        float(strike),
        "29-DEC-26",
    )
    index = (await trader.ok("symbol", symbol="SENSEX", exchange="BSE_INDEX"))["data"]
    assert index["instrumenttype"] == "INDEX" and index["exchange"] == "BSE_INDEX"
    # The same row as the full listing has.
    listed = {r["symbol"]: r for r in await master(trader, "NFO")}
    assert {k: v for k, v in future.items() if k != "freeze_qty"} == listed["NIFTY29DEC26FUT"]


async def test_symbol_agrees_with_optionsymbol(trader: Trader) -> None:
    picked = await trader.ok(
        "optionsymbol", underlying="NIFTY", exchange="NSE_INDEX", expiry_date="29DEC26",
        offset="ATM", option_type="CE",
    )  # fmt: skip
    row = (await trader.ok("symbol", symbol=picked["symbol"], exchange="NFO"))["data"]
    assert (row["lotsize"], row["tick_size"]) == (picked["lotsize"], picked["tick_size"])
    assert row["freeze_qty"] == picked["freeze_qty"] == 1800  # NSE's limit for NIFTY options
    (found,) = [
        r
        for r in (await trader.ok("search", query=picked["symbol"]))["data"]
        if r["symbol"] == picked["symbol"]
    ]
    assert found == row


async def test_symbol_requests_are_validated(trader: Trader) -> None:
    assert await refused(trader, "symbol", "symbol", symbol="NIFTY", exchange="NFO") == (
        "unknown symbol NIFTY on NFO"
    )
    assert await refused(trader, "symbol", "symbol", symbol="m&m", exchange="NSE") == (
        "unknown symbol m&m on NSE (symbols are upper case: M&M)"
    )
    assert await refused(trader, "symbol", "symbol", exchange="NSE") == "field required"
    assert (await refused(trader, "symbol", "exchange", symbol="SBIN", exchange="XNSE")).startswith(
        "must be one of"
    )
    assert await refused(trader, "symbol", "symbol", symbol="S" * 65, exchange="NSE") == (
        "must be at most 64 characters"
    )
    assert (await trader.ok("symbol", symbol="M&M", exchange="NSE"))["data"]["symbol"] == "M&M"


# --- search -------------------------------------------------------------------------------------


async def test_search_ranks_as_openalgo(trader: Trader) -> None:
    rows = await master(trader)
    nifty = listed_strike(trader, "NIFTY", "NFO", date(2026, 12, 29))
    usdinr = listed_strike(trader, "USDINR", "CDS", date(2026, 12, 29), fractional=True)
    queries = ("SBI", "sbin", "INFY", f"NIFTY {nifty} DEC CE", f"usdinr {usdinr}", "Bank", "NIFTY")
    for query in queries:
        body = await trader.ok("search", query=query)
        got = [(r["symbol"], r["exchange"]) for r in body["data"]]
        assert got == expected_search(rows, query), query
        assert body["message"] == f"Found {len(got)} matching symbols"
    # Ranked: the exact match, then symbols starting with the term, then names containing it.
    sbin = [r["symbol"] for r in (await trader.ok("search", query="SBIN"))["data"]]
    assert sbin[:2] == ["SBIN", "SBIN"] and all(s.startswith("SBIN") for s in sbin)
    assert len((await trader.ok("search", query="NIFTY"))["data"]) == 500  # the cap


async def test_search_rows_and_filters(trader: Trader) -> None:
    strike = listed_strike(trader, "NIFTY", "NFO", date(2026, 12, 29))
    body = await trader.ok("search", query=f"NIFTY {strike} DEC CE", exchange="NFO")
    assert body["data"], body
    for row in body["data"]:
        assert list(row) == [*ROW_KEYS, "freeze_qty"]
        assert row["exchange"] == "NFO" and row["instrumenttype"] == "CE"
        assert row["strike"] == float(strike) and "-DEC-26" in row["expiry"]
    nse = (await trader.ok("search", query="SBIN", exchange="NSE"))["data"]
    assert [r["exchange"] for r in nse] == ["NSE"]
    none = await trader.ok("search", query="NOSUCHTHING")
    assert none == {"status": "success", "message": "No matching symbols found", "data": []}


async def test_search_requests_are_validated(trader: Trader) -> None:
    assert await refused(trader, "search", "query", query="   ") == "must not be blank"
    assert await refused(trader, "search", "query", query="") == "must not be empty"
    assert await refused(trader, "search", "query", query="A\x00B") == (
        "must not contain NUL characters"
    )
    assert await refused(trader, "search", "query", query="A" * 101) == (
        "must be at most 100 characters"
    )
    assert await refused(trader, "search", "query", query=5) == "must be a string"
    assert (await refused(trader, "search", "exchange", query="SBIN", exchange="nse")).startswith(
        "must be one of"
    )


# --- expiry -------------------------------------------------------------------------------------


def parse_expiry(text: str) -> date:
    return datetime.strptime(text, "%d-%b-%y").date()


async def test_expiries_match_the_listed_contracts(trader: Trader) -> None:
    nfo = await master(trader, "NFO")
    for kind, types in (("options", {"CE", "PE"}), ("futures", {"FUT"})):
        body = await trader.ok("expiry", symbol="NIFTY", exchange="NFO", instrumenttype=kind)
        days = [parse_expiry(d) for d in body["data"]]
        listed = {r["expiry"] for r in nfo if r["name"] == "NIFTY" and r["instrumenttype"] in types}
        assert set(body["data"]) == listed
        assert days == sorted(days) and days[0] >= date(2026, 11, 30)
        assert all(d == d.upper() and len(d) == 9 for d in body["data"])  # 29-DEC-26
        assert body["message"] == f"Found {len(days)} expiry dates for NIFTY {kind} in NFO"
    weekly = await trader.ok("expiry", symbol="NIFTY", exchange="NFO", instrumenttype="options")
    assert weekly["data"][:2] == ["01-DEC-26", "08-DEC-26"]  # Tuesdays


async def test_expired_dates_drop_out(start_trading_app: StartApp) -> None:
    async with start_trading_app() as live:  # its own app: two days pass on its clock
        trader = await new_trader(live)
        live.clock.advance(timedelta(days=2))  # Wednesday 2 December: 1 December has expired
        body = await trader.ok("expiry", symbol="NIFTY", exchange="NFO", instrumenttype="options")
    assert body["data"][0] == "08-DEC-26"


async def test_expiry_of_an_underlying_without_that_kind_is_empty(trader: Trader) -> None:
    futures = await trader.ok("expiry", symbol="GOLDM", exchange="MCX", instrumenttype="futures")
    assert len(futures["data"]) == 3
    options = await trader.ok("expiry", symbol="GOLDM", exchange="MCX", instrumenttype="options")
    assert options == {
        "status": "success",
        "message": "No expiry dates found for GOLDM options in MCX",
        "data": [],
    }


async def test_expiry_requests_are_validated(trader: Trader) -> None:
    good = {"symbol": "NIFTY", "exchange": "NFO", "instrumenttype": "options"}
    assert await refused(trader, "expiry", "symbol", **{**good, "symbol": "NIFY"}) == (
        "no futures or options of NIFY on NFO"
    )
    assert await refused(trader, "expiry", "symbol", **{**good, "exchange": "BFO"}) == (
        "no futures or options of NIFTY on BFO"
    )
    assert (await refused(trader, "expiry", "exchange", **{**good, "exchange": "NSE"})).startswith(
        "must be one of: NFO, BFO"
    )
    assert (
        await refused(trader, "expiry", "instrumenttype", **{**good, "instrumenttype": "FUTURES"})
    ).startswith("must be one of")
    assert await refused(trader, "expiry", "instrumenttype", symbol="NIFTY", exchange="NFO") == (
        "field required"
    )


# --- instruments --------------------------------------------------------------------------------


async def test_instruments_by_exchange_and_all(trader: Trader) -> None:
    every = await master(trader)
    assert len(every) == len(trader.live.runtime.instruments)
    total = 0
    for exchange in SDK_INSTRUMENT_EXCHANGES + ["NCDEX", "CRYPTO"]:
        rows = await master(trader, exchange)
        assert all(r["exchange"] == exchange for r in rows)
        assert rows == [r for r in every if r["exchange"] == exchange]
        total += len(rows)
    assert total == len(every)  # the simulator lists nothing elsewhere
    indices = await master(trader, "NSE_INDEX")
    assert [r["symbol"] for r in indices] == ["NIFTY", "BANKNIFTY", "FINNIFTY", "INDIAVIX"]
    assert all(list(r) == ROW_KEYS for r in indices)
    assert await master(trader, "CRYPTO") == []


async def test_instruments_as_csv(trader: Trader) -> None:
    for spelling in ("csv", "CSV", "Csv"):
        r = await instruments(trader, exchange="CDS", format=spelling)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        assert r.headers["content-disposition"] == "attachment; filename=instruments_CDS.csv"
    header, *lines = r.text.splitlines()
    assert header == ",".join(ROW_KEYS)
    parsed = list(csv.DictReader(io.StringIO(r.text)))
    rows = await master(trader, "CDS")
    assert len(lines) == len(parsed) == len(rows)
    assert parsed == [{k: str(v) for k, v in row.items()} for row in rows]
    whole = await instruments(trader, format="csv")
    assert whole.headers["content-disposition"] == "attachment; filename=instruments_all.csv"
    assert len(whole.text.splitlines()) == len(trader.live.runtime.instruments) + 1
    m_and_m = [line for line in whole.text.splitlines() if line.startswith("M&M,")]
    assert len(m_and_m) == 2  # NSE and BSE
    json_form = await instruments(trader, exchange="CDS", format="JSON")
    assert json_form.json()["data"] == rows


async def test_instruments_requests_are_validated(trader: Trader) -> None:
    async def bad(field: str, **query: str) -> str:
        r = await instruments(trader, **query)
        assert r.status_code == 400, r.text
        assert list(r.json()["errors"]) == [field]
        problem: str = r.json()["errors"][field][0]
        return problem

    assert (await bad("exchange", exchange="nse")).startswith("must be one of: NSE")
    assert (await bad("format", format="xml")).startswith("must be one of")
    assert await bad("segment", segment="EQ") == "unknown field"
    r = await trader.client.get("/api/v1/instruments", params={"exchange": "NSE"})
    assert (r.status_code, r.json()["message"]) == (403, "Invalid openalgo apikey")
    r = await trader.client.get(
        "/api/v1/instruments",
        params={"exchange": "BSE_INDEX", "format": "csv"},
        headers={"X-API-KEY": trader.api_key},
    )
    assert r.status_code == 200 and r.text.splitlines()[1].startswith("SENSEX,")
    r = await trader.client.get(
        "/api/v1/instruments/", params={"apikey": trader.api_key, "exchange": "BSE_INDEX"}
    )
    assert r.status_code == 200 and r.json()["data"][0]["symbol"] == "SENSEX"


async def test_sdk_payloads_are_served(trader: Trader) -> None:
    served = {"symbol", "search", "expiry"}
    calls = [(name, payload) for name, payload in SDK_CALLS.values() if name in served]
    assert {name for name, _ in calls} == served
    for name, payload in calls:
        await trader.ok(name, **{k: v for k, v in payload.items() if k != "apikey"})
