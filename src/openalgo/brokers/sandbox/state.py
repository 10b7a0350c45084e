"""Row state the ledger works on inside one transaction.

Each object mirrors a database row and remembers the ``version`` it was read at; `store.LedgerTx`
writes it back with ``WHERE version = <read version>`` so a concurrent writer is detected rather
than overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openalgo.domain.enums import Action, OrderStatus, PriceType, Product
from openalgo.domain.money import ZERO
from openalgo.domain.orders import OrderRow

OPEN_STATUSES = (OrderStatus.OPEN.value, OrderStatus.TRIGGER_PENDING.value)

PositionKey = tuple[int, str, str, str]  # user, symbol, exchange, product
HoldingKey = tuple[int, str, str]  # user, symbol, exchange


@dataclass(slots=True)
class FundsState:
    id: int
    user_id: int
    capital: Decimal
    available: Decimal
    used_margin: Decimal
    realized_pnl: Decimal
    reset_count: int
    last_reset_at: datetime | None
    settled_on: date
    version: int
    dirty: bool = False

    def block(self, amount: Decimal) -> None:
        self.available -= amount
        self.used_margin += amount
        self.dirty = True

    def release(self, amount: Decimal) -> None:
        self.available += amount
        self.used_margin -= amount
        self.dirty = True

    def book(self, realized: Decimal) -> None:
        self.available += realized
        self.realized_pnl += realized
        self.dirty = True


@dataclass(slots=True)
class PositionState:
    id: int | None
    user_id: int
    symbol: str
    exchange: str
    product: str
    quantity: Decimal
    cost: Decimal
    margin_blocked: Decimal
    realized_pnl: Decimal
    last_price: Decimal
    instrument_type: str
    expiry: date | None
    opened_on: date
    # The realised P&L booked on the session day ``realized_on`` (see `book`).
    today_realized_pnl: Decimal = ZERO
    realized_on: date | None = None
    version: int = 0
    dirty: bool = False
    deleted: bool = False

    @property
    def key(self) -> PositionKey:
        return (self.user_id, self.symbol, self.exchange, self.product)

    def book(self, realized: Decimal, day: date) -> None:
        """Add a fill's realised P&L (0 for a fill that only opens) to the position, and to its
        bucket for the session ``day``. A bucket left from an earlier day starts again, which is
        the whole day rollover: no job resets rows at midnight."""
        if self.realized_on != day:
            self.realized_on = day
            self.today_realized_pnl = ZERO
        self.realized_pnl += realized
        self.today_realized_pnl += realized

    def realized_today(self, day: date) -> Decimal:
        """Realised P&L of the session ``day``: the bucket if it is that day's, else nothing."""
        return self.today_realized_pnl if self.realized_on == day else ZERO

    @property
    def average_price(self) -> Decimal:
        return self.cost / abs(self.quantity) if self.quantity else ZERO


@dataclass(slots=True)
class HoldingState:
    id: int | None
    user_id: int
    symbol: str
    exchange: str
    quantity: Decimal
    cost: Decimal
    settled_on: date
    version: int = 0
    dirty: bool = False
    deleted: bool = False


@dataclass(slots=True)
class OrderState:
    id: int | None
    user_id: int
    orderid: str
    strategy: str
    symbol: str
    exchange: str
    action: str
    quantity: Decimal
    pricetype: str
    product: str
    price: Decimal
    trigger_price: Decimal
    status: str
    triggered: bool
    margin_blocked: Decimal
    margin_price: Decimal
    average_price: Decimal
    filled_quantity: Decimal
    rejection_reason: str
    instrument_type: str
    expiry: date | None
    gtt_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    dirty: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def side(self) -> int:
        return 1 if self.action == Action.BUY else -1

    def to_row(self) -> OrderRow:
        return OrderRow(
            orderid=self.orderid,
            symbol=self.symbol,
            exchange=self.exchange,
            action=Action(self.action),
            quantity=_qty(self.quantity),
            price=self.price,
            trigger_price=self.trigger_price,
            pricetype=PriceType(self.pricetype),
            product=Product(self.product),
            status=OrderStatus(self.status),
            timestamp=self.created_at,
            average_price=self.average_price,
            filled_quantity=_qty(self.filled_quantity),
            rejection_reason=self.rejection_reason,
            strategy=self.strategy,
        )

    def values(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "orderid": self.orderid,
            "strategy": self.strategy,
            "symbol": self.symbol,
            "exchange": self.exchange,
            "action": self.action,
            "quantity": self.quantity,
            "pricetype": self.pricetype,
            "product": self.product,
            "price": self.price,
            "trigger_price": self.trigger_price,
            "status": self.status,
            "triggered": self.triggered,
            "margin_blocked": self.margin_blocked,
            "margin_price": self.margin_price,
            "average_price": self.average_price,
            "filled_quantity": self.filled_quantity,
            "rejection_reason": self.rejection_reason,
            "instrument_type": self.instrument_type,
            "expiry": self.expiry,
            "gtt_id": self.gtt_id,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(slots=True)
class GttState:
    id: int | None
    user_id: int
    gtt_id: str
    trigger_type: str
    strategy: str
    symbol: str
    exchange: str
    action: str
    product: str
    quantity: Decimal
    pricetype: str
    trigger_sl: Decimal | None
    price_sl: Decimal | None
    trigger_tg: Decimal | None
    price_tg: Decimal | None
    last_price: Decimal
    status: str
    margin_blocked: Decimal
    fired_leg: int | None
    orderid: str | None
    rejection_reason: str
    expires_at: datetime
    version: int
    created_at: datetime
    updated_at: datetime
    dirty: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def legs(self) -> list[tuple[int, bool, Decimal, Decimal]]:
        """(leg number, fires above?, trigger, limit price) for each armed leg."""
        out: list[tuple[int, bool, Decimal, Decimal]] = []
        if self.trigger_sl is not None:
            out.append((1, False, self.trigger_sl, self.price_sl or ZERO))
        if self.trigger_tg is not None:
            out.append((2, True, self.trigger_tg, self.price_tg or ZERO))
        return out


def _qty(value: Decimal) -> int:
    """Order rows in the shared contract carry int quantities (fractions only exist on CRYPTO)."""
    return int(value)
