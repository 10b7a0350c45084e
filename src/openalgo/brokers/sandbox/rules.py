"""OpenAlgo's paper-trading rules as pure functions: validation, leverage, margin, time windows.

Nothing here does I/O, so the engine, the invariant checker and the tests all use the same rules
(reference: brokers-and-sandbox D1-D2). Every rejection is a sentence a trader can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from openalgo.brokers.sandbox.config import SandboxConfig
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import IST, ist
from openalgo.domain.enums import (
    CASH_EXCHANGES,
    FNO_EXCHANGES,
    INDEX_EXCHANGES,
    Action,
    Exchange,
    PriceType,
    Product,
)
from openalgo.domain.instruments import Instrument
from openalgo.domain.money import PRICE_QUANTUM, QTY_QUANTUM, ZERO, paise

VALID_EXCHANGES = frozenset(e.value for e in Exchange)


@dataclass(frozen=True, slots=True)
class Spec:
    """What the rules need to know about an instrument (a slice of `Instrument`)."""

    symbol: str
    exchange: str
    instrument_type: str  # EQ, FUT, CE, PE, INDEX
    lot_size: int = 1
    tick_size: Decimal = Decimal("0.05")
    expiry: date | None = None

    @classmethod
    def of(cls, instrument: Instrument) -> Spec:
        return cls(
            symbol=instrument.symbol,
            exchange=instrument.exchange,
            instrument_type=instrument.instrument_type.value,
            lot_size=max(1, instrument.lot_size),
            tick_size=instrument.tick_size,
            expiry=instrument.expiry,
        )

    @property
    def is_option(self) -> bool:
        return self.instrument_type in ("CE", "PE")


def _fmt(value: Decimal) -> str:
    """A decimal as people write it: 30, 1.5, 0.05 (never 3E+1)."""
    return f"{value.normalize():f}"


# --- request shape ------------------------------------------------------------------------------


def check_quantity(quantity: object, exchange: str) -> tuple[Decimal | None, str]:
    """The quantity as a Decimal, or the reason it is unacceptable."""
    if isinstance(quantity, bool) or not isinstance(quantity, int | Decimal):
        return None, "Quantity must be a number"
    qty = Decimal(quantity)
    if not qty.is_finite() or qty <= 0:
        return None, "Quantity must be a positive number"
    if qty != qty.to_integral_value():
        if exchange != Exchange.CRYPTO:
            return None, (
                f"Fractional quantity ({_fmt(qty)}) is not allowed for non-crypto exchanges."
            )
        if qty != qty.quantize(QTY_QUANTUM):
            return None, "Quantity has more than 8 decimals"
    return qty, ""


def check_shape(
    *,
    exchange: str,
    action: str,
    pricetype: str,
    product: str,
    price: Decimal,
    trigger_price: Decimal,
) -> str:
    """Field-level rules that need no instrument; empty string when acceptable."""
    if exchange not in VALID_EXCHANGES:
        return f"Invalid exchange {exchange!r}"
    if exchange in INDEX_EXCHANGES:
        return f"Index values on {exchange} cannot be traded"
    if action not in (Action.BUY, Action.SELL):
        return f"Invalid action {action!r}: use BUY or SELL"
    if pricetype not in tuple(PriceType):
        return f"Invalid pricetype {pricetype!r}: use MARKET, LIMIT, SL or SL-M"
    if product not in tuple(Product):
        return f"Invalid product {product!r}: use CNC, NRML or MIS"
    if exchange in CASH_EXCHANGES and product == Product.NRML:
        return f"NRML is not allowed on {exchange}. Use CNC for delivery or MIS for intraday"
    if exchange in FNO_EXCHANGES and product == Product.CNC:
        return f"CNC is not allowed on {exchange}. Use NRML for carry-forward or MIS for intraday"
    for name, value in (("Price", price), ("Trigger price", trigger_price)):
        if not value.is_finite() or value < 0:
            return f"{name} must not be negative"
        if value != value.quantize(PRICE_QUANTUM):
            return f"{name} {value} has more than 4 decimals"
    if pricetype in (PriceType.LIMIT, PriceType.SL) and price <= 0:
        return f"{pricetype} orders require a price greater than 0"
    if pricetype in (PriceType.SL, PriceType.SL_M) and trigger_price <= 0:
        return f"{pricetype} orders require a trigger_price greater than 0"
    if pricetype == PriceType.SL:
        if action == Action.BUY and trigger_price > price:
            return "For a stop-loss BUY the trigger price must not be above the limit price"
        if action == Action.SELL and trigger_price < price:
            return "For a stop-loss SELL the trigger price must not be below the limit price"
    return ""


def relevant_prices(pricetype: str, price: Decimal, trigger: Decimal) -> tuple[Decimal, Decimal]:
    """Drop the fields an order type does not use (MARKET keeps neither, LIMIT the price, ...)."""
    keep_price = pricetype in (PriceType.LIMIT, PriceType.SL)
    keep_trigger = pricetype in (PriceType.SL, PriceType.SL_M)
    return (price if keep_price else ZERO), (trigger if keep_trigger else ZERO)


def check_instrument(spec: Spec, qty: Decimal, price: Decimal, trigger: Decimal) -> str:
    """Lot size and tick grid; empty string when acceptable."""
    if spec.instrument_type == "INDEX":
        return f"{spec.symbol} is an index and cannot be traded"
    if spec.exchange in FNO_EXCHANGES and spec.lot_size > 1 and qty % spec.lot_size != 0:
        return (
            f"Quantity {_fmt(qty)} for {spec.symbol} must be a multiple of the lot size "
            f"{spec.lot_size}"
        )
    tick = spec.tick_size
    if tick > 0:
        for name, value in (("Price", price), ("Trigger price", trigger)):
            if value > 0 and value % tick != 0:
                return (
                    f"{name} {_fmt(value)} is not a multiple of the tick size "
                    f"{_fmt(tick)} for {spec.symbol}"
                )
    return ""


# --- money --------------------------------------------------------------------------------------


def leverage(
    cfg: SandboxConfig, spec: Spec, product: str, action: str
) -> Decimal:  # reference D1 _get_leverage
    if spec.exchange in CASH_EXCHANGES:
        return cfg.equity_mis_leverage if product == Product.MIS else cfg.equity_cnc_leverage
    if spec.exchange in FNO_EXCHANGES:
        if spec.is_option:
            return cfg.option_buy_leverage if action == Action.BUY else cfg.option_sell_leverage
        return cfg.futures_leverage
    return Decimal(1)


def margin(qty: Decimal, price: Decimal, lev: Decimal) -> Decimal:
    """Margin for opening ``qty`` at ``price``: value / leverage, to the paisa."""
    if qty <= 0 or price <= 0:
        return ZERO
    return paise(qty * price / lev)


def opening_quantity(position_qty: Decimal, side: int, qty: Decimal) -> Decimal:
    """How much of an order adds exposure: all of it, none (a reduction) or the excess (a flip)."""
    if position_qty == 0 or (position_qty > 0) == (side > 0):
        return qty
    return max(ZERO, qty - abs(position_qty))


def order_margin(
    cfg: SandboxConfig,
    spec: Spec,
    *,
    product: str,
    action: str,
    qty: Decimal,
    basis: Decimal,
    position_qty: Decimal,
) -> Decimal:
    """Margin an order blocks: CNC sells none, reductions none, flips only for the excess."""
    if product == Product.CNC and action == Action.SELL:
        return ZERO
    side = 1 if action == Action.BUY else -1
    opening = opening_quantity(position_qty, side, qty)
    return margin(opening, basis, leverage(cfg, spec, product, action))


def funds_shortage_message(required: Decimal, available: Decimal) -> str:
    shortage = required - available
    return (
        f"Insufficient funds. Required: ₹{required:,.2f}, Available: ₹{available:,.2f}, "
        f"Shortage: ₹{shortage:,.2f}"
    )


# --- time ---------------------------------------------------------------------------------------


def mis_entry_block(
    cfg: SandboxConfig,
    exchange: str,
    now: datetime,
    trading_start: time,
    calendar: MarketCalendar | None = None,
) -> str:
    """Why a new MIS position cannot be opened now, or empty (reductions are always allowed).

    With the exchange ``calendar``: refused on a day the exchange does not trade (weekend,
    holiday), and the cut-off is that day's (`square_off_cutoff`)."""
    configured = cfg.square_off_time(exchange)
    if configured is None:
        return ""
    local = ist(now)
    cutoff = square_off_cutoff(cfg, calendar, exchange, local.date())
    if cutoff is None:
        return (
            f"MIS orders on {exchange} are not accepted today: the exchange is closed "
            f"({local:%d %b %Y})"
        )
    if local >= cutoff:
        return (
            f"MIS orders on {exchange} are not accepted after the square-off time "
            f"{cutoff:%H:%M} IST. Trading resumes at {trading_start:%H:%M} IST"
        )
    if local.time() < trading_start:
        return f"MIS orders on {exchange} are accepted from {trading_start:%H:%M} IST"
    return ""


