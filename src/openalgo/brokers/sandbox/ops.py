"""Ledger operations: each one is applied inside a batch transaction by the writer.

The money rules (reference D1-D6), with the fixes this implementation makes:
- Margin is re-derived at the fill from the position as it is then, not as it was at placement, so
  an order placed as a reduction that ends up opening a position pays for it (or is rejected), and
  a surplus is released. ``used_margin`` therefore always equals open orders + positions + GTTs.
- Positions keep their cost (price x quantity) instead of a rounded average, so closing books
  exactly what was paid; only the booked P&L is rounded to the paisa.
- A CNC sell holds back the shares it will deliver, so two sells cannot both spend one holding.
- Modify re-computes the blocked margin.
- Reset cancels open orders and GTTs instead of leaving them with margin nobody holds.

An operation never raises for a business outcome: it returns the result (or the error to raise)
and records rejections in the same commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from openalgo.brokers.base import InsufficientFunds, OrderNotFound, OrderRejected
from openalgo.brokers.sandbox.config import DEFAULT_EXPIRY_CLOSE, EXPIRY_CLOSE, SandboxConfig
from openalgo.brokers.sandbox.ids import OrderIds, TradeIds
from openalgo.brokers.sandbox.rules import (
    Spec,
    funds_shortage_message,
    leverage,
    margin,
    order_margin,
)
from openalgo.brokers.sandbox.state import (
    FundsState,
    GttState,
    HoldingState,
    OrderState,
    PositionKey,
    PositionState,
)
from openalgo.brokers.sandbox.store import ORDERS, LedgerTx
from openalgo.domain.clock import ist
from openalgo.domain.enums import Action, OrderStatus, PriceType, Product
from openalgo.domain.money import ZERO, cost, paise
from openalgo.domain.orders import OrderEvent, OrderEventKind
from openalgo.errors import OpenAlgoError

SQUARE_OFF_STRATEGY = "Auto Square-off"
EXPIRY_STRATEGY = "Expiry settlement"


class OrderStateError(OrderRejected):
    """The order exists but is not in a state that allows the request (complete, cancelled...)."""


@dataclass(frozen=True, slots=True)
class MarketPrice:
    """The touch at one moment: buys pay the ask, sells receive the bid, else the LTP."""

    ltp: Decimal
    bid: Decimal = ZERO
    ask: Decimal = ZERO

    def for_side(self, side: int) -> Decimal:
        touch = self.ask if side > 0 else self.bid
        return touch if touch > 0 else self.ltp


class Context(Protocol):
    """What operations need from the engine (implemented by `SandboxEngine`)."""

    ledger: str
    mode: str
    ids: OrderIds
    trade_ids: TradeIds

    def config(self, user_id: int) -> SandboxConfig: ...

    def index_order(self, order: OrderState) -> None: ...

    def unindex_order(self, orderid: str) -> None: ...

    def index_gtt(self, gtt: GttState) -> None: ...

    def unindex_gtt(self, gtt_id: str) -> None: ...


def event(ctx: Context, kind: OrderEventKind, order: OrderState) -> OrderEvent:
    return OrderEvent(
        user_id=order.user_id,
        venue=ctx.ledger,
        kind=kind,
        order=order.to_row(),
        mode=ctx.mode,
    )


def spec_of(order: OrderState) -> Spec:
    return Spec(
        symbol=order.symbol,
        exchange=order.exchange,
        instrument_type=order.instrument_type,
        expiry=order.expiry,
    )


def new_order(
    tx: LedgerTx,
    ctx: Context,
    *,
    user_id: int,
    strategy: str,
    symbol: str,
    exchange: str,
    action: str,
    quantity: Decimal,
    pricetype: str,
    product: str,
    price: Decimal = ZERO,
    trigger_price: Decimal = ZERO,
    instrument_type: str = "",
    expiry: date | None = None,
    gtt_id: str | None = None,
) -> OrderState:
    return OrderState(
        id=None,
        user_id=user_id,
        orderid=ctx.ids.next(tx.now),
        strategy=strategy,
        symbol=symbol,
        exchange=exchange,
        action=action,
        quantity=quantity,
        pricetype=pricetype,
        product=product,
        price=price,
        trigger_price=trigger_price,
        status=OrderStatus.OPEN.value,
        triggered=False,
        margin_blocked=ZERO,
        margin_price=ZERO,
        average_price=ZERO,
        filled_quantity=ZERO,
        rejection_reason="",
        instrument_type=instrument_type,
        expiry=expiry,
        gtt_id=gtt_id,
        version=0,
        created_at=tx.now,
        updated_at=tx.now,
    )


def reject_new(tx: LedgerTx, ctx: Context, order: OrderState, reason: str) -> None:
    """Record a refused order: status rejected, the reason, no margin, one event."""
    order.status = OrderStatus.REJECTED.value
    order.rejection_reason = reason[:300]
    order.margin_blocked = ZERO
    tx.add_order(order)
    tx.publish(event(ctx, OrderEventKind.REJECTED, order))


def _reject_open(
    tx: LedgerTx, ctx: Context, order: OrderState, funds: FundsState, reason: str
) -> None:
    """Refuse an order that was resting (or just built): give its margin back, record why."""
    if order.margin_blocked:
        funds.release(order.margin_blocked)
    order.status = OrderStatus.REJECTED.value
    order.rejection_reason = reason[:300]
    tx.touch(order)
    tx.publish(event(ctx, OrderEventKind.REJECTED, order))
    tx.after_commit.append(lambda: ctx.unindex_order(order.orderid))


async def execute_fill(tx: LedgerTx, ctx: Context, order: OrderState, price: Decimal) -> bool:
    """Fill ``order`` completely at ``price``: net the position, move margin, book P&L, record
    the trade. ``order.margin_blocked`` must already be blocked in funds. False if refused."""
    user_id = order.user_id
    funds = await tx.funds(user_id)
    key: PositionKey = (user_id, order.symbol, order.exchange, order.product)
    pos = await tx.position(key)
    pos_qty = pos.quantity if pos is not None else ZERO
    side = order.side
    qty = order.quantity
    cnc_sell = order.product == Product.CNC and order.action == Action.SELL
    if cnc_sell:
        holding = await tx.holding(user_id, order.symbol, order.exchange)
        held = holding.quantity if holding is not None else ZERO
        if qty > pos_qty + held:
            _reject_open(
                tx,
                ctx,
                order,
                funds,
                f"Only {_n(max(ZERO, pos_qty + held))} shares of {order.symbol} available to sell",
            )
            return False
    closing = ZERO
    if pos_qty != 0 and (pos_qty > 0) != (side > 0):
        closing = min(qty, abs(pos_qty))
    opening = qty - closing
    spec = spec_of(order)
    cfg = ctx.config(user_id)
    needed = ZERO
    if not cnc_sell:
        basis = order.margin_price if order.margin_price > 0 else price
        needed = margin(opening, basis, leverage(cfg, spec, order.product, order.action))
    blocked = order.margin_blocked
    if needed > blocked:
        extra = needed - blocked
        if extra > funds.available:
            _reject_open(tx, ctx, order, funds, funds_shortage_message(extra, funds.available))
            return False
        funds.block(extra)
    elif needed < blocked:
        funds.release(blocked - needed)
    if pos is None:
        pos = tx.new_position(
            PositionState(
                id=None,
                user_id=user_id,
                symbol=order.symbol,
                exchange=order.exchange,
                product=order.product,
                quantity=ZERO,
                cost=ZERO,
                margin_blocked=ZERO,
                realized_pnl=ZERO,
                last_price=price,
                instrument_type=order.instrument_type,
                expiry=order.expiry,
                opened_on=tx.today,
            )
        )
    realized = ZERO
    if closing:
        size = abs(pos.quantity)
        if closing == size:
            released_cost, released_margin = pos.cost, pos.margin_blocked
        else:
            released_cost = cost(pos.cost * closing / size)
            released_margin = paise(pos.margin_blocked * closing / size)
        value = price * closing
        realized = (
            paise(value - released_cost) if pos.quantity > 0 else paise(released_cost - value)
        )
        pos.cost -= released_cost
        pos.margin_blocked -= released_margin
        pos.quantity += side * closing
        funds.release(released_margin)
        funds.book(realized)
    if opening:
        if pos.quantity == 0:
            pos.opened_on = tx.today
            pos.instrument_type = order.instrument_type
            pos.expiry = order.expiry
        pos.quantity += side * opening
        pos.cost += cost(price * opening)
        pos.margin_blocked += needed
    # Every fill, closing or not, files under the session day, so a row's bucket is always the
    # day of its last fill (`invariants.py` replays the same rule).
    pos.book(realized, tx.session_day)
    pos.last_price = price
    pos.dirty = True
    order.status = OrderStatus.COMPLETE.value
    order.average_price = price
    order.filled_quantity = qty
    order.triggered = order.triggered or order.pricetype in (PriceType.SL, PriceType.SL_M)
    tx.touch(order)
    tx.add_trade(
        {
            "user_id": user_id,
            "tradeid": ctx.trade_ids.next(tx.now),
            "orderid": order.orderid,
            "strategy": order.strategy,
            "symbol": order.symbol,
            "exchange": order.exchange,
            "product": order.product,
            "action": order.action,
            "quantity": qty,
            "price": price,
            "realized_pnl": realized,
            "epoch": funds.reset_count,
            "created_at": tx.now,
        }
    )
    tx.publish(event(ctx, OrderEventKind.FILLED, order))
    tx.after_commit.append(lambda: ctx.unindex_order(order.orderid))
    return True


def _n(value: Decimal) -> str:
    return f"{value.normalize():f}"


# --- placing ------------------------------------------------------------------------------------


class UserOp:
    """What most ledger operations declare to the writer: the one user they touch, and no
    position to preload unless they say so (`writer.Op`)."""

    __slots__ = ()
    user_id: int

    @property
    def user_ids(self) -> Iterable[int]:
        return (self.user_id,)

    @property
    def position_keys(self) -> Iterable[PositionKey]:
        return ()


@dataclass(frozen=True, slots=True)
class Placed:
    orderid: str
    status: str


@dataclass(slots=True)
class PlaceOrder(UserOp):
    """A new order that passed the checks that need no ledger state."""

    user_id: int
    strategy: str
    spec: Spec
    action: str
    quantity: Decimal
    pricetype: str
    product: str
    price: Decimal
    trigger_price: Decimal
    market: MarketPrice | None
    mis_block: str
    ctx: Context
    gtt_id: str | None = None

    @property
    def position_keys(self) -> Iterable[PositionKey]:
        return ((self.user_id, self.spec.symbol, self.spec.exchange, self.product),)

    async def apply(self, tx: LedgerTx) -> Placed | OpenAlgoError:
        return await place(tx, self)


async def place(tx: LedgerTx, req: PlaceOrder) -> Placed | OpenAlgoError:
    ctx = req.ctx
    spec = req.spec
    user_id = req.user_id
    funds = await tx.funds(user_id)
    order = new_order(
        tx,
        ctx,
        user_id=user_id,
        strategy=req.strategy,
        symbol=spec.symbol,
        exchange=spec.exchange,
        action=req.action,
        quantity=req.quantity,
        pricetype=req.pricetype,
        product=req.product,
        price=req.price,
        trigger_price=req.trigger_price,
        instrument_type=spec.instrument_type,
        expiry=spec.expiry,
        gtt_id=req.gtt_id,
    )
    pos = await tx.position((user_id, spec.symbol, spec.exchange, req.product))
    pos_qty = pos.quantity if pos is not None else ZERO
    side = order.side
    qty = req.quantity

    def refuse(reason: str, error: type[OrderRejected] = OrderRejected) -> OpenAlgoError:
        reject_new(tx, ctx, order, reason)
        return error(reason, orderid=order.orderid)

    reducing = pos_qty != 0 and (pos_qty > 0) != (side > 0) and qty <= abs(pos_qty)
    if req.mis_block and not reducing:
        return refuse(req.mis_block)
    cnc_sell = req.product == Product.CNC and req.action == Action.SELL
    if cnc_sell:
        holding = await tx.holding(user_id, spec.symbol, spec.exchange)
        held = holding.quantity if holding is not None else ZERO
        promised = await tx.open_cnc_sell_quantity(user_id, spec.symbol, spec.exchange)
        available = pos_qty + held - promised
        if available <= 0:
            return refuse(
                f"Cannot sell {spec.symbol}: no holdings or CNC position available "
                f"(Position: {_n(pos_qty)}, Holdings: {_n(held)}, In open sell orders: "
                f"{_n(promised)})"
            )
        if qty > available:
            return refuse(
                f"Only {_n(available)} shares of {spec.symbol} available to sell "
                f"(Position: {_n(pos_qty)}, Holdings: {_n(held)}, In open sell orders: "
                f"{_n(promised)})"
            )

    fill_at: Decimal | None = None
    market = req.market
    status = OrderStatus.OPEN
    triggered = False
    if req.pricetype == PriceType.MARKET:
        if market is None:
            return refuse(f"Unable to fetch the current price of {spec.symbol}")
        fill_at = market.for_side(side)
        basis = fill_at
    elif req.pricetype == PriceType.LIMIT:
        basis = req.price
        if market is not None:
            touch = market.for_side(side)
            if (side > 0 and touch <= req.price) or (side < 0 and touch >= req.price):
                fill_at = touch  # marketable: the market price, never worse than the limit
    else:
        basis = req.trigger_price
        status = OrderStatus.TRIGGER_PENDING
        if market is not None:
            ltp = market.ltp
            hit = ltp >= req.trigger_price if side > 0 else ltp <= req.trigger_price
            if hit:
                touch = market.for_side(side)
                if (
                    req.pricetype == PriceType.SL_M
                    or (side > 0 and touch <= req.price)
                    or (side < 0 and touch >= req.price)
                ):
                    fill_at = touch
                else:
                    status = OrderStatus.OPEN
                    triggered = True
    required = order_margin(
        ctx.config(user_id),
        spec,
        product=req.product,
        action=req.action,
        qty=qty,
        basis=basis,
        position_qty=pos_qty,
    )
    if required > funds.available:
        return refuse(funds_shortage_message(required, funds.available), InsufficientFunds)
    funds.block(required)
    order.margin_blocked = required
    order.margin_price = basis
    if fill_at is not None:
        tx.add_order(order)
        filled = await execute_fill(tx, ctx, order, fill_at)
        if not filled:
            return OrderRejected(order.rejection_reason, orderid=order.orderid)
        return Placed(order.orderid, order.status)
    order.status = status.value
    order.triggered = triggered
    tx.add_order(order)
    if cnc_sell:
        hkey = (user_id, spec.symbol, spec.exchange)
        tx.pending_cnc_sells[hkey] = tx.pending_cnc_sells.get(hkey, ZERO) + qty
    kind = OrderEventKind.TRIGGERED if triggered else OrderEventKind.OPEN
    tx.publish(event(ctx, kind, order))
    tx.after_commit.append(lambda: ctx.index_order(order))
    return Placed(order.orderid, order.status)


@dataclass(slots=True)
class RecordRejection:
    """An order refused before it reached the ledger (bad fields, unknown symbol): recorded only."""

    user_id: int
    strategy: str
    symbol: str
    exchange: str
    action: str
    quantity: Decimal
    pricetype: str
    product: str
    price: Decimal
    trigger_price: Decimal
    reason: str
    ctx: Context
    error: type[OrderRejected] = OrderRejected

    @property
    def user_ids(self) -> Iterable[int]:
        return ()

    @property
    def position_keys(self) -> Iterable[PositionKey]:
        return ()

    async def apply(self, tx: LedgerTx) -> OpenAlgoError:
        order = new_order(
            tx,
            self.ctx,
            user_id=self.user_id,
            strategy=self.strategy,
            symbol=self.symbol[:64],
            exchange=self.exchange[:16],
            action=self.action[:4],
            quantity=self.quantity,
            pricetype=self.pricetype[:8],
            product=self.product[:8],
            price=self.price,
            trigger_price=self.trigger_price,
        )
        reject_new(tx, self.ctx, order, self.reason)
        return self.error(self.reason, orderid=order.orderid)


# --- the matcher's work -------------------------------------------------------------------------


@dataclass(slots=True)
class FillOrder(UserOp):
    """A resting order the price reached. Skipped if it changed since the matcher saw it."""

    user_id: int
    orderid: str
    version: int
    symbol: str
    exchange: str
    price: Decimal
    ctx: Context
    # The matcher's copy of the order (saves reading it back; see LedgerTx.adopt_order).
    snapshot: OrderState | None = None

    @property
    def position_keys(self) -> Iterable[PositionKey]:
        return ((self.user_id, self.symbol, self.exchange, ""),)

    @property
    def order_ids(self) -> Iterable[str]:
        return () if self.snapshot is not None else (self.orderid,)

    @property
    def optimistic(self) -> bool:
        """Can run without read locks: it reads only funds and its position, and writes both
        back (a CNC sell also reads the holding, so it takes the locking way)."""
        snap = self.snapshot
        return snap is not None and not (snap.product == Product.CNC and snap.action == Action.SELL)

    async def apply(self, tx: LedgerTx) -> bool:
        if self.snapshot is not None and tx.attempt == 1:
            order: OrderState | None = tx.adopt_order(self.snapshot)
        else:
            order = await tx.lock_order(self.orderid)
        if order is None or not order.is_open or order.version != self.version:
            return False
        return await execute_fill(tx, self.ctx, order, self.price)


@dataclass(slots=True)
class TriggerOrder:
    """An SL order whose trigger was hit but whose limit was not: it now rests as a limit order."""

    user_id: int
    orderid: str
    version: int
    ctx: Context

    @property
    def user_ids(self) -> Iterable[int]:
        return ()

    @property
    def position_keys(self) -> Iterable[PositionKey]:
        return ()

    @property
    def order_ids(self) -> Iterable[str]:
        return (self.orderid,)

    async def apply(self, tx: LedgerTx) -> bool:
        order = await tx.lock_order(self.orderid)
        if (
            order is None
            or order.status != OrderStatus.TRIGGER_PENDING
            or order.version != self.version
        ):
            return False
        order.status = OrderStatus.OPEN.value
        order.triggered = True
        tx.touch(order)
        tx.publish(event(self.ctx, OrderEventKind.TRIGGERED, order))
        ctx = self.ctx
        tx.after_commit.append(lambda: ctx.index_order(order))
        return True


# --- modify and cancel --------------------------------------------------------------------------


def _not_found(orderid: str) -> OrderNotFound:
    return OrderNotFound(f"Order {orderid} not found")


async def _own_open_order(
    tx: LedgerTx, user_id: int, orderid: str, verb: str
) -> OrderState | OpenAlgoError:
    order = await tx.lock_order(orderid, user_id=user_id)
    if order is None:
        return _not_found(orderid)
    if not order.is_open:
        return OrderStateError(f"Cannot {verb} order in {order.status} status", orderid=orderid)
    return order


def cancel_in_tx(
    tx: LedgerTx, ctx: Context, order: OrderState, funds: FundsState, reason: str = ""
) -> None:
    if order.margin_blocked:
        funds.release(order.margin_blocked)
    order.status = OrderStatus.CANCELLED.value
    if reason:
        order.rejection_reason = reason[:300]
    tx.touch(order)
    tx.publish(event(ctx, OrderEventKind.CANCELLED, order))
    tx.after_commit.append(lambda: ctx.unindex_order(order.orderid))


@dataclass(slots=True)
class CancelOrder(UserOp):
    user_id: int
    orderid: str
    ctx: Context

    async def apply(self, tx: LedgerTx) -> str | OpenAlgoError:
        found = await _own_open_order(tx, self.user_id, self.orderid, "cancel")
        if isinstance(found, OpenAlgoError):
            return found
        cancel_in_tx(tx, self.ctx, found, await tx.funds(self.user_id))
        return found.orderid


@dataclass(frozen=True, slots=True)
class CancelAllResult:
    cancelled: list[str]
    failed: list[tuple[str, str]]


@dataclass(slots=True)
class CancelAll(UserOp):
    user_id: int
    ctx: Context

    async def apply(self, tx: LedgerTx) -> CancelAllResult:
        funds = await tx.funds(self.user_id)
        cancelled = []
        for order in await tx.lock_open_orders(user_id=self.user_id):
            cancel_in_tx(tx, self.ctx, order, funds)
            cancelled.append(order.orderid)
        return CancelAllResult(cancelled, [])


@dataclass(slots=True)
class ModifyOrder(UserOp):
    user_id: int
    orderid: str
    quantity: Decimal
    price: Decimal
    trigger_price: Decimal
    spec: Spec | None  # None: the instrument could not be resolved; lot/tick checks skipped
    ctx: Context

    async def apply(self, tx: LedgerTx) -> str | OpenAlgoError:
        from openalgo.brokers.sandbox.rules import check_instrument

        found = await _own_open_order(tx, self.user_id, self.orderid, "modify")
        if isinstance(found, OpenAlgoError):
            return found
        order = found
        pt = order.pricetype
        if pt == PriceType.MARKET:
            return OrderStateError("MARKET orders cannot be modified", orderid=order.orderid)
        price = self.price if pt in (PriceType.LIMIT, PriceType.SL) else ZERO
        trigger = self.trigger_price if pt in (PriceType.SL, PriceType.SL_M) else ZERO
        if pt in (PriceType.LIMIT, PriceType.SL) and price <= 0:
            return OrderRejected(
                f"{pt} orders require a price greater than 0", orderid=order.orderid
            )
        if pt in (PriceType.SL, PriceType.SL_M) and trigger <= 0:
            return OrderRejected(
                f"{pt} orders require a trigger_price greater than 0", orderid=order.orderid
            )
        spec = self.spec or spec_of(order)
        problem = check_instrument(spec, self.quantity, price, trigger) if self.spec else ""
        if problem:
            return OrderRejected(problem, orderid=order.orderid)
        funds = await tx.funds(self.user_id)
        pos = await tx.position((self.user_id, order.symbol, order.exchange, order.product))
        pos_qty = pos.quantity if pos is not None else ZERO
        basis = price if pt == PriceType.LIMIT else trigger
        if pt == PriceType.SL and order.triggered:
            basis = order.margin_price if order.margin_price > 0 else trigger
        required = order_margin(
            self.ctx.config(self.user_id),
            spec_of(order),
            product=order.product,
            action=order.action,
            qty=self.quantity,
            basis=basis,
            position_qty=pos_qty,
        )
        delta = required - order.margin_blocked
        if delta > funds.available:
            return InsufficientFunds(
                funds_shortage_message(delta, funds.available), orderid=order.orderid
            )
        if delta > 0:
            funds.block(delta)
        elif delta < 0:
            funds.release(-delta)
        order.quantity = self.quantity
        order.price = price
        order.trigger_price = trigger
        order.margin_blocked = required
        order.margin_price = basis
        tx.touch(order)
        tx.publish(event(self.ctx, OrderEventKind.MODIFIED, order))
        ctx = self.ctx
        tx.after_commit.append(lambda: ctx.index_order(order))
        return order.orderid


# --- closing positions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CloseResult:
    closed: list[str]  # order ids of the closing orders
    failed: list[tuple[str, str]]  # (symbol, reason)


async def close_position(
    tx: LedgerTx,
    ctx: Context,
    pos: PositionState,
    price: Decimal,
    strategy: str,
) -> OrderState:
    """A reverse MARKET order for the whole position, filled at once at ``price``."""
    action = Action.SELL if pos.quantity > 0 else Action.BUY
    order = new_order(
        tx,
        ctx,
        user_id=pos.user_id,
        strategy=strategy,
        symbol=pos.symbol,
        exchange=pos.exchange,
        action=action.value,
        quantity=abs(pos.quantity),
        pricetype=PriceType.MARKET.value,
        product=pos.product,
        instrument_type=pos.instrument_type,
        expiry=pos.expiry,
    )
    order.margin_price = price
    tx.add_order(order)
    await execute_fill(tx, ctx, order, price)
    return order


@dataclass(slots=True)
class ClosePositions(UserOp):
    """Close a user's open positions at the given prices (close-all, auto square-off, expiry).

    ``select`` picks positions; ``fallback_to_last`` lets a missing price fall back to the last
    fill price (what the square-off catch-up after a restart needs).
    """

    user_id: int
    prices: dict[tuple[str, str], Decimal]
    strategy: str
    ctx: Context
    products: frozenset[str] | None = None
    exchanges: frozenset[str] | None = None
    symbols: frozenset[tuple[str, str]] | None = None
    fallback_to_last: bool = False
    cancel_orders: bool = False

    def _selected(self, product: str, exchange: str, symbol: str) -> bool:
        if self.products is not None and product not in self.products:
            return False
        if self.exchanges is not None and exchange not in self.exchanges:
            return False
        return self.symbols is None or (exchange, symbol) in self.symbols

    async def apply(self, tx: LedgerTx) -> CloseResult:
        funds = await tx.funds(self.user_id)
        if self.cancel_orders:
            for order in await tx.lock_open_orders(user_id=self.user_id):
                if self._selected(order.product, order.exchange, order.symbol):
                    cancel_in_tx(tx, self.ctx, order, funds, reason=self.strategy)
        closed: list[str] = []
        failed: list[tuple[str, str]] = []
        for pos in await tx.user_positions(self.user_id):
            if pos.quantity == 0 or not self._selected(pos.product, pos.exchange, pos.symbol):
                continue
            price = self.prices.get((pos.exchange, pos.symbol))
            if price is None and self.fallback_to_last:
                price = pos.last_price if pos.last_price > 0 else pos.average_price
            if price is None:
                failed.append((pos.symbol, f"Unable to fetch the current price of {pos.symbol}"))
                continue
            order = await close_position(tx, self.ctx, pos, price, self.strategy)
            if order.status == OrderStatus.COMPLETE:
                closed.append(order.orderid)
            else:
                failed.append((pos.symbol, order.rejection_reason))
        return CloseResult(closed, failed)


def is_expired(expiry: date | None, exchange: str, now: datetime, cfg: SandboxConfig) -> bool:
    if expiry is None:
        return False
    local = ist(now)
    if cfg.expiry_settlement_timing == "next_day":
        return local.date() > expiry
    close = EXPIRY_CLOSE.get(exchange, DEFAULT_EXPIRY_CLOSE)
    return (local.date(), local.time()) >= (expiry, close)


@dataclass(slots=True)
class SettleExpired(UserOp):
    """Expired F&O: cancel their open orders, close positions at the settlement price."""

    user_id: int
    prices: dict[tuple[str, str], Decimal]
    ctx: Context

    async def apply(self, tx: LedgerTx) -> CloseResult:
        cfg = self.ctx.config(self.user_id)
        funds = await tx.funds(self.user_id)
        expired_orders = await tx.lock_open_orders(
            user_id=self.user_id, where=ORDERS.c.expiry.is_not(None)
        )
        for order in expired_orders:
            if is_expired(order.expiry, order.exchange, tx.now, cfg):
                cancel_in_tx(tx, self.ctx, order, funds, reason="Contract expired")
        closed: list[str] = []
        failed: list[tuple[str, str]] = []
        for pos in await tx.user_positions(self.user_id):
            if pos.quantity == 0 or not is_expired(pos.expiry, pos.exchange, tx.now, cfg):
                continue
            price = self.prices.get((pos.exchange, pos.symbol))
            if pos.instrument_type in ("CE", "PE"):
                if cfg.option_expiry_settlement == "zero":
                    price = ZERO
                elif price is None:
                    price = pos.last_price
            elif price is None:
                price = pos.last_price if pos.last_price > 0 else pos.average_price
            order = await close_position(tx, self.ctx, pos, price, EXPIRY_STRATEGY)
            if order.status == OrderStatus.COMPLETE:
                closed.append(order.orderid)
            else:
                failed.append((pos.symbol, order.rejection_reason))
        return CloseResult(closed, failed)


# --- T+1 settlement and reset -------------------------------------------------------------------


async def settle_t1(tx: LedgerTx, funds: FundsState) -> None:
    """Move CNC positions from earlier days into holdings (reference D5).

    A bought position becomes (or adds to) a holding at its cost; its margin is released and the
    cost leaves available cash for good. A sold position delivers shares out of the holding: the
    proceeds are credited and the P&L against the holding's cost is booked.
    """
    funds.settled_on = tx.today
    funds.dirty = True
    user_id = funds.user_id
    for pos in await tx.user_positions(user_id):
        if pos.product != Product.CNC or tx.t1_day(pos.exchange, pos.opened_on) > tx.today:
            continue
        if pos.quantity > 0:
            holding = await tx.holding(user_id, pos.symbol, pos.exchange)
            if holding is None:
                holding = tx.new_holding(
                    HoldingState(
                        id=None,
                        user_id=user_id,
                        symbol=pos.symbol,
                        exchange=pos.exchange,
                        quantity=ZERO,
                        cost=ZERO,
                        settled_on=tx.today,
                    )
                )
            paid = paise(pos.cost)
            holding.quantity += pos.quantity
            holding.cost += paid
            holding.settled_on = tx.today
            holding.dirty = True
            funds.release(pos.margin_blocked)
            funds.available -= paid
        elif pos.quantity < 0:
            holding = await tx.holding(user_id, pos.symbol, pos.exchange)
            sold = -pos.quantity
            if holding is None or holding.quantity < sold:  # pragma: no cover - fill checks stop it
                raise RuntimeError(f"CNC sale of {pos.symbol} exceeds the holding at settlement")
            if sold == holding.quantity:
                released = holding.cost
            else:
                released = paise(holding.cost * sold / holding.quantity)
            proceeds = paise(pos.cost)
            holding.quantity -= sold
            holding.cost -= released
            holding.dirty = True
            if holding.quantity == 0:
                holding.deleted = True
            funds.available += proceeds
            funds.realized_pnl += proceeds - released
            funds.release(pos.margin_blocked)
        pos.deleted = True
        pos.dirty = True


@dataclass(slots=True)
class Touch(UserOp):
    """Load a user's funds (which runs a due T+1 settlement) and change nothing else."""

    user_id: int

    async def apply(self, tx: LedgerTx) -> None:
        await tx.funds(self.user_id)


