"""GTT (good-till-triggered) orders: a single trigger or a two-leg OCO, fired exactly once.

Firing is one transaction: the GTT row goes from active to triggered under a compare-and-set, its
margin is released and the child order is placed, all in the same commit. There is no
"triggering" half-state to reclaim after a crash (OpenAlgo needs claims, compensation and a
stranded-claim sweeper because its steps commit separately), and the child order's ``gtt_id`` is
unique, so even two engines on one database place one child.

Legs (reference D7): leg 1 is the stop-loss, it fires when the price falls to its trigger; leg 2
is the target, it fires when the price rises to its trigger. Both comparisons are inclusive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from openalgo.brokers.base import InsufficientFunds, OrderNotFound, OrderRejected
from openalgo.brokers.sandbox.ids import gtt_id as new_gtt_id
from openalgo.brokers.sandbox.ops import Context, MarketPrice, Placed, PlaceOrder, UserOp, place
from openalgo.brokers.sandbox.rules import Spec, funds_shortage_message, leverage, margin
from openalgo.brokers.sandbox.state import FundsState, GttState, PositionKey
from openalgo.brokers.sandbox.store import LedgerTx
from openalgo.domain.enums import Action, PriceType, Product
from openalgo.domain.money import ZERO
from openalgo.errors import OpenAlgoError, ValidationFailed

GTT_ACTIVE = "active"
GTT_TRIGGERED = "triggered"
GTT_CANCELLED = "cancelled"
GTT_EXPIRED = "expired"
GTT_REJECTED = "rejected"
SINGLE = "single"
TWO_LEG = "two-leg"
DEFAULT_LIFETIME = timedelta(days=365)


class GttStateError(OrderRejected):
    """The GTT exists but is no longer active."""


@dataclass(frozen=True, slots=True)
class GttLegs:
    trigger_type: str  # single | two-leg
    trigger_sl: Decimal | None
    price_sl: Decimal | None
    trigger_tg: Decimal | None
    price_tg: Decimal | None


def build_legs(
    *,
    trigger_type: str,
    price: Decimal,
    triggerprice_sl: Decimal | None,
    triggerprice_tg: Decimal | None,
    stoploss: Decimal | None,
    target: Decimal | None,
) -> GttLegs:
    """Turn OpenAlgo's flat GTT request into legs; ValidationFailed says what is wrong."""
    kind = trigger_type.strip().upper()
    sl = triggerprice_sl if triggerprice_sl is not None and triggerprice_sl > 0 else None
    tg = triggerprice_tg if triggerprice_tg is not None and triggerprice_tg > 0 else None
    if kind == "SINGLE":
        if (sl is None) == (tg is None):
            raise ValidationFailed(
                "A SINGLE GTT needs exactly one of triggerprice_sl or triggerprice_tg"
            )
        if sl is not None:
            return GttLegs(SINGLE, sl, price, None, None)
        return GttLegs(SINGLE, None, None, tg, price)
    if kind == "OCO":
        if sl is None or tg is None:
            raise ValidationFailed("An OCO GTT needs both triggerprice_sl and triggerprice_tg")
        if sl >= tg:
            raise ValidationFailed("triggerprice_sl must be below triggerprice_tg")
        sl_price = stoploss if stoploss is not None and stoploss > 0 else price
        tg_price = target if target is not None and target > 0 else price
        return GttLegs(TWO_LEG, sl, sl_price, tg, tg_price)
    raise ValidationFailed(f"Invalid trigger_type {trigger_type!r}: use SINGLE or OCO")


def gtt_margin(
    ctx: Context,
    spec: Spec,
    *,
    user_id: int,
    action: str,
    product: str,
    qty: Decimal,
    pricetype: str,
    legs: GttLegs,
) -> Decimal:
    """Margin a GTT reserves: each leg at its limit price (a MARKET leg at its trigger); an OCO
    reserves the larger leg (``max``) or both (``sum``). CNC sells reserve nothing."""
    if product == Product.CNC and action == Action.SELL:
        return ZERO
    cfg = ctx.config(user_id)
    lev = leverage(cfg, spec, product, action)
    amounts = []
    for trigger, limit in ((legs.trigger_sl, legs.price_sl), (legs.trigger_tg, legs.price_tg)):
        if trigger is None:
            continue
        basis = limit if pricetype == PriceType.LIMIT and limit else trigger
        amounts.append(margin(qty, basis, lev))
    if not amounts:
        return ZERO
    return sum(amounts, ZERO) if cfg.gtt_oco_margin_mode == "sum" else max(amounts)


