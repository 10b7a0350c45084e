"""``POST /api/v1/ping``: is my key good, and which broker am I on?

OpenAlgo answers ``{"status":"success","data":{"broker":...,"message":"pong"}}`` and, like every
broker-backed call, 403 when the key is bad or the broker session has expired; we do the same (the
built-in simulator needs no broker session).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from openalgo.api.auth import ApiUser, BrokerSessionDep
from openalgo.api.ratelimit import ApiLimit

router = APIRouter(prefix="/api/v1", tags=["account"])


class PingRequest(BaseModel):
    apikey: str | None = Field(
        default=None, description="Your OpenAlgo API key (or send it in the X-API-KEY header)."
    )


class PingData(BaseModel):
    broker: str
    message: Literal["pong"] = "pong"


class PingResponse(BaseModel):
    status: Literal["success"] = "success"
    data: PingData


@router.post(
    "/ping",
    operation_id="ping",
    summary="Check the API key and the broker session",
    dependencies=[ApiLimit],
    responses={
        403: {"description": "Invalid API key, or the broker session expired"},
        429: {"description": "Rate limit exceeded"},
    },
)
async def ping(
    principal: ApiUser, broker_session: BrokerSessionDep, body: PingRequest | None = None
) -> PingResponse:
    del body, broker_session  # documented in the schema; the dependencies did the checking
    return PingResponse(data=PingData(broker=principal.broker))
