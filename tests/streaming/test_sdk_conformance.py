"""The official OpenAlgo SDK's WebSocket feed client works against us unchanged.

Runs ``openalgo==2.0.5`` (PyPI) in its own interpreter:

- against the real app (`real_stream`: real API keys, the simulator's ticks, sandbox orders) on
  both listeners: the native port the SDK connects to by default (``ws_port``), and ``/ws`` on the
  main port through the SDK's ``ws_url`` option;
- against the stand-in server from conftest (a feed with fixed book sizes), which pins exact
  values the simulator's random walk cannot.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest

from openalgo.db.session import transaction
from openalgo.domain.enums import Action, TickMode
from openalgo.domain.market import Tick
from openalgo.domain.orders import OrderRequest
from openalgo.services.apikeys import revoke_api_key
from tests.streaming.conftest import StreamServer, wait_for
from tests.streaming.realapp import RealStream
from tests.support.sdk import run_sdk, sdk_python

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import openalgo
    from openalgo import api

    assert openalgo.__file__.find(".venv-sdk") >= 0, openalgo.__file__
    key, http, ws_port, ws_url = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] or None
    client = api(api_key=key, host=f"http://{http}", ws_port=ws_port, ws_url=ws_url)
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
    http = f"127.0.0.1:{server.http_port}"
    run = await run_sdk(SCRIPT, "alice-key", http, str(server.ws_port), "")
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

    key, ws_port, ws_url = sys.argv[1], int(sys.argv[2]), sys.argv[3] or None
    client = api(api_key=key, host="http://127.0.0.1:1", ws_port=ws_port, ws_url=ws_url)
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
    from decimal import Decimal

    from openalgo.domain.enums import OrderStatus, PriceType, Product
    from openalgo.domain.orders import OrderEvent, OrderEventKind, OrderRow

    run = asyncio.ensure_future(run_sdk(ORDERS_SCRIPT, "alice-key", str(server.ws_port), ""))
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


# --- against the real app ----------------------------------------------------------------------


def sdk_target(stream: RealStream, listener: str) -> tuple[str, str]:
    """(ws_port, ws_url) arguments: the SDK's default port form, or ``ws_url`` for ``/ws``."""
    if listener == "native":
        return str(stream.ws_port), ""
    return "1", stream.url("asgi")


def simulated(stream: RealStream, message: dict[str, Any], mode: TickMode) -> Tick:
    """The simulator's own tick for a market_data message's symbol and timestamp."""
    when = datetime.fromtimestamp(message["data"]["timestamp"] / 1000, UTC)
    return stream.market.make_tick(message["symbol"], message["exchange"], mode, when)


async def test_sdk_feed_on_the_real_app(real_stream: RealStream, listener: str) -> None:
    stream = real_stream
    ws_port, ws_url = sdk_target(stream, listener)
    async with stream.ticking():
        run = await run_sdk(SCRIPT, stream.alice.api_key, stream.http, ws_port, ws_url)
    out = run.result()
    assert out["connected"] is True
    assert all(out["counts"][k] >= 2 for k in ("ltp", "quote", "depth")), out["counts"]

    # what the SDK's callbacks received are the simulator's ticks, value for value
    ltp = out["ltp"]
    assert (ltp["symbol"], ltp["mode"]) == ("RELIANCE", 1)
    assert ltp["data"]["ltp"] == simulated(stream, ltp, TickMode.LTP).ltp
    quote = out["quote"]
    q = simulated(stream, quote, TickMode.QUOTE).quote
    assert q is not None
    data = quote["data"]
    assert (quote["symbol"], quote["mode"]) == ("INFY", 2)
    assert (data["ltp"], data["open"], data["high"], data["low"], data["close"]) == (
        q.ltp,
        q.open,
        q.high,
        q.low,
        q.prev_close,
    )
    # the names the SDK reads (it falls back to 0 when one is missing)
    assert data["volume"] == q.volume and data["volume"] > 0
    assert data["avg_trade_price"] == q.average_price
    assert data["last_trade_quantity"] == q.last_quantity
    depth = out["depth"]
    book = simulated(stream, depth, TickMode.DEPTH)
    assert (depth["symbol"], depth["mode"]) == ("TCS", 3)
    assert [lv["price"] for lv in depth["data"]["depth"]["buy"]] == [b.price for b in book.bids]
    assert [lv["price"] for lv in depth["data"]["depth"]["sell"]] == [a.price for a in book.asks]

    # the SDK's caches filled from those messages
    assert out["cache_ltp"]["ltp"]["NSE"]["RELIANCE"]["ltp"] > 0
    assert out["cache_quotes"]["quote"]["NSE"]["INFY"]["ltp"] > 0
    cached = out["cache_depth"]["depth"]["NSE"]["TCS"]
    assert len(cached["buyBook"]) == len(cached["sellBook"]) == 5
    assert all(level["price"] > 0 and level["qty"] > 0 for level in cached["sellBook"].values())

    # its unsubscribe messages released the market; the session is gone
    await wait_for(lambda: not stream.streaming.hub.sessions)
    assert stream.market.subscriptions == {}


async def test_sdk_with_a_revoked_key_is_not_connected(
    real_stream: RealStream, listener: str
) -> None:
    stream = real_stream
    async with transaction(stream.live.runtime.sessionmaker) as db:
        await revoke_api_key(
            db, user_id=stream.bob.user_id, key_id=stream.bob.api_key_id, now=stream.clock.now()
        )
    await stream.live.security.sync_now()
    script = textwrap.dedent(
        """
        import json, sys
        from openalgo import api
        client = api(api_key=sys.argv[1], host="http://127.0.0.1:1", ws_port=int(sys.argv[2]),
                     ws_url=sys.argv[3] or None)
        ok = client.connect()
        client.disconnect()
        print(json.dumps({"connected": ok}))
        """
    )
    ws_port, ws_url = sdk_target(stream, listener)
    out = (await run_sdk(script, stream.bob.api_key, ws_port, ws_url)).result()
    assert out == {"connected": False}


async def test_sdk_order_updates_on_the_real_app(real_stream: RealStream, listener: str) -> None:
    stream = real_stream
    engine = stream.live.runtime.sandbox
    assert engine is not None
    alice = stream.alice.user_id
    ws_port, ws_url = sdk_target(stream, listener)
    run = asyncio.ensure_future(run_sdk(ORDERS_SCRIPT, stream.alice.api_key, ws_port, ws_url))
    orders = stream.streaming.orders
    await wait_for(lambda: bool(orders._sessions.get(alice)), within=20)
    await engine.simulator.place_order(
        stream.bob.user_id, OrderRequest("TCS", "NSE", Action.BUY, 1)
    )
    first = await engine.simulator.place_order(alice, OrderRequest("SBIN", "NSE", Action.BUY, 5))
    second = await engine.simulator.place_order(alice, OrderRequest("SBIN", "NSE", Action.SELL, 5))
    out = (await run).result()
    assert [(u["orderid"], u["order_status"], u["seq"], u["user_id"]) for u in out["updates"]] == [
        (first, "complete", 1, "alice"),
        (second, "complete", 2, "alice"),
    ]
    assert [u["orderid"] for u in out["cached"]["orders"]] == [second, first]  # newest first
