"""Use cases over the instrument master: symbol lookup, search, expiries, option resolution, chains.

The REST routers (``/symbol``, ``/search``, ``/expiry``, ``/optionsymbol``, ``/optionchain``,
``/optionsorder``...) call these. Errors are `OpenAlgoError`s with OpenAlgo's messages where it has
one; where OpenAlgo just says "not found", `require_instrument` says *why* (malformed, expired,
strike off the grid, no such expiry), naming the symbol.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.brokers.base import MarketData
from openalgo.db.repositories.instruments import SEARCH_LIMIT, InstrumentRepository
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import IST
from openalgo.domain.enums import FNO_EXCHANGES, Exchange, InstrumentType, OptionType
from openalgo.domain.instruments import Instrument
from openalgo.domain.market import Quote
from openalgo.domain.options import Greeks, bs_greeks, implied_volatility
from openalgo.domain.symbols import (
    SymbolError,
    format_expiry,
    format_expiry_text,
    format_strike,
    option_symbol,
    parse_exchange,
    parse_expiry,
    parse_symbol,
    parse_underlying,
)
from openalgo.errors import BadRequest, NotFound, OpenAlgoError
from openalgo.services.instrument_cache import InstrumentCache

NSE_INDICES = frozenset({"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "INDIAVIX"})
BSE_INDICES = frozenset({"SENSEX", "BANKEX", "SENSEX50"})
_OFFSET = re.compile(r"(ATM)|(ITM|OTM)([1-9]\d?)", re.IGNORECASE)
MAX_OFFSET = 50
InstrumentKind = Literal["futures", "options"]


# --- symbols ----------------------------------------------------------------------------------


def get_symbol(cache: InstrumentCache, symbol: str, exchange: str) -> Instrument:
    """``/symbol``: the master row, or 404 ``Symbol X not found in exchange NSE``."""
    exch = parse_exchange(exchange)
    found = cache.get(symbol, exch.value)
    if found is None:
        raise NotFound(f"Symbol {symbol} not found in exchange {exch.value}")
    return found


def require_instrument(
    cache: InstrumentCache, symbol: str, exchange: str, *, today: date
) -> Instrument:
    """The instrument for an order or quote, or an error that says what is wrong with the symbol."""
    exch = parse_exchange(exchange)
    found = cache.get(symbol, exch.value)
    if found is not None:
        if found.expiry is not None and found.expiry < today:
            raise BadRequest(f"{symbol} expired on {found.expiry_text}")
        return found
    raise _diagnose(cache, symbol, exch, today)


def _diagnose(
    cache: InstrumentCache, symbol: str, exchange: Exchange, today: date
) -> OpenAlgoError:
    parsed = parse_symbol(symbol, exchange)  # raises SymbolError for malformed symbols
    if parsed.expiry is None:
        return NotFound(
            f"Symbol '{symbol}' not found for exchange '{exchange.value}'. Please verify the "
            "symbol name and ensure master contracts are downloaded."
        )
    expiry_text = format_expiry_text(parsed.expiry)
    if parsed.expiry < today:
        return BadRequest(f"{symbol} expired on {expiry_text}")
    if parsed.strike is not None and parsed.option_type is not None:
        kind = InstrumentType(parsed.option_type.value)
        strikes = cache.strikes(parsed.base, exchange.value, parsed.expiry, kind)
        if strikes:
            near = cache.nearest_strikes(
                parsed.base, exchange.value, parsed.expiry, kind, parsed.strike
            )
            listed = " and ".join(format_strike(s) for s in near)
            return BadRequest(
                f"Strike {format_strike(parsed.strike)} is not on the strike grid for "
                f"{parsed.base} {expiry_text} {kind.value} in {exchange.value}; "
                f"nearest listed strikes: {listed}"
            )
    expiries = sorted(
        {*cache.option_expiries(parsed.base, exchange.value, on_or_after=today)}
        | {
            f.expiry
            for f in cache.futures(parsed.base, exchange.value, on_or_after=today)
            if f.expiry
        }
    )
    if expiries:
        return NotFound(
            f"No {parsed.base} contract expires on {expiry_text} in {exchange.value}; "
            f"listed expiries: {', '.join(format_expiry_text(d) for d in expiries[:6])}"
        )
    return NotFound(f"Symbol {symbol} not found in exchange {exchange.value}")


async def search_instruments(
    session: AsyncSession,
    broker: str,
    query: str,
    *,
    exchange: str | None = None,
    instrument_types: Sequence[InstrumentType] | None = None,
    limit: int = SEARCH_LIMIT,
    cache: InstrumentCache | None = None,
) -> list[Instrument]:
    """``/search``: AND of whitespace terms, ranked exact > prefix > contains, at most 500 rows.

    Served from ``cache`` when it holds ``broker``'s master (a few milliseconds over 100k rows);
    from the database otherwise (a scan, hundreds of milliseconds on a big master).
    """
    if not query or not query.strip():
        raise BadRequest("Query parameter is required and cannot be empty")
    if "\x00" in query:
        raise BadRequest("Query must not contain NUL characters")
    exch = parse_exchange(exchange).value if exchange else None
    limit = min(limit, SEARCH_LIMIT)
    if cache is not None and cache.warm and cache.broker == broker:
        return cache.search(query, exchange=exch, instrument_types=instrument_types, limit=limit)
    return await InstrumentRepository(session, broker).search(
        query, exchange=exch, instrument_types=instrument_types, limit=limit
    )


def list_expiries(
    cache: InstrumentCache, symbol: str, exchange: str, kind: InstrumentKind, *, today: date
) -> list[date]:
    """``/expiry``: unexpired expiries of an underlying's futures or options, ascending."""
    exch = parse_exchange(exchange)
    if exch not in FNO_EXCHANGES:
        allowed = ", ".join(sorted(e.value for e in FNO_EXCHANGES))
        raise BadRequest(f"Expiry lookup needs an F&O exchange ({allowed}), not {exch.value}")
    if kind == "futures":
        return [f.expiry for f in cache.futures(symbol, exch.value, on_or_after=today) if f.expiry]
    if kind == "options":
        return cache.option_expiries(symbol, exch.value, on_or_after=today)
    raise BadRequest(f"Invalid instrumenttype {kind!r}: use futures or options")


