"""Order endpoints: placeorder, placesmartorder, basketorder, splitorder, modifyorder,
cancelorder, cancelallorder, closeposition, orderstatus, openposition (reference section 5)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from openalgo.api.v1.schemas.common import (
    ActionField,
    ApiRequest,
    ApiResponse,
    ExchangeField,
    NonNegativeInt,
    NonNegativeQuantity,
    OrderId,
    PositionSize,
    PositiveInt,
    Price,
    PriceTypeField,
    ProductField,
    Quantity,
    Shape,
    Strategy,
    Symbol,
    only_crypto_fractional,
)
from openalgo.domain.enums import PriceType, Product
from openalgo.domain.orders import ModifyRequest, OrderRequest

MAX_BASKET_ORDERS = 100


def _whole(quantity: Decimal) -> int:
    """The integral quantity the venues take (fractional CRYPTO sizes are not tradable yet)."""
    if quantity != quantity.to_integral_value():
        raise ValueError(f"fractional quantity {quantity} is not supported by this venue")
    return int(quantity)


class OrderFields(BaseModel):
    """The fields every single-order request shares, with OpenAlgo's defaults."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    exchange: ExchangeField
    symbol: Symbol
    action: ActionField
    quantity: Quantity
    pricetype: PriceTypeField = PriceType.MARKET
    product: ProductField = Product.MIS
    price: Price = Decimal(0)
    trigger_price: Price = Decimal(0)
    disclosed_quantity: NonNegativeInt = 0

    @field_validator("quantity")
    @classmethod
    def _fractional_only_on_crypto(cls, quantity: Decimal, info: ValidationInfo) -> Decimal:
        exchange = info.data.get("exchange")
        return only_crypto_fractional(exchange, quantity) if exchange else quantity

    def to_order_request(self, strategy: str = "") -> OrderRequest:
        return OrderRequest(
            symbol=self.symbol,
            exchange=self.exchange.value,
            action=self.action,
            quantity=_whole(self.quantity),
            pricetype=self.pricetype,
            product=self.product,
            price=self.price,
            trigger_price=self.trigger_price,
            disclosed_quantity=self.disclosed_quantity,
            strategy=strategy,
        )


_PLACE_EXAMPLE: dict[str, Any] = {
    "apikey": "<your API key>",
    "strategy": "Python",
    "exchange": "NSE",
    "symbol": "SBIN",
    "action": "BUY",
    "quantity": "1",
    "pricetype": "MARKET",
    "product": "MIS",
}


class PlaceOrderRequest(OrderFields, ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _PLACE_EXAMPLE,
                {**_PLACE_EXAMPLE, "pricetype": "LIMIT", "price": "812.5", "quantity": 10},
            ]
        }
    )

    strategy: Strategy
    underlying_ltp: Price | None = Field(
        default=None,
        description="Accepted for compatibility (OpenAlgo sets it internally); ignored.",
    )

    def to_request(self) -> OrderRequest:
        return self.to_order_request(self.strategy)


class PlaceSmartOrderRequest(OrderFields, ApiRequest):
    """Reconcile the position in symbol/exchange/product to ``position_size``."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_PLACE_EXAMPLE, "quantity": "0", "position_size": "5"}]}
    )

    strategy: Strategy
    quantity: NonNegativeQuantity  # 0 allowed here
    position_size: PositionSize = Field(description="Signed target net position")

    @field_validator("position_size")
    @classmethod
    def _whole_position_size(cls, size: Decimal, info: ValidationInfo) -> Decimal:
        exchange = info.data.get("exchange")
        return only_crypto_fractional(exchange, size) if exchange else size


class BasketItem(OrderFields):
    """One order of a basket; the basket's ``strategy`` applies to all of them."""


class BasketOrderRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "strategy": "Python",
                    "orders": [
                        {"exchange": "NSE", "symbol": "BHEL", "action": "BUY", "quantity": "1"},
                        {
                            "exchange": "NSE",
                            "symbol": "ZOMATO",
                            "action": "SELL",
                            "quantity": "1",
                            "pricetype": "MARKET",
                            "product": "MIS",
                        },
                    ],
                }
            ]
        }
    )

    strategy: Strategy
    orders: list[BasketItem] = Field(max_length=MAX_BASKET_ORDERS)


class SplitOrderRequest(OrderFields, ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_PLACE_EXAMPLE, "quantity": "105", "splitsize": "20"}]}
    )

    strategy: Strategy
    splitsize: PositiveInt = Field(description="Quantity of each child order")


