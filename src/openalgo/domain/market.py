"""Market data as every venue returns it: quotes, depth, candles and the normalized tick.

Prices here are floats in rupees, as OpenAlgo clients receive them; the sandbox ledger converts to
`Decimal` on the tick grid before any money moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from openalgo.domain.enums import TickMode


@dataclass(frozen=True, slots=True)
class DepthLevel:
    price: float
    quantity: int
    orders: int = 0


@dataclass(frozen=True, slots=True)
class Quote:
    """The `/quotes` row: ask, bid, high, low, ltp, open, prev_close, volume, oi."""

    ltp: float
    open: float
    high: float
    low: float
    prev_close: float
    volume: int
    bid: float
    ask: float
    oi: int = 0
    average_price: float = 0.0
    last_quantity: int = 0
    total_buy_quantity: int = 0
    total_sell_quantity: int = 0
    timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class Depth:
    """The `/depth` payload: best bids and asks (5 levels unless the venue offers more)."""

    quote: Quote
    bids: tuple[DepthLevel, ...]
    asks: tuple[DepthLevel, ...]


@dataclass(frozen=True, slots=True)
class Candle:
    timestamp: int  # epoch seconds of the candle's open, as OpenAlgo's /history returns it
    open: float
    high: float
    low: float
    close: float
    volume: int
    oi: int = 0


@dataclass(frozen=True, slots=True)
class Tick:
    """One normalized tick; the same schema for every broker feed.

    ``mode`` is the richest mode the tick carries: an LTP tick has only ``ltp``; a QUOTE tick fills
    ``quote``; a DEPTH tick fills ``quote`` and ``bids``/``asks``. ``timestamp_ms`` is epoch
    milliseconds, as OpenAlgo clients expect. ``feed`` scopes the tick to the broker feed (and so
    the user) that produced it; the shared simulator feed is ``"simulator"``.
    """

    exchange: str
    symbol: str
    mode: TickMode
    ltp: float
    timestamp_ms: int
    ltt_ms: int = 0
    quote: Quote | None = None
    bids: tuple[DepthLevel, ...] = field(default=())
    asks: tuple[DepthLevel, ...] = field(default=())
    feed: str = "simulator"


class TickSink(Protocol):
    """Where a market-data source puts its ticks. Must not block: a full sink drops or conflates."""

    def publish(self, tick: Tick) -> None: ...
