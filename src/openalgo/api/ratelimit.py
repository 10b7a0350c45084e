"""Attach a rate-limit class to a route: ``@router.post("/placeorder", dependencies=[OrderLimit])``.

Each class reads its limit from settings (``OPENALGO_ORDER_RATE_LIMIT`` ...). The bucket is the
route plus the caller: the API key (by its lookup digest) once the key has been verified, else the
client address. Successful responses carry ``X-RateLimit-*`` headers; a refused request is a 429 in the
OpenAlgo envelope with ``Retry-After``. Route dependencies run before the endpoint's own, so an
over-limit request is refused before its API key is verified.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request, Response

from openalgo.api.auth import extract_api_key, get_security
from openalgo.errors import RateLimited
from openalgo.security.apikeys import is_well_formed
from openalgo.security.middleware import client_address
from openalgo.security.ratelimit import LimitState, RouteClass, describe


async def rate_limit_identity(request: Request) -> str:
    """``key:<digest prefix>`` for a request carrying a recently verified API key, else
    ``ip:<address>``.

    Only *known* keys get their own bucket: otherwise a client could present a fresh random key
    with every request and never meet a limit. A valid key that has dropped out of the cache is
    counted against its address for that one request, until verification caches it again.
    """
    api_key = await extract_api_key(request)
    if api_key and is_well_formed(api_key):
        verifier = get_security(request).verifier
        digest: str | None = request.scope.get("openalgo.apikey_digest")
        if digest is None:
            digest = verifier.digest(api_key)
            request.scope["openalgo.apikey_digest"] = digest
        if verifier.known(digest):
            return f"key:{digest[:32]}"
    return f"ip:{client_address(request.scope)}"


def _route_scope(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return str(path or request.url.path)


async def enforce(
    request: Request, route_class: RouteClass, identity: str | None = None
) -> LimitState | None:
    """Count this request against its class; raises `RateLimited` (429) when over the limit."""
    security = get_security(request)
    if not security.limiter.enabled:
        return None
    if identity is None:
        identity = await rate_limit_identity(request)
    state = await security.limiter.hit_class(route_class, _route_scope(request), identity)
    if state is not None and not state.allowed:
        raise RateLimited(
            extra={"limit": describe(state.limit), "retry_after": state.retry_after()},
            headers=state.headers(),
        )
    return state


def rate_limit(route_class: RouteClass) -> Any:
    """A route dependency applying ``route_class``'s limit (see the module docstring)."""

    async def dependency(request: Request, response: Response) -> None:
        state = await enforce(request, route_class)
        if state is not None:
            response.raw_headers.extend(state.raw_headers())

    dependency.__name__ = f"rate_limit_{route_class.value}"
    return Depends(dependency)


ApiLimit = rate_limit(RouteClass.API)
OrderLimit = rate_limit(RouteClass.ORDER)
SmartOrderLimit = rate_limit(RouteClass.SMART_ORDER)
WebhookLimit = rate_limit(RouteClass.WEBHOOK)
LoginLimit = rate_limit(RouteClass.LOGIN)
GreeksLimit = rate_limit(RouteClass.GREEKS)

LIMIT_BY_CLASS = {
    RouteClass.API: ApiLimit,
    RouteClass.ORDER: OrderLimit,
    RouteClass.SMART_ORDER: SmartOrderLimit,
    RouteClass.WEBHOOK: WebhookLimit,
    RouteClass.LOGIN: LoginLimit,
    RouteClass.GREEKS: GreeksLimit,
}
