"""GTT endpoints (reference 7.23, SDK 2.0.5): placegttorder, modifygttorder, cancelgttorder,
gttorderbook, on the caller's ledger (sandbox in analyzer mode, else the simulator broker).

`placegttorder` creates orders-to-be, so it runs inside the order guard (``Idempotency-Key``, the
order log); modify and cancel act on an existing trigger by id (404 when unknown, 409 once it is
no longer active).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from openalgo.api.auth import ApiUser
from openalgo.api.v1.endpoints import endpoint
from openalgo.api.v1.order_guard import OrderGuardDep
from openalgo.api.v1.routing import route, v1_router
from openalgo.api.v1.schemas.gtt import (
    CancelGttRequest,
    GttFields,
    GttOrderBookRequest,
    GttResponse,
    ModifyGttRequest,
    PlaceGttRequest,
)
from openalgo.api.v1.venue import ANALYZE, TradingVenueDep
from openalgo.errors import ValidationFailed
from openalgo.services import gtt as gtt_service
from openalgo.services.gtt import GttOrder
from openalgo.services.venues import Routed

router = v1_router()


def _order(body: GttFields) -> GttOrder:
    return GttOrder(
        trigger_type=body.trigger_type,
        symbol=body.symbol,
        exchange=body.exchange.value,
        action=body.action.value,
        product=body.product.value,
        quantity=body.quantity,
        pricetype=body.pricetype.value,
        price=body.price,
        triggerprice_sl=body.triggerprice_sl,
        triggerprice_tg=body.triggerprice_tg,
        stoploss=body.stoploss,
        target=body.target,
        strategy=body.strategy,
    )


def _response(trigger_id: str, routed: Routed) -> GttResponse:
    return GttResponse(trigger_id=trigger_id, mode=ANALYZE if routed.analyze else None)


@route(router, endpoint("placegttorder"))
async def placegttorder(
    body: PlaceGttRequest, principal: ApiUser, routed: TradingVenueDep, guard: OrderGuardDep
) -> Any:
    order = _order(body)
    await gtt_service.check_symbol(routed.venue, order)

    async def call() -> BaseModel:
        trigger_id = await gtt_service.place(routed.venue, order, expires_at=body.expires_at)
        return _response(trigger_id, routed)

    return await guard.run(
        user_id=principal.user_id,
        endpoint="placegttorder",
        body=body,
        call=call,
        mode=principal.mode,
        venue=routed.venue.name,
    )


@route(router, endpoint("modifygttorder"))
async def modifygttorder(body: ModifyGttRequest, routed: TradingVenueDep) -> GttResponse:
    if body.expires_at is not None:
        problem = "cannot be changed: cancel and re-place the trigger"
        raise ValidationFailed(f"expires_at: {problem}", errors={"expires_at": [problem]})
    trigger_id = await gtt_service.modify(routed.venue, body.trigger_id, _order(body))
    return _response(trigger_id, routed)


@route(router, endpoint("cancelgttorder"))
async def cancelgttorder(body: CancelGttRequest, routed: TradingVenueDep) -> GttResponse:
    trigger_id = await gtt_service.cancel(routed.venue, body.trigger_id)
    return _response(trigger_id, routed)


@route(router, endpoint("gttorderbook"))
async def gttorderbook(
    routed: TradingVenueDep, body: GttOrderBookRequest | None = None
) -> dict[str, Any]:
    active_only = body is None or body.status == "active"
    data = await gtt_service.book(routed.venue, active_only=active_only)
    response: dict[str, Any] = {"status": "success", "data": data}
    if routed.analyze:
        response["mode"] = ANALYZE
    return response
