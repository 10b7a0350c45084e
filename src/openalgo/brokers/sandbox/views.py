"""The ledger as OpenAlgo's analyze-mode responses show it (rest-api 5.x and 6.x).

Loaders read committed rows (never through the writer), one statement each, on the driver
connection (`driver_reads`); builders shape them into the
exact bodies OpenAlgo's sandbox returns, ``"mode": "analyze"`` included, so the REST layer only
serialises. Numbers are JSON numbers: money rounded to the paisa, quantities as integers when whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.sql.elements import BindParameter

from openalgo.brokers.sandbox.driver_reads import PreparedRead, Reads
from openalgo.brokers.sandbox.gtt import GTT_ACTIVE
from openalgo.brokers.sandbox.ops import CancelAllResult, CloseResult
from openalgo.brokers.sandbox.sessions import session_day
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


# Statements are built once with bind parameters: building a SQLAlchemy select per call costs
# more than executing it (its cache key must be computed from the structure every time).

_LEDGER: BindParameter[str] = bindparam("ledger")
_USER: BindParameter[int] = bindparam("user_id")
_SINCE: BindParameter[datetime] = bindparam("since")


def _orders_statement(*, since: bool) -> Select[Any]:
    stmt = select(ORDERS).where(ORDERS.c.ledger == _LEDGER, ORDERS.c.user_id == _USER)
    if since:
        stmt = stmt.where(ORDERS.c.created_at >= _SINCE)
    return stmt.order_by(ORDERS.c.id)


def _trades_statement(*, since: bool) -> Select[Any]:
    stmt = select(TRADES).where(TRADES.c.ledger == _LEDGER, TRADES.c.user_id == _USER)
    if since:
        stmt = stmt.where(TRADES.c.created_at >= _SINCE)
    return stmt.order_by(TRADES.c.id)


_ORDERS = {flag: PreparedRead(_orders_statement(since=flag)) for flag in (True, False)}
_TRADES = {flag: PreparedRead(_trades_statement(since=flag)) for flag in (True, False)}
_ORDER = PreparedRead(
    select(ORDERS).where(
        ORDERS.c.ledger == _LEDGER,
        ORDERS.c.user_id == _USER,
        ORDERS.c.orderid == bindparam("orderid"),
    )
)
_POSITIONS = PreparedRead(
    select(POSITIONS)
    .where(POSITIONS.c.ledger == _LEDGER, POSITIONS.c.user_id == _USER)
    .order_by(POSITIONS.c.id)
)
_OPEN_QUANTITY = PreparedRead(
    select(POSITIONS.c.quantity).where(
        POSITIONS.c.ledger == _LEDGER,
        POSITIONS.c.user_id == _USER,
        POSITIONS.c.symbol == bindparam("symbol"),
        POSITIONS.c.exchange == bindparam("exchange"),
        POSITIONS.c.product == bindparam("product"),
    )
)
_HOLDINGS = PreparedRead(
    select(HOLDINGS)
    .where(HOLDINGS.c.ledger == _LEDGER, HOLDINGS.c.user_id == _USER)
    .order_by(HOLDINGS.c.id)
)
_FUNDS = PreparedRead(select(FUNDS).where(FUNDS.c.ledger == _LEDGER, FUNDS.c.user_id == _USER))


async def load_orders(
    reads: Reads, ledger: str, user_id: int, since: datetime | None
) -> list[OrderState]:
    params: dict[str, Any] = {"ledger": ledger, "user_id": user_id}
    if since is not None:
        params["since"] = since
    rows = await reads.all(_ORDERS[since is not None], params)
    return [order_from(r) for r in rows]


async def load_order(reads: Reads, ledger: str, user_id: int, orderid: str) -> OrderState | None:
    params = {"ledger": ledger, "user_id": user_id, "orderid": orderid}
    row = await reads.first(_ORDER, params)
    return None if row is None else order_from(row)


async def load_trades(
    reads: Reads, ledger: str, user_id: int, since: datetime | None
) -> list[TradeState]:
    params: dict[str, Any] = {"ledger": ledger, "user_id": user_id}
    if since is not None:
        params["since"] = since
    rows = await reads.all(_TRADES[since is not None], params)
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
    reads: Reads, ledger: str, user_id: int
) -> list[tuple[PositionState, datetime]]:
    rows = await reads.all(_POSITIONS, {"ledger": ledger, "user_id": user_id})
    return [(position_from(r), r.updated_at) for r in rows]


async def load_open_quantity(
    reads: Reads, ledger: str, user_id: int, key: tuple[str, str, str]
) -> Decimal:
    """Net quantity of the (symbol, exchange, product) position; 0 when there is none."""
    symbol, exchange, product = key
    params = {
        "ledger": ledger,
        "user_id": user_id,
        "symbol": symbol,
        "exchange": exchange,
        "product": product,
    }
    row = await reads.first(_OPEN_QUANTITY, params)
    return ZERO if row is None else Decimal(row.quantity)


async def load_holdings(reads: Reads, ledger: str, user_id: int) -> list[HoldingState]:
    rows = await reads.all(_HOLDINGS, {"ledger": ledger, "user_id": user_id})
    return [holding_from(r) for r in rows]


async def load_funds(reads: Reads, ledger: str, user_id: int) -> FundsState | None:
    row = await reads.first(_FUNDS, {"ledger": ledger, "user_id": user_id})
    return None if row is None else funds_from(row)


def _gtts_statement(*, active_only: bool) -> Select[Any]:
    stmt = select(GTTS).where(GTTS.c.ledger == _LEDGER, GTTS.c.user_id == _USER)
    if active_only:
        stmt = stmt.where(GTTS.c.status == GTT_ACTIVE)
    return stmt.order_by(GTTS.c.id)


_GTTS = {flag: PreparedRead(_gtts_statement(active_only=flag)) for flag in (True, False)}


async def load_gtts(
    reads: Reads, ledger: str, user_id: int, *, active_only: bool
) -> list[GttState]:
    rows = await reads.all(_GTTS[active_only], {"ledger": ledger, "user_id": user_id})
    return [gtt_from(r) for r in rows]


# --- the account in one statement ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookPosition:
    """A position row with what the books add to it: when it last changed and today's P&L."""

    position: PositionState
    updated_at: datetime
    today_realized: Decimal


