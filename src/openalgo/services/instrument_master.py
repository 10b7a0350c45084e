"""Master contract files: parse and validate a CSV into instruments, all or nothing.

The format is the one OpenAlgo's ``GET /instruments?format=csv`` exports (docs/instruments.md):
``symbol,brsymbol,name,exchange,brexchange,token,expiry,strike,lotsize,instrumenttype,tick_size``.
Every row is checked before anything is written; the first bad row stops the load with an error
naming its line and symbol, so a damaged file never leaves half a master behind.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from openalgo.domain.enums import INDEX_EXCHANGES, InstrumentType
from openalgo.domain.instruments import Instrument
from openalgo.domain.symbols import (
    SymbolError,
    format_expiry_text,
    format_strike,
    parse_exchange,
    parse_expiry,
    parse_symbol,
)
from openalgo.errors import BadRequest

COLUMNS = (
    "symbol",
    "brsymbol",
    "name",
    "exchange",
    "brexchange",
    "token",
    "expiry",
    "strike",
    "lotsize",
    "instrumenttype",
    "tick_size",
)
REQUIRED = ("symbol", "exchange", "token", "lotsize", "tick_size")  # empty type = equity
# Broker spellings of instrument types (brokers reference C1) mapped onto ours.
_FUTURE_TYPES = {"FUT", "FUTIDX", "FUTSTK", "FUTCOM", "FUTCUR", "FUTIRC", "FUTIRT", "FUTBLN"}
_OPTION_TYPES = {"CE", "PE", "OPTIDX", "OPTSTK", "OPTFUT", "OPTCUR", "OPTIRC", "OPTBLN"}
_EQUITY_TYPES = {"", "EQ", "EQUITY", "BE", "ETF"}
_INDEX_TYPES = {"INDEX", "AMXIDX", "INDICES"}


class MasterFileError(BadRequest):
    """The master file cannot be loaded; nothing was written."""


@dataclass
class ParsedMaster:
    instruments: list[Instrument] = field(default_factory=list)
    expired: int = 0  # rows skipped because their contract expired before ``today``
    rows: int = 0


def parse_master_csv(lines: Iterable[str], *, today: date) -> ParsedMaster:
    reader = csv.reader(lines)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise MasterFileError("Master file is empty: expected a header row") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise MasterFileError(f"Master file is missing columns: {', '.join(missing)}")
    index = {name: header.index(name) for name in COLUMNS}
    parsed = ParsedMaster()
    seen: dict[tuple[str, str], int] = {}
    for values in reader:
        line = reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        parsed.rows += 1
        if len(values) < len(header):
            raise MasterFileError(
                f"Master file line {line}: {len(values)} fields, the header has {len(header)}"
            )
        row = {name: values[i].strip() for name, i in index.items()}
        instrument = parse_master_row(row, line)
        key = (instrument.exchange, instrument.symbol)
        if key in seen:
            raise MasterFileError(
                f"Master file line {line}: {instrument.symbol} on {instrument.exchange} "
                f"repeats line {seen[key]}"
            )
        seen[key] = line
        if instrument.expiry is not None and instrument.expiry < today:
            parsed.expired += 1
            continue
        parsed.instruments.append(instrument)
    return parsed


def parse_master_row(row: dict[str, str], line: int) -> Instrument:
    symbol = row.get("symbol", "")
    label = f"Master file line {line} ({symbol or 'no symbol'})"
    for column in REQUIRED:
        if not row.get(column):
            raise MasterFileError(f"{label}: {column} is empty")
    try:
        exchange = parse_exchange(row["exchange"])
        parsed = parse_symbol(symbol, exchange)
        kind = _instrument_type(row["instrumenttype"], parsed.instrument_type, exchange.value)
        expiry = parsed.expiry
        if row["expiry"] and row["expiry"] not in ("-1", "0"):
            column_expiry = parse_expiry(row["expiry"])
            if parsed.is_derivative and column_expiry != expiry:
                raise MasterFileError(
                    f"{label}: expiry column {row['expiry']} disagrees with the symbol's "
                    f"{format_expiry_text(expiry) if expiry else 'none'}"
                )
        strike = parsed.strike
        if kind.is_option and row["strike"]:
            column_strike = _decimal(row["strike"], "strike", label)
            if column_strike != strike:
                raise MasterFileError(
                    f"{label}: strike column {row['strike']} disagrees with the symbol's "
                    f"{format_strike(strike) if strike else 'none'}"
                )
    except SymbolError as exc:
        raise MasterFileError(f"{label}: {exc.message}") from None
    lot_size = _decimal(row["lotsize"], "lotsize", label)
    if lot_size != lot_size.to_integral_value() or lot_size < 1:
        raise MasterFileError(f"{label}: lotsize {row['lotsize']!r} must be a whole number >= 1")
    tick = _decimal(row["tick_size"], "tick_size", label)
    if tick <= 0:
        raise MasterFileError(f"{label}: tick_size {row['tick_size']!r} must be positive")
    name = parsed.base if parsed.is_derivative else (row["name"] or symbol)
    return Instrument(
        symbol=symbol,
        exchange=exchange.value,
        name=name,
        instrument_type=kind,
        token=row["token"],
        broker_symbol=row["brsymbol"] or symbol,
        broker_exchange=row["brexchange"] or exchange.value,
        lot_size=int(lot_size),
        tick_size=tick.normalize() if tick != tick.to_integral_value() else tick.quantize(1),
        expiry=expiry,
        strike=strike,
    )


def _decimal(text: str, column: str, label: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MasterFileError(f"{label}: {column} {text!r} is not a number") from None
    if not value.is_finite():
        raise MasterFileError(f"{label}: {column} {text!r} is not a number")
    return value


def _instrument_type(raw: str, from_symbol: InstrumentType, exchange: str) -> InstrumentType:
    value = raw.upper()
    if value in _OPTION_TYPES:
        if not from_symbol.is_option or value in ("CE", "PE") and value != from_symbol.value:
            raise SymbolError(f"instrumenttype {raw} does not fit a {from_symbol.value} symbol")
        return from_symbol
    if value in _FUTURE_TYPES:
        if from_symbol is not InstrumentType.FUT:
            raise SymbolError(f"instrumenttype {raw} does not fit a {from_symbol.value} symbol")
        return InstrumentType.FUT
    if value in _INDEX_TYPES or (value in _EQUITY_TYPES and exchange in INDEX_EXCHANGES):
        if from_symbol.is_option or from_symbol is InstrumentType.FUT:
            raise SymbolError(f"instrumenttype {raw} does not fit a {from_symbol.value} symbol")
        return InstrumentType.INDEX
    if value in _EQUITY_TYPES:
        if from_symbol is not InstrumentType.EQ:
            raise SymbolError(f"instrumenttype {raw} does not fit a {from_symbol.value} symbol")
        return InstrumentType.EQ
    raise SymbolError(f"unknown instrumenttype {raw!r}")


def to_csv_row(instrument: Instrument) -> list[str]:
    """The instrument as one line of the master format (for exports and generated files)."""
    return [
        instrument.symbol,
        instrument.broker_symbol,
        instrument.name,
        instrument.exchange,
        instrument.broker_exchange,
        instrument.token,
        instrument.expiry_text,
        format_strike(instrument.strike) if instrument.strike is not None else "0",
        str(instrument.lot_size),
        instrument.instrument_type.value,
        str(instrument.tick_size),
    ]
