"""Use cases behind the market-data endpoints: quotes, multiquotes, depth, history, intervals and
the ticker.

Market data always comes from the user's active broker, analyzer mode or not (reference 1.6): the
venue is `openalgo.services.venues.market_data`, and symbols are checked against the same broker's
instrument master before the venue is asked, so an unknown symbol is a 400 that names the field
(``symbol: unknown symbol SBIN1 on NSE``) on every endpoint, rather than whatever the venue says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from openalgo.brokers.base import BrokerConfigError, Capabilities, MarketData
from openalgo.brokers.simulator.market import MAX_DAILY_DAYS, MAX_INTRADAY_DAYS
from openalgo.domain.clock import IST
from openalgo.domain.enums import Exchange
from openalgo.domain.instruments import Instrument
from openalgo.domain.market import Candle, Depth, DepthLevel, Quote
from openalgo.errors import NotFound, OpenAlgoError, ValidationFailed
from openalgo.runtime import Runtime
from openalgo.security.apikeys import ApiPrincipal
from openalgo.services.instrument_cache import InstrumentCache

DEPTH_LEVELS = 5
DAILY_INTERVALS = frozenset({"D", "W", "M", "Q", "Y"})
# `/ticker` quietly narrows long ranges, as OpenAlgo does: ten years of daily (and longer) candles,
# thirty days of intraday ones, and never beyond what one `/history` request may span. `/history`
# refuses instead (its client asked for exactly those dates).
TICKER_DAILY_DAYS = 10 * 365
TICKER_INTRADAY_DAYS = 30


def instrument_master(runtime: Runtime, principal: ApiPrincipal) -> InstrumentCache:
    """The instrument master of the user's active broker (the one its market data speaks)."""
    cache = runtime.instruments
    if cache is not None and cache.broker == principal.broker:
        return cache
    raise BrokerConfigError(f"broker {principal.broker!r} is not available in this build")


# --- symbols ----------------------------------------------------------------------------------


def unknown_symbol_problem(cache: InstrumentCache, symbol: str, exchange: str) -> str:
    """The problem with an unlisted symbol, with a hint when only the letter case is wrong
    (symbols are case-sensitive, as in OpenAlgo): ``unknown symbol sbin on NSE (symbols are upper
    case: SBIN)``."""
    problem = f"unknown symbol {symbol} on {exchange}"
    upper = symbol.upper()
    if upper != symbol and cache.get(upper, exchange) is not None:
        problem += f" (symbols are upper case: {upper})"
    return problem


def require_symbol(
    cache: InstrumentCache, symbol: str, exchange: str, *, field: str = "symbol"
) -> Instrument:
    found = cache.get(symbol, exchange)
    if found is None:
        raise ValidationFailed.field(field, unknown_symbol_problem(cache, symbol, exchange))
    return found


# --- quotes and depth -------------------------------------------------------------------------


async def quote(market: MarketData, cache: InstrumentCache, symbol: str, exchange: str) -> Quote:
    require_symbol(cache, symbol, exchange)
    return await market.quote(symbol, exchange)


@dataclass(frozen=True, slots=True)
class QuoteResult:
    """One row of ``/multiquotes``: a quote, or the reason there is none."""

    symbol: str
    exchange: str
    quote: Quote | None = None
    error: str | None = None


async def quotes(
    market: MarketData, cache: InstrumentCache, refs: Sequence[tuple[str, str]]
) -> list[QuoteResult]:
    """Quotes of ``refs`` (symbol, exchange), in the order asked; unknown symbols get an ``error``
    instead of failing the batch. When *no* symbol is known the request is a 400 whose
    ``invalid_symbols`` lists them all, as OpenAlgo's does."""
    known = [i for i, (symbol, exchange) in enumerate(refs) if cache.get(symbol, exchange)]
    if not known:
        problems = {
            f"symbols.{i}.symbol": [unknown_symbol_problem(cache, symbol, exchange)]
            for i, (symbol, exchange) in enumerate(refs)
        }
        field, (first,) = next(iter(problems.items()))
        error = ValidationFailed(f"{field}: {first}", errors=problems)
        error.extra["invalid_symbols"] = [
            {"symbol": symbol, "exchange": exchange, "error": problems[f"symbols.{i}.symbol"][0]}
            for i, (symbol, exchange) in enumerate(refs)
        ]
        raise error
    fetched = await market.quotes([refs[i] for i in known])
    by_index = dict(zip(known, fetched, strict=True))
    out = []
    for i, (symbol, exchange) in enumerate(refs):
        got = by_index.get(i)
        if got is None:
            out.append(
                QuoteResult(symbol, exchange, error=unknown_symbol_problem(cache, symbol, exchange))
            )
        elif isinstance(got, OpenAlgoError):
            out.append(QuoteResult(symbol, exchange, error=got.message))
        else:
            out.append(QuoteResult(symbol, exchange, quote=got))
    return out


