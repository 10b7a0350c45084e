"""Field types and base models shared by every `/api/v1` request and response.

OpenAlgo's clients send numbers as strings (the official SDK converts quantity, price and friends
with ``str()``), spell some enums in either case and booleans in many ways. These types accept
exactly what OpenAlgo accepts (reference 2.4) and turn it into typed values once, at the edge:
prices become `Decimal`, integer fields `int`, enums our `StrEnum`s. Where OpenAlgo silently
truncated (``2.5`` for an integer field) we refuse instead.

Each type also carries its own JSON Schema, so the OpenAPI document says what is really accepted
(``"16.5"`` as well as ``16.5``) and a property-based fuzzer that trusts the schema finds no gap
between what the schema allows and what the server takes.
"""

from __future__ import annotations

import math
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    SecretStr,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from openalgo.domain.enums import (
    Action,
    Exchange,
    OptionType,
    PriceType,
    Product,
)

# --- numbers ------------------------------------------------------------------------------------

# Upper bounds keep absurd values (1e400, 20-digit quantities) out of the venues and the ledger's
# NUMERIC columns; no real order comes near them.
MAX_PRICE = Decimal("1000000000000")  # 1e12 rupees
MAX_QUANTITY = Decimal("1000000000")  # 1e9 units
MAX_INT = 1_000_000_000

_NUMBER = r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?"
NUMBER_PATTERN = rf"^[+-]?{_NUMBER}$"
UNSIGNED_NUMBER_PATTERN = rf"^\+?{_NUMBER}$"
INTEGER_PATTERN = r"^[+-]?\d{1,12}$"
UNSIGNED_INTEGER_PATTERN = r"^\+?\d{1,12}$"
_NUMBER_RE = re.compile(NUMBER_PATTERN)
_INTEGER_RE = re.compile(INTEGER_PATTERN)


def _not_a_number() -> PydanticCustomError:
    return PydanticCustomError("number_type", "must be a number or a numeric string")


def to_decimal(value: Any) -> Decimal:
    """A JSON number or a numeric string as a `Decimal`; booleans, blanks, NaN and inf refused."""
    if isinstance(value, bool):
        raise _not_a_number()
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _not_a_number()
        return Decimal(repr(value))  # repr: the shortest string that round-trips, 0.1 -> "0.1"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _not_a_number()
        return value
    if isinstance(value, str) and _NUMBER_RE.match(value):
        try:
            return Decimal(value)
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid input
            raise _not_a_number() from exc
    raise _not_a_number()


def to_int(value: Any) -> int:
    """An integer, an integral float (``2.0``) or an integer string; ``2.5`` and ``"2.5"`` refused.

    OpenAlgo truncates a JSON ``2.5`` to 2 without a word; an order for less than was asked is
    worse than an error.
    """
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_RE.match(value):
        return int(value)
    raise PydanticCustomError("int_type", "must be an integer")


def _number_schema(*, minimum: float | None, exclusive: bool = False, signed: bool = True) -> Any:
    number: dict[str, Any] = {"type": "number"}
    if minimum is not None:
        number["exclusiveMinimum" if exclusive else "minimum"] = minimum
    pattern = NUMBER_PATTERN if signed else UNSIGNED_NUMBER_PATTERN
    return WithJsonSchema(
        {"anyOf": [number, {"type": "string", "pattern": pattern}]}, mode="validation"
    )


def _int_schema(*, minimum: int | None, maximum: int = MAX_INT) -> Any:
    integer: dict[str, Any] = {"type": "integer", "maximum": maximum}
    signed = minimum is None or minimum < 0
    if minimum is not None:
        integer["minimum"] = minimum
    pattern = INTEGER_PATTERN if signed else UNSIGNED_INTEGER_PATTERN
    return WithJsonSchema(
        {"anyOf": [integer, {"type": "string", "pattern": pattern}]}, mode="validation"
    )


