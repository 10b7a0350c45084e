"""Orders, books and funds as venues accept and return them, plus the order-event record.

Requests carry `Decimal` prices and integer quantities: the API layer has already coerced
OpenAlgo's numbers-as-strings and checked the enums, so venues never see raw JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from openalgo.domain.enums import Action, OrderStatus, PriceType, Product

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: str
    exchange: str
    action: Action
    quantity: int
    pricetype: PriceType = PriceType.MARKET
    product: Product = Product.MIS
    price: Decimal = ZERO
    trigger_price: Decimal = ZERO
    disclosed_quantity: int = 0
    strategy: str = ""


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    orderid: str
    symbol: str
    exchange: str
    action: Action
    quantity: int
    pricetype: PriceType
    product: Product
    price: Decimal = ZERO
    trigger_price: Decimal = ZERO
    disclosed_quantity: int = 0
    strategy: str = ""


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One orderbook entry (OpenAlgo's normalized order row)."""

    orderid: str
    symbol: str
    exchange: str
    action: Action
    quantity: int
    price: Decimal
    trigger_price: Decimal
    pricetype: PriceType
    product: Product
    status: OrderStatus
    timestamp: datetime
    average_price: Decimal = ZERO
    filled_quantity: int = 0
    rejection_reason: str = ""
    strategy: str = ""

    @property
    def pending_quantity(self) -> int:
        return 0 if self.status.is_final else self.quantity - self.filled_quantity


@dataclass(frozen=True, slots=True)
class TradeRow:
    tradeid: str
    orderid: str
    symbol: str
    exchange: str
    product: Product
    action: Action
    quantity: int
    price: Decimal
    timestamp: datetime
    strategy: str = ""

    @property
    def trade_value(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True)
class PositionRow:
    symbol: str
    exchange: str
    product: Product
    quantity: int  # net, signed
    average_price: Decimal
    ltp: Decimal
    realized_pnl: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO

    @property
    def pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl


@dataclass(frozen=True, slots=True)
class HoldingRow:
    symbol: str
    exchange: str
    quantity: int
    average_price: Decimal
    ltp: Decimal
    product: Product = Product.CNC

    @property
    def pnl(self) -> Decimal:
        return (self.ltp - self.average_price) * self.quantity


@dataclass(frozen=True, slots=True)
class Funds:
    availablecash: Decimal
    collateral: Decimal
    m2munrealized: Decimal
    m2mrealized: Decimal
    utiliseddebits: Decimal
    extra: dict[str, Any] = field(default_factory=dict)


class OrderEventKind(StrEnum):
    PLACED = "placed"
    OPEN = "open"
    FILLED = "filled"
    PARTIALLY_FILLED = "partially_filled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    MODIFIED = "modified"
    TRIGGERED = "triggered"


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A change in one order's life, published for the WebSocket `subscribe_orders` stream.

    The stream assigns ``seq`` per user when it publishes, so a client can detect gaps.
    """

    user_id: int
    venue: str  # "sandbox", "simulator", "zerodha", ...
    kind: OrderEventKind
    order: OrderRow
    mode: str = "live"  # "analyze" for the sandbox
    seq: int = 0


class OrderEventSink(Protocol):
    """Where venues put order events; must not block the caller."""

    def publish(self, event: OrderEvent) -> None: ...
