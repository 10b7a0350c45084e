"""Routing, reference counting, feed health, slow consumers and order updates, end to end."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from openalgo.domain.enums import Action, OrderStatus, PriceType, Product
from openalgo.domain.orders import OrderEvent, OrderEventKind, OrderRow
from tests.streaming.conftest import (
    StreamServer,
    client,
    close_code,
    drain,
    recv,
    recv_until,
    run_server,
    send,
    subscribe,
    wait_for,
)

pytestmark = pytest.mark.slow


async def test_each_session_gets_its_own_mode_once(server: StreamServer, listener: str) -> None:
    async with (
        client(server, listener=listener) as ltp_only,
        client(server, key="bob-key", listener=listener) as depth_only,
        client(server, listener=listener) as both,
    ):
        await subscribe(ltp_only, [("RELIANCE", "NSE")], mode=1)
        await subscribe(depth_only, [("RELIANCE", "NSE")], mode=3)
        await subscribe(both, [("RELIANCE", "NSE")], mode=1)
        await subscribe(both, [("RELIANCE", "NSE")], mode=3)
        server.feed.emit("RELIANCE", "NSE", 110.0)
        got_ltp = await drain(ltp_only)
        got_depth = await drain(depth_only)
        got_both = await drain(both)
        # OpenAlgo sends the LTP-only client a second, depth-sized copy; we send exactly one.
        assert [(m["mode"], "depth" in m["data"]) for m in got_ltp] == [(1, False)]
        assert [m["mode"] for m in got_depth] == [3]
        assert sorted(m["mode"] for m in got_both) == [1, 3]


async def test_ticks_are_scoped_to_the_feed_of_the_user(server: StreamServer) -> None:
    async with client(server) as alice, client(server, key="carol-key") as carol:
        await subscribe(alice, [("RELIANCE", "NSE")], mode=1)
        ack = await subscribe(carol, [("RELIANCE", "NSE")], mode=1)
        assert ack["broker"] == "zerodha"
        server.feed.emit("RELIANCE", "NSE", 1.0)
        server.carol_feed.emit("RELIANCE", "NSE", 2.0)
        assert [(m["data"]["ltp"], m["broker"]) for m in await drain(alice)] == [(1.0, "simulator")]
        assert [(m["data"]["ltp"], m["broker"]) for m in await drain(carol)] == [(2.0, "zerodha")]


async def test_upstream_reference_counting(server: StreamServer) -> None:
    calls = server.feed.calls
    async with client(server) as a, client(server, key="bob-key") as b:
        await subscribe(a, [("TCS", "NSE")], mode=1)
        await subscribe(b, [("TCS", "NSE")], mode=1)
        assert calls == [("subscribe", "NSE", "TCS", "LTP/5")]
        await subscribe(b, [("TCS", "NSE")], mode=3)  # upgrade: the adapter switches the mode
        assert calls[1:] == [("subscribe", "NSE", "TCS", "DEPTH/5")]
        await subscribe(a, [("TCS", "NSE")], mode=2)  # covered by Depth: nothing upstream
        assert len(calls) == 2
        await send(b, {"action": "unsubscribe", "symbol": "TCS", "exchange": "NSE", "mode": 3})
        await recv(b)  # downgrade to the highest remaining mode
        assert calls[2:] == [("subscribe", "NSE", "TCS", "QUOTE/5")]
        assert server.streaming.hub.subscriber_count("simulator", "NSE", "TCS", 1) == 2
    # both clients left: the last one out releases the symbol upstream
    await wait_for(lambda: server.streaming.hub.upstream_of("simulator", "NSE", "TCS") == (0, 0))
    assert calls[-1] == ("unsubscribe", "NSE", "TCS", "QUOTE")
    assert server.feed.subscriptions == {}
    assert server.streaming.hub.sessions == set()


async def test_reauthenticating_as_someone_else_drops_subscriptions(server: StreamServer) -> None:
    async with client(server) as ws:
        await subscribe(ws, [("INFY", "NSE")], mode=1)
        await send(ws, {"action": "authenticate", "api_key": "carol-key"})
        assert (await recv(ws))["user_id"] == "carol"
        assert server.streaming.hub.upstream_of("simulator", "NSE", "INFY") == (0, 0)
        server.feed.emit("INFY", "NSE")
        assert await drain(ws) == []


async def test_feed_down_and_back_is_announced(server: StreamServer, listener: str) -> None:
    async with client(server, listener=listener) as ws, client(server, key="bob-key") as idle:
        await subscribe(ws, [("SBIN", "NSE")], mode=2)
        before = len(server.feed.calls)
        server.feed.failing_connects = 1
        server.feed.drop()
        down = await recv_until(ws, lambda m: m.get("type") == "feed_status")
        assert down["status"] == "down" and down["broker"] == "simulator"
        assert "reconnecting" in down["message"]
        up = await recv_until(ws, lambda m: m.get("type") == "feed_status", within=5)
        assert up["status"] == "up"
        # the adapter replayed the subscription on the new connection
        assert server.feed.calls[before:] == [("subscribe", "NSE", "SBIN", "QUOTE/5")]
        server.feed.emit("SBIN", "NSE", 99.0)
        assert (await recv(ws))["type"] == "market_data"
        # a session with no subscriptions on the feed is not bothered
        assert await drain(idle, 0.1) == []


async def test_subscribing_while_the_feed_is_down_says_so(server: StreamServer) -> None:
    server.feed.failing_connects = 1000
    server.feed.drop()
    await wait_for(lambda: not server.feed.connected)
    await wait_for(
        lambda: (
            (s := server.streaming.hub.feed_status("simulator")) is not None and s.state == "down"
        )
    )
    async with client(server) as ws:
        await subscribe(ws, [("SBIN", "NSE")], mode=1)
        status = await recv(ws)
        assert (status["type"], status["status"]) == ("feed_status", "down")
        await send(ws, {"action": "get_broker_info"})
        assert (await recv(ws))["adapter_status"] == "disconnected"
    server.feed.failing_connects = 0


STALL_SYMBOLS = 200


async def connect_raw_asgi(port: int) -> asyncio.StreamWriter:
    """The stalled client, on ``/ws`` of the main port."""
    return (await _stalled_client(port, "/ws"))[1]


async def _stalled_client(
    port: int, path: str = "/"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw TCP client that completes the handshake, subscribes, then never reads again."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1024)
    sock = writer.get_extra_info("socket")
    import socket

    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await reader.readuntil(b"\r\n\r\n")

    def frame(text: str) -> bytes:
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 65536
        if len(payload) < 126:
            return bytes((0x81, 0x80 | len(payload))) + mask + masked
        return bytes((0x81, 0x80 | 126)) + len(payload).to_bytes(2, "big") + mask + masked

    writer.write(frame('{"action":"authenticate","api_key":"bob-key"}'))
    symbols = ",".join(f'{{"symbol":"SYM{i}","exchange":"NSE"}}' for i in range(STALL_SYMBOLS))
    writer.write(frame(f'{{"action":"subscribe","symbols":[{symbols}],"mode":3}}'))
    await writer.drain()
    return reader, writer


async def test_stalled_session_is_evicted_and_others_keep_flowing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_server(tmp_path, ws_stall_timeout=1.0) as srv, client(srv) as healthy:
        await subscribe(healthy, [("SYM7", "NSE")], mode=3)
        _, writer = await _stalled_client(srv.ws_port)
        hub = srv.streaming.hub
        await wait_for(lambda: hub.subscriber_count("simulator", "NSE", "SYM0", 3) == 1)
        loop = asyncio.get_running_loop()
        received = 0
        started = loop.time()
        evicted_after = None
        while loop.time() - started < 10:
            for i in range(STALL_SYMBOLS):
                srv.feed.emit(f"SYM{i}", "NSE", 100 + i)
            received += len(await drain(healthy, 0.02))
            if hub.subscriber_count("simulator", "NSE", "SYM0", 3) == 0:
                evicted_after = loop.time() - started
                break
        writer.close()
        assert evicted_after is not None, "the stalled session was never evicted"
        assert evicted_after < 8.0  # buffers filling (~1 s), then the 1 s stall timeout
        assert received > 20  # the healthy session kept receiving throughout
        assert any("evicting WebSocket session" in r.message for r in caplog.records)
        srv.feed.emit("SYM7", "NSE", 1.0)
        assert (await recv_until(healthy, lambda m: m["data"]["ltp"] == 1.0))["mode"] == 3


def _order(status: OrderStatus, filled: int = 0) -> OrderRow:
    return OrderRow(
        orderid="42",
        symbol="RELIANCE",
        exchange="NSE",
        action=Action.BUY,
        quantity=10,
        price=Decimal("0"),
        trigger_price=Decimal("0"),
        pricetype=PriceType.MARKET,
        product=Product.MIS,
        status=status,
        timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        average_price=Decimal("101.5") if filled else Decimal("0"),
        filled_quantity=filled,
    )


async def test_order_updates_per_user_with_sequence(server: StreamServer, listener: str) -> None:
    orders = server.streaming.orders
    async with client(server, listener=listener) as alice, client(server, key="bob-key") as bob:
        await send(alice, {"action": "subscribe_orders", "request_id": "o1"})
        assert await recv(alice) == {
            "type": "subscribe_orders",
            "status": "success",
            "message": "Subscribed to order updates",
            "request_id": "o1",
        }
        await send(bob, {"action": "subscribe_orders"})
        await recv(bob)
        orders.publish(
            OrderEvent(
                1, "sandbox", OrderEventKind.PLACED, _order(OrderStatus.OPEN), mode="analyze"
            )
        )
        orders.publish(
            OrderEvent(
                1,
                "sandbox",
                OrderEventKind.FILLED,
                _order(OrderStatus.COMPLETE, 10),
                mode="analyze",
            )
        )
        first, second = await recv(alice), await recv(alice)
        assert first == {
            "type": "order_update",
            "user_id": "alice",
            "mode": "analyze",
            "broker": "sandbox",
            "orderid": "42",
            "symbol": "RELIANCE",
            "exchange": "NSE",
            "action": "BUY",
            "quantity": 10,
            "price": 0.0,
            "trigger_price": 0.0,
            "pricetype": "MARKET",
            "product": "MIS",
            "order_status": "open",
            "filled_quantity": 0,
            "pending_quantity": 10,
            "average_price": 0.0,
            "rejection_reason": "",
            "strategy": "",
            "event": "placed",
            "seq": 1,
            "timestamp": 1767323045000,
        }
        assert (second["seq"], second["event"], second["pending_quantity"]) == (2, "filled", 0)
        assert await drain(bob, 0.2) == []  # alice's orders never reach bob
        await send(alice, {"action": "unsubscribe_orders"})
        assert (await recv(alice))["type"] == "unsubscribe_orders"
        orders.publish(
            OrderEvent(1, "sandbox", OrderEventKind.CANCELLED, _order(OrderStatus.CANCELLED))
        )
        assert await drain(alice, 0.2) == []
        assert orders.last_seq(1) == 3


async def test_order_listener_for_admin_pages(server: StreamServer) -> None:
    orders = server.streaming.orders
    async with orders.listen() as every, orders.listen(2) as bobs:
        orders.publish(
            OrderEvent(1, "sandbox", OrderEventKind.REJECTED, _order(OrderStatus.REJECTED))
        )
        orders.publish(OrderEvent(2, "sandbox", OrderEventKind.MODIFIED, _order(OrderStatus.OPEN)))
        assert [(await every.get())["event"] for _ in range(2)] == ["rejected", "modified"]
        assert (await bobs.get())["seq"] == 1
        assert bobs.empty()


async def test_disconnect_mid_stream_releases_everything(server: StreamServer) -> None:
    async with client(server, listener="asgi") as ws:
        await subscribe(ws, [(f"SYM{i}", "NSE") for i in range(50)], mode=1)
        for i in range(50):
            server.feed.emit(f"SYM{i}", "NSE")
    await wait_for(lambda: not server.streaming.hub.sessions)
    assert server.feed.subscriptions == {}
    assert server.streaming.hub.snapshot()["symbols"] == 0


async def test_evicted_session_gets_close_code_4408(tmp_path: Path) -> None:
    """The close frame reaches a client that was only slow for a moment (native listener)."""
    async with run_server(tmp_path, ws_stall_timeout=0.5) as srv, client(srv) as ws:
        await subscribe(ws, [("SYM3", "NSE")], mode=3)
        session = next(iter(srv.streaming.hub.sessions))
        session.evict("test eviction")
        assert await close_code(ws) == (4408, "test eviction")


async def test_peer_that_never_answers_pings_is_closed(tmp_path: Path) -> None:
    async with run_server(tmp_path, ws_ping_interval=0.2, ws_ping_timeout=0.3) as srv:
        reader, writer = await _stalled_client(srv.ws_port)  # it reads below but never pongs
        seen = b""
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536):
                seen += chunk
        writer.close()
        assert b"\x89" in seen  # a ping frame arrived
        assert b"\x88" in seen and b"keepalive ping timeout" in seen  # then the close frame
        await wait_for(lambda: not srv.streaming.hub.sessions)


async def test_asgi_session_that_stops_reading_is_evicted(tmp_path: Path) -> None:
    async with run_server(tmp_path, ws_stall_timeout=0.5) as srv, client(srv) as healthy:
        await subscribe(healthy, [("SYM7", "NSE")], mode=3)
        stalled = await connect_raw_asgi(srv.http_port)
        hub = srv.streaming.hub
        await wait_for(lambda: hub.subscriber_count("simulator", "NSE", "SYM0", 3) == 1)
        async with asyncio.timeout(15):
            while hub.subscriber_count("simulator", "NSE", "SYM0", 3):
                for i in range(STALL_SYMBOLS):
                    srv.feed.emit(f"SYM{i}", "NSE", 100 + i)
                await drain(healthy, 0.02)
        stalled.close()
        srv.feed.emit("SYM7", "NSE", 2.0)
        assert (await recv_until(healthy, lambda m: m["data"]["ltp"] == 2.0))["mode"] == 3


REMOTE_FEED = """
import asyncio, sys
import zmq
from openalgo.domain.enums import TickMode
from openalgo.streaming.bus import TickPublisher
from tests.fakes.feed import make_tick

