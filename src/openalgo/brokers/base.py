"""The venue contract: every broker, the simulator and the sandbox implement these Protocols.

Two halves, because analyzer mode splits them: order and account calls go to the sandbox while
market data still comes from the user's active broker.

- `TradingVenue`: orders, books, funds, margin, for one user's account.
- `MarketData`: quotes, depth, history, for whoever holds a session with the venue.

Generic code branches on `Capabilities`, never on a broker's name. Vendor errors are translated
once, at the adapter boundary, into the `BrokerError` taxonomy below; only `TemporaryBrokerError`
is retried, and an order placement is never retried blindly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from openalgo.domain.enums import Exchange, PriceType, Product, TickMode
from openalgo.domain.market import Candle, Depth, Quote
from openalgo.domain.orders import (
    Funds,
    HoldingRow,
    ModifyRequest,
    OrderRequest,
    OrderRow,
    PositionRow,
    TradeRow,
)
from openalgo.errors import OpenAlgoError

# --- capabilities -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    requests: int
    per_seconds: float


@dataclass(frozen=True)
class Capabilities:
    """What a venue supports, as data."""

    exchanges: frozenset[Exchange]
    products: frozenset[Product] = frozenset(Product)
    price_types: frozenset[PriceType] = frozenset(PriceType)
    stream_modes: frozenset[TickMode] = frozenset(TickMode)
    depth_levels: frozenset[int] = frozenset({5})
    intervals: tuple[str, ...] = ("1m", "3m", "5m", "10m", "15m", "30m", "1h", "D")
    supports_gtt: bool = False
    supports_margin: bool = False
    max_stream_symbols: int = 3000
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)


# --- errors -----------------------------------------------------------------------------------


class BrokerError(OpenAlgoError):
    """A venue failed the call. Subclasses say whether trying again could help."""

    status_code = 502
    default_message = "Broker error"


class TemporaryBrokerError(BrokerError):
    """Network trouble, 5xx, timeouts: safe to retry reads; never retry a placement blindly."""

    status_code = 503
    default_message = "Broker temporarily unavailable"


class BrokerRateLimited(TemporaryBrokerError):
    status_code = 429
    default_message = "Broker rate limit reached"


class OrderRejected(BrokerError):
    """The venue refused the order (funds, validation, market rules). Final; shown to the user."""

    status_code = 400
    default_message = "Order rejected"

    def __init__(self, message: str | None = None, *, orderid: str | None = None) -> None:
        super().__init__(message, extra={"orderid": orderid} if orderid else None)
        self.orderid = orderid


class InsufficientFunds(OrderRejected):
    default_message = "Insufficient funds"


class OrderNotFound(BrokerError):
    status_code = 404
    default_message = "Order not found"


class AuthExpired(BrokerError):
    """The broker session is gone (daily expiry or revoked): the user must log in again."""

    status_code = 403
    default_message = "Broker session expired, log in again"


class BrokerConfigError(BrokerError):
    """Credentials or settings are wrong; retrying will not help."""

    status_code = 500
    default_message = "Broker is misconfigured"


class NotSupported(BrokerError):
    status_code = 501
    default_message = "Not supported by this broker"


# --- protocols --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CancelAllResult:
    cancelled: list[str]
    failed: list[tuple[str, str]]  # (orderid, reason)


@runtime_checkable
class TradingVenue(Protocol):
    """One user's account at a venue."""

    name: str
    capabilities: Capabilities

    async def place_order(self, order: OrderRequest) -> str:
        """Place and return the order id. Raises OrderRejected (with the id when recorded)."""
        ...

    async def modify_order(self, request: ModifyRequest) -> str: ...

    async def cancel_order(self, orderid: str) -> str: ...

    async def cancel_all_orders(self) -> CancelAllResult: ...

    async def order_book(self) -> Sequence[OrderRow]: ...

    async def order_status(self, orderid: str) -> OrderRow:
        """Raises OrderNotFound."""
        ...

    async def trade_book(self) -> Sequence[TradeRow]: ...

    async def positions(self) -> Sequence[PositionRow]: ...

    async def holdings(self) -> Sequence[HoldingRow]: ...

    async def funds(self) -> Funds: ...


@runtime_checkable
class MarketData(Protocol):
    """Market data from a venue; symbols are OpenAlgo symbols."""

    name: str
    capabilities: Capabilities

    async def quote(self, symbol: str, exchange: str) -> Quote:
        """Raises NotFound (openalgo.errors) for an unknown instrument."""
        ...

    async def quotes(self, items: Sequence[tuple[str, str]]) -> list[Quote | OpenAlgoError]: ...

    async def depth(self, symbol: str, exchange: str) -> Depth: ...

    async def history(
        self, symbol: str, exchange: str, interval: str, start: datetime, end: datetime
    ) -> list[Candle]: ...


@dataclass(frozen=True, slots=True)
class MarginLeg:
    symbol: str
    exchange: str
    action: str
    quantity: int
    product: Product
    pricetype: PriceType
    price: Decimal = Decimal("0")
    trigger_price: Decimal = Decimal("0")
