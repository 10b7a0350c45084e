"""What the order endpoints do, below HTTP: place, reconcile, fan out, modify, cancel, close, look up.

The routers in `openalgo.api.v1.orders` only parse, authenticate and wrap order-creating calls in
the order guard; everything an order endpoint decides lives here, against a `OrderDesk` (one
user's account on the venue `trading_venue` chose, plus the instrument master):

- Symbols are checked against the master before anything is placed, so an unknown symbol is a
  400 naming the field (``symbol``, ``orders.2.symbol``) and no rejected order is recorded for a
  typo. For a basket every item is checked first: one bad symbol places nothing.
- `placesmartorder` moves the position to the target size with one order or none (the delta is
  computed from the current net position by the sandbox's rule, reference 5.2). Smart orders for
  the same position run one at a time, so two alerts fired together cannot both see the old
  position and overshoot.
- `basketorder` runs every BUY before any SELL (a hedge's protective leg first, and a CNC sell
  can use a buy in the same basket), sequentially, each failure reported in its own result.
- `splitorder` cuts the quantity into ``splitsize`` children plus the remainder, at most 100.
- An order the venue refuses is a 400 with its reason (and the rejected order's id when the venue
  recorded it); an order no longer open is a 409; an unknown order id a 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import Literal, Protocol, TypeVar

from openalgo.api.v1.schemas.orders import (
    BasketOrderRequest,
    BasketOrderResponse,
    BasketResult,
    CancelAllOrderResponse,
    CancelOrderResponse,
    ChildOrderResult,
    ClosePositionResponse,
    ModifyOrderRequest,
    ModifyOrderResponse,
    OpenPositionRequest,
    OpenPositionResponse,
    OrderResponse,
    OrderStatusData,
    OrderStatusResponse,
    PlaceOrderRequest,
    PlaceSmartOrderRequest,
    SmartOrderResponse,
    SplitOrderRequest,
    SplitOrderResponse,
)
from openalgo.brokers.sandbox.ops import OrderStateError
from openalgo.brokers.sandbox.venue import SandboxVenue
from openalgo.domain.enums import Action
from openalgo.domain.instruments import Instrument
from openalgo.domain.orders import ModifyRequest, OrderRequest
from openalgo.errors import Conflict, OpenAlgoError, ValidationFailed

MAX_SPLIT_ORDERS = 100
TOO_MANY_SPLITS = f"Total number of orders would exceed maximum limit of {MAX_SPLIT_ORDERS}"
CLOSE_STRATEGY = "Squareoff"  # OpenAlgo tags the closing orders of /closeposition so
MODIFIED = "Order modified successfully"
CANCELLED = "Order cancelled successfully"

T = TypeVar("T")
Mode = Literal["analyze"] | None


class SymbolLookup(Protocol):
    def get(self, symbol: str, exchange: str) -> Instrument | None: ...


@dataclass(frozen=True, slots=True)
class OrderDesk:
    """One user's account on the venue that serves this request, and the master to check
    symbols against."""

    venue: SandboxVenue
    instruments: SymbolLookup
    analyze: bool

    @property
    def mode(self) -> Mode:
        return "analyze" if self.analyze else None


# --- checks that need no venue ------------------------------------------------------------------


def check_symbols(desk: OrderDesk, items: Iterable[tuple[str, str, str]]) -> None:
    """Every (field, symbol, exchange) must be in the instrument master; all problems at once."""
    errors: dict[str, list[str]] = {}
    for field, symbol, exchange in items:
        if desk.instruments.get(symbol, exchange) is None:
            errors[field] = [f"unknown symbol {symbol} on {exchange}"]
    if errors:
        message = "; ".join(f"{field}: {problems[0]}" for field, problems in errors.items())
        raise ValidationFailed(message, errors=errors)


def _request(make: Callable[[], T], field: str = "quantity") -> T:
    """A venue request from a validated body; the schema's last refusal (a fractional quantity
    the venue cannot take) becomes a 400 naming the field instead of a 500."""
    try:
        return make()
    except ValueError as exc:
        raise ValidationFailed.field(field, str(exc)) from exc


def order_request(desk: OrderDesk, body: PlaceOrderRequest) -> OrderRequest:
    check_symbols(desk, [("symbol", body.symbol, body.exchange.value)])
    return _request(body.to_request)


def smart_request(desk: OrderDesk, body: PlaceSmartOrderRequest) -> OrderRequest:
    check_symbols(desk, [("symbol", body.symbol, body.exchange.value)])
    return _request(partial(body.to_order_request, body.strategy))


def basket_requests(desk: OrderDesk, body: BasketOrderRequest) -> list[OrderRequest]:
    check_symbols(
        desk,
        ((f"orders.{i}.symbol", o.symbol, o.exchange.value) for i, o in enumerate(body.orders)),
    )
    return [
        _request(partial(item.to_order_request, body.strategy), f"orders.{i}.quantity")
        for i, item in enumerate(body.orders)
    ]


def split_quantities(quantity: int, size: int) -> list[int]:
    """``quantity // size`` children of ``size`` and one of the remainder, if any (one child of
    ``quantity`` when ``size`` exceeds it). Callers refuse more than `MAX_SPLIT_ORDERS`."""
    full, rest = divmod(quantity, size)
    return [size] * full + ([rest] if rest else [])


def split_sizes(quantity: int, splitsize: int) -> list[int]:
    """`split_quantities`, refusing more than 100 children."""
    sizes = split_quantities(quantity, splitsize)
    if len(sizes) > MAX_SPLIT_ORDERS:
        raise ValidationFailed(
            TOO_MANY_SPLITS,
            errors={"splitsize": [f"at most {MAX_SPLIT_ORDERS} orders: use a larger splitsize"]},
        )
    return sizes


@dataclass(frozen=True, slots=True)
class SplitPlan:
    order: OrderRequest
    splitsize: int
    sizes: list[int]


def split_plan(desk: OrderDesk, body: SplitOrderRequest) -> SplitPlan:
    check_symbols(desk, [("symbol", body.symbol, body.exchange.value)])
    order = _request(partial(body.to_order_request, body.strategy))
    return SplitPlan(order, body.splitsize, split_sizes(order.quantity, body.splitsize))


def modify_request(desk: OrderDesk, body: ModifyOrderRequest) -> ModifyRequest:
    check_symbols(desk, [("symbol", body.symbol, body.exchange.value)])
    return _request(body.to_request)


# --- venue calls --------------------------------------------------------------------------------


def _state_conflict(exc: OrderStateError) -> Conflict:
    """Modify/cancel of an order that is no longer open: 409, as docs/api.md promises (OpenAlgo
    answers 400); the order id stays in the body."""
    return Conflict(exc.message, extra=exc.extra)


async def place(desk: OrderDesk, order: OrderRequest) -> OrderResponse:
    return OrderResponse(orderid=await desk.venue.place_order(order), mode=desk.mode)


class _PositionLocks:
    """One asyncio lock per position, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[object, ...], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: tuple[object, ...]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