# Prices: >= 0, exact decimals. Serialized as JSON numbers.
Price = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    Field(ge=0, le=MAX_PRICE),
    _number_schema(minimum=0, signed=False),
]
# Order quantities: > 0; integral unless the exchange is CRYPTO (checked by the model).
Quantity = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    Field(gt=0, le=MAX_QUANTITY),
    _number_schema(minimum=0, exclusive=True, signed=False),
]
# Smart-order quantity may be 0 ("only act if a position exists").
NonNegativeQuantity = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    Field(ge=0, le=MAX_QUANTITY),
    _number_schema(minimum=0, signed=False),
]
# Signed target position for smart orders.
PositionSize = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY),
    _number_schema(minimum=None),
]
NonNegativeInt = Annotated[
    int, BeforeValidator(to_int), Field(ge=0, le=MAX_INT), _int_schema(minimum=0)
]
PositiveInt = Annotated[
    int, BeforeValidator(to_int), Field(ge=1, le=MAX_INT), _int_schema(minimum=1)
]
# Interest rates in percent, as OpenAlgo's greeks take them.
Rate = Annotated[
    float,
    BeforeValidator(lambda v: float(to_decimal(v))),
    Field(ge=0, le=100),
    _number_schema(minimum=0, signed=False),
]
PositiveFloat = Annotated[
    float,
    BeforeValidator(lambda v: float(to_decimal(v))),
    Field(gt=0, le=float(MAX_PRICE)),
    _number_schema(minimum=0, exclusive=True, signed=False),
]

# --- booleans -----------------------------------------------------------------------------------

_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})
FLAG_STRINGS = sorted(
    {s for word in _TRUE | _FALSE for s in (word, word.upper(), word.capitalize())}
)


def to_bool(value: Any) -> bool:
    """OpenAlgo's booleans: true/false, "yes"/"no", "on"/"off", 1/0 and their strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE:
        return True
    if isinstance(value, str) and value.lower() in _FALSE:
        return False
    raise PydanticCustomError("bool_type", "must be a boolean (true or false)")


Flag = Annotated[
    bool,
    BeforeValidator(to_bool),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "boolean"},
                {"type": "integer", "enum": [0, 1]},
                {"type": "string", "enum": FLAG_STRINGS},
            ]
        },
        mode="validation",
    ),
]

# --- strings and dates --------------------------------------------------------------------------

ApiKeyField = Annotated[
    SecretStr | None,
    Field(
        default=None,
        min_length=1,
        max_length=256,
        exclude=True,
        description="Your OpenAlgo API key. May be sent in the `X-API-KEY` header instead.",
        examples=["<your 64-character API key>"],
    ),
]
Symbol = Annotated[
    str, Field(min_length=1, max_length=64, description="OpenAlgo symbol", examples=["SBIN"])
]
Strategy = Annotated[
    str,
    Field(max_length=255, description="Free-text tag recorded with the order", examples=["Python"]),
]
OrderId = Annotated[str, Field(min_length=1, max_length=64, examples=["25102800000006"])]
TriggerId = Annotated[str, Field(min_length=1, max_length=64, examples=["GTT-251028-1a2b3c4d"])]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def to_date(value: Any) -> date:
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("date_format", "must be a date in YYYY-MM-DD format")


IsoDate = Annotated[
    date,
    BeforeValidator(to_date),
    WithJsonSchema(
        {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        mode="validation",
    ),
]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_EXPIRY = re.compile(r"^(\d{2})([A-Za-z]{3})(\d{2})$")
EXPIRY_PATTERN = r"^\d{2}[A-Za-z]{3}\d{2}$"


def to_expiry(value: Any) -> str:
    """An option expiry as ``DDMMMYY``, upper-cased (OpenAlgo builds symbols from it verbatim,
    so a lower-case ``28nov24`` would silently find nothing)."""
    if isinstance(value, str):
        match = _EXPIRY.match(value)
        if match and match.group(2).upper() in _MONTHS and 1 <= int(match.group(1)) <= 31:
            return value.upper()
    raise PydanticCustomError("expiry_format", "must be an expiry date like 28NOV24 (DDMMMYY)")


ExpiryDate = Annotated[
    str,
    BeforeValidator(to_expiry),
    WithJsonSchema(
        {"type": "string", "pattern": EXPIRY_PATTERN, "examples": ["28NOV24"]}, mode="validation"
    ),
]

# --- enums with OpenAlgo's case rules ------------------------------------------------------------


def _enum_schema(values: list[str]) -> Any:
    return WithJsonSchema({"type": "string", "enum": values}, mode="validation")


def _one_of(values: list[str]) -> PydanticCustomError:
    return PydanticCustomError("enum", "must be one of: {allowed}", {"allowed": ", ".join(values)})


def _exact_enum(enum: type[Any], allowed: list[str]) -> Any:
    def validate(value: Any) -> Any:
        if isinstance(value, str) and value in allowed:
            return enum(value)
        raise _one_of(allowed)

    return BeforeValidator(validate)


def _either_case_enum(enum: type[Any], upper: list[str]) -> Any:
    """Upper case or all lower case, as OpenAlgo's schemas list them (``BUY`` or ``buy``)."""
    accepted = upper + [v.lower() for v in upper]

    def validate(value: Any) -> Any:
        if isinstance(value, str) and value in accepted:
            return enum(value.upper())
        raise _one_of(accepted)

    return BeforeValidator(validate)


