"""The real app for streaming tests: no stand-ins anywhere.

`create_app(..., ws_listener=True)` on a copy of the trading database (the simulator's instrument
master loaded), so the WebSocket layer is wired the way ``openalgo serve`` wires it: the
`ApiKeyAuthenticator` over the security runtime, the instrument cache, and the `SimulatorFeed`
putting the simulated market's ticks on the bus. uvicorn serves ``/ws`` on one port, the native
listener the other. Users get real API keys through the real services.

The app runs on a `ManualClock`, so the simulator ticks only when a test moves time (`tick`), or
continuously while `ticking()` is active (for the SDK, which waits for ticks in another process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from openalgo.app import create_app
from openalgo.brokers.simulator.market import SimulatorMarket
from openalgo.domain.clock import ManualClock
from openalgo.streaming.service import StreamingService
from tests.conftest import make_settings
from tests.support.accounts import Account, committed_account
from tests.support.appfixtures import START, LiveApp, served
from tests.support.processes import free_port
from tests.support.trading import TRADING_OVERRIDES


@dataclass
class RealStream:
    """A running app with both WebSocket listeners and two users holding API keys."""

    live: LiveApp
    http: str  # "127.0.0.1:<port>" of uvicorn
    ws_port: int
    alice: Account
    bob: Account

    @property
    def clock(self) -> ManualClock:
        return self.live.clock

    @property
    def market(self) -> SimulatorMarket:
        return self.live.runtime.simulator

    @property
    def streaming(self) -> StreamingService:
        streaming = self.live.runtime.streaming
        assert streaming is not None
        return streaming

    def url(self, listener: str) -> str:
        if listener == "native":
            return f"ws://127.0.0.1:{self.ws_port}/"
        return f"ws://{self.http}/ws"

    def tick(self) -> None:
        """Move time by one simulator interval: the market publishes one round of ticks."""
        self.clock.advance(1.0 / self.live.settings.sim_ticks_per_second)

    @asynccontextmanager
    async def ticking(self, every: float = 0.05) -> AsyncIterator[None]:
        """Tick every ``every`` seconds of real time until the block ends."""

        async def run() -> None:
            while True:
                await asyncio.sleep(every)
                self.tick()

        task = asyncio.get_running_loop().create_task(run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def real_stream(trading_database: str, tmp_path: Path) -> AsyncIterator[RealStream]:
    clock = ManualClock(START)
    ws_port = free_port()
    settings = make_settings(
        tmp_path,
        trading_database,
        **{**TRADING_OVERRIDES, "ws_port": ws_port, "ws_auth_timeout": 5.0},
    )
    app = create_app(settings, ws_listener=True, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            live = LiveApp(app=app, client=c, clock=clock, settings=settings)
            alice = await committed_account(live.runtime.sessionmaker, clock, "alice")
            bob = await committed_account(live.runtime.sessionmaker, clock, "bob")
            async with served(live) as http:
                yield RealStream(live, http, ws_port, alice, bob)


async def send(ws: ClientConnection, obj: Any) -> None:
    await ws.send(json.dumps(obj))


async def recv(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        raw = await ws.recv()
    data = json.loads(raw)
    assert isinstance(data, dict)
    return data


@asynccontextmanager
async def session(
    url: str, account: Account | None = None, *, key: str | None = None
) -> AsyncIterator[ClientConnection]:
    """A WebSocket client, authenticated as ``account`` (or with ``key``) when given one."""
    async with connect(url, max_size=None, compression=None) as ws:
        api_key = account.api_key if account is not None else key
        if api_key is not None:
            await send(ws, {"action": "authenticate", "api_key": api_key})
            reply = await recv(ws)
            assert reply["status"] == "success", reply
        yield ws


async def request(ws: ClientConnection, obj: dict[str, Any]) -> dict[str, Any]:
    """Send one action and return the first reply that is not market data or an order update."""
    await send(ws, obj)
    while True:
        reply = await recv(ws)
        if reply.get("type") not in ("market_data", "order_update"):
            return reply