_smart_locks = _PositionLocks()


async def smart_order(
    desk: OrderDesk, order: OrderRequest, position_size: Decimal
) -> SmartOrderResponse:
    venue = desk.venue
    key = (venue.name, venue.user_id, order.symbol, order.exchange, str(order.product))
    async with _smart_locks.hold(key):
        body = await venue.smart_order_body(order, position_size)
    return SmartOrderResponse(
        orderid=body.get("orderid"), message=body.get("message"), mode=desk.mode
    )


async def basket(desk: OrderDesk, orders: Sequence[OrderRequest]) -> BasketOrderResponse:
    """BUYs first, then SELLs, each placed on its own; results in request order."""
    results: list[BasketResult | None] = [None] * len(orders)
    sequence = sorted(range(len(orders)), key=lambda i: orders[i].action != Action.BUY)
    for i in sequence:
        order = orders[i]
        item = {
            "symbol": order.symbol,
            "exchange": order.exchange,
            "product": str(order.product),
            "action": str(order.action),
        }
        try:
            orderid = await desk.venue.place_order(order)
        except OpenAlgoError as exc:
            results[i] = BasketResult(**item, status="error", message=exc.message)
        else:
            results[i] = BasketResult(**item, status="success", orderid=orderid)
    return BasketOrderResponse(results=[r for r in results if r is not None], mode=desk.mode)