@dataclass(frozen=True, slots=True)
class DepthBook:
    """``/depth``'s book: exactly five levels a side, missing ones as price 0, quantity 0 (as
    OpenAlgo pads them), and the book's total quantities."""

    quote: Quote
    bids: tuple[DepthLevel, ...]
    asks: tuple[DepthLevel, ...]
    total_buy: int
    total_sell: int


def _padded(levels: Sequence[DepthLevel]) -> tuple[DepthLevel, ...]:
    shown = tuple(levels[:DEPTH_LEVELS])
    return shown + (DepthLevel(0.0, 0),) * (DEPTH_LEVELS - len(shown))


async def depth(
    market: MarketData, cache: InstrumentCache, symbol: str, exchange: str
) -> DepthBook:
    require_symbol(cache, symbol, exchange)
    book: Depth = await market.depth(symbol, exchange)
    shown_buy = sum(level.quantity for level in book.bids[:DEPTH_LEVELS])
    shown_sell = sum(level.quantity for level in book.asks[:DEPTH_LEVELS])
    # The venue's totals cover the whole book; the five levels shown are part of it.
    return DepthBook(
        quote=book.quote,
        bids=_padded(book.bids),
        asks=_padded(book.asks),
        total_buy=max(book.quote.total_buy_quantity, shown_buy),
        total_sell=max(book.quote.total_sell_quantity, shown_sell),
    )


# --- history ----------------------------------------------------------------------------------


def day_window(start: date, end: date) -> tuple[datetime, datetime]:
    """Whole IST days from ``start`` to ``end`` inclusive, as aware instants."""
    first = datetime.combine(start, time(0, 0), IST)
    last = datetime.combine(end + timedelta(days=1), time(0, 0), IST) - timedelta(microseconds=1)
    return first, last


def check_interval(capabilities: Capabilities, venue: str, interval: str, *, field: str) -> None:
    if interval not in capabilities.intervals:
        allowed = ", ".join(capabilities.intervals)
        raise ValidationFailed.field(
            field, f"{interval} is not offered by {venue}; use one of: {allowed}"
        )


# Days one intraday request may span, per interval: the limits Zerodha's API sets per call, which
# traders know. A year of 1m candles is half a million rows when the simulated market never closes
# (seconds of CPU and tens of megabytes of JSON); ask for it in pieces instead.
INTRADAY_SPAN_DAYS: dict[str, int] = {
    "1m": 60,
    "3m": 100,
    "5m": 100,
    "10m": 100,
    "15m": 200,
    "30m": 200,
    "1h": 400,
}
# Zerodha's daily limit too: five and a half years. Ten years of the always-open simulated market
# take about ten seconds to draw.
DAILY_SPAN_DAYS = 2000


def max_span_days(interval: str) -> int:
    if interval in DAILY_INTERVALS:
        return min(DAILY_SPAN_DAYS, MAX_DAILY_DAYS)
    return min(INTRADAY_SPAN_DAYS.get(interval, MAX_INTRADAY_DAYS), MAX_INTRADAY_DAYS)


async def history(
    market: MarketData,
    cache: InstrumentCache,
    *,
    symbol: str,
    exchange: str,
    interval: str,
    start: date,
    end: date,
    source: str = "api",
    symbol_field: str = "symbol",
    interval_field: str = "interval",
    range_field: str = "end_date",
) -> list[Candle]:
    """Candles of whole IST days ``start``..``end`` (a candle in progress is partial).

    The interval must be one the venue offers (`/intervals`) and the range at most
    `max_span_days` long.
    """
    require_symbol(cache, symbol, exchange, field=symbol_field)
    check_interval(market.capabilities, market.name, interval, field=interval_field)
    if end < start:
        raise ValidationFailed.field(range_field, "must not be before the start date")
    limit = max_span_days(interval)
    if (end - start).days > limit:
        raise ValidationFailed.field(
            range_field, f"{interval} history spans at most {limit} days per request"
        )
    if source == "db":
        # No local candle store (OpenAlgo's Historify) exists here, so, like OpenAlgo with an
        # empty store, there is nothing to find.
        raise NotFound(
            f"No data found for {symbol}:{exchange} interval {interval} in local database: "
            "this server stores no candles; use source api"
        )
    first, last = day_window(start, end)
    candles = await market.history(symbol, exchange, interval, first, last)
    return [daily_stamp(c) for c in candles] if interval in DAILY_INTERVALS else candles


