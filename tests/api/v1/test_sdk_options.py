"""The official OpenAlgo SDK (``openalgo==2.0.5``) drives the option endpoints unchanged.

The SDK runs in its own interpreter (`tests.support.sdk.run_sdk`) against the real app served by
uvicorn on 127.0.0.1, on the simulator's master and market: once as a user on the simulator
broker and once in analyzer mode. One script per scenario makes every option call and prints
what the SDK parsed; the assertions check those parsed results against the simulator and the
ledgers. The SDK has no wrapper for ``multioptiongreeks`` (reference 9.3), so the script sends it
through the SDK's own transport (``_make_request``), as a trader extending the SDK would.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from openalgo.brokers.sandbox.lifecycle import SANDBOX, SIMULATOR
from openalgo.brokers.sandbox.venue import SandboxVenue
from openalgo.domain.enums import InstrumentType
from tests.support.appfixtures import served
from tests.support.sdk import run_sdk, sdk_python
from tests.support.trading import Trader

WEEKLY, MONTHLY = "01DEC26", "29DEC26"

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import openalgo
    from openalgo import api

    assert ".venv-sdk" in openalgo.__file__, openalgo.__file__
    key, host, weekly, monthly = sys.argv[1:5]
    client = api(api_key=key, host=f"http://{host}")
    nifty = {"underlying": "NIFTY", "exchange": "NSE_INDEX"}
    out = {}
    out["symbol"] = client.optionsymbol(**nifty, expiry_date=weekly, offset="ITM2",
                                        option_type="CE")
    out["chain"] = client.optionchain(**nifty, expiry_date=weekly, strike_count=3,
                                      with_greeks=True, interest_rate=6.5)
    out["nearest_chain"] = client.optionchain(**nifty, strike_count=1)
    option = out["symbol"].get("symbol", "?")
    out["greeks"] = client.optiongreeks(symbol=option, exchange="NFO", interest_rate=6.5)
    out["many_greeks"] = client._make_request("multioptiongreeks", {
        "apikey": key, "interest_rate": 6.5,
        "symbols": [{"symbol": option, "exchange": "NFO"},
                    {"symbol": option[:-2] + "PE", "exchange": "NFO"}],
    })
    out["synthetic"] = client.syntheticfuture(**nifty, expiry_date=monthly)
    out["order"] = client.optionsorder(strategy="sdk", **nifty, expiry_date=weekly,
                                       offset="OTM1", option_type="PE", action="BUY",
                                       quantity=75, product="NRML")
    out["split"] = client.optionsorder(strategy="sdk", underlying=f"NIFTY{monthly}FUT",
                                       exchange="NFO", offset="ATM", option_type="CE",
                                       action="SELL", quantity=150, splitsize=75)
    out["multi"] = client.optionsmultiorder(strategy="sdk", **nifty, expiry_date=weekly, legs=[
        {"offset": "OTM2", "option_type": "CE", "action": "SELL", "quantity": 75},
        {"offset": "OTM4", "option_type": "CE", "action": "BUY", "quantity": 75},
    ])
    out["bad_offset"] = client.optionsymbol(**nifty, expiry_date=weekly, offset="ITM50",
                                            option_type="CE")
    out["bad_expiry"] = client.optionsorder(strategy="sdk", **nifty, offset="ATM",
                                            option_type="CE", action="BUY", quantity=75)
    print(json.dumps(out))
    """
)


@pytest.fixture(autouse=True)
def _need_sdk() -> None:
    sdk_python()


def ledger(trader: Trader, name: str) -> SandboxVenue:
    engines = trader.live.runtime.sandbox
    assert engines is not None
    return engines.venue(name, trader.account.user_id)


async def run_script(trader: Trader) -> dict[str, Any]:
    async with served(trader.live) as host:
        run = await run_sdk(SCRIPT, trader.api_key, host, WEEKLY, MONTHLY)
    out: dict[str, Any] = run.result()
    return out


