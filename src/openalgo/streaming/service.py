"""Streaming as one unit the lifespan starts and stops: bus, hub, order stream, listeners.

`StreamingService.run_connection` is the life of one WebSocket client, whichever listener accepted
it (the native one on the WebSocket port, or FastAPI's at ``/ws`` on the main port): a `Session`,
its sender task, the auth timer (close 4401), the message loop, and cleanup that releases every
subscription, so a client that vanishes never leaves ticks flowing upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from openalgo.domain.instruments import InstrumentLookup
from openalgo.settings import Settings
from openalgo.streaming.bus import TickBus
from openalgo.streaming.hub import Hub
from openalgo.streaming.orders import OrderEventStream
from openalgo.streaming.protocol import ProtocolHandler
from openalgo.streaming.seams import (
    Authenticator,
    FeedResolver,
    StreamingSeams,
    unwired_seams,
)
from openalgo.streaming.server import NativeWebSocketServer
from openalgo.streaming.session import (
    CLOSE_AUTH_TIMEOUT,
    CLOSE_GOING_AWAY,
    Session,
    SessionTransport,
)

if TYPE_CHECKING:
    from openalgo.streaming.server import _Connection

log = logging.getLogger("openalgo.streaming")

Receive = Callable[[], Awaitable[str | bytes | None]]


class StreamingService:
    def __init__(
        self,
        settings: Settings,
        *,
        authenticator: Authenticator | None = None,
        instruments: InstrumentLookup | None = None,
        feeds: FeedResolver | None = None,
        orders: OrderEventStream | None = None,
    ) -> None:
        self.settings = settings
        self.bus = TickBus(extra_url=settings.zmq_url, hwm=settings.zmq_hwm)
        self.hub = Hub()
        self.orders = orders or OrderEventStream()
        unwired = unwired_seams()
        feeds = feeds or unwired.feeds
        self.feeds = feeds
        self.max_message_bytes = settings.ws_max_message_bytes
        self.ping_interval = settings.ws_ping_interval
        self.ping_timeout = settings.ws_ping_timeout
        self.handler = ProtocolHandler(
            hub=self.hub,
            authenticator=authenticator or unwired.authenticator,
            instruments=instruments or unwired.instruments,
            feeds=feeds,
            orders=self.orders,
            max_message_bytes=settings.ws_max_message_bytes,
        )
        self.connections: set[_Connection] = set()
        self.listener: NativeWebSocketServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cleanups: list[Callable[[], Awaitable[None]]] = []

    def wire(self, seams: StreamingSeams) -> None:
        """Plug in the real services (they may need the bus, so they come after construction)."""
        self.feeds = seams.feeds
        self.handler.authenticator = seams.authenticator
        self.handler.instruments = seams.instruments
        self.handler.feeds = seams.feeds

    def on_close(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Run ``cleanup`` when streaming stops (before the bus closes): adapters' ``stop``."""
        self._cleanups.append(cleanup)

    async def start(self) -> None:
        self.bus.start(self.hub.on_tick, self.hub.on_status, self.hub.flush)

    async def listen(self, host: str, port: int) -> int:
        """Open the native WebSocket listener; returns the bound port."""
        self.listener = NativeWebSocketServer(self)
        await self.listener.start(host, port)
        log.info("WebSocket listener on ws://%s:%d", host, self.listener.port)
        return self.listener.port

    async def close(self) -> None:
        if self.listener is not None:
            await self.listener.close()
        for session in list(self.hub.sessions):
            session.close(CLOSE_GOING_AWAY, "server shutting down")
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for cleanup in reversed(self._cleanups):
            try:
                await cleanup()
            except Exception:
                log.exception("streaming cleanup failed")
        await self.bus.close()

    def new_session(self, transport: SessionTransport) -> Session:
        return Session(
            transport,
            stall_timeout=self.settings.ws_stall_timeout,
            max_subscriptions=self.settings.ws_max_subscriptions,
        )

    async def run_connection(self, transport: SessionTransport, receive: Receive) -> None:
        session = self.new_session(transport)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.hub.add_session(session)
        session.start()
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.settings.ws_auth_timeout, self._auth_timeout, session)
        try:
            while not session.closed:
                item = await receive()
                if item is None:
                    break
                if isinstance(item, str):
                    await self.handler.handle(session, item)
                else:
                    self.handler.binary(session)
        finally:
            timer.cancel()
            self.orders.remove_session(session)
            session.closed = True
            try:
                await self.hub.remove_session(session)
            finally:
                await session.finish()
                if task is not None:
                    self._tasks.discard(task)

    def _auth_timeout(self, session: Session) -> None:
        if not session.authenticated and not session.closed:
            log.info("WebSocket %s: not authenticated in time, closing", session.transport.peer)
            session.close(CLOSE_AUTH_TIMEOUT, "auth timeout")

    def stats(self) -> dict[str, Any]:
        return {"bus": self.bus.stats.snapshot(), "hub": self.hub.snapshot()}


StreamingSetup = Callable[[StreamingService], Awaitable[StreamingSeams]]
