"""The ZeroMQ tick bus: wire format, in-process and cross-process delivery, drops counted."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
import zmq

from openalgo.domain.enums import TickMode
from openalgo.domain.market import Tick
from openalgo.streaming.bus import TickBus
from openalgo.streaming.codec import (
    CodecError,
    FeedStatus,
    decode_status,
    decode_tick,
    encode_status,
    encode_tick,
    tick_topic,
)
from tests.fakes.feed import make_tick
from tests.support.processes import free_port


@pytest.mark.parametrize("mode", list(TickMode))
def test_tick_round_trip(mode: TickMode) -> None:
    tick = make_tick("NIFTY28NOV2424000CE", "NFO", 123.45, mode=mode, feed="zerodha:7", levels=20)
    topic, payload = encode_tick(tick)
    assert topic == b"T|zerodha:7|NFO|NIFTY28NOV2424000CE|"
    assert decode_tick(topic, payload) == tick
    assert len(payload) == {TickMode.LTP: 26, TickMode.QUOTE: 138, TickMode.DEPTH: 940}[mode]


def test_topics_are_unambiguous_prefixes() -> None:
    assert not tick_topic("simulator", "NSE", "SBIN").startswith(
        tick_topic("simulator", "NSE", "SBI")
    )


@pytest.mark.parametrize(
    ("topic", "payload", "fragment"),
    [
        (b"T|f|NSE|X|", b"\x02" + bytes(25), "unknown tick payload version 2"),
        (b"T|f|NSE|X|", b"\x01\x01", "truncated"),
        (b"T|f|NSE|X|", encode_tick(make_tick("X", mode=TickMode.LTP))[1] + b"x", "trailing"),
        (b"T|f|NSE|X", encode_tick(make_tick("X", mode=TickMode.LTP))[1], "not a tick topic"),
        (b"T|f|NSE|X|", b"\x01\x00" + bytes(24), "no mode"),
    ],
)
def test_bad_tick_messages(topic: bytes, payload: bytes, fragment: str) -> None:
    with pytest.raises(CodecError, match=fragment):
        decode_tick(topic, payload)


def test_status_round_trip_and_errors() -> None:
    status = FeedStatus("sim", "down", "gone", 5)
    assert decode_status(*encode_status(status)) == status
    with pytest.raises(CodecError):
        decode_status(b"S|sim|", b'{"state":"sideways","message":"","timestamp":1}')
    with pytest.raises(CodecError):
        decode_status(b"S|sim|", b"nope")


class Collector:
    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.statuses: list[FeedStatus] = []
        self.event = asyncio.Event()

    def tick(self, tick: Tick) -> None:
        self.ticks.append(tick)
        self.event.set()

    def status(self, status: FeedStatus) -> None:
        self.statuses.append(status)
        self.event.set()

    async def wait(self, count: int, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while len(self.ticks) + len(self.statuses) < count:
                self.event.clear()
                await self.event.wait()


async def test_inproc_publish_reaches_the_hub_side() -> None:
    bus = TickBus()
    got = Collector()
    bus.start(got.tick, got.status)
    try:
        pub = bus.publisher()
        assert await pub.wait_ready(2)
        ticks = [make_tick("SBIN", ltp=100 + i, mode=TickMode.QUOTE) for i in range(100)]
        for tick in ticks:
            pub.publish(tick)
        pub.publish_status(FeedStatus("simulator", "up", "ok", 1))
        await got.wait(101)
        assert got.ticks == ticks  # in order, nothing lost
        assert got.statuses[0].state == "up"
        assert bus.stats.snapshot()["received"] == 100
        assert bus.stats.published == 101 and bus.stats.dropped == 0
    finally:
        await bus.close()


async def test_undecodable_messages_are_counted_and_skipped() -> None:
    bus = TickBus()
    got = Collector()
    bus.start(got.tick, got.status)
    try:
        pub = bus.publisher()
        assert await pub.wait_ready(2)
        pub.publish_raw(b"T|f|NSE|X|", b"\x09garbage")
        pub.publish_raw(b"S|f|", b"not json")
        pub.publish(make_tick("OK", mode=TickMode.LTP))
        await got.wait(1)
        assert [t.symbol for t in got.ticks] == ["OK"]
        assert bus.stats.decode_errors == 2
    finally:
        await bus.close()


async def test_full_high_water_mark_drops_are_counted() -> None:
    bus = TickBus(hwm=10)
    got = Collector()
    bus.start(got.tick, got.status)
    try:
        pub = bus.publisher()
        assert await pub.wait_ready(2)
        # Publish without yielding: the hub cannot drain, the pipe fills, sends fail fast.
        tick = make_tick("SBIN", mode=TickMode.LTP)
        for _ in range(5000):
            pub.publish(tick)
        assert bus.stats.dropped > 0
        assert bus.stats.published + bus.stats.dropped == 5000
        await got.wait(bus.stats.published)
        assert len(got.ticks) == bus.stats.published  # what was accepted all arrived
    finally:
        await bus.close()


PUBLISHER = textwrap.dedent(
    """
    import asyncio, sys
    import zmq
    from openalgo.domain.enums import TickMode
    from openalgo.streaming.bus import TickPublisher
    from tests.fakes.feed import make_tick

    async def main(url, careful):
        ctx = zmq.Context()
        pub = TickPublisher(ctx, url, hwm=1000)
        if careful:
            assert await pub.wait_ready(5), "no subscription arrived"
        pub.publish(make_tick("FIRST", mode=TickMode.LTP, feed="remote"))
        await asyncio.sleep(0.5)
        pub.close()
        ctx.term()

    asyncio.run(main(sys.argv[1], sys.argv[2] == "careful"))
    """
)


@pytest.mark.slow
async def test_tcp_publisher_in_another_process_loses_nothing_after_wait_ready() -> None:
    """The slow-joiner pitfall: a SUB that binds, a PUB in another process that connects.

    Sent right after ``connect``, the first tick is lost (the subscription has not reached the
    publisher yet); after ``wait_ready`` it always arrives.
    """
    url = f"tcp://127.0.0.1:{free_port()}"
    bus = TickBus(extra_url=url)
    got = Collector()
    bus.start(got.tick, got.status)
    try:
        for careful, expected in (("careless", 0), ("careful", 1)):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", PUBLISHER, url, careful
            )
            assert await asyncio.wait_for(proc.wait(), 20) == 0
            await asyncio.sleep(0.2)
            assert len(got.ticks) == expected, careful
        assert got.ticks[0].feed == "remote" and got.ticks[0].symbol == "FIRST"
    finally:
        await bus.close()


async def test_bad_tcp_url_is_a_clear_error() -> None:
    bus = TickBus(extra_url="tcp://256.1.1.1:1")
    with pytest.raises(OSError, match="cannot bind the tick bus on tcp://256.1.1.1:1"):
        bus.start(Collector().tick, Collector().status)
    await bus.close()


def test_zmq_is_the_pinned_libzmq() -> None:
    assert zmq.zmq_version_info() >= (4, 3)


def test_subprocess_helper_is_importable() -> None:
    # the cross-process test runs our package in a child interpreter
    out = subprocess.run(
        [sys.executable, "-c", "import openalgo.streaming.bus"], capture_output=True, check=False
    )
    assert out.returncode == 0, out.stderr
