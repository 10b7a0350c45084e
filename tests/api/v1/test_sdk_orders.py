"""The official OpenAlgo SDK (``openalgo==2.0.5`` from PyPI) places, reconciles, modifies, cancels
and looks up orders against a real uvicorn on 127.0.0.1, with the simulator broker and in analyzer
mode, on SQLite and PostgreSQL.

One SDK script per scenario runs every order method in turn (a subprocess costs about a second)
and prints what the SDK returned; the test then checks the parsed results.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from tests.support.appfixtures import served
from tests.support.sdk import run_sdk, sdk_python
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader

__all__ = ["shared_trading_live", "trader"]  # fixtures: one app per module, a user per test

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import openalgo
    from openalgo import api

    assert ".venv-sdk" in openalgo.__file__, openalgo.__file__
    key, host = sys.argv[1], sys.argv[2]
    client = api(api_key=key, host=f"http://{host}")
    out = {}
    sbin = dict(symbol="SBIN", exchange="NSE")

    out["place"] = client.placeorder(strategy="SDK", action="BUY", quantity=3, **sbin)
    out["status"] = client.orderstatus(order_id=out["place"]["orderid"], strategy="SDK")
    out["open"] = client.openposition(strategy="SDK", product="MIS", **sbin)

    out["smart"] = client.placesmartorder(strategy="SDK", action="BUY", quantity=0,
                                          position_size=5, **sbin)
    out["smart_again"] = client.placesmartorder(strategy="SDK", action="BUY", quantity=0,
                                                position_size=5, **sbin)
    out["open_after_smart"] = client.openposition(strategy="SDK", product="MIS", **sbin)

    out["basket"] = client.basketorder(strategy="SDK", orders=[
        {"symbol": "SBIN", "exchange": "NSE", "action": "SELL", "quantity": 2,
         "pricetype": "MARKET", "product": "CNC"},
        {"symbol": "SBIN", "exchange": "NSE", "action": "BUY", "quantity": 2,
         "pricetype": "MARKET", "product": "CNC"},
    ])
    out["split"] = client.splitorder(strategy="SDK", action="BUY", quantity=45, splitsize=20,
                                     **sbin)

    out["limit"] = client.placeorder(strategy="SDK", action="BUY", quantity=1,
                                     price_type="LIMIT", price=100, **sbin)
    orderid = out["limit"]["orderid"]
    out["modify"] = client.modifyorder(order_id=orderid, strategy="SDK", action="BUY",
                                       price_type="LIMIT", product="MIS", quantity=2,
                                       price=101.5, **sbin)
    out["modified"] = client.orderstatus(order_id=orderid)
    out["cancel"] = client.cancelorder(order_id=orderid)
    out["cancel_again"] = client.cancelorder(order_id=orderid)

    client.placeorder(strategy="SDK", action="BUY", quantity=1, price_type="LIMIT", price=99,
                      **sbin)
    out["cancel_all"] = client.cancelallorder(strategy="SDK")
    out["close"] = client.closeposition(strategy="SDK")
    out["open_after_close"] = client.openposition(strategy="SDK", product="MIS", **sbin)

    out["unknown_symbol"] = client.placeorder(strategy="SDK", action="BUY", quantity=1,
                                              symbol="NOSUCH", exchange="NSE")
    out["unknown_order"] = client.orderstatus(order_id="99999999999999")
    print(json.dumps(out))
    """
)


@pytest.fixture(autouse=True)
def _need_sdk() -> None:
    sdk_python()


def check_scenario(out: dict[str, Any], mode: dict[str, str]) -> None:
    """What the SDK returned for SCRIPT; ``mode`` is ``{"mode": "analyze"}`` in analyzer mode."""
    assert out["place"] == {"status": "success", "orderid": out["place"]["orderid"], **mode}
    status = out["status"]
    assert status["data"]["order_status"] == "complete"
    assert (status["data"]["quantity"], status["data"]["action"]) == (3, "BUY")
    assert status.get("mode") == mode.get("mode")
    assert out["open"] == {"status": "success", "quantity": 3, **mode}

    assert "orderid" in out["smart"] and out["smart"].get("mode") == mode.get("mode")
    assert out["smart_again"] == {
        "status": "success",
        "message": "Positions Already Matched. No Action needed.",
        **mode,
    }
    assert out["open_after_smart"]["quantity"] == 5

    basket = out["basket"]
    assert basket.get("mode") == mode.get("mode")
    assert [(r["action"], r["status"]) for r in basket["results"]] == [
        ("SELL", "success"),
        ("BUY", "success"),
    ]
    split = out["split"]
    assert (split["total_quantity"], split["split_size"]) == (45, 20)
    assert [(r["quantity"], r["status"]) for r in split["results"]] == [
        (20, "success"),
        (20, "success"),
        (5, "success"),
    ]

    orderid = out["limit"]["orderid"]
    assert out["modify"] == {
        "status": "success",
        "orderid": orderid,
        "message": "Order modified successfully",
        **mode,
    }
    modified = out["modified"]["data"]
    assert (modified["price"], modified["quantity"], modified["order_status"]) == (101.5, 2, "open")
    assert out["cancel"]["orderid"] == orderid and out["cancel"]["status"] == "success"
    # The SDK turns a non-200 answer into its own error dict with the code and our body as text.
    again = out["cancel_again"]
    assert (again["status"], again["code"]) == ("error", 409)
    assert "Cannot cancel order in cancelled status" in again["message"]

    cancel_all = out["cancel_all"]
    assert len(cancel_all["canceled_orders"]) == 1 and cancel_all["failed_cancellations"] == []
    assert cancel_all["message"] == "Canceled 1 orders. Failed to cancel 0 orders."
    close = out["close"]
    assert (close["closed_positions"], close["failed_closures"]) == (1, 0)  # SBIN MIS; CNC is flat
    assert close.get("mode") == mode.get("mode")
    assert out["open_after_close"]["quantity"] == 0

    unknown = out["unknown_symbol"]
    assert (unknown["status"], unknown["code"]) == ("error", 400)
    assert "symbol: unknown symbol NOSUCH on NSE" in unknown["message"]
    missing = out["unknown_order"]
    assert (missing["status"], missing["code"]) == ("error", 404)
    assert "Order 99999999999999 not found" in missing["message"]


@pytest.mark.parametrize("analyzer", [False, True], ids=["simulator", "analyzer"])
async def test_sdk_order_methods(trader: Trader, analyzer: bool) -> None:
    await trader.analyzer(analyzer)
    async with served(trader.live) as host:
        out = (await run_sdk(SCRIPT, trader.api_key, host)).result()
    check_scenario(out, {"mode": "analyze"} if analyzer else {})
