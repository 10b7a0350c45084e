"""A deterministic market for sandbox tests: a small instrument table and prices the test sets.

STAND-IN: issue 3 builds the real instrument cache and the simulator market. After merging, the
lead replaces `FakeInstruments` with `InstrumentCache` seeded with these rows and `FakeMarket` with
the simulator driven tick by tick; the tests only use the two Protocols, so only this file changes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from openalgo.brokers.base import Capabilities
from openalgo.domain.enums import Exchange, InstrumentType, TickMode
from openalgo.domain.instruments import Instrument
from openalgo.domain.market import Candle, Depth, DepthLevel, Quote, Tick
from openalgo.domain.orders import OrderEvent
from openalgo.errors import NotFound, OpenAlgoError, ServiceUnavailable

EXPIRY = date(2026, 12, 29)  # a Tuesday


def _inst(
    symbol: str,
    exchange: str,
    kind: InstrumentType,
    *,
    lot: int = 1,
    tick: str = "0.05",
    expiry: date | None = None,
    strike: str | None = None,
    name: str | None = None,
) -> Instrument:
    return Instrument(
        symbol=symbol,
        exchange=exchange,
        name=name or symbol,
        instrument_type=kind,
        token=f"T{abs(hash((symbol, exchange))) % 10**8}",
        broker_symbol=symbol,
        broker_exchange=exchange,
        lot_size=lot,
        tick_size=Decimal(tick),
        expiry=expiry,
        strike=Decimal(strike) if strike else None,
    )


INSTRUMENTS = [
    _inst("SBIN", "NSE", InstrumentType.EQ),
    _inst("RELIANCE", "NSE", InstrumentType.EQ),
    _inst("INFY", "NSE", InstrumentType.EQ),
    _inst("ZEEL", "BSE", InstrumentType.EQ, tick="0.01"),
    _inst("NIFTY", "NSE_INDEX", InstrumentType.INDEX),
    _inst("NIFTY29DEC26FUT", "NFO", InstrumentType.FUT, lot=75, expiry=EXPIRY, name="NIFTY"),
    _inst(
        "NIFTY29DEC2624000CE",
        "NFO",
        InstrumentType.CE,
        lot=75,
        expiry=EXPIRY,
        strike="24000",
        name="NIFTY",
    ),
    _inst(
        "NIFTY29DEC2624000PE",
        "NFO",
        InstrumentType.PE,
        lot=75,
        expiry=EXPIRY,
        strike="24000",
        name="NIFTY",
    ),
    _inst("USDINR29DEC26FUT", "CDS", InstrumentType.FUT, lot=1000, tick="0.0025", expiry=EXPIRY),
    _inst("CRUDEOIL29DEC26FUT", "MCX", InstrumentType.FUT, lot=100, tick="1", expiry=EXPIRY),
    _inst("BTCUSDT", "CRYPTO", InstrumentType.FUT, lot=1, tick="0.5"),
]


class FakeInstruments:
    """`InstrumentLookup` over a fixed table."""

    def __init__(self, rows: Sequence[Instrument] = INSTRUMENTS) -> None:
        self.rows = {(i.symbol, i.exchange): i for i in rows}

    def add(self, instrument: Instrument) -> None:
        self.rows[(instrument.symbol, instrument.exchange)] = instrument

    async def resolve(self, symbol: str, exchange: str) -> Instrument | None:
        return self.rows.get((symbol, exchange))


@dataclass
class FakeMarket:
    """`MarketData` whose quotes are whatever the test set last. Unknown symbols raise NotFound."""

    name: str = "fake"
    capabilities: Capabilities = field(
        default_factory=lambda: Capabilities(exchanges=frozenset(Exchange))
    )
    prices: dict[tuple[str, str], Quote] = field(default_factory=dict)
    quote_calls: int = 0
    down: bool = False

    def set(
        self,
        symbol: str,
        exchange: str,
        ltp: float,
        *,
        bid: float = 0.0,
        ask: float = 0.0,
        high: float = 0.0,
        low: float = 0.0,
    ) -> Quote:
        quote = Quote(
            ltp=ltp,
            open=ltp,
            high=high,
            low=low,
            prev_close=ltp,
            volume=0,
            bid=bid,
            ask=ask,
            timestamp_ms=int(time.time() * 1000),
        )
        self.prices[(symbol, exchange)] = quote
        return quote

    async def quote(self, symbol: str, exchange: str) -> Quote:
        self.quote_calls += 1
        if self.down:
            raise ServiceUnavailable("fake market is down")
        found = self.prices.get((symbol, exchange))
        if found is None:
            raise NotFound(f"no price for {exchange}:{symbol}")
        return found

    async def quotes(self, items: Sequence[tuple[str, str]]) -> list[Quote | OpenAlgoError]:
        out: list[Quote | OpenAlgoError] = []
        for symbol, exchange in items:
            try:
                out.append(await self.quote(symbol, exchange))
            except OpenAlgoError as exc:
                out.append(exc)
        return out

    async def depth(self, symbol: str, exchange: str) -> Depth:
        quote = await self.quote(symbol, exchange)
        return Depth(
            quote=quote,
            bids=(DepthLevel(quote.bid, 100),) if quote.bid else (),
            asks=(DepthLevel(quote.ask, 100),) if quote.ask else (),
        )

    async def history(
        self, symbol: str, exchange: str, interval: str, start: datetime, end: datetime
    ) -> list[Candle]:
        return []


def tick(
    symbol: str,
    exchange: str,
    ltp: float,
    *,
    bid: float = 0.0,
    ask: float = 0.0,
) -> Tick:
    """A tick as a feed would publish it (DEPTH when a touch is given, else LTP)."""
    if bid or ask:
        return Tick(
            exchange=exchange,
            symbol=symbol,
            mode=TickMode.DEPTH,
            ltp=ltp,
            timestamp_ms=int(time.time() * 1000),
            bids=(DepthLevel(bid, 10),) if bid else (),
            asks=(DepthLevel(ask, 10),) if ask else (),
        )
    return Tick(
        exchange=exchange,
        symbol=symbol,
        mode=TickMode.LTP,
        ltp=ltp,
        timestamp_ms=int(time.time() * 1000),
    )


class RecordingFeed:
    """`PriceFeed` that remembers what the engine asked for."""

    def __init__(self) -> None:
        self.wanted: set[tuple[str, str]] = set()
        self.calls: list[tuple[str, str, str]] = []

    def want(self, exchange: str, symbol: str) -> None:
        self.wanted.add((exchange, symbol))
        self.calls.append(("want", exchange, symbol))

    def release(self, exchange: str, symbol: str) -> None:
        self.wanted.discard((exchange, symbol))
        self.calls.append(("release", exchange, symbol))


class CollectingSink:
    """`OrderEventSink` that keeps every event (the streaming hub's stand-in)."""

    def __init__(self) -> None:
        self.events: list[OrderEvent] = []

    def publish(self, event: OrderEvent) -> None:
        self.events.append(event)

    def kinds(self, orderid: str) -> list[str]:
        return [e.kind.value for e in self.events if e.order.orderid == orderid]
