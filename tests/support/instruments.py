"""Builders for instrument rows in tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from openalgo.domain.enums import InstrumentType
from openalgo.domain.instruments import Instrument
from openalgo.domain.symbols import future_symbol, option_symbol


def equity(
    symbol: str, exchange: str = "NSE", token: str | None = None, name: str = ""
) -> Instrument:
    return Instrument(
        symbol=symbol,
        exchange=exchange,
        name=name or symbol,
        instrument_type=InstrumentType.INDEX if exchange.endswith("INDEX") else InstrumentType.EQ,
        token=token or f"{exchange}-{symbol}",
        broker_symbol=f"{symbol}-EQ",
        broker_exchange=exchange,
    )


def future(base: str, expiry: date, exchange: str = "NFO", lot: int = 75) -> Instrument:
    symbol = future_symbol(base, expiry)
    return Instrument(
        symbol=symbol,
        exchange=exchange,
        name=base,
        instrument_type=InstrumentType.FUT,
        token=f"{exchange}-{symbol}",
        broker_symbol=symbol,
        broker_exchange=exchange,
        lot_size=lot,
        expiry=expiry,
    )


def option(
    base: str,
    expiry: date,
    strike: int | str | Decimal,
    kind: str,
    exchange: str = "NFO",
    lot: int = 75,
) -> Instrument:
    value = Decimal(str(strike))
    symbol = option_symbol(base, expiry, value, kind)
    return Instrument(
        symbol=symbol,
        exchange=exchange,
        name=base,
        instrument_type=InstrumentType(kind),
        token=f"{exchange}-{symbol}",
        broker_symbol=symbol,
        broker_exchange=exchange,
        lot_size=lot,
        expiry=expiry,
        strike=value,
    )


def chain(
    base: str, expiry: date, strikes: range, exchange: str = "NFO", lot: int = 75
) -> list[Instrument]:
    return [option(base, expiry, k, t, exchange, lot) for k in strikes for t in ("CE", "PE")]
