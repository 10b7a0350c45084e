"""optionsorder and optionsmultiorder: resolve the contracts, then place them (reference 5.3, 5.4).

Resolution (underlying price, expiry, strike) is done in full before anything is placed, and
outside the order guard: a request naming an unknown underlying, an unlisted expiry or an offset
beyond the listed strikes is a 400 that places nothing and claims no ``Idempotency-Key``. For a
multi-leg order that means one bad leg places no leg at all (OpenAlgo placed the others and
reported the bad one in its result), so a spread is never left half-built by a typo.

Placement then follows OpenAlgo: a split order (``splitsize > 0``) becomes ``splitsize``-unit
children plus the remainder (at most 100), each reported on its own; a multi-leg order places
every BUY leg before any SELL leg (a spread's protective wing first, which also frees margin),
in request order within each side, and reports the legs in request order. A venue refusing one
child or leg does not stop the others; HTTP 200 once placement starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from openalgo.api.v1.schemas.options import (
    LegFields,
    OptionLegResult,
    OptionsMultiOrderRequest,
    OptionsMultiOrderResponse,
    OptionsOrderRequest,
    OptionsOrderResponse,
)
from openalgo.api.v1.schemas.orders import ChildOrderResult
from openalgo.brokers.base import TradingVenue
from openalgo.domain.enums import Action, InstrumentType
from openalgo.domain.instruments import Instrument
from openalgo.domain.orders import OrderRequest
from openalgo.errors import OpenAlgoError, ValidationFailed
from openalgo.services.option_symbols import OptionSymbols, Priced
from openalgo.services.orders import MAX_SPLIT_ORDERS, TOO_MANY_SPLITS, split_quantities


def split_children(quantity: int, size: int, *, field: str = "splitsize") -> list[int]:
    """`orders.split_quantities`; a 400 blaming ``field`` past 100 children."""
    children = split_quantities(quantity, size)
    if len(children) > MAX_SPLIT_ORDERS:
        raise ValidationFailed.field(field, TOO_MANY_SPLITS)
    return children


@dataclass(frozen=True, slots=True)
class LegPlan:
    """One resolved order: the contract and what to place."""

    index: int  # 1-based position in the request
    fields: LegFields
    contract: Instrument
    children: list[int] | None  # split quantities, or None for one order

    def order(self, quantity: int, strategy: str) -> OrderRequest:
        f = self.fields
        return OrderRequest(
            symbol=self.contract.symbol,
            exchange=self.contract.exchange,
            action=f.action,
            quantity=quantity,
            pricetype=f.pricetype,
            product=f.product,
            price=f.price,
            trigger_price=f.trigger_price,
            disclosed_quantity=f.disclosed_quantity,
            strategy=strategy,
        )


@dataclass(frozen=True, slots=True)
class OptionsPlan:
    priced: Priced
    strategy: str
    legs: list[LegPlan]


def _plan_leg(
    symbols: OptionSymbols,
    priced: Priced,
    index: int,
    fields: LegFields,
    expiry: date,
    strike_int: int | None,
    prefix: str,
) -> LegPlan:
    kind = InstrumentType(fields.option_type.value)
    contract = symbols.pick(priced, expiry, fields.offset, kind, strike_int, field_prefix=prefix)
    size = fields.splitsize or 0
    children = split_children(fields.quantity, size, field=f"{prefix}splitsize") if size else None
    return LegPlan(index, fields, contract, children)


async def plan_order(symbols: OptionSymbols, body: OptionsOrderRequest) -> OptionsPlan:
    ref = symbols.underlying(body.underlying, body.exchange)
    expiry = symbols.expiry(ref, body.expiry_date)
    if body.splitsize:
        split_children(body.quantity, body.splitsize)  # refuse before quoting anything
    priced = await symbols.priced(ref)
    leg = _plan_leg(symbols, priced, 1, body, expiry, body.strike_int, "")
    return OptionsPlan(priced, body.strategy, [leg])


async def plan_multi(symbols: OptionSymbols, body: OptionsMultiOrderRequest) -> OptionsPlan:
    ref = symbols.underlying(body.underlying, body.exchange)
    expiries = [
        symbols.expiry(
            ref,
            leg.expiry_date or body.expiry_date,
            field=f"legs.{i}.expiry_date" if leg.expiry_date else "expiry_date",
        )
        for i, leg in enumerate(body.legs)
    ]
    priced = await symbols.priced(ref)  # one price for every leg
    legs = [
        _plan_leg(symbols, priced, i + 1, leg, expiry, body.strike_int, f"legs.{i}.")
        for i, (leg, expiry) in enumerate(zip(body.legs, expiries, strict=True))
    ]
    return OptionsPlan(priced, body.strategy, legs)


async def _place_children(
    venue: TradingVenue, plan: LegPlan, strategy: str
) -> list[ChildOrderResult]:
    assert plan.children is not None
    results: list[ChildOrderResult] = []
    for n, quantity in enumerate(plan.children, start=1):
        try:
            orderid = await venue.place_order(plan.order(quantity, strategy))
        except OpenAlgoError as exc:
            results.append(
                ChildOrderResult(
                    order_num=n, quantity=quantity, status="error", message=exc.message
                )
            )
        else:
            results.append(
                ChildOrderResult(order_num=n, quantity=quantity, status="success", orderid=orderid)
            )
    return results


async def place_order(
    venue: TradingVenue, plan: OptionsPlan, body: OptionsOrderRequest, *, analyze: bool
) -> OptionsOrderResponse:
    """One option order (or its split children). A refused single order raises, as placeorder's
    does; refused children are reported in ``results``."""
    (leg,) = plan.legs
    common = {
        "mode": "analyze" if analyze else None,
        "symbol": leg.contract.symbol,
        "exchange": leg.contract.exchange,
        "underlying": body.underlying,
        "underlying_ltp": plan.priced.ltp,
        "offset": body.offset,
        "option_type": body.option_type.value,
    }
    if leg.children is None:
        orderid = await venue.place_order(leg.order(body.quantity, plan.strategy))
        return OptionsOrderResponse(orderid=orderid, **common)
    results = await _place_children(venue, leg, plan.strategy)
    return OptionsOrderResponse(
        total_quantity=body.quantity, split_size=body.splitsize, results=results, **common
    )


async def place_multi(
    venue: TradingVenue, plan: OptionsPlan, body: OptionsMultiOrderRequest, *, analyze: bool
) -> OptionsMultiOrderResponse:
    mode = "analyze" if analyze else "live"
    outcomes: dict[int, OptionLegResult] = {}
    buys = [leg for leg in plan.legs if leg.fields.action is Action.BUY]
    sells = [leg for leg in plan.legs if leg.fields.action is Action.SELL]
    for leg in buys + sells:
        f = leg.fields
        common = {
            "leg": leg.index,
            "symbol": leg.contract.symbol,
            "exchange": leg.contract.exchange,
            "product": f.product.value,
            "offset": f.offset,
            "option_type": f.option_type.value,
            "action": f.action.value,
        }
        if leg.children is not None:
            children = await _place_children(venue, leg, plan.strategy)
            placed = any(c.status == "success" for c in children)
            outcomes[leg.index] = OptionLegResult(
                **common,
                status="success" if placed else "error",
                total_quantity=f.quantity,
                split_size=f.splitsize,
                split_results=children,
                mode=mode if placed else None,
            )
            continue
        try:
            orderid = await venue.place_order(leg.order(f.quantity, plan.strategy))
        except OpenAlgoError as exc:
            outcomes[leg.index] = OptionLegResult(**common, status="error", message=exc.message)
        else:
            outcomes[leg.index] = OptionLegResult(
                **common, status="success", orderid=orderid, mode=mode
            )
    return OptionsMultiOrderResponse(
        mode="analyze" if analyze else None,
        underlying=body.underlying,
        underlying_ltp=plan.priced.ltp,
        results=[outcomes[i] for i in sorted(outcomes)],
    )
