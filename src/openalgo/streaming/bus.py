"""The ZeroMQ tick bus: adapters publish normalized ticks, the hub receives them.

Topology is fan-in: the hub's one SUB socket **binds** (always an ``inproc://`` endpoint private to
this bus, plus ``OPENALGO_ZMQ_URL`` when a ``tcp://`` endpoint is configured) and every publisher
**connects**, so any number of adapters and feed processes can come and go.

Two libzmq pitfalls shape the code:

- *Binding SUB, connecting PUB loses early subscriptions* (libzmq #2267): a SUB only sends its
  subscriptions to a newly attached publisher when it processes commands, i.e. when it is polled.
  The hub's receive loop is always polling, and `TickBus.start` polls once right after binding.
- *Slow joiner*: a publisher drops everything it sends before the subscription has travelled back
  to it. Publishers are therefore ``XPUB`` sockets: `TickPublisher.wait_ready` waits until the hub's
  subscription has actually arrived, so the first tick after it is never lost. Adapters call it
  once after connecting.

Publishing never blocks. ``XPUB_NODROP`` makes a full high-water mark an ``EAGAIN`` instead of a
silent discard, so each drop is counted (`BusStats.dropped`) and logged (rate-limited), never
silent. The hub subscribes to every tick (``T|``) and status (``S|``) topic: per-symbol filtering
happens in the hub's index, and topic subscriptions never change after start, so no tick can be
lost to a subscription that is still in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq
import zmq.asyncio

from openalgo.domain.market import Tick
from openalgo.streaming.codec import (
    STATUS_PREFIX,
    TICK_PREFIX,
    CodecError,
    FeedStatus,
    decode_status,
    decode_tick,
    encode_status,
    encode_tick,
)

log = logging.getLogger("openalgo.streaming.bus")

_bus_ids = itertools.count(1)
RECV_BATCH = 512  # messages handled per wake-up before the loop yields to the senders
DROP_LOG_INTERVAL = 5.0


@dataclass
class BusStats:
    """Counters for one bus and the publishers created from it (in this process)."""

    published: int = 0
    dropped: int = 0  # refused at the high-water mark (publisher side)
    received: int = 0
    statuses: int = 0
    decode_errors: int = 0
    handler_errors: int = 0

    def snapshot(self) -> dict[str, int]:
        return {
            "published": self.published,
            "dropped": self.dropped,
            "received": self.received,
            "statuses": self.statuses,
            "decode_errors": self.decode_errors,
            "handler_errors": self.handler_errors,
        }


@dataclass
class _DropLog:
    last: float = 0.0
    pending: int = 0


class TickPublisher:
    """A `TickSink` on the bus. Not thread-safe: one publisher per thread (ZeroMQ's rule)."""

    def __init__(
        self, context: zmq.Context[Any], url: str, *, hwm: int, stats: BusStats | None = None
    ) -> None:
        self.url = url
        self.stats = stats if stats is not None else BusStats()
        self._socket: zmq.Socket[Any] = context.socket(zmq.XPUB)
        self._socket.setsockopt(zmq.XPUB_NODROP, 1)
        self._socket.setsockopt(zmq.SNDHWM, hwm)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(url)
        self._ready = False
        self._drops = _DropLog()
        self.closed = False

    @property
    def ready(self) -> bool:
        return self._ready

    async def wait_ready(self, within: float = 5.0) -> bool:
        """Wait until a subscriber's subscription has reached this publisher (slow-joiner guard)."""
        deadline = time.monotonic() + within
        delay = 0.001
        while not self._ready:
            self._drain_subscriptions()
            if self._ready:
                break
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    def _drain_subscriptions(self) -> None:
        while True:
            try:
                message = self._socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if message[:1] == b"\x01":
                self._ready = True

    def publish(self, tick: Tick) -> None:
        """Send one tick; never blocks. A full queue drops the tick and counts it."""
        topic, payload = encode_tick(tick)
        self._send(topic, payload)

    def publish_status(self, status: FeedStatus) -> None:
        topic, payload = encode_status(status)
        self._send(topic, payload)

    def publish_raw(self, topic: bytes, payload: bytes) -> None:
        """Send pre-encoded frames (benchmarks and feed processes that encode in bulk)."""
        self._send(topic, payload)

    def _send(self, topic: bytes, payload: bytes) -> None:
        try:
            self._socket.send_multipart((topic, payload), zmq.NOBLOCK, copy=True)
        except zmq.Again:
            self.stats.dropped += 1
            self._note_drop()
            return
        self.stats.published += 1

    def _note_drop(self) -> None:
        drops = self._drops
        drops.pending += 1
        now = time.monotonic()
        if now - drops.last >= DROP_LOG_INTERVAL:
            log.warning(
                "tick bus full: dropped %d message(s) at the high-water mark (%s)",
                drops.pending,
                self.url,
            )
            drops.last = now
            drops.pending = 0

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._socket.close(linger=0)


TickHandler = Callable[[Tick], None]
StatusHandler = Callable[[FeedStatus], None]
BatchHandler = Callable[[], None]


@dataclass
class TickBus:
    """The hub's end of the bus: binds, receives, decodes and hands each tick to a handler."""

    extra_url: str | None = None  # OPENALGO_ZMQ_URL (tcp://...)
    hwm: int = 100_000
    stats: BusStats = field(default_factory=BusStats)

    def __post_init__(self) -> None:
        self.inproc_url = f"inproc://openalgo-ticks-{next(_bus_ids)}"
        self._context = zmq.asyncio.Context()
        # Sync view of the same context: publishers are sync sockets (non-blocking sends), and
        # inproc endpoints only work within one context.
        self._sync_context: zmq.Context[Any] = zmq.Context.shadow(self._context.underlying)
        self._sub: zmq.asyncio.Socket | None = None
        self._sub_sync: zmq.Socket[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._publishers: list[TickPublisher] = []
        self.bound_urls: list[str] = []

    @property
    def url(self) -> str:
        """Where in-process publishers connect."""
        return self.inproc_url

    def start(
        self, on_tick: TickHandler, on_status: StatusHandler, on_batch: BatchHandler | None = None
    ) -> None:
        """Bind and start receiving; ``on_batch`` runs after each burst of messages."""
        sub = self._context.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, self.hwm)
        sub.setsockopt(zmq.LINGER, 0)
        sub.bind(self.inproc_url)
        self.bound_urls = [self.inproc_url]
        if self.extra_url:
            try:
                sub.bind(self.extra_url)
            except zmq.ZMQError as exc:
                sub.close(linger=0)
                raise OSError(f"cannot bind the tick bus on {self.extra_url}: {exc}") from exc
            self.bound_urls.append(
                sub.getsockopt_string(zmq.LAST_ENDPOINT)
                if "*" in self.extra_url
                else self.extra_url
            )
        sub.setsockopt(zmq.SUBSCRIBE, TICK_PREFIX)
        sub.setsockopt(zmq.SUBSCRIBE, STATUS_PREFIX)
        self._sub = sub
        self._sub_sync = zmq.Socket.shadow(sub.underlying)
        # Process pending commands now so the subscriptions go out to early publishers (#2267).
        self._sub_sync.poll(0)
        self._task = asyncio.get_running_loop().create_task(
            self._receive_loop(on_tick, on_status, on_batch or _nothing), name="tick-bus"
        )

    def publisher(self, url: str | None = None) -> TickPublisher:
        """A new publisher connected to this bus (in-process by default)."""
        pub = TickPublisher(
            self._sync_context, url or self.inproc_url, hwm=self.hwm, stats=self.stats
        )
        self._publishers.append(pub)
        return pub

    async def _receive_loop(
        self, on_tick: TickHandler, on_status: StatusHandler, on_batch: BatchHandler
    ) -> None:
        assert self._sub is not None and self._sub_sync is not None
        sub, sync = self._sub, self._sub_sync
        stats = self.stats
        while True:
            await sub.poll()  # POLLIN by default
            for _ in range(RECV_BATCH):
                try:
                    topic, payload = sync.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    self._end_batch(on_batch)
                    break
                except ValueError:  # not two frames
                    stats.decode_errors += 1
                    continue
                try:
                    if topic[:2] == TICK_PREFIX:
                        tick = decode_tick(topic, payload)
                        stats.received += 1
                        on_tick(tick)
                    else:
                        status = decode_status(topic, payload)
                        stats.statuses += 1
                        on_status(status)
                except CodecError as exc:
                    stats.decode_errors += 1
                    log.warning("tick bus: undecodable message on %r: %s", topic[:64], exc)
                except Exception:
                    stats.handler_errors += 1
                    log.exception("tick bus: handler failed for %r", topic[:64])
            else:
                self._end_batch(on_batch)
                await asyncio.sleep(0)  # a long burst: let the senders run between batches

    def _end_batch(self, on_batch: BatchHandler) -> None:
        try:
            on_batch()
        except Exception:
            self.stats.handler_errors += 1
            log.exception("tick bus: batch handler failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for pub in self._publishers:
            pub.close()
        self._publishers.clear()
        if self._sub is not None:
            self._sub.close(linger=0)
            self._sub = None
        self._context.term()


def _nothing() -> None:
    pass