def daily_stamp(candle: Candle) -> Candle:
    """Stamp a daily (or longer) candle as OpenAlgo does: 00:00 UTC of its IST date.

    The SDK reads daily stamps as UTC without converting them to IST (intraday ones it converts),
    so a stamp must show the IST date when read as UTC. A session open such as 09:15 IST does, but
    a session starting at midnight IST (the simulator's always-open market) is the previous
    evening in UTC.
    """
    day = datetime.fromtimestamp(candle.timestamp, IST).date()
    midnight = int(datetime.combine(day, time(0, 0), UTC).timestamp())
    return candle if candle.timestamp == midnight else replace(candle, timestamp=midnight)


def interval_buckets(intervals: Sequence[str]) -> dict[str, list[str]]:
    """``/intervals``: the venue's intervals by unit, numerically sorted within each."""
    buckets: dict[str, list[str]] = {
        "seconds": [],
        "minutes": [],
        "hours": [],
        "days": [],
        "weeks": [],
        "months": [],
    }
    unit_of = {
        "s": "seconds",
        "m": "minutes",
        "h": "hours",
        "D": "days",
        "W": "weeks",
        "M": "months",
    }
    for interval in intervals:
        bucket = unit_of.get(interval[-1])
        if bucket is not None:
            buckets[bucket].append(interval)

    def size(interval: str) -> int:
        digits = interval[:-1]
        return int(digits) if digits.isdigit() else 1

    return {name: sorted(values, key=size) for name, values in buckets.items()}


# --- ticker -----------------------------------------------------------------------------------


def parse_ticker(text: str, *, field: str = "ticker") -> tuple[str, str]:
    """``EXCHANGE:SYMBOL`` as (symbol, exchange). OpenAlgo serves NSE:RELIANCE for anything else;
    we say what is wrong."""
    exchange, sep, symbol = text.partition(":")
    if not sep or not exchange or not symbol or ":" in symbol:
        raise ValidationFailed.field(field, "must be EXCHANGE:SYMBOL, like NSE:SBIN")
    if exchange not in Exchange.__members__.values():
        allowed = ", ".join(e.value for e in Exchange)
        raise ValidationFailed.field(field, f"unknown exchange {exchange}; use one of: {allowed}")
    return symbol, exchange


def ticker_start(interval: str, start: date, end: date) -> date:
    """OpenAlgo's clamp (at most ten years of daily candles, thirty days of intraday ones), and
    never more than one `/history` request may span."""
    days = TICKER_DAILY_DAYS if interval in DAILY_INTERVALS else TICKER_INTRADAY_DAYS
    days = min(days, max_span_days(interval))
    if (end - start).days <= days:
        return start
    return end - timedelta(days=days)


def _number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else "0"


def candles_as_text(candles: Sequence[Candle], *, exchange: str, symbol: str, interval: str) -> str:
    """``/ticker?format=txt``: one line per candle, the IST date (and time, for intraday)."""
    daily = interval in DAILY_INTERVALS
    lines = []
    for c in candles:
        when = datetime.fromtimestamp(c.timestamp, IST)
        stamp = when.strftime("%Y-%m-%d") if daily else when.strftime("%Y-%m-%d,%H:%M:%S")
        prices = ",".join(_number(v) for v in (c.open, c.high, c.low, c.close))
        lines.append(f"{exchange}:{symbol},{stamp},{prices},{int(c.volume)}")
    return "".join(line + "\n" for line in lines)


__all__ = [
    "DepthBook",
    "QuoteResult",
    "candles_as_text",
    "day_window",
    "depth",
    "history",
    "instrument_master",
    "interval_buckets",
    "parse_ticker",
    "quote",
    "quotes",
    "require_symbol",
    "ticker_start",
]