# --- option resolution ------------------------------------------------------------------------


def option_exchange_for(exchange: Exchange) -> Exchange:
    """Where an underlying's options trade (rest-api section 3)."""
    if exchange in (Exchange.NSE, Exchange.NSE_INDEX):
        return Exchange.NFO
    if exchange in (Exchange.BSE, Exchange.BSE_INDEX):
        return Exchange.BFO
    if exchange in FNO_EXCHANGES:
        return exchange
    return Exchange.NFO


@dataclass(frozen=True, slots=True)
class Offset:
    kind: Literal["ATM", "ITM", "OTM"]
    steps: int

    @property
    def text(self) -> str:
        return "ATM" if self.kind == "ATM" else f"{self.kind}{self.steps}"


def parse_offset(text: str) -> Offset:
    match = _OFFSET.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or (match[3] and int(match[3]) > MAX_OFFSET):
        raise BadRequest(f"Invalid offset {text!r}: use ATM, ITM1-ITM50 or OTM1-OTM50")
    if match[1]:
        return Offset("ATM", 0)
    kind: Literal["ITM", "OTM"] = "ITM" if match[2].upper() == "ITM" else "OTM"
    return Offset(kind, int(match[3]))


@dataclass(frozen=True, slots=True)
class Underlying:
    base: str
    option_exchange: Exchange
    quote_symbol: str
    quote_exchange: str
    expiry: date


def resolve_underlying(
    cache: InstrumentCache,
    underlying: str,
    exchange: str,
    expiry_date: str | None,
    *,
    today: date,
) -> Underlying:
    """Which contract series and which quote an option request is about.

    An explicit ``expiry_date`` wins over one embedded in ``underlying`` (``NIFTY28NOV24FUT``).
    """
    exch = parse_exchange(exchange)
    base, embedded = parse_underlying(underlying)
    expiry = parse_expiry(expiry_date) if expiry_date else embedded
    if expiry is None:
        raise BadRequest(
            "Expiry date required. Provide via expiry_date parameter or embed in underlying "
            "(e.g., NIFTY28OCT25FUT)."
        )
    if expiry < today:
        raise BadRequest(f"Expiry {format_expiry(expiry)} is in the past")
    option_exchange = option_exchange_for(exch)
    quote_symbol, quote_exchange = _quote_source(cache, base, exch, option_exchange, expiry, today)
    return Underlying(base, option_exchange, quote_symbol, quote_exchange, expiry)


def _quote_source(
    cache: InstrumentCache,
    base: str,
    exchange: Exchange,
    option_exchange: Exchange,
    expiry: date,
    today: date,
) -> tuple[str, str]:
    if exchange in (Exchange.NSE, Exchange.BSE, Exchange.NSE_INDEX, Exchange.BSE_INDEX):
        return base, exchange.value
    if exchange in (Exchange.NFO, Exchange.BFO):
        index_exchange = "NSE_INDEX" if exchange is Exchange.NFO else "BSE_INDEX"
        cash = "NSE" if exchange is Exchange.NFO else "BSE"
        known = NSE_INDICES if exchange is Exchange.NFO else BSE_INDICES
        if base in known or cache.get(base, index_exchange) is not None:
            return base, index_exchange
        return base, cash
    # Commodities and currencies have no spot: quote the future the options settle into.
    futures = cache.futures(base, option_exchange.value, on_or_after=today)
    if not futures:
        raise NotFound(
            f"No unexpired {base} futures in {option_exchange.value} to price options from"
        )
    covering = [f for f in futures if f.expiry is not None and f.expiry >= expiry]
    chosen = covering[0] if covering else futures[0]
    return chosen.symbol, chosen.exchange


