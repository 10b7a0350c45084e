"""The venue dependency of sandbox-served routes: which ledger serves the caller, said once.

`TradingVenueDep` resolves the caller's venue with `services.venues.trading_venue` (the sandbox
ledger in analyzer mode, otherwise the active broker's) and, in analyzer mode, marks the request
so that every response, validation errors included, carries ``"mode": "analyze"``. It runs before
the body is validated (FastAPI resolves dependencies first), which is what lets a 400 carry the
mode once the API key has identified the user.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from openalgo.api.auth import ApiUser, BrokerSessionDep
from openalgo.api.deps import RuntimeDep
from openalgo.api.errors import set_response_mode
from openalgo.services.venues import Routed, trading_venue

ANALYZE = "analyze"


async def get_trading_venue(
    request: Request, principal: ApiUser, runtime: RuntimeDep, _session: BrokerSessionDep
) -> Routed:
    if principal.analyzer_mode:
        set_response_mode(request, ANALYZE)
    return trading_venue(runtime, principal)


TradingVenueDep = Annotated[Routed, Depends(get_trading_venue)]


def in_mode(body: dict[str, Any], routed: Routed) -> dict[str, Any]:
    """A venue body as the caller's mode shows it: ``"mode": "analyze"`` from the sandbox, no
    ``mode`` at all from a broker (OpenAlgo's live responses have none; the simulator ledger's
    bodies say ``"live"``)."""
    if routed.analyze:
        body["mode"] = ANALYZE
    else:
        body.pop("mode", None)
    return body
