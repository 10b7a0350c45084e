"""Rupee arithmetic for the ledger: exact decimals, rounded once, in one documented way.

Money (funds, margins, realised P&L) lives on the paisa. Prices live on four decimals (currency
derivatives tick at 0.0025). Position cost (price x quantity) keeps four decimals so that closing a
position books exactly what was paid; only the booked P&L is rounded to the paisa. Quantities are
integers except on CRYPTO, which allows up to eight decimals.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ZERO = Decimal("0")
PAISA = Decimal("0.01")
PRICE_QUANTUM = Decimal("0.0001")
COST_QUANTUM = Decimal("0.0001")
QTY_QUANTUM = Decimal("0.00000001")


def paise(value: Decimal) -> Decimal:
    """Round to the paisa, half up (how brokers round charges and margins)."""
    return value.quantize(PAISA, rounding=ROUND_HALF_UP)


def cost(value: Decimal) -> Decimal:
    return value.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


def price(value: float | int | str | Decimal) -> Decimal:
    """A market price as an exact decimal on four places.

    Floats from quotes and ticks go through ``repr`` so that 101.05 becomes Decimal("101.05"), not
    the binary expansion of the nearest double.
    """
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return number.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)


def to_decimal(value: object) -> Decimal | None:
    """Parse a number a client sent; None for anything that is not a finite number."""
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def as_number(value: Decimal) -> int | float:
    """The JSON form OpenAlgo clients expect: an int when whole, otherwise a float."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def money_number(value: Decimal) -> float:
    """Money as OpenAlgo's sandbox returns it: a float rounded to the paisa."""
    return float(paise(value))
