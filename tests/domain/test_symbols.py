"""OpenAlgo symbols parse, format and round-trip; malformed ones fail with the symbol named."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openalgo.domain.enums import Exchange, InstrumentType, OptionType
from openalgo.domain.symbols import (
    SymbolError,
    UnknownExchange,
    format_expiry,
    format_expiry_text,
    format_strike,
    future_symbol,
    option_symbol,
    parse_exchange,
    parse_expiry,
    parse_symbol,
    parse_underlying,
)

bases = st.from_regex(r"[A-Z][A-Z0-9&\-]{0,14}", fullmatch=True)
expiries = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
strikes = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("999999.99"), places=2, allow_nan=False
)
option_types = st.sampled_from(list(OptionType))


@pytest.mark.parametrize(
    ("symbol", "base", "kind", "expiry", "strike"),
    [
        ("NIFTY28NOV24FUT", "NIFTY", InstrumentType.FUT, date(2024, 11, 28), None),
        ("NIFTY28NOV2424000CE", "NIFTY", InstrumentType.CE, date(2024, 11, 28), Decimal(24000)),
        ("NIFTY30JAN2521000PE", "NIFTY", InstrumentType.PE, date(2025, 1, 30), Decimal(21000)),
        ("VEDL24APR25292.5CE", "VEDL", InstrumentType.CE, date(2025, 4, 24), Decimal("292.5")),
        ("USDINR27JAN2583.5PE", "USDINR", InstrumentType.PE, date(2025, 1, 27), Decimal("83.5")),
        ("NIFTYNXT5030JAN25FUT", "NIFTYNXT50", InstrumentType.FUT, date(2025, 1, 30), None),
        ("NIFTYNXT5030JAN2570000CE", "NIFTYNXT50", InstrumentType.CE, date(2025, 1, 30), 70000),
        ("M&M30JAN253000PE", "M&M", InstrumentType.PE, date(2025, 1, 30), Decimal(3000)),
        ("BAJAJ-AUTO30JAN25FUT", "BAJAJ-AUTO", InstrumentType.FUT, date(2025, 1, 30), None),
        ("CRUDEOILM20MAY24FUT", "CRUDEOILM", InstrumentType.FUT, date(2024, 5, 20), None),
    ],
)
def test_parses_derivatives(
    symbol: str, base: str, kind: InstrumentType, expiry: date, strike: Decimal | int | None
) -> None:
    parsed = parse_symbol(symbol, Exchange.NFO)
    assert (parsed.base, parsed.instrument_type, parsed.expiry) == (base, kind, expiry)
    assert parsed.strike == (Decimal(strike) if strike is not None else None)
    assert parse_symbol(symbol) == parsed


@pytest.mark.parametrize(
    ("symbol", "exchange", "kind"),
    [
        ("SBIN", "NSE", InstrumentType.EQ),
        ("M&M", "BSE", InstrumentType.EQ),
        ("360ONE", "NSE", InstrumentType.EQ),
        ("NIFTY", "NSE_INDEX", InstrumentType.INDEX),
        ("BSEOIL&GAS", "BSE_INDEX", InstrumentType.INDEX),
        # On a cash exchange the shape of a derivative is just an odd equity name.
        ("ABC12JAN25FUT", "NSE", InstrumentType.EQ),
    ],
)
def test_parses_equity_and_index(symbol: str, exchange: str, kind: InstrumentType) -> None:
    parsed = parse_symbol(symbol, exchange)
    assert parsed.instrument_type is kind
    assert parsed.base == symbol
    assert not parsed.is_derivative


@given(base=bases, expiry=expiries)
def test_future_round_trip(base: str, expiry: date) -> None:
    symbol = future_symbol(base, expiry)
    parsed = parse_symbol(symbol, "NFO")
    assert (parsed.base, parsed.expiry, parsed.instrument_type) == (
        base,
        expiry,
        InstrumentType.FUT,
    )
    assert future_symbol(parsed.base, expiry) == symbol


@given(base=bases, expiry=expiries, strike=strikes, kind=option_types)
def test_option_round_trip(base: str, expiry: date, strike: Decimal, kind: OptionType) -> None:
    symbol = option_symbol(base, expiry, strike, kind)
    parsed = parse_symbol(symbol, "BFO")
    assert parsed.base == base
    assert parsed.expiry == expiry
    assert parsed.strike == strike
    assert parsed.option_type is kind
    assert parsed.strike is not None and parsed.expiry is not None
    assert option_symbol(parsed.base, parsed.expiry, parsed.strike, kind) == symbol


@given(expiry=expiries)
def test_expiry_text_round_trip(expiry: date) -> None:
    assert parse_expiry(format_expiry(expiry)) == expiry
    assert parse_expiry(format_expiry_text(expiry)) == expiry
    assert parse_expiry(format_expiry(expiry).lower()) == expiry


@pytest.mark.parametrize(
    ("strike", "text"),
    [(24000, "24000"), (Decimal("24000.00"), "24000"), (292.5, "292.5"), ("83.50", "83.5")],
)
def test_strike_format(strike: object, text: str) -> None:
    assert format_strike(strike) == text  # type: ignore[arg-type]


def test_expiry_formats() -> None:
    assert format_expiry(date(2024, 11, 28)) == "28NOV24"
    assert format_expiry_text(date(2025, 1, 3)) == "03-JAN-25"


@pytest.mark.parametrize(
    ("symbol", "exchange", "fragment"),
    [
        ("", "NSE", "Symbol is required"),
        ("sbin", "NSE", "upper case (SBIN)"),
        ("SB IN", "NSE", "'SB IN'"),
        ("NIFTY", "NFO", "Malformed symbol 'NIFTY' for NFO"),
        ("NIFTY28NOV24", "NFO", "'NIFTY28NOV24'"),
        ("NIFTY31FEB25FUT", "NFO", "Invalid expiry date 31FEB25 in 'NIFTY31FEB25FUT'"),
        ("NIFTY28NOV2424000.0CE", "NFO", "write 24000"),
        ("NIFTY28NOV24024000CE", "NFO", "write 24000"),
        ("NIFTY28NOV240CE", "NFO", "must be a positive number"),
        ("NIFTY28NOV2424000XE", "NFO", "Malformed symbol"),
        ("X" * 80, "NSE", "longer than 64"),
    ],
)
def test_malformed_symbols_name_the_symbol(symbol: str, exchange: str, fragment: str) -> None:
    with pytest.raises(SymbolError) as info:
        parse_symbol(symbol, exchange)
    assert fragment in info.value.message
    assert info.value.status_code == 400


@pytest.mark.parametrize(("value", "hint"), [("NSX", ""), ("nse", "upper case: NSE")])
def test_unknown_exchange(value: str, hint: str) -> None:
    with pytest.raises(UnknownExchange) as info:
        parse_exchange(value)
    assert repr(value) in info.value.message
    assert hint in info.value.message
    with pytest.raises(UnknownExchange):
        parse_symbol("SBIN", value)


@pytest.mark.parametrize("text", ["28NOV", "2024-11-28", "28NOVEMBER24", "32JAN25", ""])
def test_bad_expiry_text(text: str) -> None:
    with pytest.raises(SymbolError, match="xpiry"):
        parse_expiry(text)


def test_underlying_with_and_without_expiry() -> None:
    assert parse_underlying("NIFTY") == ("NIFTY", None)
    assert parse_underlying("NIFTY28NOV24FUT") == ("NIFTY", date(2024, 11, 28))
    assert parse_underlying("NIFTY28NOV24") == ("NIFTY", date(2024, 11, 28))
    assert parse_underlying("NIFTYNXT50") == ("NIFTYNXT50", None)
    with pytest.raises(SymbolError):
        parse_underlying("nifty")


def test_formatting_rejects_bad_parts() -> None:
    with pytest.raises(SymbolError):
        option_symbol("NIFTY", date(2025, 1, 30), 0, OptionType.CE)
    with pytest.raises(SymbolError):
        future_symbol("nifty", date(2025, 1, 30))