def check_market_calls(trader: Trader, out: dict[str, Any]) -> None:
    """What the SDK parsed from the market-data option calls (the same in either mode)."""
    simulator = trader.live.runtime.simulator
    spot = simulator.price("NIFTY", "NSE_INDEX")
    strikes = trader.live.runtime.instruments.strikes(
        "NIFTY", "NFO", trader.live.runtime.instruments.option_expiries("NIFTY", "NFO")[0],
        InstrumentType.CE,
    )  # fmt: skip
    atm = min(range(len(strikes)), key=lambda i: (abs(float(strikes[i]) - spot), i))

    symbol = out["symbol"]
    assert symbol == {
        "status": "success", "symbol": f"NIFTY{WEEKLY}{strikes[atm - 2]}CE", "exchange": "NFO",
        "lotsize": 75, "tick_size": 0.05, "freeze_qty": 1800, "underlying_ltp": spot,
    }  # fmt: skip

    chain = out["chain"]
    assert (chain["status"], chain["expiry_date"], chain["atm_strike"]) == (
        "success", WEEKLY, float(strikes[atm]),
    )  # fmt: skip
    assert [row["strike"] for row in chain["chain"]] == [
        float(s) for s in strikes[atm - 3 : atm + 4]
    ]
    assert chain["chain"][3]["ce"]["label"] == chain["chain"][3]["pe"]["label"] == "ATM"
    assert all(0 < row["ce"]["delta"] < 1 for row in chain["chain"])
    assert all(-1 < row["pe"]["delta"] < 0 for row in chain["chain"])
    nearest = out["nearest_chain"]
    assert (nearest["expiry_date"], len(nearest["chain"])) == (WEEKLY, 3)

    greeks = out["greeks"]
    assert (greeks["status"], greeks["symbol"], greeks["option_type"]) == (
        "success", symbol["symbol"], "CE",
    )  # fmt: skip
    assert greeks["option_price"] == simulator.price(symbol["symbol"], "NFO")
    assert 0 < greeks["greeks"]["delta"] < 1 and greeks["implied_volatility"] > 0
    many = out["many_greeks"]
    assert (many["status"], many["summary"]) == ("success", {"total": 2, "success": 2, "failed": 0})
    assert many["data"][0]["implied_volatility"] == greeks["implied_volatility"]
    assert -1 < many["data"][1]["greeks"]["delta"] < 0

    synthetic = out["synthetic"]
    future = simulator.price(f"NIFTY{MONTHLY}FUT", "NFO")
    assert synthetic["status"] == "success" and synthetic["expiry"] == MONTHLY
    assert abs(synthetic["synthetic_future_price"] - future) < 0.001 * future

    # Errors reach the SDK as a non-200, which it reports with the status and our message.
    bad = out["bad_offset"]
    assert (bad["status"], bad["code"], bad["error_type"]) == ("error", 400, "http_error")
    assert "offset: Offset ITM50 is out of range" in bad["message"]
    missing = out["bad_expiry"]
    assert missing["code"] == 400 and "expiry_date: Expiry date required" in missing["message"]


async def check_orders(trader: Trader, out: dict[str, Any], ledger_name: str) -> None:
    mode = "analyze" if ledger_name == SANDBOX else None
    order = out["order"]
    assert order["status"] == "success" and order.get("mode") == mode
    assert (order["offset"], order["option_type"], order["underlying"]) == ("OTM1", "PE", "NIFTY")
    split = out["split"]
    assert split.get("mode") == mode
    assert (split["total_quantity"], split["split_size"]) == (150, 75)
    assert [c["status"] for c in split["results"]] == ["success", "success"]
    assert split["symbol"].startswith(f"NIFTY{MONTHLY}") and split["symbol"].endswith("CE")
    multi = out["multi"]
    assert multi.get("mode") == mode
    assert [(r["leg"], r["action"], r["status"]) for r in multi["results"]] == [
        (1, "SELL", "success"), (2, "BUY", "success"),
    ]  # fmt: skip
    assert all(r["mode"] == (mode or "live") for r in multi["results"])

    book = await ledger(trader, ledger_name).order_book()
    placed = {o.orderid: o for o in book}
    expected = {order["orderid"], multi["results"][0]["orderid"], multi["results"][1]["orderid"]}
    expected |= {c["orderid"] for c in split["results"]}
    assert set(placed) == expected
    assert placed[order["orderid"]].symbol == order["symbol"]
    assert placed[order["orderid"]].product == "NRML"
    # The BUY leg went in before the SELL leg.
    assert multi["results"][1]["orderid"] < multi["results"][0]["orderid"]
    other = SIMULATOR if ledger_name == SANDBOX else SANDBOX
    assert await ledger(trader, other).order_book() == []


async def test_sdk_option_calls_on_the_simulator_broker(trader: Trader) -> None:
    out = await run_script(trader)
    check_market_calls(trader, out)
    await check_orders(trader, out, SIMULATOR)


async def test_sdk_option_calls_in_analyzer_mode(trader: Trader) -> None:
    await trader.analyzer(True)
    out = await run_script(trader)
    check_market_calls(trader, out)
    assert "mode" not in out["symbol"] and "mode" not in out["chain"]  # market data
    await check_orders(trader, out, SANDBOX)
