"""STAND-IN feed for the streaming tests, until the simulator (issue 3) is merged.

`FakeFeed` is a real `FeedAdapter`: it publishes real ticks onto the real ZeroMQ bus and goes
through the real reconnect/resubscribe supervisor. Only its "upstream" is in memory: a list of the
subscribe/unsubscribe calls it received, a switch to make connects fail, and `drop()` to cut it.
The lead replaces it with the simulator adapter in the integration tests after merging.
"""

from __future__ import annotations

import asyncio
import time

from openalgo.domain.enums import TickMode
from openalgo.domain.market import DepthLevel, Quote, Tick
from openalgo.streaming.adapter import Backoff, FeedAdapter
from openalgo.streaming.bus import TickPublisher
from openalgo.streaming.seams import FeedError


def make_tick(
    symbol: str,
    exchange: str = "NSE",
    ltp: float = 100.0,
    *,
    mode: TickMode = TickMode.DEPTH,
    feed: str = "simulator",
    levels: int = 5,
    timestamp_ms: int | None = None,
) -> Tick:
    """A full tick: quote fields and ``levels`` depth levels around ``ltp``."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    quote = None
    if mode is not TickMode.LTP:
        quote = Quote(
            ltp=ltp,
            open=ltp - 1,
            high=ltp + 2,
            low=ltp - 3,
            prev_close=ltp - 0.5,
            volume=1000,
            bid=ltp - 0.05,
            ask=ltp + 0.05,
            oi=7,
            average_price=ltp - 0.25,
            last_quantity=5,
            total_buy_quantity=10,
            total_sell_quantity=12,
            timestamp_ms=ts,
        )
    bids: tuple[DepthLevel, ...] = ()
    asks: tuple[DepthLevel, ...] = ()
    if mode is TickMode.DEPTH:
        bids = tuple(
            DepthLevel(round(ltp - 0.05 * (i + 1), 2), 10 * (i + 1), i + 1) for i in range(levels)
        )
        asks = tuple(
            DepthLevel(round(ltp + 0.05 * (i + 1), 2), 10 * (i + 1), i + 1) for i in range(levels)
        )
    return Tick(
        exchange=exchange,
        symbol=symbol,
        mode=mode,
        ltp=ltp,
        timestamp_ms=ts,
        ltt_ms=ts - 1,
        quote=quote,
        bids=bids,
        asks=asks,
        feed=feed,
    )


class FakeFeed(FeedAdapter):
    def __init__(
        self,
        publisher: TickPublisher,
        *,
        feed: str = "simulator",
        broker: str = "simulator",
        depth_levels: frozenset[int] = frozenset({5, 20}),
        refuse: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(
            feed=feed,
            broker=broker,
            publisher=publisher,
            depth_levels=depth_levels,
            backoff=Backoff(initial=0.05, maximum=0.2, jitter=0),
        )
        self.calls: list[tuple[str, str, str, str]] = []  # (op, exchange, symbol, mode)
        self.failing_connects = 0
        self.refuse = refuse  # symbols whose upstream subscribe is refused
        self._dropped = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None

    async def _open(self) -> None:
        if self.failing_connects > 0:
            self.failing_connects -= 1
            raise ConnectionError("upstream refused the connection")
        self._dropped = asyncio.Event()

    async def _close(self) -> None:
        pass

    async def _read(self) -> None:
        await self._dropped.wait()
        raise ConnectionError("upstream went away")

    async def _send_subscribe(self, symbol: str, exchange: str, mode: TickMode, depth: int) -> None:
        if symbol in self.refuse:
            raise FeedError("BROKER_REJECTED", f"upstream refused {exchange}:{symbol}")
        self.calls.append(("subscribe", exchange, symbol, f"{mode.value}/{depth}"))

    async def _send_unsubscribe(self, symbol: str, exchange: str, mode: TickMode) -> None:
        self.calls.append(("unsubscribe", exchange, symbol, mode.value))

    def drop(self) -> None:
        """Cut the upstream connection (the supervisor reconnects)."""
        self._dropped.set()

    def emit(self, symbol: str, exchange: str = "NSE", ltp: float = 100.0) -> Tick:
        """Publish one tick at the mode the hub holds upstream for the symbol."""
        mode, depth = self.subscriptions.get((exchange, symbol), (TickMode.DEPTH, 5))
        tick = make_tick(symbol, exchange, ltp, mode=mode, feed=self.feed, levels=max(depth, 5))
        self.publish(tick)
        return tick

    def start_ticking(self, interval: float = 0.05) -> None:
        """Emit a tick for every subscribed symbol every ``interval`` seconds (SDK tests)."""

        async def run() -> None:
            price = 100.0
            while True:
                price = round(price + 0.05, 2)
                if self.connected:
                    for exchange, symbol in list(self.subscriptions):
                        self.emit(symbol, exchange, price)
                await asyncio.sleep(interval)

        self._ticker = asyncio.get_running_loop().create_task(run())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await super().stop()
