"""The official OpenAlgo SDK's WebSocket feed client works against us unchanged.

Runs ``openalgo==2.0.5`` (PyPI) in its own interpreter against the native listener, with the
stand-in authenticator and feed from conftest (the lead switches them to the real API-key service
and simulator after merging).
"""

from __future__ import annotations

import textwrap

import pytest

from tests.streaming.conftest import StreamServer
from tests.support.sdk import run_sdk, sdk_python

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import openalgo
    from openalgo import api

    assert openalgo.__file__.find(".venv-sdk") >= 0, openalgo.__file__
    key, http_port, ws_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = api(api_key=key, host=f"http://127.0.0.1:{http_port}", ws_port=ws_port)
    out = {"connected": client.connect()}
    got = {"ltp": [], "quote": [], "depth": [], "orders": []}
    client.subscribe_ltp([{"exchange": "NSE", "symbol": "RELIANCE"}],
                         on_data_received=got["ltp"].append)
    client.subscribe_quote([{"exchange": "NSE", "symbol": "INFY"}],
                           on_data_received=got["quote"].append)
    client.subscribe_depth([{"exchange": "NSE", "symbol": "TCS"}],
                           on_data_received=got["depth"].append)
    deadline = time.time() + 15
    while time.time() < deadline and not all(len(got[k]) >= 2 for k in ("ltp", "quote", "depth")):
        time.sleep(0.05)
    out["counts"] = {k: len(v) for k, v in got.items()}
    out["ltp"] = got["ltp"][-1] if got["ltp"] else None
    out["quote"] = got["quote"][-1] if got["quote"] else None
    out["depth"] = got["depth"][-1] if got["depth"] else None
    out["cache_ltp"] = client.get_ltp()
    out["cache_quotes"] = client.get_quotes()
    out["cache_depth"] = client.get_depth()
    client.unsubscribe_ltp([{"exchange": "NSE", "symbol": "RELIANCE"}])
    client.unsubscribe_quote([{"exchange": "NSE", "symbol": "INFY"}])
    client.unsubscribe_depth([{"exchange": "NSE", "symbol": "TCS"}])
    time.sleep(0.5)
    client.disconnect()
    print(json.dumps(out))
    """
)


@pytest.fixture(autouse=True)
def _need_sdk() -> None:
    sdk_python()


async def test_sdk_feed_ltp_quote_depth(server: StreamServer) -> None:
    server.feed.start_ticking(0.05)
    run = await run_sdk(SCRIPT, "alice-key", str(server.http_port), str(server.ws_port))
    out = run.result()
    assert out["connected"] is True
    assert all(out["counts"][k] >= 2 for k in ("ltp", "quote", "depth")), out["counts"]

    ltp = out["ltp"]
    assert (ltp["type"], ltp["symbol"], ltp["exchange"], ltp["mode"]) == (
        "market_data",
        "RELIANCE",
        "NSE",
        1,
    )
    assert ltp["data"]["ltp"] > 100 and ltp["data"]["timestamp"] > 1_600_000_000_000
    assert "ltt" in ltp["data"]

    quote = out["quote"]
    assert quote["mode"] == 2 and quote["symbol"] == "INFY"
    data = quote["data"]
    # the SDK reads these names; none may fall back to its 0 default
    for name in (
        "open",
        "high",
        "low",
        "close",
        "ltp",
        "volume",
        "last_trade_quantity",
        "avg_trade_price",
        "change",
    ):
        assert data[name] != 0, name

    depth = out["depth"]
    assert depth["mode"] == 3 and depth["symbol"] == "TCS"
    assert len(depth["data"]["depth"]["buy"]) == 5 and len(depth["data"]["depth"]["sell"]) == 5

    assert out["cache_ltp"]["ltp"]["NSE"]["RELIANCE"]["ltp"] > 100
    assert out["cache_quotes"]["quote"]["NSE"]["INFY"]["ltp"] > 100
    book = out["cache_depth"]["depth"]["NSE"]["TCS"]
    assert book["buyBook"]["1"]["price"] > 0 and book["sellBook"]["5"]["qty"] == 50

    # the SDK's unsubscribe messages (per-item modes) released everything upstream
    hub = server.streaming.hub
    for symbol in ("RELIANCE", "INFY", "TCS"):
        assert hub.upstream_of("simulator", "NSE", symbol) == (0, 0), symbol


async def test_sdk_with_a_bad_key_is_not_connected(server: StreamServer) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        from openalgo import api
        client = api(api_key="nope", host="http://127.0.0.1:1", ws_port=int(sys.argv[1]))
        ok = client.connect()
        client.disconnect()
        print(json.dumps({"connected": ok}))
        """
    )
    out = (await run_sdk(script, str(server.ws_port))).result()
    assert out == {"connected": False}


ORDERS_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from openalgo import api

    client = api(api_key="alice-key", host="http://127.0.0.1:1", ws_port=int(sys.argv[1]))
    assert client.connect()
    got = []
    client.subscribe_orders(on_order_update=got.append)
    deadline = time.time() + 15
    while time.time() < deadline and len(got) < 2:
        time.sleep(0.05)
    orders = client.get_orders()
    client.disconnect()
    print(json.dumps({"updates": got, "cached": orders}))
    """
)


async def test_sdk_order_updates(server: StreamServer) -> None:
    import asyncio
    from datetime import UTC, datetime
    from decimal import Decimal

    from openalgo.domain.enums import Action, OrderStatus, PriceType, Product
    from openalgo.domain.orders import OrderEvent, OrderEventKind, OrderRow
    from tests.streaming.conftest import wait_for

    run = asyncio.ensure_future(run_sdk(ORDERS_SCRIPT, str(server.ws_port)))
    orders = server.streaming.orders
    await wait_for(lambda: bool(orders._sessions.get(1)), within=20)
    for status, kind in (
        (OrderStatus.OPEN, OrderEventKind.PLACED),
        (OrderStatus.COMPLETE, OrderEventKind.FILLED),
    ):
        row = OrderRow(
            orderid="7",
            symbol="SBIN",
            exchange="NSE",
            action=Action.SELL,
            quantity=5,
            price=Decimal("0"),
            trigger_price=Decimal("0"),
            pricetype=PriceType.MARKET,
            product=Product.CNC,
            status=status,
            timestamp=datetime.now(UTC),
            filled_quantity=5 if status is OrderStatus.COMPLETE else 0,
            average_price=Decimal("600.5") if status is OrderStatus.COMPLETE else Decimal("0"),
        )
        orders.publish(OrderEvent(1, "sandbox", kind, row, mode="analyze"))
    out = (await run).result()
    assert [(u["order_status"], u["seq"]) for u in out["updates"]] == [("open", 1), ("complete", 2)]
    assert out["updates"][1]["average_price"] == 600.5
    assert len(out["cached"]["orders"]) == 2
