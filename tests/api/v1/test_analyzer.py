"""`/analyzer` and `/analyzer/toggle` through the real app (reference 7.17, 7.18): the caller's
own switch, seen at once, and the ledger it routes the order and account endpoints to."""

from __future__ import annotations

from typing import Any

from openalgo.api.errors import MISSING_BODY
from tests.support.ledger import SANDBOX, SIMULATOR, engine_of, place
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader, new_trader

__all__ = ["shared_trading_live", "trader"]  # fixtures: one app per module, a user per test

BOOL_SPELLINGS: list[tuple[Any, bool]] = [
    (True, True),
    (False, False),
    ("true", True),
    ("False", False),
    ("yes", True),
    ("NO", False),
    (1, True),
    (0, False),
    ("1", True),
    ("0", False),
    ("on", True),
    ("off", False),
]


async def test_status_starts_live(trader: Trader) -> None:
    body = await trader.ok("analyzer")
    assert body == {
        "status": "success",
        "data": {"mode": "live", "analyze_mode": False, "total_logs": 0},
    }


async def test_toggle_switches_the_callers_mode_at_once(trader: Trader) -> None:
    body = await trader.ok("analyzer/toggle", mode=True)
    assert body == {
        "status": "success",
        "data": {
            "mode": "analyze",
            "analyze_mode": True,
            "total_logs": 0,
            "message": "Analyzer mode switched to analyze",
        },
    }
    # The very next request runs in the new mode: the cached principal was dropped.
    assert (await trader.ok("analyzer"))["data"]["analyze_mode"] is True
    assert (await trader.ok("funds"))["mode"] == "analyze"
    again = await trader.ok("analyzer/toggle", mode=True)  # already on: same answer
    assert again["data"]["mode"] == "analyze"

    off = await trader.ok("analyzer/toggle", mode=False)
    assert off["data"] == {
        "mode": "live",
        "analyze_mode": False,
        "total_logs": 0,
        "message": "Analyzer mode switched to live",
    }
    assert "mode" not in await trader.ok("funds")
    assert (await trader.ok("analyzer"))["data"]["mode"] == "live"


async def test_toggle_is_per_user(trader: Trader) -> None:
    other = await new_trader(trader.live, f"other{trader.account.user_id}")
    await trader.ok("analyzer/toggle", mode=True)
    assert (await other.ok("analyzer"))["data"]["analyze_mode"] is False
    assert "mode" not in await other.ok("orderbook")


async def test_toggle_switches_the_ledger_the_books_show(trader: Trader) -> None:
    live_order = await place(trader, "SBIN", "NSE", "BUY", 10, ledger=SIMULATOR)
    await trader.ok("analyzer/toggle", mode=True)
    sandbox = await trader.ok("orderbook")
    assert sandbox["mode"] == "analyze"
    assert sandbox["data"]["orders"] == []  # the live order is not in the analyzer book
    assert (await trader.ok("positionbook"))["data"] == []
    assert (await trader.ok("funds"))["data"]["utiliseddebits"] == 0.0

    paper_order = await place(trader, "INFY", "NSE", "SELL", 3, ledger=SANDBOX)
    books = {name: await trader.ok(name) for name in ("orderbook", "tradebook", "positionbook")}
    assert all(body["mode"] == "analyze" for body in books.values())
    assert [o["orderid"] for o in books["orderbook"]["data"]["orders"]] == [paper_order]
    assert [t["orderid"] for t in books["tradebook"]["data"]] == [paper_order]
    assert [(p["symbol"], p["quantity"]) for p in books["positionbook"]["data"]] == [("INFY", -3)]
    holdings = await trader.ok("holdings")
    assert holdings["mode"] == "analyze"
    assert holdings["data"]["holdings"] == []

    await trader.ok("analyzer/toggle", mode=False)
    live = await trader.ok("orderbook")
    assert "mode" not in live
    assert [o["orderid"] for o in live["data"]["orders"]] == [live_order]
    assert [(p["symbol"], p["quantity"]) for p in (await trader.ok("positionbook"))["data"]] == [
        ("SBIN", 10)
    ]


async def test_total_logs_counts_the_users_analyzer_mode_order_requests(trader: Trader) -> None:
    gtt = {
        "trigger_type": "SINGLE",
        "symbol": "SBIN",
        "exchange": "NSE",
        "action": "BUY",
        "product": "CNC",
        "quantity": 1,
        "price": 100,
        "triggerprice_sl": 100,
    }
    await trader.ok("placegttorder", **gtt)  # live: not an analyzer log
    await trader.ok("analyzer/toggle", mode=True)
    await trader.ok("placegttorder", **gtt)
    r = await trader.post("placegttorder", **{**gtt, "quantity": 10**8})  # refused: logged too
    assert r.status_code == 400
    r = await trader.post("placegttorder", **{**gtt, "symbol": "NOPE"})  # invalid: never logged
    assert r.status_code == 400
    await engine_of(trader, SANDBOX).drain()
    assert (await trader.ok("analyzer"))["data"]["total_logs"] == 2
    assert (await trader.ok("analyzer/toggle", mode=False))["data"]["total_logs"] == 2


async def test_toggle_takes_openalgos_boolean_spellings(trader: Trader) -> None:
    for value, expected in BOOL_SPELLINGS:
        body = await trader.ok("analyzer/toggle", mode=value)
        assert body["data"]["analyze_mode"] is expected, value


async def test_toggle_refuses_bad_input_and_changes_nothing(trader: Trader) -> None:
    for value in (2, -1, "maybe", "", None, [True], {"on": True}):
        r = await trader.post("analyzer/toggle", mode=value)
        assert r.status_code == 400, value
        assert r.json() == {
            "status": "error",
            "message": "mode: must be a boolean (true or false)",
            "errors": {"mode": ["must be a boolean (true or false)"]},
        }
    r = await trader.post("analyzer/toggle")
    assert r.status_code == 400
    assert r.json()["errors"] == {"mode": ["field required"]}
    r = await trader.post("analyzer/toggle", mode=True, bogus=1)
    assert r.status_code == 400
    assert r.json()["errors"] == {"bogus": ["unknown field"]}
    r = await trader.client.post("/api/v1/analyzer/toggle", headers={"X-API-KEY": trader.api_key})
    assert r.status_code == 400
    assert r.json()["message"] == MISSING_BODY
    r = await trader.client.post("/api/v1/analyzer/toggle", json={"apikey": "0" * 64, "mode": True})
    assert r.status_code == 403
    assert r.json() == {"status": "error", "message": "Invalid openalgo apikey"}
    assert (await trader.ok("analyzer"))["data"]["analyze_mode"] is False


async def test_analyzer_endpoints_carry_no_top_level_mode(trader: Trader) -> None:
    await trader.analyzer(True)
    status = await trader.ok("analyzer")
    assert "mode" not in status and status["data"]["mode"] == "analyze"
    r = await trader.post("analyzer", bogus=1)
    assert r.status_code == 400
    assert "mode" not in r.json()
    # ... while the sandbox-served endpoints mark successes and errors alike.
    r = await trader.post("orderbook", bogus=1)
    assert r.status_code == 400
    assert r.json()["mode"] == "analyze"
    r = await trader.post("cancelgttorder", trigger_id="GTT-nope")
    assert r.status_code == 404
    assert r.json()["mode"] == "analyze"