@dataclass(slots=True)
class Reset(UserOp):
    """Back to the starting capital: open orders and GTTs cancelled, positions and holdings gone."""

    user_id: int
    ctx: Context
    reason: str = "Sandbox reset"

    async def apply(self, tx: LedgerTx) -> FundsState:
        from openalgo.brokers.sandbox.gtt import GTT_ACTIVE, cancel_gtt_in_tx
        from openalgo.brokers.sandbox.store import GTTS

        funds = await tx.funds(self.user_id)
        for order in await tx.lock_open_orders(user_id=self.user_id):
            cancel_in_tx(tx, self.ctx, order, funds, reason=self.reason)
        for gtt in await tx.lock_gtts(
            (GTTS.c.user_id == self.user_id) & (GTTS.c.status == GTT_ACTIVE)
        ):
            cancel_gtt_in_tx(tx, self.ctx, gtt, funds)
        await tx.wipe_positions_and_holdings(self.user_id)
        capital = self.ctx.config(self.user_id).starting_capital
        funds.capital = capital
        funds.available = capital
        funds.used_margin = ZERO
        funds.realized_pnl = ZERO
        funds.reset_count += 1
        funds.last_reset_at = tx.now
        funds.settled_on = tx.today
        funds.dirty = True
        return funds


__all__ = [
    "CancelAll",
    "CancelAllResult",
    "CancelOrder",
    "ClosePositions",
    "CloseResult",
    "Context",
    "FillOrder",
    "MarketPrice",
    "ModifyOrder",
    "OrderStateError",
    "PlaceOrder",
    "Placed",
    "RecordRejection",
    "Reset",
    "SettleExpired",
    "Touch",
    "TriggerOrder",
    "execute_fill",
    "is_expired",
    "settle_t1",
]
