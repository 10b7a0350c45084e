"""GTT (good-till-triggered) triggers on the caller's ledger: place, modify, cancel, list.

The engine does the work (legs, margin, firing exactly once); this module adapts OpenAlgo's flat
request to it and renders the book in the shape SDK 2.0.5 documents for `gttorderbook`
(``trigger_type`` "single"/"two-leg", ascending ``trigger_prices``, one leg per trigger with the
stop-loss first). Two choices on top of the engine's errors, so that clients see the statuses
docs/api.md promises: an unknown symbol is a 400 naming ``symbol``, and a trigger that is no
longer active (fired, cancelled, expired) is a 409, as for orders in a final state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from openalgo.brokers.sandbox.gtt import GTT_ACTIVE, TWO_LEG, GttStateError
from openalgo.brokers.sandbox.state import GttState
from openalgo.brokers.sandbox.venue import SandboxVenue
from openalgo.brokers.sandbox.views import stamp
from openalgo.domain.clock import IST
from openalgo.domain.enums import PriceType
from openalgo.domain.money import as_number
from openalgo.errors import Conflict, ValidationFailed

MAX_LIFETIME = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class GttOrder:
    """A trigger as OpenAlgo's flat request describes it (enums as their values)."""

    trigger_type: str  # SINGLE | OCO
    symbol: str
    exchange: str
    action: str
    product: str
    quantity: Decimal
    pricetype: str = PriceType.LIMIT.value
    price: Decimal = Decimal(0)
    triggerprice_sl: Decimal = Decimal(0)
    triggerprice_tg: Decimal = Decimal(0)
    stoploss: Decimal | None = None
    target: Decimal | None = None
    strategy: str = ""

    def fields(self) -> dict[str, Any]:
        return {
            "trigger_type": self.trigger_type,
            "symbol": self.symbol,
            "exchange": self.exchange,
            "action": self.action,
            "product": self.product,
            "quantity": self.quantity,
            "pricetype": self.pricetype,
            "price": self.price,
            "triggerprice_sl": self.triggerprice_sl,
            "triggerprice_tg": self.triggerprice_tg,
            "stoploss": self.stoploss,
            "target": self.target,
        }


async def check_symbol(venue: SandboxVenue, order: GttOrder) -> None:
    """Refuse an unknown symbol by name, and price a known one now.

    Routes call it before the order guard, so a request for a symbol that does not exist is a
    validation error that claims no ``Idempotency-Key`` and writes no order log, as for orders.

    The engine records the trigger's ``last_price`` and checks for a level already crossed from
    the last price it holds; asking for the market price first puts a current one there, so a
    trigger placed before any tick of its symbol still shows where the market was and fires at
    once when its level is already met.
    """
    instrument = await venue.engine.instruments.resolve(order.symbol, order.exchange)
    if instrument is None:
        problem = f"unknown symbol {order.symbol} on {order.exchange}"
        raise ValidationFailed(f"symbol: {problem}", errors={"symbol": [problem]})
    await venue.engine.market_price(venue.user_id, (instrument.exchange, instrument.symbol))


async def place(venue: SandboxVenue, order: GttOrder, *, expires_at: datetime | None) -> str:
    """Arm a trigger (after `check_symbol`); its id (``GTT-YYMMDD-xxxxxxxx``).

    ``expires_at`` (naive means IST) may be at most a year ahead, as brokers' GTTs: the default
    lifetime is a year, and an unbounded date (year 9999) cannot even be shown in IST.
    """
    if expires_at is not None:
        when = expires_at if expires_at.tzinfo is not None else expires_at.replace(tzinfo=IST)
        if when > venue.engine.clock.now() + MAX_LIFETIME:
            problem = "must be within one year from now"
            raise ValidationFailed(f"expires_at: {problem}", errors={"expires_at": [problem]})
    return await venue.engine.place_gtt(
        venue.user_id, **order.fields(), expires_at=expires_at, strategy=order.strategy
    )


async def modify(venue: SandboxVenue, trigger_id: str, order: GttOrder) -> str:
    """Replace an active trigger's prices and quantity (symbol, exchange, action and type are
    fixed: the engine refuses a change with "Cancel and re-place").

    The product is fixed too: the engine keeps the trigger's own and would ignore another one, so
    a request that asks for a different product is refused rather than half applied.
    """
    await check_symbol(venue, order)
    current = next(
        (g for g in await venue.engine.gtts(venue.user_id, active_only=False)
         if g.gtt_id == trigger_id),
        None,
    )  # fmt: skip
    if current is not None and current.product != order.product:
        problem = "cannot be changed: cancel and re-place the trigger"
        raise ValidationFailed(f"product: {problem}", errors={"product": [problem]})
    try:
        return await venue.engine.modify_gtt(venue.user_id, trigger_id, **order.fields())
    except GttStateError as exc:
        raise Conflict(exc.message) from exc


async def cancel(venue: SandboxVenue, trigger_id: str) -> str:
    try:
        return await venue.engine.cancel_gtt(venue.user_id, trigger_id)
    except GttStateError as exc:
        raise Conflict(exc.message) from exc


async def book(venue: SandboxVenue, *, active_only: bool) -> list[dict[str, Any]]:
    """The caller's triggers, active ones first (then newest first within each group)."""
    gtts = await venue.engine.gtts(venue.user_id, active_only=active_only)
    ordered = sorted(
        gtts, key=lambda g: (g.status != GTT_ACTIVE, -g.created_at.timestamp(), -(g.id or 0))
    )
    return [entry(g) for g in ordered]


def entry(gtt: GttState) -> dict[str, Any]:
    legs = [
        {
            "action": gtt.action,
            "quantity": as_number(gtt.quantity),
            "price": float(limit) if gtt.pricetype == PriceType.LIMIT else 0.0,
            "pricetype": gtt.pricetype,
            "product": gtt.product,
            "trigger_price": float(trigger),
        }
        for _leg, _above, trigger, limit in gtt.legs()
    ]
    return {
        "trigger_id": gtt.gtt_id,
        "trigger_type": "two-leg" if gtt.trigger_type == TWO_LEG else "single",
        "status": gtt.status,
        "symbol": gtt.symbol,
        "exchange": gtt.exchange,
        "trigger_prices": sorted(leg["trigger_price"] for leg in legs),
        "last_price": float(gtt.last_price) if gtt.last_price > 0 else None,
        "legs": legs,
        "created_at": stamp(gtt.created_at),
        "updated_at": stamp(gtt.updated_at),
        "expires_at": stamp(gtt.expires_at),
        "strategy": gtt.strategy or None,
        "orderid": gtt.orderid or None,
        "rejection_reason": gtt.rejection_reason or None,
    }
