"""Symbols: symbol, search, expiry, instruments (reference 7.8-7.11)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from openalgo.api.v1.schemas.common import (
    ApiRequest,
    ApiResponse,
    ExchangeField,
    FnoExchange,
    Shape,
    Symbol,
)


class SearchRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"apikey": "<your API key>", "query": "NIFTY 26000 DEC CE", "exchange": "NFO"}
            ]
        }
    )

    query: str = Field(min_length=1, max_length=100)
    exchange: ExchangeField | None = None

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class ExpiryRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "symbol": "NIFTY",
                    "exchange": "NFO",
                    "instrumenttype": "options",
                }
            ]
        }
    )

    symbol: Symbol
    exchange: FnoExchange
    instrumenttype: Literal["futures", "options"]


class InstrumentsQuery(BaseModel):
    """Query of ``GET /instruments``; without ``exchange``, every exchange (OpenAlgo: a 400)."""

    model_config = ConfigDict(extra="forbid")

    apikey: str | None = Field(
        default=None, min_length=1, max_length=256, description="Or the X-API-KEY header"
    )
    exchange: ExchangeField | None = None
    format: Literal["json", "csv", "JSON", "CSV", "Json", "Csv"] = "json"

    @property
    def as_csv(self) -> bool:
        return self.format.lower() == "csv"


class Instrument(Shape):
    symbol: str
    brsymbol: str
    name: str
    exchange: str
    brexchange: str
    token: str
    expiry: str = Field(description='DD-MMM-YY, or "" when the instrument does not expire')
    strike: float
    lotsize: int
    instrumenttype: str
    tick_size: float


class SymbolInfo(Instrument):
    _omit_if_none = frozenset({"id"})

    id: int | None = None
    freeze_qty: int


class SymbolResponse(ApiResponse):
    data: SymbolInfo


class SearchResponse(ApiResponse):
    message: str
    data: list[SymbolInfo]


class ExpiryResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "message": "Found 2 expiry dates for NIFTY options in NFO",
                    "data": ["10-JUL-25", "17-JUL-25"],
                }
            ]
        }
    )

    message: str
    data: list[str] = Field(description="DD-MMM-YY, ascending, unexpired")


class InstrumentsResponse(ApiResponse):
    message: str
    data: list[Instrument]


# The CSV form of /instruments has these columns, in this order.
INSTRUMENT_CSV_COLUMNS: tuple[str, ...] = tuple(Instrument.model_fields)