# A special session (one that does not contain the configured time) is squared off this long
# before it ends, the gap between NSE's 15:15 cut-off and its 15:30 close.
SPECIAL_SESSION_SQUARE_OFF = timedelta(minutes=15)


def square_off_cutoff(
    cfg: SandboxConfig, calendar: MarketCalendar | None, exchange: str, day: date
) -> datetime | None:
    """When MIS positions on ``exchange`` are squared off on ``day`` (IST), or None.

    None when the exchange has no cut-off, or (with a calendar) does not trade that day. The
    configured time, unless the day's session does not contain it (a special session, such as
    an evening Muhurat session): then `SPECIAL_SESSION_SQUARE_OFF` before the session ends.
    """
    configured = cfg.square_off_time(exchange)
    if configured is None:
        return None
    at = datetime.combine(day, configured, tzinfo=IST)
    if calendar is None:
        return at
    try:
        session = calendar.session(exchange, day)
    except ValueError:  # an exchange the calendar does not know: the configured time
        return at
    if session is None:
        return None
    if session.start < at <= session.end:
        return at
    return session.end - SPECIAL_SESSION_SQUARE_OFF


def t1_settlement_day(calendar: MarketCalendar | None, exchange: str, day: date) -> date:
    """The day a CNC trade of ``day`` settles: the exchange's next trading day (T+1).

    Without a calendar, or for an exchange it does not know, the next calendar day."""
    following = day + timedelta(days=1)
    if calendar is None:
        return following
    try:
        for offset in range(31):
            candidate = following + timedelta(days=offset)
            if calendar.is_trading_day(exchange, candidate):
                return candidate
    except ValueError:
        pass
    return following


# --- smart orders -------------------------------------------------------------------------------


def smart_order_delta(
    *, target: Decimal, current: Decimal, action: str, quantity: Decimal
) -> tuple[Action, Decimal] | None:
    """The order `/placesmartorder` places to move ``current`` to ``target`` (rest-api 5.2).

    None means nothing to do ("Positions Already Matched" or, with quantity 0 and no position,
    "No OpenPosition Found").
    """
    if target == 0 and current == 0:
        if quantity <= 0:
            return None
        return Action(action), quantity
    if target == current:
        return None
    if target > current:
        return Action.BUY, target - current
    return Action.SELL, current - target
