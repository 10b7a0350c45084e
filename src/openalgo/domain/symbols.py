"""OpenAlgo symbology: parse and format equity, index, futures and options symbols.

The formats (rest-api reference section 3):

- equity and index: the exchange's trading symbol, upper case (``SBIN``, ``M&M``, ``NIFTY``);
- futures: ``<BASE><DDMMMYY>FUT`` (``NIFTY30JAN25FUT``);
- options: ``<BASE><DDMMMYY><STRIKE><CE|PE>`` (``NIFTY28NOV2424000CE``, ``VEDL24APR25292.5CE``),
  the strike written without a trailing ``.0`` but with its real decimals.

Parsing is strict so that ``format(parse(s)) == s`` for every symbol we accept: a non-canonical
spelling (``24000.0``, a lower-case month, an impossible date) is a clear error naming the symbol,
not a silent miss in the master contract later. The expiry inside a derivative symbol is unique:
for futures it is the seven characters before ``FUT``; for options it is the only ``DDMMMYY``
group followed by nothing but a strike and ``CE``/``PE``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from openalgo.domain.enums import (
    CASH_EXCHANGES,
    FNO_EXCHANGES,
    INDEX_EXCHANGES,
    Exchange,
    InstrumentType,
    OptionType,
)
from openalgo.errors import BadRequest

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTH_NUMBER = {name: i + 1 for i, name in enumerate(MONTHS)}
_MONTH_ALT = "|".join(MONTHS)

MAX_SYMBOL_LENGTH = 64
# Exchange trading symbols keep their punctuation (M&M, BAJAJ-AUTO, BSEOIL&GAS, 360ONE).
_PLAIN = re.compile(r"[A-Z0-9][A-Z0-9&_.\-]*")
_BASE = r"[A-Z0-9][A-Z0-9&_\-]*"
_FUTURE = re.compile(rf"(?P<base>{_BASE})(?P<expiry>\d{{2}}(?:{_MONTH_ALT})\d{{2}})FUT")
_OPTION = re.compile(
    rf"(?P<base>{_BASE})(?P<expiry>\d{{2}}(?:{_MONTH_ALT})\d{{2}})"
    r"(?P<strike>\d+(?:\.\d+)?)(?P<kind>CE|PE)"
)
_EXPIRY = re.compile(rf"(?P<day>\d{{2}})-?(?P<month>{_MONTH_ALT})-?(?P<year>\d{{2}})")
_UNDERLYING = re.compile(rf"(?P<base>{_BASE}?)(?P<expiry>\d{{2}}(?:{_MONTH_ALT})\d{{2}})(?:FUT)?")


class SymbolError(BadRequest):
    """A symbol, exchange, expiry or strike that cannot be what the caller meant."""


class UnknownExchange(SymbolError):
    pass


@dataclass(frozen=True, slots=True)
class ParsedSymbol:
    symbol: str
    base: str  # the symbol itself for equity and indices; the underlying for derivatives
    instrument_type: InstrumentType
    expiry: date | None = None
    strike: Decimal | None = None

    @property
    def is_derivative(self) -> bool:
        return self.expiry is not None

    @property
    def option_type(self) -> OptionType | None:
        if self.instrument_type.is_option:
            return OptionType(self.instrument_type.value)
        return None


# --- exchanges --------------------------------------------------------------------------------


def parse_exchange(value: str) -> Exchange:
    """The exchange code, exactly as OpenAlgo spells it (upper case, case-sensitive)."""
    try:
        return Exchange(value)
    except ValueError:
        pass
    hint = ""
    if isinstance(value, str) and value.upper() in Exchange.__members__:
        hint = f" (exchange codes are upper case: {value.upper()})"
    known = ", ".join(e.value for e in Exchange)
    raise UnknownExchange(f"Unknown exchange {value!r}{hint}; expected one of {known}")


# --- expiries and strikes ---------------------------------------------------------------------


def format_expiry(day: date) -> str:
    """``28NOV24``: the form inside symbols and in option-service requests."""
    return f"{day.day:02d}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def format_expiry_text(day: date) -> str:
    """``28-NOV-24``: the form of the master contract's expiry column and `/expiry` responses."""
    return f"{day.day:02d}-{MONTHS[day.month - 1]}-{day.year % 100:02d}"


