"""Every REST call of the official SDK (openalgo 2.0.5), with the payload exactly as its source
builds it (numbers turned into strings by ``str()``, defaults filled in, ``None`` values dropped
or sent as null), must pass our validation. The SDK itself runs in the conformance test, against a
real server, once the routers exist; this table pins the payload shapes now.

``SDK_CALLS`` maps "method(args)" to (endpoint, payload). It doubles as the SDK-to-endpoint map
the conformance harness follows.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from openalgo.api.v1.endpoints import BY_NAME

K = "b" * 64
ORDER = {
    "apikey": K,
    "strategy": "Python",
    "symbol": "SBIN",
    "action": "BUY",
    "exchange": "NSE",
    "pricetype": "MARKET",
    "product": "MIS",
    "quantity": "1",
}
GTT = {
    "apikey": K,
    "strategy": "Python",
    "trigger_type": "SINGLE",
    "exchange": "NSE",
    "symbol": "SBIN",
    "action": "BUY",
    "product": "CNC",
    "quantity": 1,
    "pricetype": "LIMIT",
    "price": 780.0,
    "triggerprice_sl": 781.0,
    "triggerprice_tg": 0.0,
    "stoploss": None,
    "target": None,
}
OCO = {
    **GTT,
    "trigger_type": "OCO",
    "quantity": 10,
    "price": 0.0,
    "triggerprice_sl": 700.0,
    "triggerprice_tg": 900.0,
    "stoploss": 699.0,
    "target": 901.0,
}

SDK_CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "placeorder(symbol, action, exchange)": ("placeorder", ORDER),
    "placeorder(..., price_type='LIMIT', price=812.5, trigger_price=0, disclosed_quantity=0)": (
        "placeorder",
        {**ORDER, "pricetype": "LIMIT", "price": "812.5", "trigger_price": "0", "disclosed_quantity": "0"},
    ),
    "placesmartorder(..., position_size=5)": ("placesmartorder", {**ORDER, "position_size": "5"}),
    "placesmartorder(..., quantity=0, position_size=0)": (
        "placesmartorder",
        {**ORDER, "quantity": "0", "position_size": "0"},
    ),
    "basketorder(orders=[...])": (
        "basketorder",
        {
            "apikey": K,
            "strategy": "Python",
            "orders": [
                {"symbol": "BHEL", "exchange": "NSE", "action": "BUY", "quantity": "1",
                 "pricetype": "MARKET", "product": "MIS"},
                {"symbol": "ZOMATO", "exchange": "NSE", "action": "SELL", "quantity": "1",
                 "pricetype": "LIMIT", "product": "MIS", "price": "200.5"},
            ],
        },
    ),
    "splitorder(symbol, action, exchange, quantity=105, splitsize=20)": (
        "splitorder",
        {**ORDER, "quantity": "105", "splitsize": "20"},
    ),
    "orderstatus(order_id)": ("orderstatus", {"apikey": K, "strategy": "Python", "orderid": "1"}),
    "openposition(symbol, exchange, product)": (
        "openposition",
        {"apikey": K, "strategy": "Python", "symbol": "SBIN", "exchange": "NSE", "product": "MIS"},
    ),
    "modifyorder(order_id, symbol, action, exchange, product, quantity, price)": (
        "modifyorder",
        {**ORDER, "orderid": "1", "pricetype": "LIMIT", "price": "812.5",
         "disclosed_quantity": "0", "trigger_price": "0"},
    ),
    "cancelorder(order_id)": ("cancelorder", {"apikey": K, "orderid": "1", "strategy": "Python"}),
    "closeposition()": ("closeposition", {"apikey": K, "strategy": "Python"}),
    "cancelallorder()": ("cancelallorder", {"apikey": K, "strategy": "Python"}),
    "optionsorder(underlying, exchange, offset, option_type, action, quantity, expiry_date)": (
        "optionsorder",
        {"apikey": K, "strategy": "Python", "underlying": "NIFTY", "exchange": "NSE_INDEX",
         "offset": "ITM2", "option_type": "CE", "action": "BUY", "quantity": "75",
         "pricetype": "MARKET", "product": "NRML", "expiry_date": "28NOV24"},
    ),
    "optionsorder(..., strike_int=50, splitsize=25, price=1.5)": (
        "optionsorder",
        {"apikey": K, "strategy": "Python", "underlying": "NIFTY28NOV24FUT", "exchange": "NFO",
         "offset": "ATM", "option_type": "PE", "action": "SELL", "quantity": "75",
         "pricetype": "LIMIT", "product": "MIS", "strike_int": "50", "splitsize": "25",
         "price": "1.5"},
    ),
    "optionsymbol(underlying, exchange, offset, option_type, expiry_date, strategy='x')": (
        "optionsymbol",
        {"apikey": K, "underlying": "NIFTY", "exchange": "NSE_INDEX", "offset": "OTM3",
         "option_type": "PE", "strategy": "x", "strike_int": "50", "expiry_date": "28NOV24"},
    ),
    "optionsmultiorder(strategy, underlying, exchange, legs, expiry_date, strike_int)": (
        "optionsmultiorder",
        {"apikey": K, "strategy": "Iron Condor", "underlying": "NIFTY", "exchange": "NSE_INDEX",
         "legs": [
             {"offset": "OTM10", "option_type": "CE", "action": "BUY", "quantity": 75},
             {"offset": "OTM5", "option_type": "CE", "action": "SELL", "quantity": 75,
              "expiry_date": "05DEC24", "pricetype": "LIMIT", "product": "NRML", "price": 12.5,
              "trigger_price": 0.0, "disclosed_quantity": 0},
         ],
         "strike_int": 50, "expiry_date": "28NOV24"},
    ),
    "optionchain(underlying, exchange, expiry_date, strike_count=10, with_greeks=True)": (
        "optionchain",
        {"apikey": K, "underlying": "NIFTY", "exchange": "NSE_INDEX", "expiry_date": "28NOV24",
         "strike_count": 10, "with_greeks": True, "interest_rate": 6.5},
    ),
    "optionchain(underlying, exchange)": (
        "optionchain", {"apikey": K, "underlying": "NIFTY", "exchange": "NSE_INDEX"}
    ),
    "optiongreeks(symbol, exchange, interest_rate, forward_price, underlying_*, expiry_time)": (
        "optiongreeks",
        {"apikey": K, "symbol": "NIFTY28NOV2424000CE", "exchange": "NFO", "interest_rate": 6.5,
         "forward_price": 24010.5, "underlying_symbol": "NIFTY", "underlying_exchange": "NSE_INDEX",
         "expiry_time": "15:30"},
    ),
    "syntheticfuture(underlying, exchange, expiry_date)": (
        "syntheticfuture",
        {"apikey": K, "underlying": "NIFTY", "exchange": "NSE_INDEX", "expiry_date": "28NOV24"},
    ),
    "quotes(symbol, exchange)": ("quotes", {"apikey": K, "symbol": "SBIN", "exchange": "NSE"}),
    "depth(symbol, exchange)": ("depth", {"apikey": K, "symbol": "SBIN", "exchange": "NSE"}),
    "symbol(symbol, exchange)": ("symbol", {"apikey": K, "symbol": "SBIN", "exchange": "NSE"}),
    "multiquotes(symbols)": (
        "multiquotes",
        {"apikey": K, "symbols": [{"symbol": "SBIN", "exchange": "NSE"},
                                  {"symbol": "NIFTY", "exchange": "NSE_INDEX"}]},
    ),
    "search(query)": ("search", {"apikey": K, "query": "NIFTY 26000 DEC CE"}),
    "search(query, exchange)": ("search", {"apikey": K, "query": "SBI", "exchange": "NSE"}),
    "history(symbol, exchange, interval, start_date, end_date)": (
        "history",
        {"apikey": K, "symbol": "SBIN", "exchange": "NSE", "interval": "5m",
         "start_date": "2026-03-02", "end_date": "2026-03-06", "source": "api"},
    ),
    "intervals()": ("intervals", {"apikey": K}),
    "expiry(symbol, exchange, instrumenttype)": (
        "expiry", {"apikey": K, "symbol": "NIFTY", "exchange": "NFO", "instrumenttype": "futures"}
    ),
    "funds()": ("funds", {"apikey": K}),
    "orderbook()": ("orderbook", {"apikey": K}),
    "tradebook()": ("tradebook", {"apikey": K}),
    "positionbook()": ("positionbook", {"apikey": K}),
    "holdings()": ("holdings", {"apikey": K}),
    "analyzerstatus()": ("analyzer", {"apikey": K}),
    "analyzertoggle(mode=True)": ("analyzer/toggle", {"apikey": K, "mode": True}),
    "margin(positions)": (
        "margin",
        {"apikey": K, "positions": [
            {"symbol": "NIFTY30DEC25FUT", "exchange": "NFO", "action": "BUY", "quantity": "75",
             "product": "NRML", "pricetype": "MARKET", "price": "0", "trigger_price": "0"}]},
    ),
    "holidays()": ("market/holidays", {"apikey": K}),
    "holidays(year=2026)": ("market/holidays", {"apikey": K, "year": 2026}),
    "timings(date)": ("market/timings", {"apikey": K, "date": "2026-03-10"}),
    "placegttorder(symbol, action, exchange, triggerprice_sl=781, price=780)": ("placegttorder", GTT),
    "placegttorder(trigger_type='OCO', ...)": ("placegttorder", OCO),
    "modifygttorder(trigger_id, ...)": ("modifygttorder", {**GTT, "trigger_id": "GTT-1"}),
    "cancelgttorder(trigger_id)": (
        "cancelgttorder", {"apikey": K, "strategy": "Python", "trigger_id": "GTT-1"}
    ),
    "gttorderbook()": ("gttorderbook", {"apikey": K}),
    "gttorderbook(status='all')": ("gttorderbook", {"apikey": K, "status": "all"}),
}  # fmt: skip

# GET /instruments?apikey=...&exchange=... (the SDK loops over nine exchanges without one).
SDK_INSTRUMENT_EXCHANGES = [
    "NSE",
    "BSE",
    "NFO",
    "BFO",
    "MCX",
    "CDS",
    "BCD",
    "NSE_INDEX",
    "BSE_INDEX",
]


def test_the_table_covers_every_post_endpoint_the_sdk_calls() -> None:
    called = {name for name, _ in SDK_CALLS.values()}
    # The SDK has no wrapper for these (reference 9.3).
    uncalled = {"ping", "multioptiongreeks", "ticker", "instruments"}
    assert called == set(BY_NAME) - uncalled


@pytest.mark.parametrize("call", list(SDK_CALLS))
async def test_sdk_payload_is_accepted(api: httpx.AsyncClient, call: str) -> None:
    name, payload = SDK_CALLS[call]
    r = await api.post(
        f"/api/v1/{name}", json=payload, headers={"content-type": "application/json"}
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("exchange", SDK_INSTRUMENT_EXCHANGES)
async def test_sdk_instruments_query_is_accepted(api: httpx.AsyncClient, exchange: str) -> None:
    r = await api.get("/api/v1/instruments", params={"apikey": K, "exchange": exchange})
    assert r.status_code == 200, r.text