EXCHANGES = [e.value for e in Exchange]
FNO_EXCHANGE_VALUES = ["NFO", "BFO", "MCX", "CDS", "NCO", "BCD", "NCDEX", "CRYPTO"]
CALENDAR_EXCHANGES = ["NSE", "BSE", "NFO", "BFO", "MCX", "BCD", "CDS", "NCO", "CRYPTO"]

ExchangeField = Annotated[
    Exchange, _exact_enum(Exchange, EXCHANGES), _enum_schema(EXCHANGES), Field(examples=["NSE"])
]
FnoExchange = Annotated[
    Exchange,
    _exact_enum(Exchange, FNO_EXCHANGE_VALUES),
    _enum_schema(FNO_EXCHANGE_VALUES),
    Field(examples=["NFO"]),
]
ActionField = Annotated[
    Action,
    _either_case_enum(Action, ["BUY", "SELL"]),
    _enum_schema(["BUY", "SELL", "buy", "sell"]),
    Field(examples=["BUY"]),
]
PRICE_TYPES = [p.value for p in PriceType]
PriceTypeField = Annotated[
    PriceType, _exact_enum(PriceType, PRICE_TYPES), _enum_schema(PRICE_TYPES)
]
GTT_PRICE_TYPES = ["LIMIT", "MARKET"]
GttPriceType = Annotated[
    PriceType, _exact_enum(PriceType, GTT_PRICE_TYPES), _enum_schema(GTT_PRICE_TYPES)
]
PRODUCTS = [p.value for p in Product]
ProductField = Annotated[Product, _exact_enum(Product, PRODUCTS), _enum_schema(PRODUCTS)]
OPTION_PRODUCTS = ["MIS", "NRML"]
OptionProduct = Annotated[
    Product, _exact_enum(Product, OPTION_PRODUCTS), _enum_schema(OPTION_PRODUCTS)
]
GTT_PRODUCTS = ["CNC", "NRML"]
GttProduct = Annotated[Product, _exact_enum(Product, GTT_PRODUCTS), _enum_schema(GTT_PRODUCTS)]
OptionTypeField = Annotated[
    OptionType,
    _either_case_enum(OptionType, ["CE", "PE"]),
    _enum_schema(["CE", "PE", "ce", "pe"]),
    Field(examples=["CE"]),
]

_OFFSET = re.compile(r"^(ATM|(ITM|OTM)([1-9]|[1-4]\d|50))$", re.IGNORECASE)
OFFSET_PATTERN = r"^([Aa][Tt][Mm]|[IiOo][Tt][Mm]([1-9]|[1-4][0-9]|50))$"


def to_offset(value: Any) -> str:
    if isinstance(value, str) and _OFFSET.match(value):
        return value.upper()
    raise PydanticCustomError("offset", "must be ATM, ITM1 to ITM50 or OTM1 to OTM50")


Offset = Annotated[
    str,
    BeforeValidator(to_offset),
    WithJsonSchema({"type": "string", "pattern": OFFSET_PATTERN}, mode="validation"),
    Field(examples=["ATM"]),
]

TRIGGER_TYPES = ["SINGLE", "OCO"]


def to_trigger_type(value: Any) -> str:
    if isinstance(value, str) and value.upper() in TRIGGER_TYPES:
        return value.upper()
    raise _one_of(TRIGGER_TYPES)


