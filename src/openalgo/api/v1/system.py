"""``POST /api/v1/ping``: is my key good, and which broker am I on?

Like every broker-backed call it answers 403 when the key is bad or the user's broker session has
expired (the built-in simulator needs no broker session).
"""

from __future__ import annotations

from openalgo.api.auth import ApiUser, BrokerSessionDep
from openalgo.api.v1.endpoints import endpoint
from openalgo.api.v1.routing import route, v1_router
from openalgo.api.v1.schemas.account import KeyOnlyRequest
from openalgo.api.v1.schemas.system import PingResponse, Pong

router = v1_router()


@route(router, endpoint("ping"))
async def ping(
    principal: ApiUser, broker_session: BrokerSessionDep, body: KeyOnlyRequest | None = None
) -> PingResponse:
    del body, broker_session  # documented in the schema; the dependencies did the checking
    return PingResponse(data=Pong(broker=principal.broker))
