"""The adapter base: backoff, subscription table, replay after reconnect."""

from __future__ import annotations

import asyncio

import pytest

from openalgo.domain.enums import TickMode
from openalgo.streaming.adapter import Backoff
from openalgo.streaming.bus import TickBus
from openalgo.streaming.seams import FeedError
from tests.fakes.feed import FakeFeed


def test_backoff_grows_and_caps() -> None:
    backoff = Backoff(initial=1, factor=2, maximum=10, jitter=0)
    assert [backoff.delay(n) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    jittery = Backoff(initial=1, factor=2, maximum=10, jitter=0.1)
    assert all(0.9 <= jittery.delay(0) <= 1.1 for _ in range(100))


async def test_adapter_lifecycle_and_replay() -> None:
    bus = TickBus()
    bus.start(lambda tick: None, lambda status: None)
    feed = FakeFeed(bus.publisher(), refuse=frozenset({"BAD"}))
    try:
        await feed.subscribe("SBIN", "NSE", TickMode.QUOTE, 5)  # before connecting: recorded only
        assert feed.calls == []
        feed.failing_connects = 2
        await feed.start()
        async with asyncio.timeout(5):
            while not feed.connected:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert feed.attempts == 3 and feed.connects == 1
        assert feed.calls == [("subscribe", "NSE", "SBIN", "QUOTE/5")]  # replayed on connect
        with pytest.raises(FeedError):
            await feed.subscribe("BAD", "NSE", TickMode.LTP, 5)
        assert ("NSE", "BAD") not in feed.subscriptions
        await feed.unsubscribe("SBIN", "NSE", TickMode.LTP)  # not the held mode: ignored
        assert ("NSE", "SBIN") in feed.subscriptions
        await feed.unsubscribe("SBIN", "NSE", TickMode.QUOTE)
        assert feed.subscriptions == {}
        assert feed.calls[-1] == ("unsubscribe", "NSE", "SBIN", "QUOTE")
    finally:
        await feed.stop()
        await bus.close()
    assert not feed.connected
