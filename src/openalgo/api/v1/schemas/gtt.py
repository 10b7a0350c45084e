"""GTT (good-till-triggered) endpoints as the SDK 2.0.5 calls them (reference 7.23).

A SINGLE trigger takes exactly one of ``triggerprice_sl`` (a level below the price) and
``triggerprice_tg`` (above); an OCO takes both plus the ``stoploss`` and ``target`` limit prices,
with the stop-loss trigger below the target trigger. The SDK sends ``stoploss``/``target`` as
``null`` for SINGLE, so they are nullable.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from openalgo.api.v1.schemas.common import (
    ActionField,
    ApiRequest,
    ApiResponse,
    ExchangeField,
    FieldError,
    GttPriceType,
    GttProduct,
    Price,
    Quantity,
    Shape,
    Strategy,
    Symbol,
    TriggerId,
    TriggerType,
    only_crypto_fractional,
)
from openalgo.api.v1.schemas.orders import QuantityOut
from openalgo.domain.enums import PriceType

_GTT_EXAMPLE: dict[str, Any] = {
    "apikey": "<your API key>",
    "strategy": "Python",
    "trigger_type": "SINGLE",
    "exchange": "NSE",
    "symbol": "SBIN",
    "action": "BUY",
    "product": "CNC",
    "quantity": 1,
    "pricetype": "LIMIT",
    "price": 780.0,
    "triggerprice_sl": 781.0,
    "triggerprice_tg": 0,
    "stoploss": None,
    "target": None,
}


class GttFields(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    strategy: Strategy = "Python"
    trigger_type: TriggerType
    exchange: ExchangeField
    symbol: Symbol
    action: ActionField
    product: GttProduct
    quantity: Quantity
    pricetype: GttPriceType = PriceType.LIMIT
    price: Price = Decimal(0)
    triggerprice_sl: Price = Decimal(0)
    triggerprice_tg: Price = Decimal(0)
    stoploss: Price | None = None
    target: Price | None = None
    expires_at: datetime | None = Field(
        default=None, description="ISO 8601; default one year from placement"
    )

    @field_validator("quantity")
    @classmethod
    def _fractional_only_on_crypto(cls, quantity: Decimal, info: ValidationInfo) -> Decimal:
        exchange = info.data.get("exchange")
        return only_crypto_fractional(exchange, quantity) if exchange else quantity

    @model_validator(mode="after")
    def _triggers(self) -> GttFields:
        sl, tg = self.triggerprice_sl, self.triggerprice_tg
        if self.trigger_type == "SINGLE":
            if sl <= 0 and tg <= 0:
                raise FieldError(
                    "triggerprice_sl",
                    "SINGLE GTT requires a positive triggerprice_sl or triggerprice_tg",
                )
            if sl > 0 and tg > 0:
                raise FieldError(
                    "triggerprice_tg",
                    "SINGLE GTT takes exactly one of triggerprice_sl or triggerprice_tg; "
                    "set the other to 0",
                )
            return self
        missing = [
            name
            for name, value in (
                ("triggerprice_sl", sl),
                ("stoploss", self.stoploss),
                ("triggerprice_tg", tg),
                ("target", self.target),
            )
            if not value
        ]
        if missing:
            raise FieldError(missing[0], f"required for OCO (missing: {', '.join(missing)})")
        if sl >= tg:
            raise FieldError("triggerprice_sl", "must be below triggerprice_tg for OCO")
        return self


class PlaceGttRequest(GttFields, ApiRequest):
    model_config = ConfigDict(json_schema_extra={"examples": [_GTT_EXAMPLE]})


class ModifyGttRequest(GttFields, ApiRequest):
    """A full replacement: send every field you want to keep."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_GTT_EXAMPLE, "trigger_id": "GTT-251028-1a2b3c4d"}]}
    )

    trigger_id: TriggerId


class CancelGttRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "apikey": "<your API key>",
                    "strategy": "Python",
                    "trigger_id": "GTT-251028-1a2b3c4d",
                }
            ]
        }
    )

    strategy: Strategy = "Python"
    trigger_id: TriggerId


class GttOrderBookRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"apikey": "<your API key>", "status": "all"}]}
    )

    status: Literal["active", "all"] = Field(
        default="active", description="active (default) or all, as SDK 2.0.5 sends it"
    )


class GttResponse(ApiResponse):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "success", "trigger_id": "GTT-251028-1a2b3c4d"}]}
    )

    trigger_id: str


class GttLeg(Shape):
    action: str
    quantity: QuantityOut
    price: float
    pricetype: str
    product: str
    trigger_price: float


class GttEntry(Shape):
    """One trigger as SDK 2.0.5 documents the book: a SINGLE has one trigger price and one leg,
    an OCO two of each, stop-loss first. ``orderid`` is the order a fired trigger placed."""

    _omit_if_none = frozenset({"strategy", "orderid", "rejection_reason"})

    trigger_id: str
    trigger_type: Literal["single", "two-leg"]
    status: str = Field(description="active, triggered, cancelled, expired or rejected")
    symbol: str
    exchange: str
    trigger_prices: list[float] = Field(description="Ascending")
    last_price: float | None
    legs: list[GttLeg]
    created_at: str
    updated_at: str
    expires_at: str | None
    strategy: str | None = None
    orderid: str | None = None
    rejection_reason: str | None = None


class GttOrderBookResponse(ApiResponse):
    data: list[GttEntry]