TriggerType = Annotated[
    Literal["SINGLE", "OCO"],
    BeforeValidator(to_trigger_type),
    WithJsonSchema(
        {"type": "string", "pattern": r"^([Ss][Ii][Nn][Gg][Ll][Ee]|[Oo][Cc][Oo])$"},
        mode="validation",
    ),
]

INTERVALS = [
    "1s", "5s", "10s", "15s", "30s", "45s",
    "1m", "2m", "3m", "5m", "10m", "15m", "20m", "30m",
    "1h", "2h", "3h", "4h",
    "D", "W", "M", "Q", "Y",
]  # fmt: skip


def _check_interval(value: Any) -> str:
    if isinstance(value, str) and value in INTERVALS:
        return value
    raise _one_of(INTERVALS)


Interval = Annotated[
    str, BeforeValidator(_check_interval), _enum_schema(INTERVALS), Field(examples=["5m"])
]


class FieldError(ValueError):
    """A rule across several fields, reported against the one that should change.

    A model validator cannot give its error a location; raising this lets the error handler key
    the message by ``field`` instead of by the whole body.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def only_crypto_fractional(exchange: Exchange, quantity: Decimal) -> Decimal:
    """OpenAlgo's rule: fractional quantities exist only on CRYPTO, with its exact message."""
    if exchange is not Exchange.CRYPTO and quantity != quantity.to_integral_value():
        raise ValueError(
            f"Fractional quantity ({quantity.normalize():f}) is not allowed for non-crypto exchanges."
        )
    return quantity


# --- base models --------------------------------------------------------------------------------


class ApiRequest(BaseModel):
    """Every request body: unknown fields refused, the API key optional here (the `ApiUser`
    dependency insists on it, from the body or the ``X-API-KEY`` header) and never dumped."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    apikey: ApiKeyField = None

    def payload(self) -> dict[str, Any]:
        """The request as JSON-ready data, without the API key: for logs and idempotency."""
        return self.model_dump(mode="json")


class Shape(BaseModel):
    """A response object whose optional keys are left out rather than sent as ``null``.

    OpenAlgo omits keys such as ``mode`` or ``orderid`` when they do not apply; clients test
    ``"mode" in body``. Fields named in ``_omit_if_none`` are dropped from the output when None,
    and the response JSON Schema lists them as optional non-null values.
    """

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)
    _omit_if_none: ClassVar[frozenset[str]] = frozenset()

    # No return annotation on purpose: with one, pydantic documents the output as that type (an
    # empty schema for Any) instead of the model's own fields.
    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data = handler(self)
        if isinstance(data, dict):
            for key in self._omit_if_none:
                if key in data and data[key] is None:
                    del data[key]
        return data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if handler.mode != "serialization":
            return json_schema
        target = handler.resolve_ref_schema(json_schema)
        for key in cls._omit_if_none:
            prop = target.get("properties", {}).get(key)
            if prop is None:
                continue
            variants = [v for v in prop.get("anyOf", []) if v.get("type") != "null"]
            if len(variants) == 1 and "anyOf" in prop:
                del prop["anyOf"]
                prop.update(variants[0])
            prop.pop("default", None)
        required = [k for k in target.get("required", []) if k not in cls._omit_if_none]
        if required:
            target["required"] = required
        return json_schema


class ApiResponse(Shape):
    """A success body: ``status`` first; ``mode: "analyze"`` when the sandbox served it."""

    _omit_if_none = frozenset({"mode"})

    status: Literal["success"] = "success"
    mode: Literal["analyze"] | None = Field(
        default=None, description='Present, as "analyze", when the sandbox served the request'
    )


class ErrorResponse(BaseModel):
    """Every error, whatever the endpoint: one string ``message`` naming the field and problem.

    Validation errors add ``errors`` (field path to messages); sandbox-served endpoints add
    ``mode``; a few errors carry context such as the rejected ``orderid``.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "status": "error",
                    "message": "quantity: must be a number or a numeric string",
                    "errors": {"quantity": ["must be a number or a numeric string"]},
                }
            ]
        },
    )

    status: Literal["error"] = "error"
    message: str
    errors: dict[str, list[str]] | None = None
    mode: Literal["analyze"] | None = None