def parse_expiry(text: str) -> date:
    """Accept ``28NOV24`` or ``28-NOV-24`` (any case, as users type them); years are 20YY."""
    match = _EXPIRY.fullmatch(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise SymbolError(f"Invalid expiry {text!r}: expected DDMMMYY such as 28NOV24")
    return _expiry_date(match["day"], match["month"], match["year"], text)


def _expiry_date(day: str, month: str, year: str, context: str) -> date:
    try:
        return date(2000 + int(year), _MONTH_NUMBER[month], int(day))
    except ValueError:
        raise SymbolError(f"Invalid expiry date {day}{month}{year} in {context!r}") from None


def format_strike(strike: Decimal | int | float | str) -> str:
    """``24000`` for integral strikes, ``292.5`` otherwise (never ``24000.0`` or ``2.50``)."""
    value = strike if isinstance(strike, Decimal) else Decimal(str(strike))
    if not value.is_finite() or value <= 0:
        raise SymbolError(f"Invalid strike {strike!r}: must be a positive number")
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def parse_strike(text: str, *, context: str | None = None) -> Decimal:
    where = f" in {context!r}" if context else ""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise SymbolError(f"Invalid strike {text!r}{where}") from None
    if not value.is_finite() or value <= 0:
        raise SymbolError(f"Invalid strike {text!r}{where}: must be a positive number")
    if format_strike(value) != text:
        raise SymbolError(
            f"Strike {text!r}{where} is not in canonical form: write {format_strike(value)}"
        )
    return value


# --- formatting -------------------------------------------------------------------------------


def future_symbol(base: str, expiry: date) -> str:
    _check_base(base)
    return f"{base}{format_expiry(expiry)}FUT"


def option_symbol(
    base: str, expiry: date, strike: Decimal | int | float | str, option_type: OptionType | str
) -> str:
    _check_base(base)
    kind = OptionType(option_type) if not isinstance(option_type, OptionType) else option_type
    return f"{base}{format_expiry(expiry)}{format_strike(strike)}{kind.value}"


def _check_base(base: str) -> None:
    if not re.fullmatch(_BASE, base) or len(base) > MAX_SYMBOL_LENGTH - 12:
        raise SymbolError(f"Invalid underlying {base!r}: upper-case letters, digits, & - _ only")


# --- parsing ----------------------------------------------------------------------------------


def parse_symbol(symbol: str, exchange: Exchange | str | None = None) -> ParsedSymbol:
    """Parse ``symbol``; with ``exchange`` the symbol must also fit what that exchange lists.

    Cash exchanges list equities, index exchanges list indices, F&O exchanges list futures and
    options. Without an exchange, the shape decides.
    """
    exch = parse_exchange(exchange) if isinstance(exchange, str) else exchange
    _check_plain(symbol)
    if exch is not None and (exch in CASH_EXCHANGES or exch in INDEX_EXCHANGES):
        kind = InstrumentType.INDEX if exch in INDEX_EXCHANGES else InstrumentType.EQ
        return ParsedSymbol(symbol=symbol, base=symbol, instrument_type=kind)
    derivative = _parse_derivative(symbol)
    if derivative is not None:
        return derivative
    if exch is not None and exch in FNO_EXCHANGES:
        raise SymbolError(
            f"Malformed symbol {symbol!r} for {exch.value}: expected BASE+DDMMMYY+FUT "
            "(NIFTY30JAN25FUT) or BASE+DDMMMYY+STRIKE+CE/PE (NIFTY30JAN2524000CE)"
        )
    return ParsedSymbol(symbol=symbol, base=symbol, instrument_type=InstrumentType.EQ)


def _check_plain(symbol: str) -> None:
    if not isinstance(symbol, str) or not symbol.strip():
        raise SymbolError("Symbol is required")
    if len(symbol) > MAX_SYMBOL_LENGTH:
        raise SymbolError(f"Malformed symbol {symbol[:20]!r}...: longer than {MAX_SYMBOL_LENGTH}")
    if _PLAIN.fullmatch(symbol):
        return
    if _PLAIN.fullmatch(symbol.upper()):
        raise SymbolError(
            f"Malformed symbol {symbol!r}: OpenAlgo symbols are upper case ({symbol.upper()})"
        )
    raise SymbolError(
        f"Malformed symbol {symbol!r}: only upper-case letters, digits and & - _ . are allowed"
    )


def _parse_derivative(symbol: str) -> ParsedSymbol | None:
    if (m := _FUTURE.fullmatch(symbol)) is not None:
        expiry = parse_expiry_in(m["expiry"], symbol)
        return ParsedSymbol(symbol, m["base"], InstrumentType.FUT, expiry=expiry)
    if (m := _OPTION.fullmatch(symbol)) is not None:
        expiry = parse_expiry_in(m["expiry"], symbol)
        strike = parse_strike(m["strike"], context=symbol)
        kind = InstrumentType(m["kind"])
        return ParsedSymbol(symbol, m["base"], kind, expiry=expiry, strike=strike)
    return None


def parse_expiry_in(text: str, symbol: str) -> date:
    m = _EXPIRY.fullmatch(text)
    assert m is not None
    return _expiry_date(m["day"], m["month"], m["year"], symbol)


def parse_underlying(text: str) -> tuple[str, date | None]:
    """An option-service underlying: ``NIFTY`` or one carrying an expiry, ``NIFTY28NOV24FUT``."""
    _check_plain(text)
    m = _UNDERLYING.fullmatch(text)
    if m is not None and m["base"]:
        return m["base"], parse_expiry_in(m["expiry"], text)
    return text, None
