"""Options: optionsorder, optionsmultiorder, optionsymbol, optionchain, optiongreeks,
multioptiongreeks, syntheticfuture (reference 5.3, 5.4, 7.12-7.16).

``underlying`` may carry its expiry (``NIFTY28NOV24FUT``); otherwise ``expiry_date`` (``DDMMMYY``)
does. ``offset`` is ATM, ITMn or OTMn (n 1-50) in any case and is echoed upper-cased.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from openalgo.api.v1.schemas.common import (
    ActionField,
    ApiRequest,
    ApiResponse,
    ExchangeField,
    ExpiryDate,
    Flag,
    FnoExchange,
    NonNegativeInt,
    Offset,
    OptionProduct,
    OptionTypeField,
    PositiveFloat,
    PositiveInt,
    Price,
    PriceTypeField,
    Rate,
    Shape,
    Strategy,
    Symbol,
    to_int,
)
from openalgo.api.v1.schemas.orders import ChildOrderResult, QuantityOut
from openalgo.domain.enums import PriceType, Product

MAX_LEGS = 20
MAX_GREEKS_SYMBOLS = 50
MAX_STRIKE_COUNT = 100

Underlying = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="NIFTY, BANKNIFTY, RELIANCE... or with its expiry: NIFTY28NOV24FUT",
        examples=["NIFTY"],
    ),
    AfterValidator(str.upper),
]
StrikeCount = Annotated[
    int,
    BeforeValidator(to_int),
    Field(ge=1, le=MAX_STRIKE_COUNT),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_STRIKE_COUNT},
                {"type": "string", "pattern": r"^\+?0*([1-9]\d?|100)$"},
            ]
        },
        mode="validation",
    ),
]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def to_hhmm(value: Any) -> str:
    if isinstance(value, str) and _HHMM.match(value):
        return value
    raise PydanticCustomError("time_format", "must be a time of day like 15:30 (HH:MM)")


ExpiryTime = Annotated[
    str,
    BeforeValidator(to_hhmm),
    WithJsonSchema({"type": "string", "pattern": _HHMM.pattern}, mode="validation"),
    Field(description="HH:MM (IST); overrides the exchange's cut-off", examples=["15:30"]),
]


class LegFields(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    offset: Offset
    option_type: OptionTypeField
    action: ActionField
    quantity: PositiveInt = Field(description="Units (a multiple of the lot size)")
    splitsize: NonNegativeInt | None = Field(default=0, description="> 0 splits into children")
    pricetype: PriceTypeField = PriceType.MARKET
    product: OptionProduct = Product.MIS
    price: Price = Decimal(0)
    trigger_price: Price = Decimal(0)
    disclosed_quantity: NonNegativeInt = 0


class OptionsOrderRequest(LegFields, ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "strategy": "Python",
                    "underlying": "NIFTY",
                    "exchange": "NSE_INDEX",
                    "expiry_date": "28NOV24",
                    "offset": "ITM2",
                    "option_type": "CE",
                    "action": "BUY",
                    "quantity": "75",
                    "pricetype": "MARKET",
                    "product": "NRML",
                }
            ]
        }
    )

    strategy: Strategy
    underlying: Underlying
    exchange: ExchangeField
    expiry_date: ExpiryDate | None = None
    strike_int: PositiveInt | None = Field(
        default=None, description="Deprecated: strike step; omit to use the listed strikes"
    )


class OptionLeg(LegFields):
    expiry_date: ExpiryDate | None = Field(
        default=None, description="Overrides the order's expiry (calendar/diagonal spreads)"
    )


class OptionsMultiOrderRequest(ApiRequest):
    """Legs are resolved against one underlying price; BUY legs are placed before SELL legs."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "strategy": "Iron Condor",
                    "underlying": "NIFTY",
                    "exchange": "NSE_INDEX",
                    "expiry_date": "25NOV25",
                    "legs": [
                        {"offset": "OTM10", "option_type": "CE", "action": "BUY", "quantity": 75},
                        {"offset": "OTM5", "option_type": "CE", "action": "SELL", "quantity": 75},
                    ],
                }
            ]
        }
    )

    strategy: Strategy
    underlying: Underlying
    exchange: ExchangeField
    expiry_date: ExpiryDate | None = None
    strike_int: PositiveInt | None = None
    legs: list[OptionLeg] = Field(min_length=1, max_length=MAX_LEGS)


class OptionSymbolRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "underlying": "NIFTY",
                    "exchange": "NSE_INDEX",
                    "expiry_date": "28OCT25",
                    "offset": "ATM",
                    "option_type": "CE",
                }
            ]
        }
    )

    underlying: Underlying
    exchange: ExchangeField
    expiry_date: ExpiryDate | None = None
    strike_int: PositiveInt | None = None
    offset: Offset
    option_type: OptionTypeField
    strategy: Strategy | None = Field(default=None, description="Deprecated; ignored")


class OptionChainRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "underlying": "NIFTY",
                    "exchange": "NSE_INDEX",
                    "expiry_date": "25AUG26",
                    "strike_count": 10,
                }
            ]
        }
    )

    underlying: Underlying
    exchange: ExchangeField
    expiry_date: ExpiryDate | None = Field(
        default=None, description="Default: the nearest unexpired expiry (OpenAlgo requires it)"
    )
    strike_count: StrikeCount | None = Field(
        default=None, description="Strikes each side of ATM; omit for the whole chain"
    )
    with_greeks: Flag = False
    interest_rate: Rate = 0.0


class OptionGreeksRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "symbol": "NIFTY02DEC2524000CE",
                    "exchange": "NFO",
                    "interest_rate": 6.5,
                }
            ]
        }
    )

    symbol: Symbol
    exchange: FnoExchange
    interest_rate: Rate | None = Field(default=None, description="Percent; default 0")
    forward_price: PositiveFloat | None = None
    underlying_symbol: Symbol | None = None
    underlying_exchange: ExchangeField | None = None
    expiry_time: ExpiryTime | None = None


class GreeksSymbol(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    symbol: Symbol
    exchange: FnoExchange
    underlying_symbol: Symbol | None = None
    underlying_exchange: ExchangeField | None = None


class MultiOptionGreeksRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "symbols": [
                        {"symbol": "NIFTY02DEC2524000CE", "exchange": "NFO"},
                        {"symbol": "NIFTY02DEC2524000PE", "exchange": "NFO"},
                    ],
                    "interest_rate": 6.5,
                }
            ]
        }
    )

    symbols: list[GreeksSymbol] = Field(min_length=1, max_length=MAX_GREEKS_SYMBOLS)
    interest_rate: Rate | None = None
    expiry_time: ExpiryTime | None = None


class SyntheticFutureRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "underlying": "NIFTY",
                    "exchange": "NSE_INDEX",
                    "expiry_date": "28OCT25",
                }
            ]
        }
    )

    underlying: Underlying
    exchange: ExchangeField
    expiry_date: ExpiryDate


# --- responses ----------------------------------------------------------------------------------


class OptionsOrderResponse(ApiResponse):
    """``orderid`` for one order; ``total_quantity``, ``split_size`` and ``results`` when split."""

    _omit_if_none = ApiResponse._omit_if_none | {
        "orderid",
        "total_quantity",
        "split_size",
        "results",
    }
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "orderid": "25102800000006",
                    "symbol": "NIFTY28NOV2423500CE",
                    "exchange": "NFO",
                    "underlying": "NIFTY",
                    "underlying_ltp": 23587.5,
                    "offset": "ITM2",
                    "option_type": "CE",
                }
            ]
        }
    )

    orderid: str | None = None
    symbol: str
    exchange: str
    underlying: str
    underlying_ltp: float
    offset: str
    option_type: str
    total_quantity: QuantityOut | None = None
    split_size: int | None = None
    results: list[ChildOrderResult] | None = None


