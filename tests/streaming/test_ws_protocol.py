"""OpenAlgo's WebSocket protocol over real connections to a real uvicorn (both listeners)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

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


async def test_auth_success_shape(server: StreamServer, listener: str) -> None:
    async with client(server, key=None, listener=listener) as ws:
        await send(ws, {"action": "authenticate", "api_key": "alice-key"})
        assert await recv(ws) == {
            "type": "auth",
            "status": "success",
            "message": "Authentication successful",
            "broker": "simulator",
            "user_id": "alice",
            "supported_features": {"ltp": True, "quote": True, "depth": True},
        }


@pytest.mark.parametrize(
    "message",
    [{"action": "auth", "apikey": "bob-key"}, {"type": "authenticate", "api_key": "bob-key"}],
)
async def test_auth_aliases(server: StreamServer, message: dict[str, str]) -> None:
    async with client(server, key=None) as ws:
        await send(ws, message)
        reply = await recv(ws)
        assert (reply["type"], reply["status"], reply["user_id"]) == ("auth", "success", "bob")


async def test_bad_keys_then_good_key(server: StreamServer, listener: str) -> None:
    async with client(server, key=None, listener=listener) as ws:
        await send(ws, {"action": "authenticate", "api_key": "wrong"})
        assert await recv(ws) == {
            "status": "error",
            "code": "AUTHENTICATION_ERROR",
            "message": "Invalid API key",
        }
        await send(ws, {"action": "authenticate"})
        assert await recv(ws) == {
            "status": "error",
            "code": "AUTHENTICATION_ERROR",
            "message": "API key is required",
        }
        await send(ws, {"action": "authenticate", "api_key": "alice-key"})
        assert (await recv(ws))["status"] == "success"


async def test_repeated_invalid_keys_close_the_connection(
    server: StreamServer, listener: str
) -> None:
    async with client(server, key=None, listener=listener) as ws:
        for _ in range(5):
            await send(ws, {"action": "authenticate", "api_key": "guess"})
        assert await close_code(ws) == (4403, "too many failed authentications")


async def test_actions_need_authentication(server: StreamServer, listener: str) -> None:
    async with client(server, key=None, listener=listener) as ws:
        for action in ("subscribe", "unsubscribe", "subscribe_orders", "get_broker_info"):
            await send(ws, {"action": action, "symbol": "RELIANCE", "exchange": "NSE"})
            assert await recv(ws) == {
                "status": "error",
                "code": "NOT_AUTHENTICATED",
                "message": "You must authenticate first",
            }
        await send(ws, {"action": "ping"})
        assert (await recv(ws))["type"] == "pong"
        assert server.feed.calls == []


@pytest.mark.parametrize("listener_name", ["native", "asgi"])
async def test_auth_timeout_closes_4401(tmp_path: Path, listener_name: str) -> None:
    async with run_server(tmp_path, ws_auth_timeout=0.3) as srv:
        async with connect(srv.url(listener_name)) as ws:
            started = asyncio.get_running_loop().time()
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            elapsed = asyncio.get_running_loop().time() - started
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4401, "auth timeout")
        assert 0.2 < elapsed < 3


async def test_authenticated_session_outlives_auth_timeout(tmp_path: Path) -> None:
    async with run_server(tmp_path, ws_auth_timeout=0.3) as srv, client(srv) as ws:
        await asyncio.sleep(0.6)
        await send(ws, {"action": "ping"})
        assert (await recv(ws))["type"] == "pong"


async def test_ltp_quote_depth_shapes(server: StreamServer, listener: str) -> None:
    async with client(server, listener=listener) as ws:
        ack = await subscribe(ws, [("RELIANCE", "NSE")], mode="ltp", request_id="r1")
        assert ack == {
            "type": "subscribe",
            "status": "success",
            "subscriptions": [
                {
                    "symbol": "RELIANCE",
                    "exchange": "NSE",
                    "status": "success",
                    "mode": "LTP",
                    "depth": 5,
                    "broker": "simulator",
                }
            ],
            "message": "Subscription processing complete",
            "broker": "simulator",
            "request_id": "r1",
        }
        tick = server.feed.emit("RELIANCE", "NSE", 101.25)
        assert await recv(ws) == {
            "type": "market_data",
            "symbol": "RELIANCE",
            "exchange": "NSE",
            "mode": 1,
            "data": {
                "symbol": "RELIANCE",
                "exchange": "NSE",
                "mode": 1,
                "ltp": 101.25,
                "ltt": tick.ltt_ms,
                "timestamp": tick.timestamp_ms,
            },
            "broker": "simulator",
        }
        await subscribe(ws, [("INFY", "NSE")], mode="QUOTE")
        server.feed.emit("INFY", "NSE", 200.0)
        quote = await recv_until(ws, lambda m: m.get("symbol") == "INFY")
        assert quote["mode"] == 2
        data = quote["data"]
        assert {
            "open",
            "high",
            "low",
            "close",
            "volume",
            "average_price",
            "avg_trade_price",
            "last_quantity",
            "last_trade_quantity",
            "total_buy_quantity",
            "total_sell_quantity",
            "oi",
            "change",
            "change_percent",
        } <= set(data)
        assert "depth" not in data
        assert data["close"] == 199.5 and data["change"] == 0.5
        ack = await subscribe(ws, [("TCS", "NSE")], mode=3, depth=5)
        assert ack["subscriptions"][0]["mode"] == "Depth"
        server.feed.emit("TCS", "NSE", 300.0)
        depth = await recv_until(ws, lambda m: m.get("symbol") == "TCS")
        assert depth["mode"] == 3
        assert len(depth["data"]["depth"]["buy"]) == 5
        assert depth["data"]["depth"]["sell"][0] == {"price": 300.05, "quantity": 10, "orders": 1}


async def test_single_symbol_form_and_default_mode(server: StreamServer) -> None:
    async with client(server) as ws:
        await send(ws, {"action": "subscribe", "symbol": "sbin", "exchange": "nse"})
        ack = await recv(ws)
        assert ack["subscriptions"][0] == {
            "symbol": "SBIN",
            "exchange": "NSE",
            "status": "success",
            "mode": "Quote",
            "depth": 5,
            "broker": "simulator",
        }


@pytest.mark.parametrize(
    ("mode", "code", "fragment"),
    [
        ("FULL", "INVALID_MODE", "Invalid mode 'FULL'"),
        (4, "INVALID_MODE", "Invalid mode 4"),
        (True, "INVALID_MODE", "Invalid mode true"),
        (1.0, "INVALID_MODE", "Invalid mode 1.0"),
    ],
)
async def test_invalid_mode(server: StreamServer, mode: object, code: str, fragment: str) -> None:
    async with client(server) as ws:
        await send(
            ws,
            {
                "action": "subscribe",
                "symbols": [{"symbol": "TCS", "exchange": "NSE"}],
                "mode": mode,
                "request_id": 9,
            },
        )
        reply = await recv(ws)
        assert reply["status"] == "error" and reply["code"] == code and reply["request_id"] == 9
        assert reply["message"].startswith(fragment)
        assert "type" not in reply
        assert server.feed.calls == []


@pytest.mark.parametrize("depth", [7, "5", True, 0])
async def test_invalid_depth(server: StreamServer, depth: object) -> None:
    async with client(server) as ws:
        reply = await subscribe(ws, [("TCS", "NSE")], mode=3, depth=depth)
        assert reply["code"] == "INVALID_DEPTH"
        assert "expected 5, 20, 30 or 50" in reply["message"]


async def test_depth_falls_back_to_what_the_feed_offers(server: StreamServer) -> None:
    async with client(server) as ws:
        ack = await subscribe(ws, [("TCS", "NSE")], mode=3, depth=50)
        assert ack["subscriptions"][0]["depth"] == 20  # the fake feed offers 5 and 20
        assert server.streaming.hub.upstream_of("simulator", "NSE", "TCS") == (3, 20)


async def test_unknown_symbol_partial_and_error(server: StreamServer, listener: str) -> None:
    async with client(server, listener=listener) as ws:
        ack = await subscribe(ws, [("RELIANCE", "NSE"), ("BADSYM", "NSE")], mode=1)
        assert ack["status"] == "partial"
        assert ack["subscriptions"][1] == {
            "symbol": "BADSYM",
            "exchange": "NSE",
            "status": "error",
            "code": "SYMBOL_NOT_FOUND",
            "message": "Symbol BADSYM not found for exchange NSE",
            "broker": "simulator",
        }
        ack = await subscribe(ws, [("BADSYM", "NSE")], mode=1)
        assert ack["status"] == "error"
        ack = await subscribe(ws, [("REFUSED", "NSE")], mode=1)
        assert ack["subscriptions"][0]["code"] == "BROKER_REJECTED"
        await send(ws, {"action": "subscribe", "symbols": [{"symbol": "X"}, "junk"], "mode": 1})
        ack = await recv(ws)
        assert [s["status"] for s in ack["subscriptions"]] == ["error", "error"]
        await send(ws, {"action": "subscribe", "symbols": [], "mode": 1})
        assert await recv(ws) == {
            "status": "error",
            "code": "INVALID_PARAMETERS",
            "message": "At least one symbol must be specified",
        }
    assert ("subscribe", "NSE", "BADSYM", "LTP/5") not in server.feed.calls


async def test_bad_frames_keep_the_connection_usable(server: StreamServer, listener: str) -> None:
    async with client(server, listener=listener) as ws:
        await ws.send("{not json")
        assert await recv(ws) == {
            "status": "error",
            "code": "INVALID_JSON",
            "message": "Invalid JSON message",
        }
        await ws.send("[1, 2]")
        assert (await recv(ws))["code"] == "INVALID_JSON"
        await send(ws, {"action": "dance"})
        assert await recv(ws) == {
            "status": "error",
            "code": "INVALID_ACTION",
            "message": "Invalid action: dance",
        }
        await send(ws, {"symbol": "TCS"})
        assert (await recv(ws))["code"] == "INVALID_ACTION"
        await ws.send(b"\x00\x01binary")
        assert await recv(ws) == {
            "status": "error",
            "code": "INVALID_MESSAGE",
            "message": "Binary frames are not supported; send JSON text messages",
        }
        await ws.send("x" * 70_000)
        reply = await recv(ws)
        assert reply["code"] == "MESSAGE_TOO_LARGE" and "65536" in reply["message"]
        ack = await subscribe(ws, [("RELIANCE", "NSE")], mode=1)
        assert ack["status"] == "success"


async def test_huge_message_closes_1009(server: StreamServer, listener: str) -> None:
    async with client(server, listener=listener) as ws:
        with contextlib.suppress(ConnectionClosed):  # the server may close mid-send
            await ws.send("x" * (2 << 20))
        assert (await close_code(ws))[0] == 1009


async def test_invalid_utf8_text_fails_the_connection(server: StreamServer, listener: str) -> None:
    """RFC 6455 section 8.1: both listeners close with 1007; nothing reaches the protocol."""
    async with client(server, listener=listener) as ws:
        await ws.send(b'{"action": "ping", "x": "\xff\xfe"}', text=True)  # not UTF-8
        assert (await close_code(ws))[0] == 1007
    await wait_for(lambda: not server.streaming.hub.sessions)


async def test_subscription_cap(tmp_path: Path) -> None:
    async with run_server(tmp_path, ws_max_subscriptions=3) as srv, client(srv) as ws:
        ack = await subscribe(ws, [("SYM1", "NSE"), ("SYM2", "NSE")], mode=1)
        assert ack["status"] == "success"
        ack = await subscribe(ws, [("SYM1", "NSE"), ("SYM3", "NSE"), ("SYM4", "NSE")], mode=2)
        assert [s["status"] for s in ack["subscriptions"]] == ["success", "error", "error"]
        assert ack["subscriptions"][1]["code"] == "MAX_SUBSCRIPTIONS"
        assert "3 per connection" in ack["subscriptions"][1]["message"]
        ack = await subscribe(ws, [("SYM1", "NSE")], mode=1)  # already held: not a new one
        assert ack["status"] == "success"
        async with client(srv, key="bob-key") as other:  # the cap is per connection
            assert (await subscribe(other, [("SYM9", "NSE")], mode=1))["status"] == "success"


async def test_unsubscribe_honours_top_level_mode(server: StreamServer, listener: str) -> None:
    async with client(server, listener=listener) as ws:
        await subscribe(ws, [("RELIANCE", "NSE")], mode=1)
        await subscribe(ws, [("RELIANCE", "NSE")], mode=2)
        await send(
            ws,
            {
                "action": "unsubscribe",
                "mode": "LTP",
                "symbols": [{"symbol": "RELIANCE", "exchange": "NSE"}],
                "request_id": "u1",
            },
        )
        assert await recv(ws) == {
            "type": "unsubscribe",
            "status": "success",
            "message": "Unsubscription processing complete",
            "successful": [
                {
                    "symbol": "RELIANCE",
                    "exchange": "NSE",
                    "status": "success",
                    "mode": "LTP",
                    "broker": "simulator",
                }
            ],
            "failed": [],
            "broker": "simulator",
            "request_id": "u1",
        }
        server.feed.emit("RELIANCE", "NSE", 105.0)
        received = await drain(ws)
        assert [m["mode"] for m in received] == [2]


async def test_unsubscribe_item_mode_and_no_mode(server: StreamServer) -> None:
    async with client(server) as ws:
        await subscribe(ws, [("RELIANCE", "NSE")], mode=1)
        await subscribe(ws, [("RELIANCE", "NSE")], mode=3)
        await send(
            ws,
            {
                "action": "unsubscribe",
                "symbols": [{"symbol": "RELIANCE", "exchange": "NSE", "mode": 3}],
            },
        )
        ack = await recv(ws)
        assert [s["mode"] for s in ack["successful"]] == ["Depth"]
        await subscribe(ws, [("RELIANCE", "NSE")], mode=2)
        await send(ws, {"action": "unsubscribe", "symbol": "RELIANCE", "exchange": "NSE"})
        ack = await recv(ws)
        assert sorted(s["mode"] for s in ack["successful"]) == ["LTP", "Quote"]
        assert server.streaming.hub.upstream_of("simulator", "NSE", "RELIANCE") == (0, 0)


async def test_unsubscribe_not_subscribed_is_reported(server: StreamServer) -> None:
    async with client(server) as ws:
        await send(ws, {"action": "unsubscribe", "symbol": "TCS", "exchange": "NSE", "mode": 1})
        ack = await recv(ws)
        assert ack["status"] == "error"
        assert ack["failed"][0]["message"] == "Not subscribed to NSE:TCS in LTP mode"
        await send(ws, {"action": "unsubscribe"})
        assert await recv(ws) == {
            "status": "error",
            "code": "INVALID_PARAMETERS",
            "message": "Either symbols or unsubscribe_all is required",
        }


@pytest.mark.parametrize("message", [{"action": "unsubscribe_all"}, {"type": "unsubscribe_all"}])
async def test_unsubscribe_all(server: StreamServer, message: dict[str, str]) -> None:
    async with client(server) as ws:
        await subscribe(ws, [("RELIANCE", "NSE"), ("TCS", "NSE")], mode=1)
        await send(ws, message)
        ack = await recv(ws)
        assert ack["type"] == "unsubscribe" and ack["status"] == "success"
        assert {(s["symbol"], s["mode"]) for s in ack["successful"]} == {
            ("RELIANCE", "LTP"),
            ("TCS", "LTP"),
        }
        server.feed.emit("RELIANCE", "NSE")
        assert await drain(ws) == []


async def test_ping_pong(server: StreamServer, listener: str) -> None:
    async with client(server, listener=listener) as ws:
        await send(ws, {"action": "ping", "timestamp": 123, "_pingId": "p1"})
        pong = await recv(ws)
        assert set(pong) == {"type", "status", "server_timestamp", "client_timestamp", "_pingId"}
        assert (pong["type"], pong["client_timestamp"], pong["_pingId"]) == ("pong", 123, "p1")
        assert abs(pong["server_timestamp"] - time.time() * 1000) < 5000  # epoch milliseconds
        await send(ws, {"action": "ping"})
        assert set(await recv(ws)) == {"type", "status", "server_timestamp"}


async def test_broker_info_and_supported_brokers(server: StreamServer) -> None:
    async with client(server) as ws:
        await send(ws, {"action": "get_broker_info"})
        assert await recv(ws) == {
            "type": "broker_info",
            "status": "success",
            "broker": "simulator",
            "adapter_status": "connected",
            "user_id": "alice",
        }
        await send(ws, {"action": "get_supported_brokers"})
        assert await recv(ws) == {
            "type": "supported_brokers",
            "status": "success",
            "brokers": ["simulator", "zerodha"],
            "count": 2,
        }


async def test_thousands_of_subscriptions_meet_the_cap(tmp_path: Path, listener: str) -> None:
    """One message asking for more than the cap: the first ones succeed, the rest are refused
    with MAX_SUBSCRIPTIONS, nothing beyond the cap reaches the feed, and freeing room works."""
    async with (
        run_server(tmp_path, ws_max_subscriptions=1000) as srv,
        client(srv, listener=listener) as ws,
    ):
        names = [(f"SYM{i}", "NSE") for i in range(1200)]
        ack = await subscribe(ws, names, mode=1)
        assert ack["status"] == "partial"
        statuses = [s["status"] for s in ack["subscriptions"]]
        assert statuses == ["success"] * 1000 + ["error"] * 200
        assert {s.get("code") for s in ack["subscriptions"][1000:]} == {"MAX_SUBSCRIPTIONS"}
        subscribed = {c[2] for c in srv.feed.calls if c[0] == "subscribe"}
        assert len(subscribed) == 1000 and "SYM1000" not in subscribed
        await send(
            ws,
            {
                "action": "unsubscribe",
                "symbols": [{"symbol": f"SYM{i}", "exchange": "NSE"} for i in range(10)],
            },
        )
        assert len((await recv(ws))["successful"]) == 10
        ack = await subscribe(ws, names[1000:1010], mode=1)
        assert ack["status"] == "success"
        srv.feed.emit("SYM1005", "NSE", 55.0)
        tick = await recv_until(ws, lambda m: m.get("type") == "market_data")
        assert (tick["symbol"], tick["data"]["ltp"]) == ("SYM1005", 55.0)


async def test_invalid_modes_in_unsubscribe(server: StreamServer, listener: str) -> None:
    async with client(server, listener=listener) as ws:
        await subscribe(ws, [("RELIANCE", "NSE")], mode=1)
        await send(
            ws,
            {
                "action": "unsubscribe",
                "symbols": [{"symbol": "RELIANCE", "exchange": "NSE"}],
                "mode": "full",
                "request_id": 3,
            },
        )
        reply = await recv(ws)
        assert (reply["code"], reply["request_id"]) == ("INVALID_MODE", 3)
        await send(
            ws,
            {
                "action": "unsubscribe",
                "symbols": [
                    {"symbol": "RELIANCE", "exchange": "NSE", "mode": 9},
                    {"symbol": "RELIANCE", "exchange": "NSE", "mode": 1},
                ],
            },
        )
        ack = await recv(ws)
        assert ack["status"] == "partial"
        assert ack["failed"][0]["message"].startswith("Invalid mode 9")
        assert [s["mode"] for s in ack["successful"]] == ["LTP"]
        assert server.streaming.hub.upstream_of("simulator", "NSE", "RELIANCE") == (0, 0)
