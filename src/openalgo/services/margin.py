"""`/margin`: what a basket of positions would block, by the paper-trading ledger's own rules.

The simulator broker is a paper-trading ledger, so its margin calculator is the sandbox's margin
rule (reference D1-D2), the one that decides what an order actually blocks there: value /
leverage, with leverage from the user's ledger configuration (equity MIS 5x, CNC 1x, futures 10x,
option buy and sell 1x by default), the basis price a LIMIT's price, an SL/SL-M's trigger, a
MARKET's last price, and a CNC SELL blocking nothing. Each position is priced as a fresh order on
an empty account: the calculator answers "what would this basket need", not "what would it need
given what I hold", and gives no hedge benefit.

OpenAlgo's brokers split the total into SPAN and exposure margin. The ledger's rule has one
number per position, reported where a broker puts it: futures and option sells as
``span_margin``, equity as ``exposure_margin``; option buys (the premium) count only in the total.
OpenAlgo never sandboxes `/margin` (it always asks the live broker), so neither do we: the answer
comes from the user's active broker in analyzer mode too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from openalgo.brokers.base import NotSupported
from openalgo.brokers.sandbox.engine import SandboxEngine
from openalgo.brokers.sandbox.lifecycle import SIMULATOR
from openalgo.brokers.sandbox.rules import (
    Spec,
    check_instrument,
    check_quantity,
    check_shape,
    order_margin,
)
from openalgo.domain.enums import Action, Exchange, PriceType
from openalgo.domain.money import ZERO, paise
from openalgo.errors import ServiceUnavailable, ValidationFailed
from openalgo.runtime import Runtime
from openalgo.security.apikeys import ApiPrincipal


@dataclass(frozen=True, slots=True)
class MarginItem:
    """One position of the basket, as the request gives it (enums as their values)."""

    symbol: str
    exchange: str
    action: str
    quantity: Decimal
    product: str
    pricetype: str
    price: Decimal = ZERO
    trigger_price: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class MarginTotals:
    total: Decimal
    span: Decimal
    exposure: Decimal


def margin_engine(runtime: Runtime, principal: ApiPrincipal) -> SandboxEngine:
    """The ledger whose rules price the user's active broker's margin."""
    if principal.broker != SIMULATOR:
        raise NotSupported(f"Margin calculation not supported for broker: {principal.broker}")
    if runtime.sandbox is None:
        raise ServiceUnavailable("the paper-trading engine is not running")
    return runtime.sandbox.simulator


def _invalid(index: int, field: str, problem: str) -> ValidationFailed:
    where = f"positions.{index}.{field}"
    return ValidationFailed(f"{where}: {problem}", errors={where: [problem]})


async def calculate(
    engine: SandboxEngine, user_id: int, items: Sequence[MarginItem]
) -> MarginTotals:
    """The margin ``items`` need together; ValidationFailed names the first position at fault."""
    cfg = engine.config(user_id)
    span = exposure = premium = ZERO
    for index, item in enumerate(items):
        qty, problem = check_quantity(item.quantity, item.exchange)
        if problem or qty is None:
            raise _invalid(index, "quantity", problem)
        problem = check_shape(
            exchange=item.exchange,
            action=item.action,
            pricetype=item.pricetype,
            product=item.product,
            price=item.price,
            trigger_price=item.trigger_price,
        )
        if problem:
            raise _invalid(index, _blamed(problem), problem)
        instrument = await engine.instruments.resolve(item.symbol, item.exchange)
        if instrument is None:
            raise _invalid(index, "symbol", f"unknown symbol {item.symbol} on {item.exchange}")
        spec = Spec.of(instrument)
        problem = check_instrument(spec, qty, item.price, item.trigger_price)
        if problem:
            raise _invalid(index, _blamed(problem), problem)
        basis = await _basis(engine, user_id, item, spec)
        if basis is None:
            raise _invalid(
                index, "pricetype", f"no last price for {item.symbol}: send a LIMIT price"
            )
        amount = order_margin(
            cfg,
            spec,
            product=item.product,
            action=item.action,
            qty=qty,
            basis=basis,
            position_qty=ZERO,
        )
        if spec.exchange in _CASH:
            exposure += amount
        elif spec.is_option and item.action == Action.BUY:
            premium += amount
        else:
            span += amount
    return MarginTotals(total=paise(span + exposure + premium), span=span, exposure=exposure)


_CASH = frozenset({Exchange.NSE.value, Exchange.BSE.value})


async def _basis(
    engine: SandboxEngine, user_id: int, item: MarginItem, spec: Spec
) -> Decimal | None:
    """The price margin is computed on, as the ledger would block it."""
    if item.pricetype == PriceType.LIMIT:
        return item.price
    if item.pricetype in (PriceType.SL, PriceType.SL_M):
        return item.trigger_price
    market = await engine.market_price(user_id, (spec.exchange, spec.symbol))
    return market.ltp if market is not None and market.ltp > 0 else None


def _blamed(problem: str) -> str:
    """The request field a rule's sentence is about (the rules speak in sentences, not fields)."""
    lowered = problem.lower()
    for needle, field in (
        ("trigger", "trigger_price"),
        ("quantity", "quantity"),
        ("lot size", "quantity"),
        ("price", "price"),
        ("nrml", "product"),
        ("cnc", "product"),
        ("index values", "exchange"),
        ("index", "symbol"),
        ("exchange", "exchange"),
    ):
        if needle in lowered:
            return field
    return "symbol"
