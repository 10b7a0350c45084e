"""The order endpoints of ``/api/v1`` (reference section 5): placeorder, placesmartorder,
basketorder, splitorder, modifyorder, cancelorder, cancelallorder, closeposition, orderstatus,
openposition.

Thin on purpose: each route authenticates, lets `openalgo.services.orders` check the request
against the instrument master (an unknown symbol is refused before the order log or the
``Idempotency-Key`` is touched), and, for the endpoints that create orders, runs the venue call
inside the order guard (idempotency, order log, timings). Which ledger serves the call is
`trading_venue`'s rule; in analyzer mode every response, errors included, says ``"mode": "analyze"``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from openalgo.api.auth import ApiUser
from openalgo.api.deps import RuntimeDep
from openalgo.api.v1.endpoints import endpoint
from openalgo.api.v1.order_guard import OrderGuard, OrderGuardDep
from openalgo.api.v1.routing import route, v1_router
from openalgo.api.v1.schemas.common import ApiRequest
from openalgo.api.v1.schemas.orders import (
    BasketOrderRequest,
    CancelAllOrderRequest,
    CancelAllOrderResponse,
    CancelOrderRequest,
    CancelOrderResponse,
    ClosePositionRequest,
    ModifyOrderRequest,
    ModifyOrderResponse,
    OpenPositionRequest,
    OpenPositionResponse,
    OrderStatusRequest,
    OrderStatusResponse,
    PlaceOrderRequest,
    PlaceSmartOrderRequest,
    SplitOrderRequest,
)
from openalgo.api.v1.venue import TradingVenueDep
from openalgo.security.apikeys import ApiPrincipal
from openalgo.services import orders
from openalgo.services.orders import OrderDesk

router = v1_router()


async def get_desk(runtime: RuntimeDep, routed: TradingVenueDep) -> OrderDesk:
    """The caller's account on the venue that serves them (see `TradingVenueDep`)."""
    return OrderDesk(routed.venue, runtime.instruments, routed.analyze)


DeskDep = Annotated[OrderDesk, Depends(get_desk)]


async def _guarded(
    guard: OrderGuard,
    principal: ApiPrincipal,
    desk: OrderDesk,
    body: ApiRequest,
    name: str,
    call: Callable[[], Awaitable[BaseModel]],
) -> BaseModel | JSONResponse:
    """``call`` inside the order guard (idempotency, order log, timings)."""
    return await guard.run(
        user_id=principal.user_id,
        endpoint=name,
        body=body,
        mode=principal.mode,
        venue=desk.venue.name,
        call=call,
    )


@route(router, endpoint("placeorder"))
async def placeorder(
    body: PlaceOrderRequest, principal: ApiUser, desk: DeskDep, guard: OrderGuardDep
) -> Any:
    order = orders.order_request(desk, body)
    return await _guarded(
        guard, principal, desk, body, "placeorder", lambda: orders.place(desk, order)
    )


@route(router, endpoint("placesmartorder"))
async def placesmartorder(
    body: PlaceSmartOrderRequest, principal: ApiUser, desk: DeskDep, guard: OrderGuardDep
) -> Any:
    order = orders.smart_request(desk, body)
    return await _guarded(
        guard,
        principal,
        desk,
        body,
        "placesmartorder",
        lambda: orders.smart_order(desk, order, body.position_size),
    )


@route(router, endpoint("basketorder"))
async def basketorder(
    body: BasketOrderRequest, principal: ApiUser, desk: DeskDep, guard: OrderGuardDep
) -> Any:
    items = orders.basket_requests(desk, body)
    return await _guarded(
        guard, principal, desk, body, "basketorder", lambda: orders.basket(desk, items)
    )


@route(router, endpoint("splitorder"))
async def splitorder(
    body: SplitOrderRequest, principal: ApiUser, desk: DeskDep, guard: OrderGuardDep
) -> Any:
    plan = orders.split_plan(desk, body)
    return await _guarded(
        guard, principal, desk, body, "splitorder", lambda: orders.split(desk, plan)
    )


@route(router, endpoint("closeposition"))
async def closeposition(
    body: ClosePositionRequest, principal: ApiUser, desk: DeskDep, guard: OrderGuardDep
) -> Any:
    return await _guarded(
        guard, principal, desk, body, "closeposition", lambda: orders.close_all(desk)
    )


@route(router, endpoint("modifyorder"))
async def modifyorder(body: ModifyOrderRequest, desk: DeskDep) -> ModifyOrderResponse:
    return await orders.modify(desk, orders.modify_request(desk, body))


@route(router, endpoint("cancelorder"))
async def cancelorder(body: CancelOrderRequest, desk: DeskDep) -> CancelOrderResponse:
    return await orders.cancel(desk, body.orderid)


@route(router, endpoint("cancelallorder"))
async def cancelallorder(body: CancelAllOrderRequest, desk: DeskDep) -> CancelAllOrderResponse:
    del body  # strategy is a tag only: every open order of the account is cancelled
    return await orders.cancel_all(desk)


@route(router, endpoint("orderstatus"))
async def orderstatus(body: OrderStatusRequest, desk: DeskDep) -> OrderStatusResponse:
    return await orders.order_status(desk, body.orderid)


@route(router, endpoint("openposition"))
async def openposition(body: OpenPositionRequest, desk: DeskDep) -> OpenPositionResponse:
    return await orders.open_position(desk, body)