def cancel_gtt_in_tx(
    tx: LedgerTx, ctx: Context, gtt: GttState, funds: FundsState, status: str = GTT_CANCELLED
) -> None:
    if gtt.margin_blocked:
        funds.release(gtt.margin_blocked)
    gtt.status = status
    gtt.dirty = True
    gtt_key = gtt.gtt_id
    tx.after_commit.append(lambda: ctx.unindex_gtt(gtt_key))


@dataclass(slots=True)
class PlaceGtt(UserOp):
    user_id: int
    strategy: str
    spec: Spec
    action: str
    product: str
    quantity: Decimal
    pricetype: str
    legs: GttLegs
    last_price: Decimal
    expires_at: datetime | None
    ctx: Context

    async def apply(self, tx: LedgerTx) -> str | OpenAlgoError:
        funds = await tx.funds(self.user_id)
        required = gtt_margin(
            self.ctx,
            self.spec,
            user_id=self.user_id,
            action=self.action,
            product=self.product,
            qty=self.quantity,
            pricetype=self.pricetype,
            legs=self.legs,
        )
        if required > funds.available:
            return InsufficientFunds(funds_shortage_message(required, funds.available))
        funds.block(required)
        gtt = GttState(
            id=None,
            user_id=self.user_id,
            gtt_id=new_gtt_id(tx.now),
            trigger_type=self.legs.trigger_type,
            strategy=self.strategy,
            symbol=self.spec.symbol,
            exchange=self.spec.exchange,
            action=self.action,
            product=self.product,
            quantity=self.quantity,
            pricetype=self.pricetype,
            trigger_sl=self.legs.trigger_sl,
            price_sl=self.legs.price_sl,
            trigger_tg=self.legs.trigger_tg,
            price_tg=self.legs.price_tg,
            last_price=self.last_price,
            status=GTT_ACTIVE,
            margin_blocked=required,
            fired_leg=None,
            orderid=None,
            rejection_reason="",
            expires_at=self.expires_at or tx.now + DEFAULT_LIFETIME,
            version=0,
            created_at=tx.now,
            updated_at=tx.now,
        )
        tx.add_gtt(gtt)
        ctx = self.ctx
        tx.after_commit.append(lambda: ctx.index_gtt(gtt))
        return gtt.gtt_id


async def _own_active(tx: LedgerTx, user_id: int, gtt_id: str) -> GttState | OpenAlgoError:
    gtt = await tx.lock_gtt(gtt_id)
    if gtt is None or gtt.user_id != user_id:
        return OrderNotFound(f"GTT {gtt_id} not found")
    if gtt.status != GTT_ACTIVE:
        return GttStateError(f"GTT {gtt_id} is {gtt.status}, not active")
    return gtt


@dataclass(slots=True)
class ModifyGtt(UserOp):
    user_id: int
    gtt_id: str
    spec: Spec
    action: str
    trigger_type: str
    quantity: Decimal
    pricetype: str
    legs: GttLegs
    ctx: Context

    async def apply(self, tx: LedgerTx) -> str | OpenAlgoError:
        found = await _own_active(tx, self.user_id, self.gtt_id)
        if isinstance(found, OpenAlgoError):
            return found
        gtt = found
        if (
            gtt.symbol != self.spec.symbol
            or gtt.exchange != self.spec.exchange
            or gtt.action != self.action
            or gtt.trigger_type != self.legs.trigger_type
        ):
            return ValidationFailed(
                "symbol, exchange, action and trigger_type of a GTT cannot change. "
                "Cancel and re-place"
            )
        funds = await tx.funds(self.user_id)
        required = gtt_margin(
            self.ctx,
            self.spec,
            user_id=self.user_id,
            action=gtt.action,
            product=gtt.product,
            qty=self.quantity,
            pricetype=self.pricetype,
            legs=self.legs,
        )
        delta = required - gtt.margin_blocked
        if delta > funds.available:
            return InsufficientFunds(funds_shortage_message(delta, funds.available))
        if delta > 0:
            funds.block(delta)
        elif delta < 0:
            funds.release(-delta)
        gtt.quantity = self.quantity
        gtt.pricetype = self.pricetype
        gtt.trigger_sl, gtt.price_sl = self.legs.trigger_sl, self.legs.price_sl
        gtt.trigger_tg, gtt.price_tg = self.legs.trigger_tg, self.legs.price_tg
        gtt.margin_blocked = required
        gtt.dirty = True
        ctx = self.ctx
        tx.after_commit.append(lambda: ctx.index_gtt(gtt))
        return gtt.gtt_id


