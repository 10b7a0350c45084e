"""The base every upstream market-data feed implements (the simulator, then broker adapters).

A subclass supplies the upstream specifics as five coroutines: `_open` (connect and log in),
`_close`, `_send_subscribe`, `_send_unsubscribe`, and `_read` (run until the upstream drops,
publishing ticks with `publish`). The base owns the rest, the same for every broker:

- a supervisor task that connects, and on any drop reconnects with capped exponential backoff and
  jitter, then re-subscribes everything the hub still holds;
- the subscription table (one mode per symbol, as the hub asks) so a reconnect can replay it;
- feed health: ``up`` after each successful (re)connect and ``down`` when the upstream drops, each
  published on the bus as a status message so subscribed sessions hear about it (``feed_status``).
  No silent dead feed: a feed that stops delivering is reported down, never just quiet;
- publishing normalized ticks onto the bus without blocking.

`Feed` (the hub's Protocol) is implemented here, so an adapter is directly a hub feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from openalgo.domain.enums import TickMode
from openalgo.domain.market import Tick
from openalgo.streaming.bus import TickPublisher
from openalgo.streaming.codec import FeedStatus, check_name
from openalgo.streaming.seams import FeedError

log = logging.getLogger("openalgo.streaming.adapter")


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``initial * factor**n`` capped at ``maximum``, with +-``jitter``."""

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0
    jitter: float = 0.1

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.factor**attempt)
        return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))  # noqa: S311


class FeedAdapter(ABC):
    """Connect, subscribe, unsubscribe, reconnect with backoff and resubscribe, publish."""

    def __init__(
        self,
        *,
        feed: str,
        broker: str,
        publisher: TickPublisher,
        depth_levels: frozenset[int] = frozenset({5}),
        backoff: Backoff | None = None,
        ready_timeout: float = 5.0,
    ) -> None:
        self._feed = check_name(feed, "feed")
        self._broker = broker
        self._depth_levels = depth_levels
        self.publisher = publisher
        self.backoff = backoff or Backoff()
        self.ready_timeout = ready_timeout
        # (exchange, symbol) -> (mode, depth): what the hub holds upstream
        self.subscriptions: dict[tuple[str, str], tuple[TickMode, int]] = {}
        self._connected = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.connects = 0
        self.attempts = 0

    # --- Feed protocol ------------------------------------------------------------------------

    @property
    def feed(self) -> str:
        return self._feed

    @property
    def broker(self) -> str:
        return self._broker

    @property
    def depth_levels(self) -> frozenset[int]:
        return self._depth_levels

    @property
    def connected(self) -> bool:
        return self._connected

    async def subscribe(self, symbol: str, exchange: str, mode: TickMode, depth: int) -> None:
        if mode not in self.supported_modes():
            raise FeedError("UNSUPPORTED_MODE", f"{self.broker} does not stream {mode.value}")
        self.subscriptions[(exchange, symbol)] = (mode, depth)
        if self._connected:
            try:
                await self._send_subscribe(symbol, exchange, mode, depth)
            except FeedError:
                self.subscriptions.pop((exchange, symbol), None)
                raise
            except Exception as exc:
                # The upstream is failing; the supervisor reconnects and replays the table.
                log.warning("%s: subscribe %s:%s failed: %s", self.feed, exchange, symbol, exc)

    async def unsubscribe(self, symbol: str, exchange: str, mode: TickMode) -> None:
        held = self.subscriptions.get((exchange, symbol))
        if held is None or held[0] != mode:
            return
        del self.subscriptions[(exchange, symbol)]
        if self._connected:
            try:
                await self._send_unsubscribe(symbol, exchange, mode)
            except Exception as exc:
                log.warning("%s: unsubscribe %s:%s failed: %s", self.feed, exchange, symbol, exc)

    def supported_modes(self) -> frozenset[TickMode]:
        return frozenset(TickMode)

    # --- publishing -----------------------------------------------------------------------------

    def publish(self, tick: Tick) -> None:
        """Put a normalized tick on the bus (never blocks; a full bus counts a drop)."""
        self.publisher.publish(tick)

    def _status(self, state: str, message: str) -> None:
        self.publisher.publish_status(
            FeedStatus(self.feed, state, message, int(time.time() * 1000))
        )

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Wait for the bus (slow-joiner guard), then run the supervisor in the background."""
        if not await self.publisher.wait_ready(self.ready_timeout):
            log.warning("%s: tick bus not ready after %gs", self.feed, self.ready_timeout)
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name=self.feed)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._connected:
            self._connected = False
            with contextlib.suppress(Exception):
                await self._close()

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            self.attempts += 1
            try:
                await self._open()
                self._connected = True
                self.connects += 1
                failures = 0
                await self._replay()
                self._status("up", f"{self.broker} feed connected")
                await self._read()
                reason = "upstream closed the connection"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            was_up = self._connected
            self._connected = False
            with contextlib.suppress(Exception):
                await self._close()
            if self._stopping:
                return
            delay = self.backoff.delay(failures)
            failures += 1
            if was_up:
                log.warning("%s: feed dropped (%s); reconnecting", self.feed, reason)
                self._status("down", f"{self.broker} feed disconnected: {reason}; reconnecting")
            else:
                log.warning("%s: connect failed (%s); retry in %.1fs", self.feed, reason, delay)
                if failures == 1:
                    self._status("down", f"{self.broker} feed unavailable: {reason}; retrying")
            await asyncio.sleep(delay)

    async def _replay(self) -> None:
        for (exchange, symbol), (mode, depth) in list(self.subscriptions.items()):
            await self._send_subscribe(symbol, exchange, mode, depth)

    # --- upstream specifics ---------------------------------------------------------------------

    @abstractmethod
    async def _open(self) -> None:
        """Connect and authenticate upstream; raise on failure."""

    @abstractmethod
    async def _close(self) -> None:
        """Release the upstream connection (idempotent)."""

    @abstractmethod
    async def _read(self) -> None:
        """Consume the upstream until it drops (return or raise); call `publish` per tick."""

    @abstractmethod
    async def _send_subscribe(self, symbol: str, exchange: str, mode: TickMode, depth: int) -> None:
        """Ask the upstream for one symbol at one mode; raise FeedError to refuse.

        The base keeps one mode per symbol: for a symbol already streaming at another mode this
        must switch it (Kite's ``mode`` message, Angel's re-subscribe), and the hub's following
        ``unsubscribe`` of the old mode is absorbed by the base.
        """

    @abstractmethod
    async def _send_unsubscribe(self, symbol: str, exchange: str, mode: TickMode) -> None: ...
