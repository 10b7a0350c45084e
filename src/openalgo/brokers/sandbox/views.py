"""The ledger as OpenAlgo's analyze-mode responses show it (rest-api 5.x and 6.x).

Loaders read committed rows (read transactions, never the writer); builders shape them into the
exact bodies OpenAlgo's sandbox returns, ``"mode": "analyze"`` included, so the REST layer only
serialises. Numbers are JSON numbers: money rounded to the paisa, quantities as integers when whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.brokers.sandbox.gtt import GTT_ACTIVE
from openalgo.brokers.sandbox.ops import CancelAllResult, CloseResult
from openalgo.brokers.sandbox.state import (
    FundsState,
    GttState,
    HoldingState,
    OrderState,
    PositionState,
)
from openalgo.brokers.sandbox.store import (
    FUNDS,
    GTTS,
    HOLDINGS,
    ORDERS,
    POSITIONS,
    TRADES,
    funds_from,
    gtt_from,
    holding_from,
    order_from,
    position_from,
)
from openalgo.domain.clock import ist
from openalgo.domain.enums import Action, OrderStatus, Product
from openalgo.domain.money import ZERO, as_number, money_number, paise
from openalgo.domain.orders import Funds, HoldingRow, PositionRow, TradeRow

SymbolKey = tuple[str, str]


def stamp(when: datetime) -> str:
    return f"{ist(when):%Y-%m-%d %H:%M:%S}"


def _price(value: Decimal) -> float:
    return float(value)


# --- loaders ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TradeState:
    tradeid: str
    orderid: str
    strategy: str
    symbol: str
    exchange: str
    product: str
    action: str
    quantity: Decimal
    price: Decimal
    realized_pnl: Decimal
    epoch: int
    created_at: datetime

    def to_row(self) -> TradeRow:
        return TradeRow(
            tradeid=self.tradeid,
            orderid=self.orderid,
            symbol=self.symbol,
            exchange=self.exchange,
            product=Product(self.product),
            action=Action(self.action),
            quantity=int(self.quantity),
            price=self.price,
            timestamp=self.created_at,
            strategy=self.strategy,
        )


async def load_orders(
    session: AsyncSession, ledger: str, user_id: int, since: datetime | None
) -> list[OrderState]:
    stmt = select(ORDERS).where(ORDERS.c.ledger == ledger, ORDERS.c.user_id == user_id)
    if since is not None:
        stmt = stmt.where(ORDERS.c.created_at >= since)
    return [order_from(r) for r in (await session.execute(stmt.order_by(ORDERS.c.id))).all()]


async def load_order(
    session: AsyncSession, ledger: str, user_id: int, orderid: str
) -> OrderState | None:
    stmt = select(ORDERS).where(
        ORDERS.c.ledger == ledger, ORDERS.c.user_id == user_id, ORDERS.c.orderid == orderid
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else order_from(row)


async def load_trades(
    session: AsyncSession, ledger: str, user_id: int, since: datetime | None
) -> list[TradeState]:
    stmt = select(TRADES).where(TRADES.c.ledger == ledger, TRADES.c.user_id == user_id)
    if since is not None:
        stmt = stmt.where(TRADES.c.created_at >= since)
    rows = (await session.execute(stmt.order_by(TRADES.c.id))).all()
    return [
        TradeState(
            tradeid=r.tradeid,
            orderid=r.orderid,
            strategy=r.strategy,
            symbol=r.symbol,
            exchange=r.exchange,
            product=r.product,
            action=r.action,
            quantity=r.quantity,
            price=r.price,
            realized_pnl=r.realized_pnl,
            epoch=r.epoch,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def load_positions(
    session: AsyncSession, ledger: str, user_id: int
) -> list[tuple[PositionState, datetime]]:
    stmt = (
        select(POSITIONS)
        .where(POSITIONS.c.ledger == ledger, POSITIONS.c.user_id == user_id)
        .order_by(POSITIONS.c.id)
    )
    return [(position_from(r), r.updated_at) for r in (await session.execute(stmt)).all()]


async def load_holdings(session: AsyncSession, ledger: str, user_id: int) -> list[HoldingState]:
    stmt = (
        select(HOLDINGS)
        .where(HOLDINGS.c.ledger == ledger, HOLDINGS.c.user_id == user_id)
        .order_by(HOLDINGS.c.id)
    )
    return [holding_from(r) for r in (await session.execute(stmt)).all()]


async def load_funds(session: AsyncSession, ledger: str, user_id: int) -> FundsState | None:
    stmt = select(FUNDS).where(FUNDS.c.ledger == ledger, FUNDS.c.user_id == user_id)
    row = (await session.execute(stmt)).first()
    return None if row is None else funds_from(row)


async def load_gtts(
    session: AsyncSession, ledger: str, user_id: int, *, active_only: bool
) -> list[GttState]:
    stmt = select(GTTS).where(GTTS.c.ledger == ledger, GTTS.c.user_id == user_id)
    if active_only:
        stmt = stmt.where(GTTS.c.status == GTT_ACTIVE)
    return [gtt_from(r) for r in (await session.execute(stmt.order_by(GTTS.c.id))).all()]


# --- orders -------------------------------------------------------------------------------------


def order_item(order: OrderState) -> dict[str, Any]:
    pending = ZERO if not order.is_open else order.quantity - order.filled_quantity
    return {
        "orderid": order.orderid,
        "symbol": order.symbol,
        "exchange": order.exchange,
        "action": order.action,
        "quantity": as_number(order.quantity),
        "price": _price(order.price),
        "trigger_price": _price(order.trigger_price),
        "pricetype": order.pricetype,
        "product": order.product,
        "order_status": order.status,
        "average_price": _price(order.average_price),
        "filled_quantity": as_number(order.filled_quantity),
        "pending_quantity": as_number(pending),
        "rejection_reason": order.rejection_reason,
        "timestamp": stamp(order.created_at),
        "strategy": order.strategy,
    }


def orderbook_body(orders: Sequence[OrderState], mode: str = "analyze") -> dict[str, Any]:
    statuses = [o.status for o in orders]
    statistics = {
        "total_buy_orders": sum(1 for o in orders if o.action == Action.BUY),
        "total_sell_orders": sum(1 for o in orders if o.action == Action.SELL),
        "total_completed_orders": statuses.count(OrderStatus.COMPLETE.value),
        "total_open_orders": statuses.count(OrderStatus.OPEN.value),
        "total_rejected_orders": statuses.count(OrderStatus.REJECTED.value),
        "total_trigger_pending_orders": statuses.count(OrderStatus.TRIGGER_PENDING.value),
    }
    return {
        "status": "success",
        "data": {"orders": [order_item(o) for o in orders], "statistics": statistics},
        "mode": mode,
    }


def orderstatus_body(order: OrderState, mode: str = "analyze") -> dict[str, Any]:
    item = order_item(order)
    # OpenAlgo's sandbox spells it price_type here; keep pricetype too for live-shaped clients.
    item["price_type"] = order.pricetype
    return {"status": "success", "data": item, "mode": mode}


def tradebook_body(trades: Sequence[TradeState], mode: str = "analyze") -> dict[str, Any]:
    return {
        "status": "success",
        "data": [
            {
                "symbol": t.symbol,
                "exchange": t.exchange,
                "product": t.product,
                "action": t.action,
                "quantity": as_number(t.quantity),
                "average_price": _price(t.price),
                "price": _price(t.price),
                "trade_value": money_number(t.price * t.quantity),
                "orderid": t.orderid,
                "tradeid": t.tradeid,
                "strategy": t.strategy,
                "timestamp": stamp(t.created_at),
            }
            for t in trades
        ],
        "mode": mode,
    }


def cancel_all_body(result: CancelAllResult, mode: str = "analyze") -> dict[str, Any]:
    if not result.cancelled and not result.failed:
        message = "No open orders to cancel"
    else:
        message = (
            f"Canceled {len(result.cancelled)} orders. "
            f"Failed to cancel {len(result.failed)} orders."
        )
    return {
        "status": "success",
        "message": message,
        "canceled_orders": list(result.cancelled),
        "failed_cancellations": [{"orderid": o, "message": m} for o, m in result.failed],
        "mode": mode,
    }


def close_all_body(result: CloseResult, mode: str = "analyze") -> dict[str, Any]:
    if not result.closed and not result.failed:
        message = "No open positions to close"
    else:
        message = f"Closed {len(result.closed)} positions"
    return {
        "status": "success",
        "message": message,
        "closed_positions": len(result.closed),
        "failed_closures": len(result.failed),
        "mode": mode,
    }


# --- positions, holdings, funds -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionLine:
    position: PositionState
    ltp: Decimal
    unrealized: Decimal
    today_realized: Decimal
    lot_size: int

    @property
    def total_today(self) -> Decimal:
        return self.unrealized + self.today_realized

    def to_row(self) -> PositionRow:
        pos = self.position
        return PositionRow(
            symbol=pos.symbol,
            exchange=pos.exchange,
            product=Product(pos.product),
            quantity=int(pos.quantity),
            average_price=paise(pos.average_price),
            ltp=self.ltp,
            realized_pnl=self.today_realized,
            unrealized_pnl=self.unrealized,
        )


def unrealized(pos: PositionState, ltp: Decimal) -> Decimal:
    if pos.quantity == 0 or ltp <= 0:
        return ZERO
    if pos.quantity > 0:
        return paise(ltp * pos.quantity - pos.cost)
    return paise(pos.cost - ltp * -pos.quantity)


def position_lines(
    positions: Iterable[tuple[PositionState, datetime]],
    *,
    trades: Iterable[TradeState],
    prices: Mapping[SymbolKey, Decimal],
    lot_sizes: Mapping[SymbolKey, int],
    session_start: datetime,
) -> list[PositionLine]:
    """Open positions, plus positions closed this session (they carry today's realised P&L)."""
    today: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    for t in trades:
        if t.created_at >= session_start:
            today[(t.symbol, t.exchange, t.product)] += t.realized_pnl
    lines = []
    for pos, updated_at in positions:
        if pos.quantity == 0 and updated_at < session_start:
            continue
        key = (pos.exchange, pos.symbol)
        ltp = prices.get(key, pos.last_price)
        lines.append(
            PositionLine(
                position=pos,
                ltp=ltp,
                unrealized=unrealized(pos, ltp),
                today_realized=today[(pos.symbol, pos.exchange, pos.product)],
                lot_size=lot_sizes.get(key, 1),
            )
        )
    return lines


def positionbook_body(lines: Sequence[PositionLine], mode: str = "analyze") -> dict[str, Any]:
    data = []
    for line in lines:
        pos = line.position
        avg = pos.average_price
        pct = ZERO
        if pos.quantity and pos.cost:
            pct = line.unrealized / pos.cost * 100
        data.append(
            {
                "symbol": pos.symbol,
                "exchange": pos.exchange,
                "product": pos.product,
                "quantity": as_number(pos.quantity),
                "average_price": money_number(avg) if pos.quantity else 0.0,
                "ltp": _price(line.ltp),
                "pnl": money_number(line.total_today),
                "pnlpercent": money_number(pct),
                "unrealized_pnl": money_number(line.unrealized),
                "today_realized_pnl": money_number(line.today_realized),
                "total_pnl_today": money_number(line.total_today),
                "lot_size": line.lot_size,
            }
        )
    total_unrealized = sum((line.unrealized for line in lines), ZERO)
    total_realized = sum((line.today_realized for line in lines), ZERO)
    return {
        "status": "success",
        "data": data,
        "total_pnl": money_number(total_unrealized + total_realized),
        "total_unrealized_pnl": money_number(total_unrealized),
        "total_today_realized_pnl": money_number(total_realized),
        "total_pnl_today": money_number(total_unrealized + total_realized),
        "mode": mode,
    }


@dataclass(frozen=True, slots=True)
class HoldingLine:
    holding: HoldingState
    ltp: Decimal

    @property
    def average_price(self) -> Decimal:
        h = self.holding
        return h.cost / h.quantity if h.quantity else ZERO

    @property
    def current_value(self) -> Decimal:
        return paise(self.ltp * self.holding.quantity)

    @property
    def pnl(self) -> Decimal:
        return self.current_value - self.holding.cost

    def to_row(self) -> HoldingRow:
        h = self.holding
        return HoldingRow(
            symbol=h.symbol,
            exchange=h.exchange,
            quantity=int(h.quantity),
            average_price=paise(self.average_price),
            ltp=self.ltp,
        )


def holdings_body(lines: Sequence[HoldingLine], mode: str = "analyze") -> dict[str, Any]:
    items = []
    for line in lines:
        h = line.holding
        pct = line.pnl / h.cost * 100 if h.cost else ZERO
        items.append(
            {
                "symbol": h.symbol,
                "exchange": h.exchange,
                "product": Product.CNC.value,
                "quantity": as_number(h.quantity),
                "average_price": money_number(line.average_price),
                "ltp": _price(line.ltp),
                "pnl": money_number(line.pnl),
                "pnlpercent": money_number(pct),
                "current_value": money_number(line.current_value),
                "settlement_date": h.settled_on.isoformat(),
            }
        )
    value = sum((line.current_value for line in lines), ZERO)
    invested = sum((line.holding.cost for line in lines), ZERO)
    pnl = value - invested
    return {
        "status": "success",
        "data": {
            "holdings": items,
            "statistics": {
                "totalholdingvalue": money_number(value),
                "totalinvvalue": money_number(invested),
                "totalprofitandloss": money_number(pnl),
                "totalpnlpercentage": money_number(pnl / invested * 100 if invested else ZERO),
            },
        },
        "mode": mode,
    }


@dataclass(frozen=True, slots=True)
class FundsView:
    funds: FundsState
    unrealized: Decimal
    today_realized: Decimal
    gross_exposure: Decimal

    def to_funds(self) -> Funds:
        f = self.funds
        return Funds(
            availablecash=f.available,
            collateral=ZERO,
            m2munrealized=self.unrealized,
            m2mrealized=self.today_realized,
            utiliseddebits=f.used_margin,
            extra={
                "total_realized_pnl": f.realized_pnl,
                "today_realized_pnl": self.today_realized,
                "grossexposure": self.gross_exposure,
                "totalpnl": f.realized_pnl + self.unrealized,
                "last_reset": f.last_reset_at,
                "reset_count": f.reset_count,
            },
        )


def funds_body(view: FundsView, mode: str = "analyze") -> dict[str, Any]:
    f = view.funds
    return {
        "status": "success",
        "data": {
            "availablecash": money_number(f.available),
            "collateral": 0.0,
            "m2munrealized": money_number(view.unrealized),
            "m2mrealized": money_number(view.today_realized),
            "utiliseddebits": money_number(f.used_margin),
            "total_realized_pnl": money_number(f.realized_pnl),
            "today_realized_pnl": money_number(view.today_realized),
            "grossexposure": money_number(view.gross_exposure),
            "totalpnl": money_number(f.realized_pnl + view.unrealized),
            "last_reset": stamp(f.last_reset_at) if f.last_reset_at else None,
            "reset_count": f.reset_count,
        },
        "mode": mode,
    }


def gtt_item(gtt: GttState) -> dict[str, Any]:
    return {
        "trigger_id": gtt.gtt_id,
        "trigger_type": "OCO" if gtt.trigger_type == "two-leg" else "SINGLE",
        "status": gtt.status,
        "symbol": gtt.symbol,
        "exchange": gtt.exchange,
        "action": gtt.action,
        "product": gtt.product,
        "quantity": as_number(gtt.quantity),
        "pricetype": gtt.pricetype,
        "triggerprice_sl": _price(gtt.trigger_sl) if gtt.trigger_sl is not None else None,
        "stoploss": _price(gtt.price_sl) if gtt.price_sl is not None else None,
        "triggerprice_tg": _price(gtt.trigger_tg) if gtt.trigger_tg is not None else None,
        "target": _price(gtt.price_tg) if gtt.price_tg is not None else None,
        "last_price": _price(gtt.last_price),
        "margin_blocked": money_number(gtt.margin_blocked),
        "orderid": gtt.orderid,
        "rejection_reason": gtt.rejection_reason,
        "strategy": gtt.strategy,
        "created_at": stamp(gtt.created_at),
        "expires_at": stamp(gtt.expires_at),
    }


def gtt_book_body(gtts: Sequence[GttState], mode: str = "analyze") -> dict[str, Any]:
    return {"status": "success", "data": [gtt_item(g) for g in gtts], "mode": mode}


def session_day(when: datetime) -> date:
    return ist(when).date()
