"""Streaming on the real app, both listeners: real API keys, the simulator's ticks, sandbox orders.

No stand-ins: `real_stream` is `create_app(..., ws_listener=True)` on the trading database, wired
as ``openalgo serve`` wires it (see realapp.py). Every test runs on the native listener and on
``/ws`` of the main port, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from openalgo.brokers.base import OrderRejected
from openalgo.db.session import transaction
from openalgo.domain.enums import Action, PriceType, Product, TickMode
from openalgo.domain.orders import OrderRequest
from openalgo.services.apikeys import revoke_api_key
from tests.streaming.conftest import drain, recv_until, wait_for
from tests.streaming.realapp import RealStream, recv, request, send, session

pytestmark = pytest.mark.slow

LTP_FIELDS = {"symbol", "exchange", "mode", "ltp", "ltt", "timestamp"}


def symbols(*names: str, exchange: str = "NSE") -> list[dict[str, str]]:
    return [{"symbol": name, "exchange": exchange} for name in names]


async def market_data(ws: ClientConnection, count: int) -> dict[tuple[str, int], dict[str, Any]]:
    """The next ``count`` market_data messages, keyed by (symbol, mode); then nothing more."""
    got: dict[tuple[str, int], dict[str, Any]] = {}
    for _ in range(count):
        msg = await recv_until(ws, lambda m: m.get("type") == "market_data")
        key = (msg["symbol"], msg["mode"])
        assert key not in got, f"{key} delivered twice for one tick"
        got[key] = msg
    return got


async def test_simulator_ticks_reach_subscribers(real_stream: RealStream, listener: str) -> None:
    stream, market = real_stream, real_stream.market
    url = stream.url(listener)
    async with session(url, stream.alice) as alice, session(url, stream.bob) as bob:
        for name, mode in (("RELIANCE", "LTP"), ("INFY", 2), ("TCS", "depth")):
            ack = await request(
                alice, {"action": "subscribe", "symbols": symbols(name), "mode": mode}
            )
            assert ack["status"] == "success", ack
        assert {k: market.subscriptions.get(("NSE", k)) for k in ("RELIANCE", "INFY", "TCS")} == {
            "RELIANCE": TickMode.LTP,
            "INFY": TickMode.QUOTE,
            "TCS": TickMode.DEPTH,
        }

        stream.tick()
        now = stream.clock.now()
        got = await market_data(alice, 3)
        assert set(got) == {("RELIANCE", 1), ("INFY", 2), ("TCS", 3)}
        assert await drain(alice) == []  # one message per subscribed (symbol, mode) per tick

        ltp = got["RELIANCE", 1]
        expected = market.make_tick("RELIANCE", "NSE", TickMode.LTP, now)
        assert ltp == {
            "type": "market_data",
            "symbol": "RELIANCE",
            "exchange": "NSE",
            "mode": 1,
            "data": {
                "symbol": "RELIANCE",
                "exchange": "NSE",
                "mode": 1,
                "ltp": expected.ltp,
                "ltt": expected.ltt_ms,
                "timestamp": int(now.timestamp() * 1000),
            },
            "broker": "simulator",
        }

        quote = got["INFY", 2]["data"]
        q = market.make_tick("INFY", "NSE", TickMode.QUOTE, now).quote
        assert q is not None
        assert (quote["ltp"], quote["open"], quote["high"], quote["low"], quote["close"]) == (
            q.ltp,
            q.open,
            q.high,
            q.low,
            q.prev_close,
        )
        assert (quote["volume"], quote["avg_trade_price"]) == (q.volume, q.average_price)
        assert "depth" not in quote

        depth = got["TCS", 3]["data"]
        t = market.make_tick("TCS", "NSE", TickMode.DEPTH, now)
        assert [lv["price"] for lv in depth["depth"]["buy"]] == [lv.price for lv in t.bids[:5]]
        assert [lv["price"] for lv in depth["depth"]["sell"]] == [lv.price for lv in t.asks[:5]]
        assert len(depth["depth"]["buy"]) == len(depth["depth"]["sell"]) == 5

        # Another user's Depth on the same symbol raises the upstream mode; alice still gets
        # exactly her LTP message, bob exactly his Depth message.
        ack = await request(bob, {"action": "subscribe", "symbols": symbols("RELIANCE"), "mode": 3})
        assert ack["status"] == "success"
        assert market.subscriptions["NSE", "RELIANCE"] is TickMode.DEPTH
        stream.tick()
        mine = await market_data(alice, 3)
        assert set(mine["RELIANCE", 1]["data"]) == LTP_FIELDS
        theirs = await market_data(bob, 1)
        assert set(theirs) == {("RELIANCE", 3)}
        assert await drain(alice) == [] and await drain(bob) == []

        await send(alice, {"action": "unsubscribe_all"})
        ack = await recv_until(alice, lambda m: m.get("type") == "unsubscribe")
        assert len(ack["successful"]) == 3
        # bob's Depth keeps RELIANCE ticking; the others are released upstream
        assert market.subscriptions.get(("NSE", "RELIANCE")) is TickMode.DEPTH
        assert ("NSE", "INFY") not in market.subscriptions
        assert ("NSE", "TCS") not in market.subscriptions
    # both clients gone: nothing left ticking upstream
    await wait_for(lambda: ("NSE", "RELIANCE") not in market.subscriptions)
    assert stream.streaming.hub.upstream_of("simulator", "NSE", "RELIANCE") == (0, 0)


async def test_keys_are_checked_by_the_api_key_service(
    real_stream: RealStream, listener: str
) -> None:
    stream = real_stream
    async with session(stream.url(listener)) as ws:
        reply = await request(ws, {"action": "subscribe", "symbols": symbols("RELIANCE")})
        assert reply == {
            "status": "error",
            "code": "NOT_AUTHENTICATED",
            "message": "You must authenticate first",
        }
        invalid = {"status": "error", "code": "AUTHENTICATION_ERROR", "message": "Invalid API key"}
        assert await request(ws, {"action": "authenticate", "api_key": "x" * 64}) == invalid
        # a real key, revoked: refused at once (the change counter poll drops the cache)
        async with transaction(stream.live.runtime.sessionmaker) as db:
            await revoke_api_key(
                db, user_id=stream.bob.user_id, key_id=stream.bob.api_key_id, now=stream.clock.now()
            )
        await stream.live.security.sync_now()
        assert await request(ws, {"action": "authenticate", "api_key": stream.bob.api_key}) == (
            invalid
        )
        # the same connection still authenticates with a valid key
        reply = await request(ws, {"action": "authenticate", "api_key": stream.alice.api_key})
        assert (reply["type"], reply["status"], reply["user_id"], reply["broker"]) == (
            "auth",
            "success",
            "alice",
            "simulator",
        )
    assert stream.market.subscriptions == {}


async def test_unknown_symbols_are_refused_before_the_market(
    real_stream: RealStream, listener: str
) -> None:
    stream = real_stream
    async with session(stream.url(listener), stream.alice) as ws:
        items = [*symbols("RELIANCE", "NOSUCHCO"), {"symbol": "RELIANCE", "exchange": "MCX"}]
        ack = await request(ws, {"action": "subscribe", "symbols": items, "mode": 1})
        assert ack["status"] == "partial"
        assert [s["status"] for s in ack["subscriptions"]] == ["success", "error", "error"]
        assert ack["subscriptions"][1] == {
            "symbol": "NOSUCHCO",
            "exchange": "NSE",
            "status": "error",
            "code": "SYMBOL_NOT_FOUND",
            "message": "Symbol NOSUCHCO not found for exchange NSE",
            "broker": "simulator",
        }
        assert ack["subscriptions"][2]["code"] == "SYMBOL_NOT_FOUND"
        assert set(stream.market.subscriptions) == {("NSE", "RELIANCE")}
        stream.tick()
        got = await market_data(ws, 1)
        assert set(got) == {("RELIANCE", 1)}


def _below(price: float, fraction: str) -> Decimal:
    """A limit price ``fraction`` of ``price``, on the 0.05 tick."""
    value = Decimal(str(price)) * Decimal(fraction) / Decimal("0.05")
    return value.to_integral_value(ROUND_DOWN) * Decimal("0.05")


async def order_updates(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [await recv_until(ws, lambda m: m.get("type") == "order_update") for _ in range(count)]


async def test_order_updates_follow_sandbox_orders_per_user(
    real_stream: RealStream, listener: str
) -> None:
    stream = real_stream
    engine = stream.live.runtime.sandbox
    assert engine is not None
    venue = engine.simulator
    url = stream.url(listener)
    async with (
        session(url, stream.alice) as alice,
        session(url, stream.alice) as alice_quiet,  # same user, did not ask for order updates
        session(url, stream.bob) as bob,
    ):
        for ws in (alice, bob):
            ack = await request(ws, {"action": "subscribe_orders", "request_id": "o"})
            assert ack == {
                "type": "subscribe_orders",
                "status": "success",
                "message": "Subscribed to order updates",
                "request_id": "o",
            }
        price = stream.market.price("SBIN", "NSE")
        limit = _below(price, "0.97")
        resting = await venue.place_order(
            stream.alice.user_id,
            OrderRequest("SBIN", "NSE", Action.BUY, 3, PriceType.LIMIT, Product.MIS, price=limit),
        )
        await venue.cancel_order(stream.alice.user_id, resting)
        filled = await venue.place_order(
            stream.alice.user_id, OrderRequest("SBIN", "NSE", Action.BUY, 2)
        )
        with pytest.raises(OrderRejected):
            await venue.place_order(
                stream.alice.user_id, OrderRequest("SBIN", "NSE", Action.BUY, 0)
            )
        bobs = await venue.place_order(
            stream.bob.user_id, OrderRequest("INFY", "NSE", Action.SELL, 1)
        )

        mine = await order_updates(alice, 4)
        assert [(u["event"], u["seq"], u["user_id"]) for u in mine] == [
            ("open", 1, "alice"),
            ("cancelled", 2, "alice"),
            ("filled", 3, "alice"),
            ("rejected", 4, "alice"),
        ]
        assert [u["orderid"] for u in mine[:3]] == [resting, resting, filled]
        opened, cancelled, done, rejected = mine
        assert (opened["order_status"], opened["pricetype"], opened["price"]) == (
            "open",
            "LIMIT",
            float(limit),
        )
        assert (opened["symbol"], opened["exchange"], opened["action"], opened["quantity"]) == (
            "SBIN",
            "NSE",
            "BUY",
            3,
        )
        assert cancelled["order_status"] == "cancelled"
        assert (done["order_status"], done["filled_quantity"], done["pending_quantity"]) == (
            "complete",
            2,
            0,
        )
        assert done["average_price"] > 0 and done["broker"] == "simulator"
        assert rejected["order_status"] == "rejected" and rejected["rejection_reason"]

        # the analyzer ledger (engines.sandbox) streams to the same per-user sequence
        analyzed = await engine.sandbox.place_order(
            stream.bob.user_id, OrderRequest("INFY", "NSE", Action.BUY, 1)
        )
        theirs = await order_updates(bob, 2)
        assert [
            (u["event"], u["seq"], u["user_id"], u["orderid"], u["broker"], u["mode"])
            for u in theirs
        ] == [
            ("filled", 1, "bob", bobs, "simulator", "live"),
            ("filled", 2, "bob", analyzed, "sandbox", "analyze"),
        ]
        # nobody saw anything else: not bob alice's orders, not the quiet session any order
        assert await drain(alice) == []
        assert await drain(bob) == []
        assert await drain(alice_quiet) == []

        # unsubscribe_orders stops the stream for that session; the numbering goes on
        await request(alice, {"action": "unsubscribe_orders"})
        await venue.place_order(stream.alice.user_id, OrderRequest("SBIN", "NSE", Action.SELL, 2))
        assert await drain(alice) == []
        assert stream.streaming.orders.last_seq(stream.alice.user_id) == 5


async def test_bad_input_leaks_nothing_into_other_sessions(
    real_stream: RealStream, listener: str
) -> None:
    """One client sends every kind of bad input; it gets clear errors and stays usable, and a
    bystander on another user sees only its own ticks; nothing half-subscribed stays behind."""
    stream = real_stream
    url = stream.url(listener)
    async with session(url, stream.bob) as bystander, session(url, stream.alice) as ws:
        ack = await request(
            bystander, {"action": "subscribe", "symbols": symbols("INFY"), "mode": 1}
        )
        assert ack["status"] == "success"
        codes = []
        for bad in (
            "{not json",
            b"\x00binary",
            "x" * 70_000,
            '{"action": "subscribe", "symbols": [{"symbol": "TCS", "exchange": "NSE"}], "mode": 7}',
            '{"action": "subscribe", "symbols": [{"symbol": "TCS", "exchange": "NSE"}],'
            ' "mode": 3, "depth": 4}',
            '{"action": "subscribe", "symbols": "TCS"}',
            '{"action": "launch"}',
        ):
            await ws.send(bad)
            codes.append((await recv(ws))["code"])
        assert codes == [
            "INVALID_JSON",
            "INVALID_MESSAGE",
            "MESSAGE_TOO_LARGE",
            "INVALID_MODE",
            "INVALID_DEPTH",
            "INVALID_PARAMETERS",
            "INVALID_ACTION",
        ]
        ack = await request(ws, {"action": "subscribe", "symbols": symbols("NOSUCHCO"), "mode": 1})
        assert ack["subscriptions"][0]["code"] == "SYMBOL_NOT_FOUND"
        # nothing of that reached the hub or the market
        assert set(stream.market.subscriptions) == {("NSE", "INFY")}
        assert stream.streaming.hub.upstream_of("simulator", "NSE", "TCS") == (0, 0)

        # still usable
        ack = await request(ws, {"action": "subscribe", "symbols": symbols("TCS"), "mode": 1})
        assert ack["status"] == "success"
        stream.tick()
        assert set(await market_data(ws, 1)) == {("TCS", 1)}
        assert set(await market_data(bystander, 1)) == {("INFY", 1)}
        assert await drain(bystander) == []
