"""Market data: quotes, multiquotes, depth, history, intervals, ticker (reference 7.2-7.7)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from openalgo.api.v1.schemas.common import (
    ApiRequest,
    ApiResponse,
    ExchangeField,
    FieldError,
    Interval,
    IsoDate,
    Shape,
    Symbol,
)

MAX_MULTIQUOTE_SYMBOLS = 500
FIRST_HISTORY_DATE = date(1970, 1, 1)
LAST_HISTORY_DATE = date(2099, 12, 31)


def _history_range(value: date) -> date:
    # Years such as 0004 or 9999 are valid dates but no market's; near the ends of the calendar
    # the range arithmetic would overflow, and a simulated walk back to them is wasted work.
    if not FIRST_HISTORY_DATE <= value <= LAST_HISTORY_DATE:
        raise ValueError(f"must be between {FIRST_HISTORY_DATE} and {LAST_HISTORY_DATE}")
    return value


HistoryDate = Annotated[IsoDate, AfterValidator(_history_range)]


class SymbolRequest(ApiRequest):
    """``symbol`` and ``exchange``: the body of quotes, depth and symbol."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"apikey": "<your API key>", "symbol": "SBIN", "exchange": "NSE"}]
        }
    )

    symbol: Symbol
    exchange: ExchangeField


class SymbolRef(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    symbol: Symbol
    exchange: ExchangeField


class MultiQuotesRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "symbols": [
                        {"symbol": "SBIN", "exchange": "NSE"},
                        {"symbol": "NIFTY", "exchange": "NSE_INDEX"},
                    ],
                }
            ]
        }
    )

    symbols: list[SymbolRef] = Field(min_length=1, max_length=MAX_MULTIQUOTE_SYMBOLS)


class HistoryRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "symbol": "SBIN",
                    "exchange": "NSE",
                    "interval": "5m",
                    "start_date": "2026-03-02",
                    "end_date": "2026-03-06",
                    "source": "api",
                }
            ]
        }
    )

    symbol: Symbol
    exchange: ExchangeField
    interval: Interval
    start_date: HistoryDate
    end_date: HistoryDate
    source: Literal["api", "db"] = Field(
        default="api", description="api: the market-data venue; db: candles stored locally"
    )

    @model_validator(mode="after")
    def _ordered(self) -> HistoryRequest:
        if self.start_date > self.end_date:
            raise FieldError("end_date", "must not be before start_date")
        return self


class TickerQuery(BaseModel):
    """Query of ``GET /ticker/{EXCHANGE}:{SYMBOL}``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    apikey: str | None = Field(
        default=None, min_length=1, max_length=256, description="Or the X-API-KEY header"
    )
    interval: Interval = "D"
    from_: HistoryDate = Field(alias="from")
    to: HistoryDate
    format: Literal["json", "txt"] = "json"

    @model_validator(mode="after")
    def _ordered(self) -> TickerQuery:
        if self.from_ > self.to:
            raise FieldError("to", "must not be before from")
        return self

    @property
    def start(self) -> date:
        return self.from_


# --- responses ----------------------------------------------------------------------------------


class Quote(Shape):
    open: float
    high: float
    low: float
    ltp: float
    ask: float
    bid: float
    prev_close: float
    volume: int
    oi: int


class QuotesResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "data": {
                        "open": 812.0,
                        "high": 818.4,
                        "low": 809.15,
                        "ltp": 816.3,
                        "ask": 816.35,
                        "bid": 816.3,
                        "prev_close": 811.0,
                        "volume": 5234109,
                        "oi": 0,
                    },
                }
            ]
        }
    )

    data: Quote


class MultiQuoteResult(Shape):
    """``data`` for a symbol that was quoted, ``error`` for one that was not."""

    _omit_if_none = frozenset({"data", "error"})

    symbol: str
    exchange: str
    data: Quote | None = None
    error: str | None = None


class MultiQuotesResponse(ApiResponse):
    results: list[MultiQuoteResult]


class DepthLevel(Shape):
    price: float
    quantity: int


class Depth(Shape):
    open: float
    high: float
    low: float
    ltp: float
    ltq: int
    prev_close: float
    volume: int
    oi: int
    totalbuyqty: int
    totalsellqty: int
    asks: list[DepthLevel]
    bids: list[DepthLevel]


class DepthResponse(ApiResponse):
    data: Depth


class Candle(Shape):
    timestamp: int = Field(description="Epoch seconds of the candle's open")
    open: float
    high: float
    low: float
    close: float
    volume: int
    oi: int


class HistoryResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "data": [
                        {
                            "timestamp": 1743479100,
                            "open": 766.5,
                            "high": 774.0,
                            "low": 763.2,
                            "close": 772.5,
                            "volume": 318625,
                            "oi": 0,
                        }
                    ],
                }
            ]
        }
    )

    data: list[Candle]


class Intervals(Shape):
    seconds: list[str]
    minutes: list[str]
    hours: list[str]
    days: list[str]
    weeks: list[str]
    months: list[str]


class IntervalsResponse(ApiResponse):
    data: Intervals