@dataclass(frozen=True, slots=True)
class Account:
    """Funds and positions read in one statement, so they come from one snapshot."""

    funds: FundsState | None
    positions: list[BookPosition]


# Only what FundsState and PositionState hold (each column costs a result processor per row).
_FUNDS_FIELDS = (
    "id",
    "user_id",
    "capital",
    "available",
    "used_margin",
    "realized_pnl",
    "reset_count",
    "last_reset_at",
    "settled_on",
    "version",
)
_POSITION_FIELDS = (
    "id",
    "symbol",
    "exchange",
    "product",
    "quantity",
    "cost",
    "margin_blocked",
    "realized_pnl",
    "last_price",
    "instrument_type",
    "expiry",
    "opened_on",
    "today_realized_pnl",
    "realized_on",
    "version",
    "updated_at",
)


def _account_statement() -> Select[Any]:
    """Funds LEFT JOIN positions: one row per position, or a single row without a position.

    Today's realised P&L is a column of the position row (kept by the writer with each fill,
    `PositionState.book`), so the read does not grow with the number of trades of the day: an algo
    can trade thousands of times a day, and summing them here made ``/funds`` several times slower
    by the end of a busy day (bench/sandbox_reads.py, busy-account rows).
    """
    p = POSITIONS.c
    joined = FUNDS.outerjoin(
        POSITIONS, and_(p.ledger == FUNDS.c.ledger, p.user_id == FUNDS.c.user_id)
    )
    return (
        select(
            *(FUNDS.c[name].label(f"f_{name}") for name in _FUNDS_FIELDS),
            *(p[name].label(f"p_{name}") for name in _POSITION_FIELDS),
        )
        .select_from(joined)
        .where(FUNDS.c.ledger == _LEDGER, FUNDS.c.user_id == _USER)
        .order_by(p.id)
    )


_ACCOUNT = PreparedRead(_account_statement())


async def load_account(reads: Reads, ledger: str, user_id: int, since: datetime) -> Account:
    """The user's funds and positions, each position with the realised P&L of the session that
    starts at ``since`` (`SandboxEngine.session_start`)."""
    day = session_day(since)
    rows = await reads.all(_ACCOUNT, {"ledger": ledger, "user_id": user_id})
    if not rows:
        return Account(funds=None, positions=[])
    first = rows[0]
    funds = FundsState(
        id=first.f_id,
        user_id=first.f_user_id,
        capital=first.f_capital,
        available=first.f_available,
        used_margin=first.f_used_margin,
        realized_pnl=first.f_realized_pnl,
        reset_count=first.f_reset_count,
        last_reset_at=first.f_last_reset_at,
        settled_on=first.f_settled_on,
        version=first.f_version,
    )
    positions = []
    for r in rows:
        if r.p_id is None:
            continue
        position = PositionState(
            id=r.p_id,
            user_id=funds.user_id,
            symbol=r.p_symbol,
            exchange=r.p_exchange,
            product=r.p_product,
            quantity=r.p_quantity,
            cost=r.p_cost,
            margin_blocked=r.p_margin_blocked,
            realized_pnl=r.p_realized_pnl,
            last_price=r.p_last_price,
            instrument_type=r.p_instrument_type,
            expiry=r.p_expiry,
            opened_on=r.p_opened_on,
            today_realized_pnl=r.p_today_realized_pnl,
            realized_on=r.p_realized_on,
            version=r.p_version,
        )
        positions.append(
            BookPosition(
                position=position,
                updated_at=r.p_updated_at,
                today_realized=position.realized_today(day),
            )
        )
    return Account(funds=funds, positions=positions)


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
    positions: Iterable[BookPosition],
    *,
    prices: Mapping[SymbolKey, Decimal],
    lot_sizes: Mapping[SymbolKey, int],
    session_start: datetime,
) -> list[PositionLine]:
    """Open positions, plus positions closed this session (they carry today's realised P&L)."""
    lines = []
    for book in positions:
        pos = book.position
        if pos.quantity == 0 and book.updated_at < session_start:
            continue
        key = (pos.exchange, pos.symbol)
        ltp = prices.get(key, pos.last_price)
        lines.append(
            PositionLine(
                position=pos,
                ltp=ltp,
                unrealized=unrealized(pos, ltp),
                today_realized=book.today_realized,
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
