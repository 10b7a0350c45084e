"""The OpenAlgo-compatible REST API under ``/api/v1``.

`build_router()` gathers the area routers (orders, account, market data, ...) into one; each area
module declares its routes with `routing.route` from the endpoint table in `endpoints`.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute


def build_router() -> APIRouter:
    """Every `/api/v1` route. Area routers are added here as they are written."""
    router = APIRouter()
    for area in _areas():
        router.include_router(area)
    return router


def v1_routes() -> list[APIRoute]:
    """The route objects of every `/api/v1` endpoint, as `build_router` serves them (the areas
    are included without a prefix or dependencies of their own), for `dispatch.install`."""
    return [route for area in _areas() for route in area.routes if isinstance(route, APIRoute)]


def _areas() -> list[APIRouter]:
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

    return [
        system.router,
        orders.router,
        market.router,
        symbols.router,
        calendar.router,
        options.router,
        account.router,
        analyzer.router,
        gtt.router,
    ]
