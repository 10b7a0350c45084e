"""The subscription hub: who wants which ticks, and the fan-out that hands them over.

Index: (feed, exchange, symbol) -> one `_Entry` holding, per mode (1 LTP, 2 Quote, 3 Depth), the
sessions subscribed at exactly that mode. Because the key starts with the feed, a tick published by
one user's broker feed reaches only the sessions served by that feed (the shared simulator feed
serves every user); OpenAlgo routes by (symbol, exchange, mode) alone and leaks ticks across users.

Upstream reference counting: the entry remembers the one mode (and depth) it holds upstream, the
highest any session needs. The feed is asked to subscribe only when that changes: for the first
subscriber, on an upgrade or downgrade, and to unsubscribe after the last one leaves. Changes to
one entry are serialized by the entry's own lock; no lock spans more than one symbol.

Fan-out: the bus hands each tick to `on_tick`, which only records it as its symbol's latest
(conflation before the fan-out, so a burst the sessions cannot absorb never backs up the bus). At
the end of each bus batch, at most every `FLUSH_INTERVAL`, the pending ticks are fanned out into
the sessions' outboxes and every touched session is written once. A tick of mode m goes to the sessions of every mode <= m, each session getting the message
for its own mode, once. A session that holds LTP and Depth receives two messages (one per mode it
asked for); a session that holds only LTP receives one, whoever else holds Depth. The JSON for a
(tick, mode, broker, depth) is built once and shared.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from openalgo.domain.enums import TickMode
from openalgo.domain.market import Tick
from openalgo.streaming.codec import FeedStatus
from openalgo.streaming.messages import Message, market_data
from openalgo.streaming.seams import Feed
from openalgo.streaming.session import Session

log = logging.getLogger("openalgo.streaming.hub")

EntryKey = tuple[str, str, str]  # (feed, exchange, symbol)
MODES = (1, 2, 3)
_LEVELS = {TickMode.LTP: 1, TickMode.QUOTE: 2, TickMode.DEPTH: 3}
# Sessions are written at most this often. A tick that follows a quiet spell is written at once;
# in a burst, ticks coalesce (and conflate) for up to this long, so the number of socket writes,
# the dominant cost, is bounded by sessions / FLUSH_INTERVAL instead of growing with the tick rate.
FLUSH_INTERVAL = 0.002


class _Entry:
    __slots__ = ("dirty", "feed", "key", "lock", "modes", "pending", "upstream", "upstream_depth")

    def __init__(self, key: EntryKey, feed: Feed) -> None:
        self.key = key
        self.feed = feed
        # modes[m]: session -> depth, for m in 1..3 (index 0 unused)
        self.modes: tuple[dict[Session, int], ...] = ({}, {}, {}, {})
        self.upstream = 0
        self.upstream_depth = 0
        self.lock = asyncio.Lock()
        # Latest undelivered tick per tick mode, with its arrival number: ticks conflate here,
        # before the fan-out, so a burst costs one fan-out per flush rather than one per tick.
        self.pending: list[tuple[int, Tick] | None] = [None, None, None, None]
        self.dirty = False

    def wanted(self) -> tuple[int, int]:
        """(mode, depth) the upstream must provide for the current sessions."""
        for mode in (3, 2, 1):
            sessions = self.modes[mode]
            if sessions:
                return mode, (max(sessions.values()) if mode == 3 else 0)
        return 0, 0

    def empty(self) -> bool:
        return not (self.modes[1] or self.modes[2] or self.modes[3])


@dataclass
class HubStats:
    ticks: int = 0
    unrouted: int = 0
    deliveries: int = 0
    encodes: int = 0
    statuses: int = 0

    def snapshot(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Hub:
    stats: HubStats = field(default_factory=HubStats)

    def __post_init__(self) -> None:
        self._index: dict[EntryKey, _Entry] = {}
        self.sessions: set[Session] = set()
        self.feed_state: dict[str, FeedStatus] = {}
        self._dirty: list[Session] = []
        self._dirty_entries: list[_Entry] = []
        self._arrivals = 0
        self._last_flush = 0.0
        self._flush_timer: asyncio.TimerHandle | None = None

    # --- sessions ---------------------------------------------------------------------------

    def add_session(self, session: Session) -> None:
        self.sessions.add(session)

    async def remove_session(self, session: Session) -> None:
        """Forget a session and release its upstream subscriptions."""
        self.sessions.discard(session)
        await self.unsubscribe_all(session)

    def feed_status(self, feed: str) -> FeedStatus | None:
        return self.feed_state.get(feed)

    # --- subscriptions ----------------------------------------------------------------------

    async def subscribe(
        self, session: Session, exchange: str, symbol: str, mode: int, depth: int
    ) -> None:
        """Add one (exchange, symbol, mode) for the session; raises FeedError from the feed."""
        feed = session.feed
        assert feed is not None
        key = (feed.feed, exchange, symbol)
        held = session.subscriptions.setdefault((exchange, symbol), {})
        while True:
            entry = self._index.get(key)
            if entry is None:
                entry = self._index[key] = _Entry(key, feed)
            async with entry.lock:
                if self._index.get(key) is not entry:
                    continue  # emptied and dropped while we waited: use the new one
                previous = entry.modes[mode].get(session)
                entry.modes[mode][session] = depth
                if previous is None:
                    held[mode] = depth
                    session.subscription_count += 1
                else:
                    held[mode] = depth
                try:
                    await self._sync_upstream(entry)
                except BaseException:
                    if previous is None:
                        entry.modes[mode].pop(session, None)
                        held.pop(mode, None)
                        session.subscription_count -= 1
                    else:
                        entry.modes[mode][session] = previous
                        held[mode] = previous
                    if not held:
                        session.subscriptions.pop((exchange, symbol), None)
                    self._drop_if_unused(entry)
                    raise
                if session.closed:  # the client left while the feed was answering
                    await self._remove(session, entry, [mode])
                return

    async def unsubscribe(
        self, session: Session, exchange: str, symbol: str, mode: int | None
    ) -> list[int]:
        """Remove one mode (or every mode when None) of a symbol; returns the modes removed."""
        held = session.subscriptions.get((exchange, symbol))
        if not held or session.feed is None:
            return []
        modes = sorted(held) if mode is None else ([mode] if mode in held else [])
        if not modes:
            return []
        entry = self._index.get((session.feed.feed, exchange, symbol))
        if entry is None:  # pragma: no cover - the index and the session agree by construction
            return []
        async with entry.lock:
            return await self._remove(session, entry, modes)

    async def unsubscribe_all(self, session: Session) -> list[tuple[str, str, int]]:
        removed: list[tuple[str, str, int]] = []
        for exchange, symbol in list(session.subscriptions):
            for m in await self.unsubscribe(session, exchange, symbol, None):
                removed.append((exchange, symbol, m))
        return removed

    async def _remove(self, session: Session, entry: _Entry, modes: list[int]) -> list[int]:
        _, exchange, symbol = entry.key
        held = session.subscriptions.get((exchange, symbol), {})
        removed = []
        for m in modes:
            if entry.modes[m].pop(session, None) is not None:
                removed.append(m)
            if held.pop(m, None) is not None:
                session.subscription_count -= 1
        if not held:
            session.subscriptions.pop((exchange, symbol), None)
        try:
            await self._sync_upstream(entry)
        except Exception as exc:
            # The client is gone from the index either way; the feed keeps a stale subscription
            # until its next change, which is harmless (its ticks route to nobody).
            log.warning("feed %s refused to release %s:%s: %s", entry.key[0], exchange, symbol, exc)
        self._drop_if_unused(entry)
        return removed

    async def _sync_upstream(self, entry: _Entry) -> None:
        mode, depth = entry.wanted()
        old_mode, old_depth = entry.upstream, entry.upstream_depth
        if (mode, depth) == (old_mode, old_depth):
            return
        _, exchange, symbol = entry.key
        feed = entry.feed
        if mode:
            await feed.subscribe(symbol, exchange, TickMode.from_level(mode), depth or 5)
        entry.upstream, entry.upstream_depth = mode, depth
        if old_mode and old_mode != mode:
            await feed.unsubscribe(symbol, exchange, TickMode.from_level(old_mode))

    def _drop_if_unused(self, entry: _Entry) -> None:
        if entry.empty() and entry.upstream == 0 and self._index.get(entry.key) is entry:
            del self._index[entry.key]

    def upstream_of(self, feed: str, exchange: str, symbol: str) -> tuple[int, int]:
        """(mode, depth) held upstream for a symbol; (0, 0) when none. For tests and admin pages."""
        entry = self._index.get((feed, exchange, symbol))
        return (entry.upstream, entry.upstream_depth) if entry else (0, 0)

    def subscriber_count(self, feed: str, exchange: str, symbol: str, mode: int) -> int:
        entry = self._index.get((feed, exchange, symbol))
        return len(entry.modes[mode]) if entry else 0

    # --- fan-out (called by the bus for every tick) -----------------------------------------

    def on_tick(self, tick: Tick) -> None:
        """Record a tick as its symbol's latest; the fan-out happens at the next flush."""
        stats = self.stats
        stats.ticks += 1
        entry = self._index.get((tick.feed, tick.exchange, tick.symbol))
        if entry is None:
            stats.unrouted += 1
            return
        self._arrivals += 1
        entry.pending[_LEVELS[tick.mode]] = (self._arrivals, tick)
        if not entry.dirty:
            entry.dirty = True
            self._dirty_entries.append(entry)

    def _fan_out(self) -> None:
        """Each pending tick to every subscribed session's outbox, encoded once per variant."""
        entries, self._dirty_entries = self._dirty_entries, []
        stats = self.stats
        dirty = self._dirty
        delivered = 0
        for entry in entries:
            entry.dirty = False
            pending = entry.pending
            entry.pending = [None, None, None, None]
            modes = entry.modes
            for mode in MODES:
                sessions = modes[mode]
                if not sessions:
                    continue
                # the newest pending tick rich enough for this mode
                best: tuple[int, Tick] | None = None
                for level in range(mode, 4):
                    candidate = pending[level]
                    if candidate is not None and (best is None or candidate[0] > best[0]):
                        best = candidate
                if best is None:
                    continue
                tick = best[1]
                key = (tick.exchange, tick.symbol, mode)
                cache: dict[tuple[str, int], Message] = {}
                for session, depth in sessions.items():
                    variant = (session.broker, depth)
                    message = cache.get(variant)
                    if message is None:
                        message = cache[variant] = market_data(tick, mode, session.broker, depth)
                        stats.encodes += 1
                    session.outbox[key] = message
                    if not session.dirty:
                        session.dirty = True
                        dirty.append(session)
                    delivered += 1
        stats.deliveries += delivered

    def flush(self) -> None:
        """End of a bus batch: hand each touched session its ticks (one write per session).

        Immediate when the last flush is at least `FLUSH_INTERVAL` old; otherwise deferred to that
        moment (the ticks keep conflating in the outboxes meanwhile).
        """
        if not self._dirty_entries or self._flush_timer is not None:
            return
        loop = asyncio.get_running_loop()
        due = self._last_flush + FLUSH_INTERVAL
        now = loop.time()
        if now >= due:
            self._flush_now()
        else:
            self._flush_timer = loop.call_at(due, self._flush_now)

    def _flush_now(self) -> None:
        self._flush_timer = None
        self._fan_out()
        dirty, self._dirty = self._dirty, []
        for session in dirty:
            session.flush()
        # spacing counts from the end of the work, so a slow flush leaves room for the bus
        self._last_flush = asyncio.get_running_loop().time()

    # --- feed health --------------------------------------------------------------------------

    def on_status(self, status: FeedStatus) -> None:
        """Tell the sessions served by a feed that it went down or came back."""
        previous = self.feed_state.get(status.feed)
        self.feed_state[status.feed] = status
        if previous is not None and previous.state == status.state:
            return
        if previous is None and status.state == "up":
            return  # first contact: nobody was told it was down
        self.stats.statuses += 1
        for session in list(self.sessions):
            feed = session.feed
            if feed is not None and feed.feed == status.feed and session.subscriptions:
                session.push(feed_status_message(status, session.broker))

    def snapshot(self) -> dict[str, Any]:
        return {
            "sessions": len(self.sessions),
            "symbols": len(self._index),
            **self.stats.snapshot(),
            "checked_at": int(time.time() * 1000),
        }


def feed_status_message(status: FeedStatus, broker: str) -> Message:
    """``feed_status``: sent when an upstream feed drops and again when it is back."""
    return Message.of(
        {
            "type": "feed_status",
            "status": status.state,
            "broker": broker,
            "message": status.message,
            "timestamp": status.timestamp_ms,
        }
    )