@dataclass(frozen=True, slots=True)
class OptionResolution:
    instrument: Instrument
    underlying: Underlying
    underlying_ltp: float
    atm_strike: Decimal
    offset: Offset
    option_type: OptionType


async def resolve_option_symbol(
    cache: InstrumentCache,
    market: MarketData,
    *,
    underlying: str,
    exchange: str,
    offset: str,
    option_type: str,
    expiry_date: str | None = None,
    strike_int: int | None = None,
    today: date,
) -> OptionResolution:
    """``/optionsymbol``: ATM is the listed strike nearest the underlying's LTP; ITMn/OTMn step
    n listed strikes from it (down for CE ITM, up for PE ITM). With the legacy ``strike_int``,
    ATM is LTP rounded to that step and offsets are multiples of it."""
    side = _option_type(option_type)
    step = parse_offset(offset)
    under = resolve_underlying(cache, underlying, exchange, expiry_date, today=today)
    ltp = (await market.quote(under.quote_symbol, under.quote_exchange)).ltp
    kind = InstrumentType(side.value)
    if strike_int is not None:
        if strike_int < 1:
            raise BadRequest("strike_int must be a positive integer")
        atm = (Decimal(str(ltp)) / strike_int).quantize(Decimal(1), ROUND_HALF_UP) * strike_int
        moves = _direction(step, side) * step.steps
        strike = atm + moves * strike_int
    else:
        strikes = cache.strikes(under.base, under.option_exchange.value, under.expiry, kind)
        if not strikes:
            raise NotFound(
                f"No strikes found for {under.base} expiring {format_expiry(under.expiry)}. "
                "Please check expiry date or update master contract."
            )
        atm_index = nearest_index(strikes, ltp)
        atm = strikes[atm_index]
        target = atm_index + _direction(step, side) * step.steps
        if not 0 <= target < len(strikes):
            raise BadRequest(
                f"Offset {step.text} is out of range for available strikes. "
                "Please use a smaller offset."
            )
        strike = strikes[target]
    symbol = option_symbol(under.base, under.expiry, strike, side)
    instrument = cache.get(symbol, under.option_exchange.value)
    if instrument is None:
        raise NotFound(
            f"Option symbol {symbol} not found in {under.option_exchange.value}. Symbol may not "
            "exist or master contract needs update."
        )
    return OptionResolution(instrument, under, ltp, atm, step, side)


def _option_type(text: str) -> OptionType:
    try:
        return OptionType(text.upper())
    except (ValueError, AttributeError):
        raise BadRequest(f"Invalid option_type {text!r}: use CE or PE") from None


def _direction(offset: Offset, side: OptionType) -> int:
    """+1 moves up the strike ladder, -1 down. CE: ITM is below ATM; PE: ITM is above."""
    if offset.kind == "ATM":
        return 0
    itm_sign = -1 if side is OptionType.CE else 1
    return itm_sign if offset.kind == "ITM" else -itm_sign


def nearest_index(strikes: Sequence[Decimal], price: float) -> int:
    """Index of the strike nearest ``price`` (the lower one on a tie)."""
    return min(range(len(strikes)), key=lambda i: (abs(float(strikes[i]) - price), strikes[i]))


# --- option chain -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainLeg:
    instrument: Instrument
    label: str  # ATM, ITMk, OTMk
    quote: Quote | None
    implied_volatility: float | None = None  # percent
    greeks: Greeks | None = None


@dataclass(frozen=True, slots=True)
class ChainRow:
    strike: Decimal
    ce: ChainLeg | None
    pe: ChainLeg | None


@dataclass(frozen=True, slots=True)
class OptionChain:
    underlying: Underlying
    underlying_ltp: float
    underlying_prev_close: float
    atm_strike: Decimal
    expiry_ts: int  # epoch seconds of the expiry cut-off
    server_ts: int
    rows: list[ChainRow] = field(default_factory=list)
    forward_price: float | None = None


def _label(index: int, atm_index: int, side: OptionType) -> str:
    if index == atm_index:
        return "ATM"
    below = index < atm_index
    itm = below if side is OptionType.CE else not below
    return f"{'ITM' if itm else 'OTM'}{abs(index - atm_index)}"