async def main(url):
    ctx = zmq.Context()
    pub = TickPublisher(ctx, url, hwm=1000)
    assert await pub.wait_ready(5)
    pub.publish(make_tick("RELIANCE", "NSE", 123.0, mode=TickMode.QUOTE))
    await asyncio.sleep(0.3)
    pub.close()
    ctx.term()

asyncio.run(main(sys.argv[1]))
"""


async def test_ticks_from_another_process_over_tcp(tmp_path: Path) -> None:
    from tests.support.processes import free_port

    url = f"tcp://127.0.0.1:{free_port()}"
    async with run_server(tmp_path, zmq_url=url) as srv, client(srv) as ws:
        await subscribe(ws, [("RELIANCE", "NSE")], mode=2)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", REMOTE_FEED, url)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        msg = await recv(ws)
        assert (msg["type"], msg["mode"], msg["data"]["ltp"]) == ("market_data", 2, 123.0)


async def test_concurrent_subscribe_unsubscribe_keeps_counts_right(server: StreamServer) -> None:
    async def churn(n: int) -> None:
        async with client(server, key="alice-key" if n % 2 else "bob-key") as ws:
            for round_ in range(5):
                mode = (n + round_) % 3 + 1
                await subscribe(ws, [("INFY", "NSE"), ("TCS", "NSE")], mode=mode)
                if round_ % 2:
                    await send(ws, {"action": "unsubscribe", "symbol": "INFY", "exchange": "NSE"})
                    await recv_until(ws, lambda m: m.get("type") == "unsubscribe")

    await asyncio.gather(*(churn(n) for n in range(30)))
    hub = server.streaming.hub
    await wait_for(lambda: not hub.sessions)
    assert hub.upstream_of("simulator", "NSE", "INFY") == (0, 0)
    assert hub.upstream_of("simulator", "NSE", "TCS") == (0, 0)
    assert server.feed.subscriptions == {}
    assert hub.snapshot()["symbols"] == 0
