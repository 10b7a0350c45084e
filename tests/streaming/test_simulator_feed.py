"""`SimulatorFeed` against a STAND-IN of the simulator's subscription counting (issue 3's
``SimulatorMarket.subscribe/unsubscribe``, which is not on this branch); the lead points this test
at the real market after merging."""

from __future__ import annotations

import asyncio

import pytest

from openalgo.domain.enums import TickMode
from openalgo.domain.market import Tick
from openalgo.errors import NotFound
from openalgo.streaming.bus import TickBus
from openalgo.streaming.codec import FeedStatus
from openalgo.streaming.seams import FeedError
from openalgo.streaming.simulator_feed import SimulatorFeed
from tests.fakes.feed import make_tick


class CountingMarket:
    """STAND-IN: per-mode subscription counts, NotFound for unknown symbols, like the simulator."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], dict[TickMode, int]] = {}

    def subscribe(self, symbol: str, exchange: str, mode: TickMode = TickMode.LTP) -> None:
        if symbol == "NOPE":
            raise NotFound(f"Symbol '{symbol}' not found for exchange '{exchange}'.")
        modes = self.counts.setdefault((exchange, symbol), {})
        modes[mode] = modes.get(mode, 0) + 1

    def unsubscribe(self, symbol: str, exchange: str, mode: TickMode = TickMode.LTP) -> None:
        modes = self.counts.get((exchange, symbol), {})
        if mode in modes:
            modes[mode] -= 1
            if not modes[mode]:
                del modes[mode]
        if not modes:
            self.counts.pop((exchange, symbol), None)


async def test_simulator_feed_follows_the_hub_protocol() -> None:
    bus = TickBus()
    ticks: list[Tick] = []
    statuses: list[FeedStatus] = []
    bus.start(ticks.append, statuses.append)
    market = CountingMarket()
    market.subscribe("SBIN", "NSE", TickMode.QUOTE)  # the sandbox's own subscription
    feed = SimulatorFeed(market, bus.publisher())
    try:
        await feed.start()
        async with asyncio.timeout(5):
            while not feed.connected:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        # what the hub does: first subscriber, upgrade, downgrade, last one out
        await feed.subscribe("SBIN", "NSE", TickMode.LTP, 5)
        assert market.counts[("NSE", "SBIN")] == {TickMode.QUOTE: 1, TickMode.LTP: 1}
        await feed.subscribe("SBIN", "NSE", TickMode.DEPTH, 5)
        await feed.unsubscribe("SBIN", "NSE", TickMode.LTP)
        assert market.counts[("NSE", "SBIN")] == {TickMode.QUOTE: 1, TickMode.DEPTH: 1}
        await feed.subscribe("SBIN", "NSE", TickMode.LTP, 5)
        await feed.unsubscribe("SBIN", "NSE", TickMode.DEPTH)
        assert market.counts[("NSE", "SBIN")] == {TickMode.QUOTE: 1, TickMode.LTP: 1}
        await feed.unsubscribe("SBIN", "NSE", TickMode.LTP)
        assert market.counts[("NSE", "SBIN")] == {TickMode.QUOTE: 1}  # the sandbox's is untouched
        with pytest.raises(FeedError) as info:
            await feed.subscribe("NOPE", "NSE", TickMode.LTP, 5)
        assert info.value.code == "SYMBOL_NOT_FOUND"
        # as the market's TickSink it puts ticks on the bus
        feed.publish(make_tick("SBIN", mode=TickMode.QUOTE))
        async with asyncio.timeout(5):
            while not ticks:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert ticks[0].symbol == "SBIN" and ticks[0].feed == "simulator"
        assert [s.state for s in statuses] == ["up"]
    finally:
        await feed.stop()
        await bus.close()
