"""A minimal valid request for every `/api/v1` endpoint (the API key travels in the body)."""

from __future__ import annotations

from typing import Any

KEY = "a" * 64

_ORDER = {"strategy": "Python", "exchange": "NSE", "symbol": "SBIN", "action": "BUY", "quantity": 1}
_GTT = {
    "trigger_type": "SINGLE",
    "exchange": "NSE",
    "symbol": "SBIN",
    "action": "BUY",
    "product": "CNC",
    "quantity": 1,
    "price": 780,
    "triggerprice_sl": 781,
}
_LEG = {"offset": "ATM", "option_type": "CE", "action": "BUY", "quantity": 75}

MINIMAL: dict[str, dict[str, Any]] = {
    "ping": {},
    "placeorder": _ORDER,
    "placesmartorder": {**_ORDER, "position_size": 0},
    "optionsorder": {
        "strategy": "Python",
        "underlying": "NIFTY28NOV24FUT",
        "exchange": "NSE_INDEX",
        **_LEG,
    },
    "optionsmultiorder": {
        "strategy": "Python",
        "underlying": "NIFTY",
        "exchange": "NSE_INDEX",
        "expiry_date": "28NOV24",
        "legs": [_LEG],
    },
    "basketorder": {
        "strategy": "Python",
        "orders": [{k: v for k, v in _ORDER.items() if k != "strategy"}],
    },
    "splitorder": {**_ORDER, "splitsize": 1},
    "modifyorder": {
        **_ORDER,
        "orderid": "1",
        "pricetype": "LIMIT",
        "product": "MIS",
        "price": 1,
        "trigger_price": 0,
        "disclosed_quantity": 0,
    },
    "cancelorder": {"orderid": "1"},
    "cancelallorder": {},
    "closeposition": {},
    "orderstatus": {"orderid": "1"},
    "openposition": {"symbol": "SBIN", "exchange": "NSE", "product": "MIS"},
    "orderbook": {},
    "tradebook": {},
    "positionbook": {},
    "holdings": {},
    "funds": {},
    "margin": {
        "positions": [
            {
                "symbol": "SBIN",
                "exchange": "NSE",
                "action": "BUY",
                "quantity": "1",
                "product": "MIS",
                "pricetype": "MARKET",
            }
        ]
    },
    "quotes": {"symbol": "SBIN", "exchange": "NSE"},
    "multiquotes": {"symbols": [{"symbol": "SBIN", "exchange": "NSE"}]},
    "depth": {"symbol": "SBIN", "exchange": "NSE"},
    "history": {
        "symbol": "SBIN",
        "exchange": "NSE",
        "interval": "D",
        "start_date": "2026-01-01",
        "end_date": "2026-01-31",
    },
    "intervals": {},
    "symbol": {"symbol": "SBIN", "exchange": "NSE"},
    "search": {"query": "SBI"},
    "expiry": {"symbol": "NIFTY", "exchange": "NFO", "instrumenttype": "options"},
    "optionsymbol": {
        "underlying": "NIFTY",
        "exchange": "NSE_INDEX",
        "expiry_date": "28NOV24",
        "offset": "ATM",
        "option_type": "CE",
    },
    "optionchain": {"underlying": "NIFTY", "exchange": "NSE_INDEX"},
    "optiongreeks": {"symbol": "NIFTY28NOV2424000CE", "exchange": "NFO"},
    "multioptiongreeks": {"symbols": [{"symbol": "NIFTY28NOV2424000CE", "exchange": "NFO"}]},
    "syntheticfuture": {"underlying": "NIFTY", "exchange": "NSE_INDEX", "expiry_date": "28NOV24"},
    "analyzer": {},
    "analyzer/toggle": {"mode": True},
    "market/holidays": {},
    "market/timings": {},
    "placegttorder": _GTT,
    "modifygttorder": {**_GTT, "trigger_id": "GTT-1"},
    "cancelgttorder": {"trigger_id": "GTT-1"},
    "gttorderbook": {},
}

# GET endpoints: query parameters and the path below /api/v1.
QUERIES: dict[str, tuple[str, dict[str, str]]] = {
    "ticker": ("/ticker/NSE:SBIN", {"from": "2026-01-01", "to": "2026-01-31"}),
    "instruments": ("/instruments", {"exchange": "NSE"}),
}


def body(name: str, **changes: Any) -> dict[str, Any]:
    """The minimal body of ``name`` with the key added and ``changes`` applied (None removes)."""
    data: dict[str, Any] = {"apikey": KEY, **MINIMAL[name]}
    for field, value in changes.items():
        if value is None:
            data.pop(field, None)
        else:
            data[field] = value
    return data
