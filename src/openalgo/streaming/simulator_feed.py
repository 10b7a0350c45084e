"""The built-in simulated market as a streaming feed: the first `FeedAdapter`.

The simulator (``brokers/simulator``, issue 3) ticks every instrument somebody subscribed, at the
richest mode any subscriber holds, into one `TickSink`, and counts subscriptions per mode (the
sandbox subscribes too). `SimulatorFeed` is both sides of that: the hub's `Feed` (it turns the
hub's one-mode-per-symbol requests into the market's counted subscribe/unsubscribe calls) and a
`TickSink` that puts the market's ticks on the bus. It never disconnects, so it reports ``up`` once.

Wiring (lifespan): ``feed = SimulatorFeed(runtime.simulator, streaming.bus.publisher())``, add it to
the market's sink fan-out next to the sandbox engines, ``await feed.start()``, and serve everyone
with ``SharedFeedResolver(feed)``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from openalgo.domain.enums import TickMode
from openalgo.domain.market import Tick
from openalgo.errors import NotFound
from openalgo.streaming.adapter import FeedAdapter
from openalgo.streaming.bus import TickPublisher
from openalgo.streaming.seams import FeedError


class SimulatedMarket(Protocol):
    """What the feed needs of ``SimulatorMarket``: counted, per-mode tick subscriptions."""

    def subscribe(self, symbol: str, exchange: str, mode: TickMode = TickMode.LTP) -> None:
        """Raises NotFound for an unknown instrument."""
        ...

    def unsubscribe(self, symbol: str, exchange: str, mode: TickMode = TickMode.LTP) -> None: ...


class SimulatorFeed(FeedAdapter):
    def __init__(
        self,
        market: SimulatedMarket,
        publisher: TickPublisher,
        *,
        feed: str = "simulator",
        depth_levels: frozenset[int] = frozenset({5}),
    ) -> None:
        super().__init__(
            feed=feed, broker="simulator", publisher=publisher, depth_levels=depth_levels
        )
        self.market = market
        self._held: dict[tuple[str, str], TickMode] = {}  # what we hold in the market's counts

    async def _open(self) -> None:
        pass

    async def _close(self) -> None:
        pass

    async def _read(self) -> None:
        await asyncio.Event().wait()  # in-process: never drops

    async def _send_subscribe(self, symbol: str, exchange: str, mode: TickMode, depth: int) -> None:
        key = (exchange, symbol)
        previous = self._held.get(key)
        if previous is mode:
            return
        try:
            self.market.subscribe(symbol, exchange, mode)
        except NotFound as exc:
            raise FeedError("SYMBOL_NOT_FOUND", exc.message) from exc
        self._held[key] = mode
        if previous is not None:  # a switch: release the old mode's count
            self.market.unsubscribe(symbol, exchange, previous)

    async def _send_unsubscribe(self, symbol: str, exchange: str, mode: TickMode) -> None:
        previous = self._held.pop((exchange, symbol), None)
        if previous is not None:
            self.market.unsubscribe(symbol, exchange, previous)

    def publish(self, tick: Tick) -> None:
        """The market's `TickSink`: onto the bus, never blocking."""
        self.publisher.publish(tick)
