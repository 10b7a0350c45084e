"""`/ping`: the API key and the user's broker session answer (not a liveness probe: `/health` is)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from openalgo.api.v1.schemas.common import ApiResponse, Shape


class Pong(Shape):
    message: Literal["pong"] = "pong"
    broker: str


class PingResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "success", "data": {"message": "pong", "broker": "simulator"}}]
        }
    )

    data: Pong
