"""The OpenAlgo-compatible REST API under ``/api/v1``.

`build_router()` gathers the area routers (orders, account, market data, ...) into one; each area
module declares its routes with `routing.route` from the endpoint table in `endpoints`.
"""

from __future__ import annotations

from fastapi import APIRouter


def build_router() -> APIRouter:
    """Every `/api/v1` route. Area routers are added here as they are written."""
    from openalgo.api.v1 import (
        account,
        analyzer,
        calendar,
        gtt,
        market,
        options,
        orders,
        symbols,
        system,
    )

    router = APIRouter()
    router.include_router(system.router)
    router.include_router(orders.router)
    router.include_router(market.router)
    router.include_router(symbols.router)
    router.include_router(calendar.router)
    router.include_router(options.router)
    router.include_router(account.router)
    router.include_router(analyzer.router)
    router.include_router(gtt.router)
    return router