async def split(desk: OrderDesk, plan: SplitPlan) -> SplitOrderResponse:
    """The children one after another; a refused child is reported and the rest still go."""
    results: list[ChildOrderResult] = []
    for number, size in enumerate(plan.sizes, start=1):
        try:
            orderid = await desk.venue.place_order(replace(plan.order, quantity=size))
        except OpenAlgoError as exc:
            results.append(
                ChildOrderResult(
                    order_num=number, quantity=size, status="error", message=exc.message
                )
            )
        else:
            results.append(
                ChildOrderResult(order_num=number, quantity=size, status="success", orderid=orderid)
            )
    return SplitOrderResponse(
        total_quantity=plan.order.quantity,
        split_size=plan.splitsize,
        results=results,
        mode=desk.mode,
    )


async def modify(desk: OrderDesk, request: ModifyRequest) -> ModifyOrderResponse:
    try:
        orderid = await desk.venue.modify_order(request)
    except OrderStateError as exc:
        raise _state_conflict(exc) from exc
    return ModifyOrderResponse(orderid=orderid, message=MODIFIED, mode=desk.mode)


async def cancel(desk: OrderDesk, orderid: str) -> CancelOrderResponse:
    try:
        cancelled = await desk.venue.cancel_order(orderid)
    except OrderStateError as exc:
        raise _state_conflict(exc) from exc
    return CancelOrderResponse(orderid=cancelled, message=CANCELLED, mode=desk.mode)


async def cancel_all(desk: OrderDesk) -> CancelAllOrderResponse:
    """Every open and trigger-pending order of the account, whatever its strategy."""
    body = await desk.venue.cancel_all_body()
    return CancelAllOrderResponse(
        message=body["message"],
        canceled_orders=list(body["canceled_orders"]),
        failed_cancellations=[item["orderid"] for item in body["failed_cancellations"]],
        mode=desk.mode,
    )


async def close_all(desk: OrderDesk) -> ClosePositionResponse:
    """Square off every open position of the account at the market."""
    body = await desk.venue.close_all_body(CLOSE_STRATEGY)
    return ClosePositionResponse(
        message=body["message"],
        closed_positions=body["closed_positions"],
        failed_closures=body["failed_closures"],
        mode=desk.mode,
    )


async def order_status(desk: OrderDesk, orderid: str) -> OrderStatusResponse:
    body = await desk.venue.orderstatus_body(orderid)
    item = dict(body["data"])
    item.pop("price_type", None)  # OpenAlgo's sandbox spelling; we always say pricetype
    fields = OrderStatusData.model_fields
    return OrderStatusResponse(
        data=OrderStatusData(**{k: v for k, v in item.items() if k in fields}), mode=desk.mode
    )


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


async def open_position(desk: OrderDesk, body: OpenPositionRequest) -> OpenPositionResponse:
    """Net quantity of one position, 0 when flat. An unknown symbol is a 400 unless a position
    in it still exists (an instrument that left the master after it was traded)."""
    venue = desk.venue
    exchange, product = body.exchange.value, body.product.value
    quantity = await venue.engine.open_quantity(venue.user_id, body.symbol, exchange, product)
    if not quantity:
        check_symbols(desk, [("symbol", body.symbol, exchange)])
    return OpenPositionResponse(quantity=_number(quantity), mode=desk.mode)
