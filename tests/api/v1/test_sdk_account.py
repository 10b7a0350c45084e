"""The official SDK (``openalgo==2.0.5``, PyPI) calls the account, analyzer and GTT endpoints
against a real uvicorn on 127.0.0.1, unchanged: funds, orderbook, tradebook, positionbook, holdings,
margin, analyzerstatus, analyzertoggle, placegttorder, modifygttorder, cancelgttorder,
gttorderbook, on the simulator broker and in analyzer mode. One script per scenario (a subprocess
costs about a second); the test checks what the SDK parsed.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from tests.support.appfixtures import served
from tests.support.ledger import SANDBOX, first, next_day, place
from tests.support.sdk import run_sdk, sdk_python
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader

__all__ = ["shared_trading_live", "trader"]  # fixtures: one app per module, a user per test

pytestmark = pytest.mark.slow

PRELUDE = """
import json, sys
import openalgo
from openalgo import api

assert ".venv-sdk" in openalgo.__file__, openalgo.__file__
key, host, future, lot = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = api(api_key=key, host=f"http://{host}")
out = {}
"""

BROKER_SCRIPT = PRELUDE + textwrap.dedent(
    """
    out["funds"] = client.funds()
    out["orderbook"] = client.orderbook()
    out["tradebook"] = client.tradebook()
    out["positionbook"] = client.positionbook()
    out["holdings"] = client.holdings()
    out["analyzerstatus"] = client.analyzerstatus()
    out["margin"] = client.margin(positions=[
        {"symbol": "SBIN", "exchange": "NSE", "action": "BUY", "product": "MIS",
         "pricetype": "LIMIT", "quantity": 10, "price": 500},
        {"symbol": future, "exchange": "NFO", "action": "SELL", "product": "NRML",
         "pricetype": "LIMIT", "quantity": lot, "price": "24000"},
    ])
    out["margin_bad"] = client.margin(positions=[
        {"symbol": "NOPE", "exchange": "NSE", "action": "BUY", "product": "MIS",
         "pricetype": "LIMIT", "quantity": 1, "price": 10},
    ])
    single = client.placegttorder(symbol="SBIN", action="BUY", exchange="NSE", quantity=10,
                                  price=400, triggerprice_sl=400.5, strategy="sdk")
    oco = client.placegttorder(symbol="SBIN", action="SELL", exchange="NSE", trigger_type="OCO",
                               quantity=5, triggerprice_sl=300, stoploss=299.5,
                               triggerprice_tg=900, target=900.5)
    out["single"], out["oco"] = single, oco
    out["book"] = client.gttorderbook()
    out["modify"] = client.modifygttorder(trigger_id=single["trigger_id"], symbol="SBIN",
                                          action="BUY", exchange="NSE", quantity=20, price=390,
                                          triggerprice_sl=390.5, strategy="sdk")
    out["book_after_modify"] = client.gttorderbook()
    out["cancel"] = client.cancelgttorder(trigger_id=oco["trigger_id"])
    out["book_all"] = client.gttorderbook(status="all")
    out["cancel_again"] = client.cancelgttorder(trigger_id=oco["trigger_id"])
    out["cancel_unknown"] = client.cancelgttorder(trigger_id="GTT-000000-00000000")
    out["gtt_bad_product"] = client.placegttorder(symbol="SBIN", action="BUY", exchange="NSE",
                                                  product="MIS", price=400, triggerprice_sl=401)
    print(json.dumps(out))
    """
)

ANALYZER_SCRIPT = PRELUDE + textwrap.dedent(
    """
    out["on"] = client.analyzertoggle(mode=True)
    out["status_on"] = client.analyzerstatus()
    for name in ("funds", "orderbook", "tradebook", "positionbook", "holdings"):
        out[name] = getattr(client, name)()
    out["margin"] = client.margin(positions=[
        {"symbol": "SBIN", "exchange": "NSE", "action": "BUY", "product": "CNC",
         "pricetype": "LIMIT", "quantity": "2", "price": "500"},
    ])
    out["gtt"] = client.placegttorder(symbol="SBIN", action="BUY", exchange="NSE", quantity=1,
                                      price=400, triggerprice_sl=400.5)
    out["modify"] = client.modifygttorder(trigger_id=out["gtt"]["trigger_id"], symbol="SBIN",
                                          action="BUY", exchange="NSE", quantity=3, price=400,
                                          triggerprice_sl=400.5)
    out["book"] = client.gttorderbook()
    out["cancel"] = client.cancelgttorder(trigger_id=out["gtt"]["trigger_id"])
    out["cancel_unknown"] = client.cancelgttorder(trigger_id="GTT-000000-00000000")
    out["off"] = client.analyzertoggle(mode=False)
    out["status_off"] = client.analyzerstatus()
    out["funds_live"] = client.funds()
    print(json.dumps(out))
    """
)


@pytest.fixture(autouse=True)
def _need_sdk() -> None:
    sdk_python()


async def run(trader: Trader, script: str) -> dict[str, Any]:
    future = first(trader, "NFO", "NIFTY", "FUT")
    async with served(trader.live) as host:
        done = await run_sdk(script, trader.api_key, host, future.symbol, str(future.lot_size))
    out: dict[str, Any] = done.result()
    return out


async def test_sdk_account_and_gtt_calls_on_the_simulator_broker(trader: Trader) -> None:
    await place(trader, "INFY", "NSE", "BUY", 5, product="CNC")
    async with next_day(trader):  # INFY settles into holdings
        bought = await place(trader, "SBIN", "NSE", "BUY", 10)
        sold = await place(trader, "SBIN", "NSE", "SELL", 4)
        out = await run(trader, BROKER_SCRIPT)
    future = first(trader, "NFO", "NIFTY", "FUT")

    for name in ("funds", "orderbook", "tradebook", "positionbook", "holdings", "margin"):
        assert out[name]["status"] == "success", (name, out[name])
        assert "mode" not in out[name], name
    funds = out["funds"]["data"]
    invested = out["holdings"]["data"]["statistics"]["totalinvvalue"]
    assert funds["utiliseddebits"] > 0
    assert funds["availablecash"] + funds["utiliseddebits"] + invested == pytest.approx(
        10_000_000 + funds["m2mrealized"], abs=0.02
    )
    orders = out["orderbook"]["data"]
    assert [o["orderid"] for o in orders["orders"]] == [bought, sold]
    assert orders["statistics"]["total_completed_orders"] == 2
    assert [(t["orderid"], t["quantity"]) for t in out["tradebook"]["data"]] == [
        (bought, 10),
        (sold, 4),
    ]
    assert [(p["symbol"], p["quantity"]) for p in out["positionbook"]["data"]] == [("SBIN", 6)]
    [held] = out["holdings"]["data"]["holdings"]
    assert (held["symbol"], held["quantity"], held["product"]) == ("INFY", 5, "CNC")
    assert out["analyzerstatus"] == {
        "status": "success",
        "data": {"mode": "live", "analyze_mode": False, "total_logs": 0},
    }
    span = round(24000 * future.lot_size / 10, 2)
    assert out["margin"]["data"] == {
        "total_margin_required": round(1000 + span, 2),
        "span_margin": span,
        "exposure_margin": 1000.0,
    }
    # The account mixin flattens non-200 answers into "HTTP <code>: <body>".
    assert out["margin_bad"]["code"] == 400
    assert "positions.0.symbol: unknown symbol NOPE on NSE" in out["margin_bad"]["message"]

    single, oco = out["single"], out["oco"]
    assert single["status"] == oco["status"] == "success"
    assert "mode" not in single
    book = out["book"]["data"]
    assert [(g["trigger_id"], g["trigger_type"]) for g in book] == [
        (oco["trigger_id"], "two-leg"),
        (single["trigger_id"], "single"),
    ]
    assert book[0]["trigger_prices"] == [300.0, 900.0]
    assert out["modify"] == {"status": "success", "trigger_id": single["trigger_id"]}
    modified = next(g for g in out["book_after_modify"]["data"] if g["trigger_type"] == "single")
    assert (modified["trigger_prices"], modified["legs"][0]["quantity"]) == ([390.5], 20)
    assert modified["strategy"] == "sdk"
    assert out["cancel"] == {"status": "success", "trigger_id": oco["trigger_id"]}
    statuses = {g["trigger_id"]: g["status"] for g in out["book_all"]["data"]}
    assert statuses == {single["trigger_id"]: "active", oco["trigger_id"]: "cancelled"}
    # GTT calls hand back the server's JSON body with the status code attached.
    assert out["cancel_again"]["code"] == 409
    assert out["cancel_again"]["message"] == f"GTT {oco['trigger_id']} is cancelled, not active"
    assert out["cancel_unknown"] == {
        "status": "error",
        "message": "GTT GTT-000000-00000000 not found",
        "code": 404,
    }
    assert out["gtt_bad_product"]["code"] == 400
    assert out["gtt_bad_product"]["errors"] == {"product": ["must be one of: CNC, NRML"]}


async def test_sdk_calls_in_analyzer_mode(trader: Trader) -> None:
    await place(trader, "SBIN", "NSE", "BUY", 10)  # on the live ledger: never in these books
    paper_order = await place(trader, "INFY", "NSE", "BUY", 2, ledger=SANDBOX)

    out = await run(trader, ANALYZER_SCRIPT)

    assert out["on"]["data"] == {
        "mode": "analyze",
        "analyze_mode": True,
        "total_logs": 0,
        "message": "Analyzer mode switched to analyze",
    }
    assert out["status_on"]["data"]["analyze_mode"] is True
    for name in ("funds", "orderbook", "tradebook", "positionbook", "holdings"):
        assert out[name]["status"] == "success", (name, out[name])
        assert out[name]["mode"] == "analyze", name
    # Each ledger numbers its own orders: tell them apart by what they traded.
    assert [(o["orderid"], o["symbol"]) for o in out["orderbook"]["data"]["orders"]] == [
        (paper_order, "INFY")
    ]
    assert [t["symbol"] for t in out["tradebook"]["data"]] == ["INFY"]
    assert [(p["symbol"], p["quantity"]) for p in out["positionbook"]["data"]] == [("INFY", 2)]
    assert out["funds"]["data"]["utiliseddebits"] > 0
    assert out["margin"] == {
        "status": "success",
        "data": {"total_margin_required": 1000.0, "span_margin": 0.0, "exposure_margin": 1000.0},
    }
    assert out["gtt"]["mode"] == out["modify"]["mode"] == out["cancel"]["mode"] == "analyze"
    [entry] = out["book"]["data"]
    assert out["book"]["mode"] == "analyze"
    assert (entry["trigger_id"], entry["legs"][0]["quantity"]) == (out["gtt"]["trigger_id"], 3)
    assert out["cancel_unknown"] == {
        "status": "error",
        "message": "GTT GTT-000000-00000000 not found",
        "mode": "analyze",
        "code": 404,
    }
    assert out["off"]["data"]["mode"] == "live"
    assert out["status_off"]["data"] == {"mode": "live", "analyze_mode": False, "total_logs": 1}
    assert "mode" not in out["funds_live"]