class ModifyOrderRequest(OrderFields, ApiRequest):
    """Every field is required, as in OpenAlgo (the SDK always sends all twelve)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_PLACE_EXAMPLE,
                    "orderid": "25102800000006",
                    "pricetype": "LIMIT",
                    "price": "812.5",
                    "trigger_price": "0",
                    "disclosed_quantity": "0",
                }
            ]
        }
    )

    strategy: Strategy
    orderid: OrderId
    pricetype: PriceTypeField
    product: ProductField
    price: Price
    trigger_price: Price
    disclosed_quantity: NonNegativeInt

    def to_request(self) -> ModifyRequest:
        return ModifyRequest(
            orderid=self.orderid,
            symbol=self.symbol,
            exchange=self.exchange.value,
            action=self.action,
            quantity=_whole(self.quantity),
            pricetype=self.pricetype,
            product=self.product,
            price=self.price,
            trigger_price=self.trigger_price,
            disclosed_quantity=self.disclosed_quantity,
            strategy=self.strategy,
        )


_STRATEGY_TAG = Field(default="", description="Tag only; optional (OpenAlgo requires it)")


class CancelOrderRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"apikey": "<your API key>", "strategy": "Python", "orderid": "25102800000006"}
            ]
        }
    )

    strategy: Strategy = _STRATEGY_TAG
    orderid: OrderId


class CancelAllOrderRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"apikey": "<your API key>", "strategy": "Python"}]}
    )

    strategy: Strategy = _STRATEGY_TAG


class ClosePositionRequest(CancelAllOrderRequest):
    """Squares off every open position of the account (not only the strategy's)."""


class OrderStatusRequest(CancelOrderRequest):
    pass


class OpenPositionRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "strategy": "Python",
                    "symbol": "SBIN",
                    "exchange": "NSE",
                    "product": "MIS",
                }
            ]
        }
    )

    strategy: Strategy = _STRATEGY_TAG
    symbol: Symbol
    exchange: ExchangeField
    product: ProductField


# --- responses ----------------------------------------------------------------------------------

QuantityOut = int | float
OutcomeStatus = Literal["success", "error"]


class OrderResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "success", "orderid": "25102800000006"}]}
    )

    orderid: str


class SmartOrderResponse(ApiResponse):
    """``orderid`` when an order was placed, ``message`` when nothing was needed."""

    _omit_if_none = ApiResponse._omit_if_none | {"orderid", "message"}
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "success", "orderid": "25102800000006"},
                {"status": "success", "message": "Positions Already Matched. No Action needed."},
            ]
        }
    )

    orderid: str | None = None
    message: str | None = None


class ChildOrderResult(Shape):
    """One child of a split order: ``orderid`` on success, ``message`` on failure."""

    _omit_if_none = frozenset({"orderid", "message"})

    order_num: int
    quantity: QuantityOut
    status: OutcomeStatus
    orderid: str | None = None
    message: str | None = None


class SplitOrderResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "total_quantity": 45,
                    "split_size": 20,
                    "results": [
                        {"order_num": 1, "quantity": 20, "status": "success", "orderid": "1"},
                        {"order_num": 2, "quantity": 20, "status": "success", "orderid": "2"},
                        {"order_num": 3, "quantity": 5, "status": "error", "message": "rejected"},
                    ],
                }
            ]
        }
    )

    total_quantity: QuantityOut
    split_size: int
    results: list[ChildOrderResult]


class BasketResult(Shape):
    _omit_if_none = frozenset({"exchange", "product", "action", "orderid", "message"})

    symbol: str
    exchange: str | None = None
    product: str | None = None
    action: str | None = None
    status: OutcomeStatus
    orderid: str | None = None
    message: str | None = None


class BasketOrderResponse(ApiResponse):
    """HTTP 200 even when some or all orders failed; each result says how it went."""

    results: list[BasketResult]


class ModifyOrderResponse(ApiResponse):
    _omit_if_none = ApiResponse._omit_if_none | {"message"}

    orderid: str
    message: str | None = None


class CancelOrderResponse(ModifyOrderResponse):
    pass


class CancelAllOrderResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "message": "Canceled 2 orders. Failed to cancel 0 orders.",
                    "canceled_orders": ["25102800000006", "25102800000007"],
                    "failed_cancellations": [],
                }
            ]
        }
    )

    message: str
    canceled_orders: list[str]
    failed_cancellations: list[str] = Field(description="Ids of the orders that stayed open")


class ClosePositionResponse(ApiResponse):
    _omit_if_none = ApiResponse._omit_if_none | {"closed_positions", "failed_closures"}

    message: str
    closed_positions: int | None = None
    failed_closures: int | None = None


class OrderStatusData(Shape):
    _omit_if_none = frozenset({"filled_quantity", "pending_quantity", "strategy"})

    orderid: str
    symbol: str
    exchange: str
    action: str
    quantity: QuantityOut
    price: float
    trigger_price: float
    pricetype: str
    product: str
    order_status: str = Field(
        description="open, complete, rejected, cancelled or trigger pending (lower case)"
    )
    average_price: float
    timestamp: str
    filled_quantity: QuantityOut | None = None
    pending_quantity: QuantityOut | None = None
    strategy: str | None = None
    rejection_reason: str = Field(
        default="", description="Why the venue refused the order; empty otherwise"
    )


class OrderStatusResponse(ApiResponse):
    data: OrderStatusData


class OpenPositionResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "success", "quantity": 10}]}
    )

    quantity: QuantityOut = Field(description="Signed net quantity; 0 when there is no position")
