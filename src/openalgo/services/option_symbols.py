"""Which option contract a request means: underlying, expiry and strike from ATM/ITMn/OTMn.

Shared by optionsymbol, optionsorder, optionsmultiorder, optionchain, optiongreeks and
syntheticfuture (reference 3, 5.3, 7.12). Everything is resolved against the instrument master in
memory (`InstrumentCache`), never against a strike grid we imagine:

- **Underlying.** ``NIFTY`` or one carrying its expiry, ``NIFTY28NOV24FUT``. Its price comes from
  the first of: that embedded future (when listed), the spot on the exchange named (NSE_INDEX,
  NSE, ...), the index or the stock behind the option exchange (NFO: NSE_INDEX then NSE; BFO:
  BSE_INDEX then BSE), and finally the nearest unexpired future (MCX, CDS have no spot). Options
  live on the exchange OpenAlgo maps the request's exchange to (NSE/NSE_INDEX -> NFO,
  BSE/BSE_INDEX -> BFO, derivative exchanges -> themselves).
- **Expiry.** ``expiry_date`` (DDMMMYY) wins over one embedded in the underlying; it must be a
  listed, unexpired option expiry of that underlying.
- **Strike.** ATM is the listed strike nearest the underlying's last price; ``ITMn`` is n listed
  strikes into the money (below ATM for a call, above for a put), ``OTMn`` the other way. With
  the deprecated ``strike_int`` the grid is OpenAlgo's arithmetic one (ATM = LTP rounded to a
  multiple of it) and the contract must still be listed.

Every mistake is a 400 whose message and ``errors`` name the request field to change.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from openalgo.brokers.base import MarketData
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import IST
from openalgo.domain.enums import CASH_EXCHANGES, INDEX_EXCHANGES, Exchange, InstrumentType
from openalgo.domain.instruments import Instrument
from openalgo.domain.market import Quote
from openalgo.domain.symbols import (
    SymbolError,
    format_expiry,
    future_symbol,
    option_symbol,
    parse_expiry,
    parse_underlying,
)
from openalgo.errors import ValidationFailed
from openalgo.services.instrument_cache import InstrumentCache

# Reference 3: where an underlying's options are listed.
_OPTION_EXCHANGE: dict[Exchange, Exchange] = {
    Exchange.NSE: Exchange.NFO,
    Exchange.NSE_INDEX: Exchange.NFO,
    Exchange.BSE: Exchange.BFO,
    Exchange.BSE_INDEX: Exchange.BFO,
    **{e: e for e in (Exchange.NFO, Exchange.BFO, Exchange.MCX, Exchange.CDS, Exchange.NCO)},
    **{e: e for e in (Exchange.BCD, Exchange.NCDEX, Exchange.CRYPTO)},
}
# Where the spot behind an option exchange is quoted: the index first, then the stock.
_SPOT_EXCHANGES: dict[Exchange, tuple[Exchange, ...]] = {
    Exchange.NFO: (Exchange.NSE_INDEX, Exchange.NSE),
    Exchange.BFO: (Exchange.BSE_INDEX, Exchange.BSE),
}
# NSE's quantity freeze limits for index options (units per order); 1 when unknown, as OpenAlgo.
_FREEZE_QTY: dict[tuple[str, str], int] = {
    ("NFO", "NIFTY"): 1800,
    ("NFO", "BANKNIFTY"): 900,
    ("NFO", "FINNIFTY"): 1800,
    ("NFO", "MIDCPNIFTY"): 2800,
    ("NFO", "NIFTYNXT50"): 600,
    ("BFO", "SENSEX"): 1000,
    ("BFO", "BANKEX"): 900,
}
OUT_OF_RANGE = "Offset {offset} is out of range for available strikes. Please use a smaller offset."
EXPIRY_REQUIRED = (
    "Expiry date required. Provide via expiry_date parameter or embed in underlying "
    "(e.g., NIFTY28OCT25FUT)."
)


def option_exchange(exchange: Exchange) -> Exchange:
    return _OPTION_EXCHANGE.get(exchange, Exchange.NFO)


def freeze_quantity(instrument: Instrument) -> int:
    return _FREEZE_QTY.get((instrument.exchange, instrument.name), 1)


@dataclass(frozen=True, slots=True)
class UnderlyingRef:
    """An underlying as a request names it, and where its price and options are."""

    text: str  # as the request gave it (upper-cased): NIFTY or NIFTY28NOV24FUT
    base: str  # NIFTY
    options_on: str  # the option exchange: NFO
    source: Instrument  # what the underlying's price is read from
    expiry: date | None  # embedded in ``text``


@dataclass(frozen=True, slots=True)
class Priced:
    ref: UnderlyingRef
    quote: Quote

    @property
    def ltp(self) -> float:
        return self.quote.ltp


def parse_offset(offset: str) -> tuple[str, int]:
    """``("ATM", 0)``, ``("ITM", 3)``, ``("OTM", 12)``; the schema has checked the shape."""
    word = offset.upper()
    if word == "ATM":
        return word, 0
    return word[:3], int(word[3:])


def strike_steps(offset: str, option_type: InstrumentType) -> int:
    """Listed strikes from ATM, upwards positive: a call's ITM strikes are below ATM, a put's
    above."""
    kind, n = parse_offset(offset)
    if kind == "ATM":
        return 0
    up = (kind == "OTM") == (option_type is InstrumentType.CE)
    return n if up else -n


def nearest_index(strikes: Sequence[Decimal], price: float) -> int:
    """The index of the strike nearest ``price`` (the lower one on a tie)."""
    at = bisect_left(strikes, Decimal(str(price)))
    if at == 0:
        return 0
    if at >= len(strikes):
        return len(strikes) - 1
    below, above = strikes[at - 1], strikes[at]
    return at - 1 if float(above) - price >= price - float(below) else at


def label(index: int, atm: int, option_type: InstrumentType) -> str:
    """ATM, ITMk or OTMk for the strike ``index - atm`` listed strikes above ATM."""
    if index == atm:
        return "ATM"
    above = index > atm
    itm = above == (option_type is InstrumentType.PE)
    return f"{'ITM' if itm else 'OTM'}{abs(index - atm)}"


class OptionSymbols:
    """Resolves underlyings, expiries and strikes against one broker's master."""

    def __init__(
        self,
        instruments: InstrumentCache,
        market: MarketData,
        calendar: MarketCalendar,
        now: datetime,
    ) -> None:
        self.instruments = instruments
        self.market = market
        self.calendar = calendar
        self.now = now

    @property
    def today(self) -> date:
        return self.now.astimezone(IST).date()

    # --- underlying -----------------------------------------------------------------------------

    def underlying(
        self, text: str, exchange: Exchange, *, field: str = "underlying", options: bool = True
    ) -> UnderlyingRef:
        """Where ``text``'s price comes from; with ``options``, it must also list options."""
        on = option_exchange(exchange)
        try:
            base, embedded = parse_underlying(text)
            source = self._price_source(base, embedded, exchange, on)
        except SymbolError as exc:  # malformed, or too long to carry an expiry
            raise ValidationFailed.field(field, exc.message) from None
        if source is None:
            raise ValidationFailed.field(field, f"unknown underlying {text} on {exchange.value}")
        if options and not self.instruments.option_expiries(base, on.value):
            raise ValidationFailed.field(field, f"no options are listed for {base} on {on.value}")
        return UnderlyingRef(text, base, on.value, source, embedded)

    def _price_source(
        self, base: str, embedded: date | None, exchange: Exchange, on: Exchange
    ) -> Instrument | None:
        get = self.instruments.get
        if embedded is not None and (found := get(future_symbol(base, embedded), on.value)):
            return found
        places: list[Exchange] = []
        if exchange in CASH_EXCHANGES or exchange in INDEX_EXCHANGES:
            places.append(exchange)
        places.extend(_SPOT_EXCHANGES.get(on, ()))
        for place in places:
            if (found := get(base, place.value)) is not None:
                return found
        live = [
            f for f in self.instruments.futures(base, on.value, on_or_after=self.today)
            if not self.expired(f.exchange, f.expiry)
        ]  # fmt: skip
        return live[0] if live else None

    async def priced(self, ref: UnderlyingRef) -> Priced:
        quote = await self.market.quote(ref.source.symbol, ref.source.exchange)
        return Priced(ref, quote)

    # --- expiry ---------------------------------------------------------------------------------

    def expired(self, exchange: str, expiry: date | None) -> bool:
        return expiry is not None and self.now >= self.calendar.expiry_cutoff(exchange, expiry)

    def expiries(self, ref: UnderlyingRef) -> list[date]:
        """Listed option expiries of ``ref`` that still trade, nearest first."""
        listed = self.instruments.option_expiries(ref.base, ref.options_on, on_or_after=self.today)
        return [d for d in listed if not self.expired(ref.options_on, d)]

    def expiry(
        self,
        ref: UnderlyingRef,
        requested: str | None,
        *,
        field: str = "expiry_date",
        nearest: bool = False,
    ) -> date:
        """``requested`` (DDMMMYY), else the one embedded in the underlying, else (``nearest``)
        the nearest listed one; it must be a listed, unexpired option expiry."""
        live = self.expiries(ref)
        if requested is not None:
            try:
                day = parse_expiry(requested)
            except SymbolError as exc:
                raise ValidationFailed.field(field, exc.message) from None
        elif ref.expiry is not None:
            day = ref.expiry
        elif nearest and live:
            return live[0]
        else:
            raise ValidationFailed.field(field, EXPIRY_REQUIRED)
        if day in live:
            return day
        listed = ", ".join(format_expiry(d) for d in live[:8]) or "none"
        text = format_expiry(day)
        if day in self.instruments.option_expiries(ref.base, ref.options_on):
            problem = f"{ref.base} options expiring {text} have expired"
        else:
            problem = f"no {ref.base} options expire on {text} on {ref.options_on}"
        raise ValidationFailed.field(field, f"{problem}; listed expiries: {listed}")

    # --- strike ---------------------------------------------------------------------------------

    def strikes(
        self, ref: UnderlyingRef, expiry: date, option_type: InstrumentType
    ) -> list[Decimal]:
        return self.instruments.strikes(ref.base, ref.options_on, expiry, option_type)

    def pick(
        self,
        priced: Priced,
        expiry: date,
        offset: str,
        option_type: InstrumentType,
        strike_int: int | None = None,
        *,
        field_prefix: str = "",
    ) -> Instrument:
        """The listed contract ``offset`` away from ATM; 400 naming ``offset`` (or
        ``strike_int``) when there is none."""
        ref = priced.ref
        steps = strike_steps(offset, option_type)
        blame = f"{field_prefix}offset"
        if strike_int is not None:
            step = Decimal(strike_int)
            ltp = Decimal(str(priced.ltp))
            atm = (ltp / step).quantize(Decimal(1), ROUND_HALF_UP) * step
            strike = atm + step * steps
            if strike <= 0:
                raise ValidationFailed.field(blame, OUT_OF_RANGE.format(offset=offset))
            symbol = option_symbol(ref.base, expiry, strike, option_type.value)
            found = self.instruments.get(symbol, ref.options_on)
            if found is None:
                raise ValidationFailed.field(
                    "strike_int",
                    f"Option symbol {symbol} not found in {ref.options_on}: strike_int "
                    f"{strike_int} does not match the listed strikes (omit it to use them)",
                )
            return found
        strikes = self.strikes(ref, expiry, option_type)
        if not strikes:  # a master listing only the other side for this expiry
            raise ValidationFailed.field(
                f"{field_prefix}option_type",
                f"no {option_type.value} strikes are listed for {ref.base} {format_expiry(expiry)}",
            )
        target = nearest_index(strikes, priced.ltp) + steps
        if not 0 <= target < len(strikes):
            raise ValidationFailed.field(blame, OUT_OF_RANGE.format(offset=offset))
        symbol = option_symbol(ref.base, expiry, strikes[target], option_type.value)
        found = self.instruments.get(symbol, ref.options_on)
        assert found is not None, symbol  # the strike index is built from the same master
        return found