@dataclass(slots=True)
class CancelGtt(UserOp):
    user_id: int
    gtt_id: str
    ctx: Context

    async def apply(self, tx: LedgerTx) -> str | OpenAlgoError:
        found = await _own_active(tx, self.user_id, self.gtt_id)
        if isinstance(found, OpenAlgoError):
            return found
        cancel_gtt_in_tx(tx, self.ctx, found, await tx.funds(self.user_id))
        return found.gtt_id


@dataclass(slots=True)
class ExpireGtts(UserOp):
    """Active GTTs past their expiry become expired and give their margin back."""

    user_id: int
    ctx: Context

    async def apply(self, tx: LedgerTx) -> int:
        from openalgo.brokers.sandbox.store import GTTS

        funds = await tx.funds(self.user_id)
        expired = 0
        for gtt in await tx.lock_gtts(
            (GTTS.c.user_id == self.user_id) & (GTTS.c.status == GTT_ACTIVE)
        ):
            if gtt.status == GTT_ACTIVE and gtt.expires_at <= tx.now:
                cancel_gtt_in_tx(tx, self.ctx, gtt, funds, status=GTT_EXPIRED)
                expired += 1
        return expired


@dataclass(slots=True)
class FireGtt(UserOp):
    """The price reached a leg: flip the GTT to triggered and place its order, in one commit."""

    user_id: int
    gtt_id: str
    version: int
    leg: int
    spec: Spec
    market: MarketPrice
    ctx: Context

    @property
    def position_keys(self) -> Iterable[PositionKey]:
        return ((self.user_id, self.spec.symbol, self.spec.exchange, ""),)

    async def apply(self, tx: LedgerTx) -> Placed | OpenAlgoError | None:
        gtt = await tx.lock_gtt(self.gtt_id)
        if gtt is None or gtt.status != GTT_ACTIVE or gtt.version != self.version:
            return None
        if gtt.expires_at <= tx.now:
            cancel_gtt_in_tx(tx, self.ctx, gtt, await tx.funds(gtt.user_id), status=GTT_EXPIRED)
            return None
        legs = {number: (trigger, limit) for number, _, trigger, limit in gtt.legs()}
        if self.leg not in legs:
            return None
        funds = await tx.funds(gtt.user_id)
        if gtt.margin_blocked:
            funds.release(gtt.margin_blocked)
        _, limit = legs[self.leg]
        limit_order = gtt.pricetype == PriceType.LIMIT
        result = await place(
            tx,
            PlaceOrder(
                user_id=gtt.user_id,
                strategy=gtt.strategy or "GTT",
                spec=self.spec,
                action=gtt.action,
                quantity=gtt.quantity,
                pricetype=PriceType.LIMIT.value if limit_order else PriceType.MARKET.value,
                product=gtt.product,
                price=limit if limit_order else ZERO,
                trigger_price=ZERO,
                market=self.market,
                mis_block="",
                ctx=self.ctx,
                gtt_id=gtt.gtt_id,
            ),
        )
        gtt.fired_leg = self.leg
        gtt.last_price = self.market.ltp
        gtt.dirty = True
        if isinstance(result, Placed):
            gtt.status = GTT_TRIGGERED
            gtt.orderid = result.orderid
        else:
            gtt.status = GTT_REJECTED
            gtt.rejection_reason = result.message[:300]
            gtt.orderid = getattr(result, "orderid", None)
        gtt_key = gtt.gtt_id
        ctx = self.ctx
        tx.after_commit.append(lambda: ctx.unindex_gtt(gtt_key))
        return result
