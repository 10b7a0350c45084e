"""`/analyzer` and `/analyzer/toggle`: the caller's own analyzer (sandbox) switch.

OpenAlgo's switch is global to the installation; ours is per user (issue 5), same shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from openalgo.api.v1.schemas.common import ApiRequest, ApiResponse, Flag, Shape


class AnalyzerToggleRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"apikey": "<your API key>", "mode": True}]}
    )

    mode: Flag = Field(description="true: analyzer (sandbox) mode; false: live")


class AnalyzerStatus(Shape):
    _omit_if_none = frozenset({"message"})

    mode: Literal["live", "analyze"]
    analyze_mode: bool
    total_logs: int
    message: str | None = None


class AnalyzerResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "data": {"mode": "analyze", "analyze_mode": True, "total_logs": 2},
                }
            ]
        }
    )

    data: AnalyzerStatus
