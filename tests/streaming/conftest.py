"""A real server for the streaming tests: uvicorn on 127.0.0.1 (``/ws``) plus the native listener.

STAND-INS, clearly marked, for pieces built on other branches; the lead switches these tests to the
real API-key service (issue 5), instrument master and simulator (issue 3) after merging:
- `TableAuthenticator`: API keys -> principals, a dict.
- `TableInstruments`: the instruments that exist, a set.
- `FakeFeed` (tests/fakes/feed.py): a real adapter on the real bus with an in-memory upstream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from openalgo.app import create_app
from openalgo.domain.enums import InstrumentType
from openalgo.domain.instruments import Instrument
from openalgo.streaming.seams import Feed, FeedError, StreamingSeams, StreamPrincipal
from openalgo.streaming.server import hard_message_limit
from openalgo.streaming.service import StreamingService
from tests.conftest import make_settings
from tests.fakes.feed import FakeFeed
from tests.support.processes import free_port

ALICE = StreamPrincipal(user_id=1, username="alice", broker="simulator")
BOB = StreamPrincipal(user_id=2, username="bob", broker="simulator")
CAROL = StreamPrincipal(user_id=3, username="carol", broker="zerodha")  # has her own broker feed
KEYS = {"alice-key": ALICE, "bob-key": BOB, "carol-key": CAROL}
SYMBOLS = {("RELIANCE", "NSE"), ("INFY", "NSE"), ("TCS", "NSE"), ("SBIN", "NSE")}
SYMBOLS |= {("NIFTY", "NSE_INDEX"), ("REFUSED", "NSE")}
SYMBOLS |= {(f"SYM{i}", "NSE") for i in range(1500)}


class TableAuthenticator:
    """STAND-IN for the API-key service."""

    async def authenticate(self, api_key: str, address: str = "-") -> StreamPrincipal | None:
        return KEYS.get(api_key)


class TableInstruments:
    """STAND-IN for the instrument master."""

    async def resolve(self, symbol: str, exchange: str) -> Instrument | None:
        if (symbol, exchange) not in SYMBOLS:
            return None
        return Instrument(
            symbol=symbol,
            exchange=exchange,
            name=symbol,
            instrument_type=InstrumentType.EQ,
            token=symbol,
            broker_symbol=symbol,
            broker_exchange=exchange,
        )


@dataclass
class TableFeeds:
    """STAND-IN resolver: the shared simulator feed for everyone, carol's own broker feed for her."""

    shared: FakeFeed
    own: dict[int, FakeFeed] = field(default_factory=dict)

    async def feed_for(self, principal: StreamPrincipal) -> Feed:
        feed = self.own.get(principal.user_id, self.shared)
        if feed is None:
            raise FeedError("BROKER_ERROR", "no feed")
        return feed

    def supported_brokers(self) -> list[str]:
        return ["simulator", "zerodha"]


@dataclass
class StreamServer:
    streaming: StreamingService
    feed: FakeFeed
    carol_feed: FakeFeed
    http_port: int
    ws_port: int

    def url(self, listener: str = "native") -> str:
        if listener == "native":
            return f"ws://127.0.0.1:{self.ws_port}/"
        return f"ws://127.0.0.1:{self.http_port}/ws"


@asynccontextmanager
async def run_server(tmp_path: Path, **overrides: Any) -> AsyncIterator[StreamServer]:
    http_port, ws_port = free_port(), free_port()
    settings = make_settings(tmp_path, port=http_port, ws_port=ws_port, **overrides)
    feeds: dict[str, FakeFeed] = {}

    async def setup(streaming: StreamingService) -> StreamingSeams:
        shared = FakeFeed(streaming.bus.publisher(), refuse=frozenset({"REFUSED"}))
        carol = FakeFeed(streaming.bus.publisher(), feed="zerodha:3", broker="zerodha")
        for feed in (shared, carol):
            await feed.start()
            streaming.on_close(feed.stop)
        feeds.update(shared=shared, carol=carol)
        return StreamingSeams(
            TableAuthenticator(), TableInstruments(), TableFeeds(shared, {3: carol})
        )

    app = create_app(settings, ws_listener=True, streaming_setup=setup)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=http_port,
        log_config=None,
        lifespan="on",
        ws_per_message_deflate=False,
        ws_max_size=hard_message_limit(settings.ws_max_message_bytes),  # as `openalgo serve`
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        await wait_for(lambda: feeds["shared"].connected and feeds["carol"].connected)
        streaming = app.state.runtime.streaming
        yield StreamServer(streaming, feeds["shared"], feeds["carol"], http_port, ws_port)
    finally:
        server.should_exit = True
        await task


async def wait_for(predicate: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling state owned by the server
            await asyncio.sleep(0.01)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[StreamServer]:
    async with run_server(tmp_path, ws_auth_timeout=5.0) as srv:
        yield srv


@pytest.fixture(params=["native", "asgi"])
def listener(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


# --- client helpers ---------------------------------------------------------------------------


async def send(ws: ClientConnection, obj: Any) -> None:
    await ws.send(json.dumps(obj))


async def recv(ws: ClientConnection, within: float = 3.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        raw = await ws.recv()
    data = json.loads(raw)
    assert isinstance(data, dict)
    return data


async def recv_until(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], within: float = 3.0
) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            msg = await recv(ws, within)
            if predicate(msg):
                return msg


async def drain(ws: ClientConnection, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Everything that arrives until nothing has for ``quiet`` seconds."""
    out = []
    while True:
        try:
            out.append(await recv(ws, quiet))
        except TimeoutError:
            return out


@asynccontextmanager
async def client(
    srv: StreamServer, key: str | None = "alice-key", listener: str = "native"
) -> AsyncIterator[ClientConnection]:
    async with connect(srv.url(listener), max_size=None, compression=None) as ws:
        if key is not None:
            await send(ws, {"action": "authenticate", "api_key": key})
            reply = await recv(ws)
            assert reply["status"] == "success", reply
        yield ws


async def subscribe(
    ws: ClientConnection, symbols: list[tuple[str, str]], mode: Any = 1, **extra: Any
) -> dict[str, Any]:
    await send(
        ws,
        {
            "action": "subscribe",
            "symbols": [{"symbol": s, "exchange": e} for s, e in symbols],
            "mode": mode,
            **extra,
        },
    )
    return await recv_until(ws, lambda m: m.get("type") == "subscribe" or "code" in m)


async def close_code(ws: ClientConnection, within: float = 5.0) -> tuple[int, str]:
    """Read until the server closes; its close code and reason."""
    try:
        async with asyncio.timeout(within):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        assert exc.rcvd is not None, "closed without a close frame"  # noqa: PT017
        return exc.rcvd.code, exc.rcvd.reason


# The real app (no stand-ins) for the integration tests; see realapp.py.
from tests.streaming.realapp import real_stream  # noqa: E402
from tests.support.trading import trading_database, trading_template  # noqa: E402

__all__ = ["real_stream", "trading_database", "trading_template"]
