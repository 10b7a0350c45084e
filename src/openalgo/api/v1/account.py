"""Account endpoints (reference 6): funds, orderbook, tradebook, positionbook, holdings, margin.

The books come from the caller's ledger (`TradingVenueDep`: the sandbox in analyzer mode, else the
simulator broker), rendered by the ledger's own OpenAlgo-shaped bodies; `/margin` is never
sandboxed, as in OpenAlgo, and prices the basket by the active broker's rules
(`services.margin`).
"""

from __future__ import annotations

from typing import Any

from openalgo.api.auth import ApiUser, BrokerSessionDep
from openalgo.api.deps import RuntimeDep
from openalgo.api.v1.endpoints import endpoint
from openalgo.api.v1.routing import route, v1_router
from openalgo.api.v1.schemas.account import KeyOnlyRequest, Margin, MarginRequest, MarginResponse
from openalgo.api.v1.venue import TradingVenueDep, in_mode
from openalgo.services import margin as margin_service
from openalgo.services.margin import MarginItem

router = v1_router()


@route(router, endpoint("funds"))
async def funds(routed: TradingVenueDep, body: KeyOnlyRequest | None = None) -> Any:
    del body  # documented in the schema; the dependencies did the checking
    return in_mode(await routed.venue.funds_body(), routed)


@route(router, endpoint("orderbook"))
async def orderbook(routed: TradingVenueDep, body: KeyOnlyRequest | None = None) -> Any:
    del body
    return in_mode(await routed.venue.orderbook_body(), routed)


@route(router, endpoint("tradebook"))
async def tradebook(routed: TradingVenueDep, body: KeyOnlyRequest | None = None) -> Any:
    del body
    return in_mode(await routed.venue.tradebook_body(), routed)


@route(router, endpoint("positionbook"))
async def positionbook(routed: TradingVenueDep, body: KeyOnlyRequest | None = None) -> Any:
    del body
    return in_mode(await routed.venue.positionbook_body(), routed)


@route(router, endpoint("holdings"))
async def holdings(routed: TradingVenueDep, body: KeyOnlyRequest | None = None) -> Any:
    del body
    return in_mode(await routed.venue.holdings_body(), routed)


@route(router, endpoint("margin"))
async def margin(
    body: MarginRequest, principal: ApiUser, runtime: RuntimeDep, _session: BrokerSessionDep
) -> MarginResponse:
    engine = margin_service.margin_engine(runtime, principal)
    items = [
        MarginItem(
            symbol=p.symbol,
            exchange=p.exchange.value,
            action=p.action.value,
            quantity=p.quantity,
            product=p.product.value,
            pricetype=p.pricetype.value,
            price=p.price,
            trigger_price=p.trigger_price,
        )
        for p in body.positions
    ]
    totals = await margin_service.calculate(engine, principal.user_id, items)
    return MarginResponse(
        data=Margin(
            total_margin_required=float(totals.total),
            span_margin=float(totals.span),
            exposure_margin=float(totals.exposure),
        )
    )