async def option_chain(
    cache: InstrumentCache,
    market: MarketData,
    calendar: MarketCalendar,
    *,
    underlying: str,
    exchange: str,
    expiry_date: str | None,
    strike_count: int | None = None,
    with_greeks: bool = False,
    interest_rate: float = 0.0,
    now: datetime,
) -> OptionChain:
    """``/optionchain``: strikes around ATM with quotes per leg, optionally with IV and greeks."""
    today = now.astimezone(IST).date()
    if strike_count is not None and not 1 <= strike_count <= 100:
        raise BadRequest("strike_count must be between 1 and 100")
    under = resolve_underlying(cache, underlying, exchange, expiry_date, today=today)
    opt_exchange = under.option_exchange.value
    calls = cache.strikes(under.base, opt_exchange, under.expiry, InstrumentType.CE)
    puts = cache.strikes(under.base, opt_exchange, under.expiry, InstrumentType.PE)
    strikes = sorted(set(calls) | set(puts))
    if not strikes:
        raise NotFound(
            f"No strikes found for {under.base} expiring {format_expiry(under.expiry)}. "
            "Please check expiry date or update master contract."
        )
    spot = await market.quote(under.quote_symbol, under.quote_exchange)
    atm_index = nearest_index(strikes, spot.ltp)
    if strike_count is not None:
        low, high = max(atm_index - strike_count, 0), atm_index + strike_count + 1
        window = strikes[low:high]
        atm_index -= low
    else:
        window = strikes
    legs: list[tuple[int, OptionType, Instrument]] = []
    for i, strike in enumerate(window):
        for side in (OptionType.CE, OptionType.PE):
            inst = cache.get(option_symbol(under.base, under.expiry, strike, side), opt_exchange)
            if inst is not None:
                legs.append((i, side, inst))
    results = await market.quotes([(inst.symbol, inst.exchange) for _, _, inst in legs])
    quotes = {
        (i, side): (r if isinstance(r, Quote) else None)
        for (i, side, _), r in zip(legs, results, strict=True)
    }
    cutoff = calendar.expiry_cutoff(under.option_exchange, under.expiry)
    years = max((cutoff - now).total_seconds(), 0.0) / (365.0 * 86400.0)
    rate = interest_rate / 100.0
    forward: float | None = None
    if with_greeks:
        atm_ce, atm_pe = (
            quotes.get((atm_index, OptionType.CE)),
            quotes.get((atm_index, OptionType.PE)),
        )
        forward = (
            float(window[atm_index]) + (atm_ce.ltp - atm_pe.ltp) if atm_ce and atm_pe else spot.ltp
        )
    rows: dict[int, dict[OptionType, ChainLeg]] = {}
    for i, side, inst in legs:
        quote = quotes[(i, side)]
        iv: float | None = None
        greeks: Greeks | None = None
        if with_greeks and quote is not None and forward is not None and years > 0:
            iv, greeks = _leg_greeks(side, quote.ltp, forward, float(window[i]), years, rate)
        rows.setdefault(i, {})[side] = ChainLeg(inst, _label(i, atm_index, side), quote, iv, greeks)
    chain = [
        ChainRow(window[i], rows.get(i, {}).get(OptionType.CE), rows.get(i, {}).get(OptionType.PE))
        for i in range(len(window))
    ]
    return OptionChain(
        underlying=under,
        underlying_ltp=spot.ltp,
        underlying_prev_close=spot.prev_close,
        atm_strike=window[atm_index],
        expiry_ts=int(cutoff.timestamp()),
        server_ts=int(now.timestamp()),
        rows=chain,
        forward_price=forward,
    )


def _leg_greeks(
    side: OptionType, price: float, forward: float, strike: float, years: float, rate: float
) -> tuple[float | None, Greeks | None]:
    """Black-76 on the synthetic forward, as OpenAlgo's greeks service does."""
    kind: Literal["CE", "PE"] = "CE" if side is OptionType.CE else "PE"
    vol = implied_volatility(kind, price, forward, strike, years, rate, dividend=rate)
    if vol is None:
        return None, None
    return round(vol * 100.0, 4), bs_greeks(kind, forward, strike, years, rate, vol, dividend=rate)


__all__ = [
    "ChainLeg",
    "ChainRow",
    "OptionChain",
    "OptionResolution",
    "SymbolError",
    "Underlying",
    "get_symbol",
    "list_expiries",
    "option_chain",
    "option_exchange_for",
    "parse_offset",
    "require_instrument",
    "resolve_option_symbol",
    "resolve_underlying",
    "search_instruments",
]