class OptionLegResult(Shape):
    _omit_if_none = frozenset(
        {
            "symbol",
            "exchange",
            "product",
            "orderid",
            "message",
            "total_quantity",
            "split_size",
            "split_results",
            "mode",
        }
    )

    leg: int = Field(description="1-based position in the request")
    symbol: str | None = None
    exchange: str | None = None
    product: str | None = None
    offset: str
    option_type: str
    action: str
    status: Literal["success", "error"]
    orderid: str | None = None
    message: str | None = None
    total_quantity: QuantityOut | None = None
    split_size: int | None = None
    split_results: list[ChildOrderResult] | None = None
    mode: Literal["live", "analyze"] | None = None


class OptionsMultiOrderResponse(ApiResponse):
    underlying: str
    underlying_ltp: float
    results: list[OptionLegResult]


class OptionSymbolResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "symbol": "NIFTY28OCT2523500CE",
                    "exchange": "NFO",
                    "lotsize": 75,
                    "tick_size": 0.05,
                    "freeze_qty": 1800,
                    "underlying_ltp": 23587.5,
                }
            ]
        }
    )

    symbol: str
    exchange: str
    lotsize: int
    tick_size: float
    freeze_qty: int
    underlying_ltp: float


class ChainLeg(Shape):
    _omit_if_none = frozenset({"implied_volatility", "delta", "gamma", "theta", "vega"})

    symbol: str
    label: str = Field(description="ATM, ITMk or OTMk")
    ltp: float
    bid: float
    ask: float
    bid_qty: int
    ask_qty: int
    open: float
    high: float
    low: float
    prev_close: float
    volume: int
    oi: int
    lotsize: int
    tick_size: float
    implied_volatility: float | None = None
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None


class ChainRow(Shape):
    strike: float
    ce: ChainLeg | None = Field(description="null when the contract is not listed")
    pe: ChainLeg | None


class OptionChainResponse(ApiResponse):
    underlying: str
    underlying_symbol: str
    underlying_exchange: str
    underlying_ltp: float
    underlying_prev_close: float
    expiry_date: str = Field(description="DDMMMYY")
    expiry_ts: int = Field(description="Epoch seconds of the expiry cut-off")
    server_ts: int
    atm_strike: float
    quotes_included: bool
    greeks_included: bool
    forward_price: float | None
    chain: list[ChainRow]


class Greeks(Shape):
    delta: float
    gamma: float
    theta: float = Field(description="Per day")
    vega: float = Field(description="Per 1% of volatility")
    rho: float


class OptionGreeks(Shape):
    """Greeks of one option; ``intrinsic_value``/``time_value``/``note`` when IV is undefined."""

    _omit_if_none = frozenset({"intrinsic_value", "time_value", "note"})

    symbol: str
    exchange: str
    underlying: str
    strike: float
    option_type: str
    expiry_date: str
    days_to_expiry: float
    spot_price: float
    option_price: float
    interest_rate: float
    implied_volatility: float = Field(description="Percent")
    greeks: Greeks
    intrinsic_value: float | None = None
    time_value: float | None = None
    note: str | None = None


class OptionGreeksResponse(OptionGreeks):
    _omit_if_none = OptionGreeks._omit_if_none | {"mode"}

    status: Literal["success"] = "success"
    mode: Literal["analyze"] | None = None


class GreeksError(Shape):
    status: Literal["error"] = "error"
    symbol: str
    exchange: str
    message: str


class GreeksSummary(Shape):
    total: int
    success: int
    failed: int


class MultiOptionGreeksResponse(Shape):
    """HTTP 200 once validated: ``status`` is success, partial or error, per the summary."""

    _omit_if_none = frozenset({"message", "mode"})

    status: Literal["success", "partial", "error"]
    data: list[OptionGreeks | GreeksError]
    summary: GreeksSummary
    message: str | None = None
    mode: Literal["analyze"] | None = None


class SyntheticFutureResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "underlying": "NIFTY",
                    "underlying_ltp": 25966.05,
                    "expiry": "28OCT25",
                    "atm_strike": 26000.0,
                    "synthetic_future_price": 26015.25,
                }
            ]
        }
    )

    underlying: str
    underlying_ltp: float
    expiry: str
    atm_strike: float
    synthetic_future_price: float
