"""Account endpoints: funds, orderbook, tradebook, positionbook, holdings, margin (reference 6),
and the key-only request body they share with ping, intervals and analyzer."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from openalgo.api.v1.schemas.common import (
    ActionField,
    ApiRequest,
    ApiResponse,
    ExchangeField,
    Price,
    PriceTypeField,
    ProductField,
    Quantity,
    Shape,
    only_crypto_fractional,
)
from openalgo.api.v1.schemas.orders import QuantityOut

MAX_MARGIN_POSITIONS = 50


class KeyOnlyRequest(ApiRequest):
    """A body with nothing but the API key (or an empty object when it travels in X-API-KEY)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"apikey": "<your API key>"}]})


class Funds(Shape):
    """Rupee amounts as JSON numbers rounded to 2 decimals (OpenAlgo's live mode sends strings
    such as "320.66" and its sandbox numbers; clients handle both, numbers are the safer one).

    The paper-trading ledgers (sandbox and simulator) add OpenAlgo's sandbox keys after the five
    every broker gives."""

    _omit_if_none = frozenset(
        {
            "total_realized_pnl",
            "today_realized_pnl",
            "grossexposure",
            "totalpnl",
            "last_reset",
            "reset_count",
        }
    )

    availablecash: float
    collateral: float
    m2mrealized: float
    m2munrealized: float
    utiliseddebits: float
    total_realized_pnl: float | None = Field(default=None, description="All-time realised P&L")
    today_realized_pnl: float | None = None
    grossexposure: float | None = Field(
        default=None, description="Sum of |quantity| x last price of today's positions"
    )
    totalpnl: float | None = Field(default=None, description="All-time realised + unrealised")
    last_reset: str | None = Field(default=None, description="Last reset, IST, if ever reset")
    reset_count: int | None = None


class FundsResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "data": {
                        "availablecash": 320.66,
                        "collateral": 0.0,
                        "m2mrealized": 3.27,
                        "m2munrealized": -7.88,
                        "utiliseddebits": 679.34,
                    },
                }
            ]
        }
    )

    data: Funds


class OrderBookEntry(Shape):
    _omit_if_none = frozenset(
        {"average_price", "filled_quantity", "pending_quantity", "rejection_reason", "strategy"}
    )

    symbol: str
    exchange: str
    action: str
    quantity: QuantityOut
    price: float
    trigger_price: float
    pricetype: str
    product: str
    orderid: str
    order_status: str
    timestamp: str
    average_price: float | None = None
    filled_quantity: QuantityOut | None = None
    pending_quantity: QuantityOut | None = None
    rejection_reason: str | None = None
    strategy: str | None = None


class OrderBookStatistics(Shape):
    _omit_if_none = frozenset({"total_trigger_pending_orders"})

    total_buy_orders: int
    total_sell_orders: int
    total_completed_orders: int
    total_open_orders: int
    total_rejected_orders: int
    total_trigger_pending_orders: int | None = None


class OrderBook(Shape):
    orders: list[OrderBookEntry]
    statistics: OrderBookStatistics


class OrderBookResponse(ApiResponse):
    data: OrderBook


class TradeBookEntry(Shape):
    _omit_if_none = frozenset({"tradeid", "price", "strategy"})

    symbol: str
    exchange: str
    product: str
    action: str
    quantity: QuantityOut
    average_price: float
    trade_value: float
    orderid: str
    timestamp: str
    tradeid: str | None = None
    price: float | None = None
    strategy: str | None = None


class TradeBookResponse(ApiResponse):
    data: list[TradeBookEntry]


class PositionBookEntry(Shape):
    """Closed positions (quantity 0) are listed too, as in OpenAlgo. The paper-trading ledgers
    add OpenAlgo's sandbox keys (``pnl`` is then today's realised plus unrealised)."""

    _omit_if_none = frozenset(
        {"pnlpercent", "unrealized_pnl", "today_realized_pnl", "total_pnl_today", "lot_size"}
    )

    symbol: str
    exchange: str
    product: str
    quantity: QuantityOut
    average_price: float
    ltp: float
    pnl: float
    pnlpercent: float | None = None
    unrealized_pnl: float | None = None
    today_realized_pnl: float | None = None
    total_pnl_today: float | None = None
    lot_size: int | None = None


class PositionBookResponse(ApiResponse):
    _omit_if_none = frozenset(
        {"mode", "total_pnl", "total_unrealized_pnl", "total_today_realized_pnl", "total_pnl_today"}
    )

    data: list[PositionBookEntry]
    total_pnl: float | None = None
    total_unrealized_pnl: float | None = None
    total_today_realized_pnl: float | None = None
    total_pnl_today: float | None = None


class Holding(Shape):
    _omit_if_none = frozenset({"ltp", "current_value", "settlement_date"})

    symbol: str
    exchange: str
    quantity: QuantityOut
    product: str
    average_price: float
    ltp: float | None = None
    pnl: float
    pnlpercent: float
    current_value: float | None = None
    settlement_date: str | None = Field(
        default=None, description="YYYY-MM-DD the shares settled into holdings (T+1)"
    )


class HoldingsStatistics(Shape):
    totalholdingvalue: float
    totalinvvalue: float
    totalprofitandloss: float
    totalpnlpercentage: float


class HoldingsData(Shape):
    holdings: list[Holding]
    statistics: HoldingsStatistics


class HoldingsResponse(ApiResponse):
    data: HoldingsData


class MarginPosition(BaseModel):
    """One leg of a margin calculation. OpenAlgo insists on ``quantity`` as a *string*; we take
    a number too (the SDK sends strings)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    symbol: str = Field(min_length=1, max_length=50)
    exchange: ExchangeField
    action: ActionField
    quantity: Quantity
    product: ProductField
    pricetype: PriceTypeField
    price: Price = Decimal(0)
    trigger_price: Price = Decimal(0)

    @field_validator("quantity")
    @classmethod
    def _fractional_only_on_crypto(cls, quantity: Decimal, info: ValidationInfo) -> Decimal:
        exchange = info.data.get("exchange")
        return only_crypto_fractional(exchange, quantity) if exchange else quantity


class MarginRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "positions": [
                        {
                            "symbol": "NIFTY30DEC25FUT",
                            "exchange": "NFO",
                            "action": "BUY",
                            "quantity": "75",
                            "product": "NRML",
                            "pricetype": "MARKET",
                            "price": "0",
                            "trigger_price": "0",
                        }
                    ],
                }
            ]
        }
    )

    positions: list[MarginPosition] = Field(min_length=1, max_length=MAX_MARGIN_POSITIONS)


class Margin(Shape):
    _omit_if_none = frozenset({"span_margin", "exposure_margin", "margin_benefit"})

    total_margin_required: float
    span_margin: float | None = None
    exposure_margin: float | None = None
    margin_benefit: float | None = None


class MarginResponse(ApiResponse):
    data: Margin
