"""How `/api/v1` routers declare their routes: one decorator per endpoint row.

    router = v1_router()

    @route(router, endpoint("placeorder"))
    async def placeorder(body: PlaceOrderRequest, user: ApiUser, ...) -> OrderResponse: ...

The decorator takes the path, method, operation id (the endpoint's name), tag, response model and
the documented error responses from the endpoint table, so every route is declared the same way
and the OpenAPI document lists the same errors for every endpoint of a kind. Trailing slashes are
handled once, by `TrailingSlashMiddleware`, so ``/placeorder/`` works without a second route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter

from openalgo.api.v1.endpoints import API_PREFIX, Endpoint, Tag
from openalgo.api.v1.schemas.common import ErrorResponse

F = TypeVar("F", bound=Callable[..., Any])

_ERRORS: dict[int, str] = {
    400: "Invalid request: malformed JSON, a missing or wrong field (the message names it)",
    403: "Invalid or missing API key, or an expired broker session",
    404: "Unknown symbol, order or trigger",
    409: "Idempotency-Key reused with another body, its first request still running, "
    "or the order is no longer in a state that allows this",
    413: "Request body too large",
    429: "Rate limit exceeded (see Retry-After)",
    500: "Unexpected server error (details are in the server log, never in the response)",
    503: "The order log is unreachable: the order was not placed",
}


def error_responses(ep: Endpoint) -> dict[int | str, dict[str, Any]]:
    """The error statuses ``ep`` can answer with, each with the envelope model."""
    codes = [400, 403, 404, 413, 429, 500]
    if ep.tag in (Tag.ORDERS, Tag.GTT) or ep.creates_orders:
        codes.append(409)
    if ep.creates_orders:
        codes.append(503)
    return {code: {"model": ErrorResponse, "description": _ERRORS[code]} for code in sorted(codes)}


def v1_router() -> APIRouter:
    return APIRouter(prefix=API_PREFIX)


def route(router: APIRouter, ep: Endpoint, **overrides: Any) -> Callable[[F], F]:
    """Register the decorated function as ``ep``'s route on ``router``."""
    options: dict[str, Any] = {
        "methods": [ep.method],
        "operation_id": ep.operation_id,
        "name": ep.operation_id,
        "tags": [ep.tag.value],
        "summary": ep.summary,
        "response_model": ep.response,
        "responses": error_responses(ep),
    }
    options.update(overrides)

    def register(func: F) -> F:
        router.api_route(ep.path, **options)(func)
        return func

    return register
