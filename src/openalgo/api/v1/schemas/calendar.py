"""`/market/holidays` and `/market/timings` (reference 7.19-7.20)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from openalgo.api.v1.schemas.common import (
    ApiRequest,
    ApiResponse,
    IsoDate,
    Shape,
    to_int,
)

FIRST_DATE = dt.date(2020, 1, 1)
LAST_DATE = dt.date(2050, 12, 31)

Year = Annotated[
    int,
    BeforeValidator(to_int),
    Field(ge=FIRST_DATE.year, le=LAST_DATE.year),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": FIRST_DATE.year, "maximum": LAST_DATE.year},
                {"type": "string", "pattern": r"^20[2-5]\d$"},
            ]
        },
        mode="validation",
    ),
]


class HolidaysRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"apikey": "<your API key>", "year": 2026}]}
    )

    year: Year | None = Field(default=None, description="Default: the current year (IST)")


class TimingsRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"apikey": "<your API key>", "date": "2026-03-10"}]}
    )

    date: IsoDate | None = Field(default=None, description="Default: today (IST)")

    @field_validator("date")
    @classmethod
    def _in_calendar(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and not FIRST_DATE <= value <= LAST_DATE:
            raise ValueError(f"must be between {FIRST_DATE} and {LAST_DATE}")
        return value


class ExchangeSession(Shape):
    exchange: str
    start_time: int = Field(description="Epoch milliseconds")
    end_time: int = Field(description="Epoch milliseconds")


class Holiday(Shape):
    date: str = Field(description="YYYY-MM-DD")
    description: str
    holiday_type: Literal["TRADING_HOLIDAY", "SETTLEMENT_HOLIDAY", "SPECIAL_SESSION"]
    closed_exchanges: list[str]
    open_exchanges: list[ExchangeSession]


class HolidaysResponse(ApiResponse):
    year: int
    timezone: Literal["Asia/Kolkata"] = "Asia/Kolkata"
    data: list[Holiday]


class TimingsResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "data": [
                        {"exchange": "NSE", "start_time": 1773114300000, "end_time": 1773136800000}
                    ],
                }
            ]
        }
    )

    data: list[ExchangeSession]
