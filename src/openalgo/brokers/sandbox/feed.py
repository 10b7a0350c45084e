"""Where the ledger's prices come from: ticks pushed in, quotes pulled when ticks are missing.

- `PriceFeed` is the small seam to the streaming hub (or the simulator): the engine asks for ticks
  on a symbol while something rests on it and releases the symbol afterwards; the feed then calls
  `SandboxEngine.on_tick` for each tick.
- `MarketDataFor` picks the `MarketData` whose quotes price a user's orders: in analyzer mode that
  is the user's active broker, for the simulator ledger the simulator itself.
- `PriceBoard` keeps the latest price per symbol so a MARKET order placed right after a tick needs
  no quote round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from openalgo.brokers.base import MarketData
from openalgo.brokers.sandbox.book import SymbolKey
from openalgo.brokers.sandbox.ops import MarketPrice
from openalgo.domain.market import Quote, Tick
from openalgo.domain.money import ZERO, price

log = logging.getLogger("openalgo.sandbox")


class PriceFeed(Protocol):
    """Ticks on demand. Calls must not block; the engine counts its own references."""

    def want(self, exchange: str, symbol: str) -> None: ...

    def release(self, exchange: str, symbol: str) -> None: ...


class MarketDataFor(Protocol):
    def __call__(self, user_id: int, /) -> MarketData | None: ...


class NoFeed:
    """The feed used when nothing pushes ticks: the polling fallback does all the work."""

    def want(self, exchange: str, symbol: str) -> None:
        return None

    def release(self, exchange: str, symbol: str) -> None:
        return None


class CallbackFeed:
    """A `PriceFeed` over a market's own subscribe/unsubscribe, e.g. the simulator's:
    ``CallbackFeed(lambda e, s: sim.subscribe(s, e, TickMode.QUOTE),
    lambda e, s: sim.unsubscribe(s, e, TickMode.QUOTE))``. A symbol the market does not know
    is logged and skipped (the polling fallback still prices what it can)."""

    def __init__(
        self,
        subscribe: Callable[[str, str], None],
        unsubscribe: Callable[[str, str], None],
    ) -> None:
        self._subscribe = subscribe
        self._unsubscribe = unsubscribe
        self._active: set[tuple[str, str]] = set()

    def want(self, exchange: str, symbol: str) -> None:
        try:
            self._subscribe(exchange, symbol)
        except Exception as exc:
            log.info("sandbox: no ticks for %s:%s (%s)", exchange, symbol, exc)
            return
        self._active.add((exchange, symbol))

    def release(self, exchange: str, symbol: str) -> None:
        if (exchange, symbol) in self._active:
            self._active.discard((exchange, symbol))
            self._unsubscribe(exchange, symbol)


@dataclass(slots=True)
class Snapshot:
    ltp: float
    bid: float
    ask: float
    high: float
    low: float
    at: float  # clock time, epoch seconds

    @property
    def plausible(self) -> bool:
        """OpenAlgo's stale-quote guard: an LTP outside the day's range is not traded on."""
        if self.high > 0 and self.low > 0:
            return self.low <= self.ltp <= self.high
        return True

    def market(self) -> MarketPrice:
        return MarketPrice(
            ltp=price(self.ltp),
            bid=price(self.bid) if self.bid > 0 else ZERO,
            ask=price(self.ask) if self.ask > 0 else ZERO,
        )

    def touch(self, buy: bool) -> Decimal:
        value = self.ask if buy else self.bid
        return price(value if value > 0 else self.ltp)


class PriceBoard:
    def __init__(self) -> None:
        self._prices: dict[SymbolKey, Snapshot] = {}

    def __len__(self) -> int:
        return len(self._prices)

    def get(self, key: SymbolKey) -> Snapshot | None:
        return self._prices.get(key)

    def fresh(self, key: SymbolKey, now: float, max_age: float) -> Snapshot | None:
        snap = self._prices.get(key)
        if snap is None or now - snap.at > max_age:
            return None
        return snap

    def from_tick(self, tick: Tick, now: float) -> Snapshot:
        bid = tick.bids[0].price if tick.bids else 0.0
        ask = tick.asks[0].price if tick.asks else 0.0
        high = low = 0.0
        if tick.quote is not None:
            bid = bid or tick.quote.bid
            ask = ask or tick.quote.ask
            high, low = tick.quote.high, tick.quote.low
        snap = Snapshot(tick.ltp, bid, ask, high, low, now)
        self._prices[(tick.exchange, tick.symbol)] = snap
        return snap

    def from_quote(self, key: SymbolKey, quote: Quote, now: float) -> Snapshot:
        snap = Snapshot(quote.ltp, quote.bid, quote.ask, quote.high, quote.low, now)
        self._prices[key] = snap
        return snap
