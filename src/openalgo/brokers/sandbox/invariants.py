"""The ledger's invariants, recomputed from the trades. Used by tests; cheap enough for an admin check.

`check_ledger` replays one user's trades since the last reset (netting per symbol, exchange and
product, moving CNC positions into holdings at each settled day boundary) and compares the result
with what the engine stored:

1. every complete order has exactly one trade, at its quantity and average price, and no other
   order has a trade (exactly-once fills);
2. each trade's booked P&L, each position's quantity and cost, and each holding match the replay;
   each position's P&L of the day (``today_realized_pnl`` for ``realized_on``) is the sum its
   row's trades booked on that session day, and no later day booked any P&L the row lacks;
3. realised P&L in funds equals the replay's;
4. used margin equals the margin held by open orders, open positions and active GTTs;
5. cash is conserved, to the paisa: available + used margin + holdings at cost
   = capital + realised P&L.

The replay is written separately from the engine's netting on purpose: it is the second opinion.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.brokers.sandbox.config import EngineTiming
from openalgo.brokers.sandbox.rules import t1_settlement_day
from openalgo.brokers.sandbox.sessions import session_day, session_start
from openalgo.brokers.sandbox.state import OPEN_STATUSES
from openalgo.brokers.sandbox.store import FUNDS, GTTS, HOLDINGS, ORDERS, POSITIONS, TRADES
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import ist
from openalgo.domain.money import ZERO, cost, paise


@dataclass
class _Lot:
    """One position row's life in the replay: it ends when T+1 settlement deletes the row."""

    qty: Decimal = ZERO
    cost: Decimal = ZERO
    day: date | None = None
    # Realised P&L booked per session day (`sessions.py`), for the row's bucket of the day.
    booked: dict[date, Decimal] = field(default_factory=dict)


@dataclass
class _Holding:
    qty: Decimal = ZERO
    cost: Decimal = ZERO


async def check_ledger(
    session: AsyncSession,
    ledger: str,
    user_id: int,
    *,
    calendar: MarketCalendar | None = None,
    session_start_at: time | None = None,
) -> list[str]:
    """Every way the stored ledger of ``user_id`` disagrees with its trades (empty if none).

    ``calendar``: the engine's, for the days CNC trades settle (T+1 on trading days); without
    one, every day is a trading day. ``session_start_at``: the engine's
    ``EngineTiming.session_start`` (its default without one), which days the P&L of the day
    is filed under."""
    at = EngineTiming().session_start if session_start_at is None else session_start_at
    problems: list[str] = []
    funds = (
        await session.execute(
            select(FUNDS).where(FUNDS.c.ledger == ledger, FUNDS.c.user_id == user_id)
        )
    ).first()
    orders = (
        await session.execute(
            select(ORDERS).where(ORDERS.c.ledger == ledger, ORDERS.c.user_id == user_id)
        )
    ).all()
    trades = (
        await session.execute(
            select(TRADES)
            .where(TRADES.c.ledger == ledger, TRADES.c.user_id == user_id)
            .order_by(TRADES.c.id)
        )
    ).all()
    positions = (
        await session.execute(
            select(POSITIONS).where(POSITIONS.c.ledger == ledger, POSITIONS.c.user_id == user_id)
        )
    ).all()
    holdings = (
        await session.execute(
            select(HOLDINGS).where(HOLDINGS.c.ledger == ledger, HOLDINGS.c.user_id == user_id)
        )
    ).all()
    gtts = (
        await session.execute(
            select(GTTS).where(GTTS.c.ledger == ledger, GTTS.c.user_id == user_id)
        )
    ).all()

    # 1. exactly-once fills
    by_order: dict[str, list[object]] = defaultdict(list)
    for t in trades:
        by_order[t.orderid].append(t)
    order_map = {o.orderid: o for o in orders}
    for orderid, found in by_order.items():
        order = order_map.get(orderid)
        if order is None:
            problems.append(f"trade for unknown order {orderid}")
            continue
        if len(found) != 1:
            problems.append(f"order {orderid} has {len(found)} trades")
        if order.status != "complete":
            problems.append(f"order {orderid} has a trade but status {order.status}")
    for order in orders:
        if order.status == "complete":
            found = by_order.get(order.orderid, [])
            if len(found) != 1:
                problems.append(f"complete order {order.orderid} has {len(found)} trades")
                continue
            trade = found[0]
            if trade.quantity != order.quantity or order.filled_quantity != order.quantity:  # type: ignore[attr-defined]
                problems.append(f"order {order.orderid} filled quantity disagrees with its trade")
            if trade.price != order.average_price:  # type: ignore[attr-defined]
                problems.append(f"order {order.orderid} average price disagrees with its trade")
        if order.margin_blocked < 0:
            problems.append(f"order {order.orderid} has negative margin")

    if funds is None:
        if trades:
            problems.append("trades exist but the user has no funds row")
        return problems

    # 2-3. replay the current epoch
    lots: dict[tuple[str, str, str], _Lot] = defaultdict(_Lot)
    held: dict[tuple[str, str], _Holding] = defaultdict(_Holding)
    realized = ZERO

    def settle_before(day: date) -> None:
        nonlocal realized
        for key, lot in list(lots.items()):
            symbol, exchange, product = key
            if product != "CNC" or lot.day is None:
                continue
            if t1_settlement_day(calendar, exchange, lot.day) > day:
                continue
            h = held[(symbol, exchange)]
            if lot.qty > 0:
                h.qty += lot.qty
                h.cost += paise(lot.cost)
            elif lot.qty < 0:
                sold = -lot.qty
                if h.qty < sold:
                    problems.append(f"CNC sale of {symbol} exceeds the holding in replay")
                    sold = h.qty
                released = h.cost if sold == h.qty else paise(h.cost * sold / h.qty)
                realized += paise(lot.cost) - released
                h.qty -= sold
                h.cost -= released
                if h.qty == 0:
                    del held[(symbol, exchange)]
            del lots[key]

    for t in trades:
        if t.epoch != funds.reset_count:
            continue
        day = ist(t.created_at).date()
        settle_before(day)
        lot = lots[(t.symbol, t.exchange, t.product)]
        side = 1 if t.action == "BUY" else -1
        qty, px = t.quantity, t.price
        booked = ZERO
        if lot.qty != 0 and (lot.qty > 0) != (side > 0):
            size = abs(lot.qty)
            closing = min(qty, size)
            part = lot.cost if closing == size else cost(lot.cost * closing / size)
            booked = paise(px * closing - part) if lot.qty > 0 else paise(part - px * closing)
            lot.cost -= part
            lot.qty += side * closing
            qty -= closing
        if qty:
            if lot.qty == 0:
                lot.day = day
            lot.qty += side * qty
            lot.cost += cost(px * qty)
        realized += booked
        traded_on = session_day(session_start(t.created_at, at))
        lot.booked[traded_on] = lot.booked.get(traded_on, ZERO) + booked
        if booked != t.realized_pnl:
            problems.append(f"trade {t.tradeid} booked {t.realized_pnl}, replay says {booked}")
    settle_before(funds.settled_on)

    stored = {(p.symbol, p.exchange, p.product): p for p in positions}
    for key in set(stored) | {k for k, lot in lots.items() if lot.qty or lot.cost}:
        lot = lots.get(key, _Lot())
        row = stored.get(key)
        qty = row.quantity if row is not None else ZERO
        basis = row.cost if row is not None else ZERO
        if (qty, basis) != (lot.qty, lot.cost):
            problems.append(
                f"position {key}: stored {qty} @ cost {basis}, replay {lot.qty} @ cost {lot.cost}"
            )
        if row is not None:
            problems.extend(_day_bucket_problems(key, row, lot))
        if row is not None and row.quantity == 0 and row.margin_blocked != 0:
            problems.append(f"closed position {key} still holds margin {row.margin_blocked}")
        if row is not None and row.margin_blocked < 0:
            problems.append(f"position {key} has negative margin")
    stored_h = {(h.symbol, h.exchange): h for h in holdings}
    for hkey in set(stored_h) | set(held):
        expect = held.get(hkey, _Holding())
        hrow = stored_h.get(hkey)
        got = (hrow.quantity, hrow.cost) if hrow is not None else (ZERO, ZERO)
        if got != (expect.qty, expect.cost):
            problems.append(f"holding {hkey}: stored {got}, replay {(expect.qty, expect.cost)}")
    if realized != funds.realized_pnl:
        problems.append(f"realised P&L is {funds.realized_pnl}, trades say {realized}")

    # 4. margin
    held_by_orders = sum((o.margin_blocked for o in orders if o.status in OPEN_STATUSES), ZERO)
    held_by_positions = sum((p.margin_blocked for p in positions), ZERO)
    held_by_gtts = sum((g.margin_blocked for g in gtts if g.status == "active"), ZERO)
    expected_used = held_by_orders + held_by_positions + held_by_gtts
    if funds.used_margin != expected_used:
        problems.append(
            f"used margin is {funds.used_margin}, orders {held_by_orders} + positions "
            f"{held_by_positions} + GTTs {held_by_gtts} = {expected_used}"
        )
    if funds.used_margin < 0:
        problems.append(f"used margin is negative: {funds.used_margin}")

    # 5. cash
    at_cost = sum((h.cost for h in holdings), ZERO)
    left = funds.available + funds.used_margin + at_cost
    right = funds.capital + funds.realized_pnl
    if left != right:
        problems.append(
            f"cash not conserved: available {funds.available} + used {funds.used_margin} + "
            f"holdings {at_cost} = {left}, capital {funds.capital} + realised "
            f"{funds.realized_pnl} = {right}"
        )
    return problems


def _day_bucket_problems(key: tuple[str, str, str], row: Any, lot: _Lot) -> list[str]:
    """The row's P&L of the day against what the replay booked per session day.

    The bucket holds one day, ``realized_on``: it must be that day's sum, and no later day may
    have booked P&L (it would have moved the bucket on). Earlier days are gone by design. A row
    without a day (from before the bucket existed, with no fill since) is not checked."""
    on = row.realized_on
    if on is None:
        return []
    out = []
    expected = lot.booked.get(on, ZERO)
    if row.today_realized_pnl != expected:
        out.append(
            f"position {key}: P&L of {on} is {row.today_realized_pnl}, its trades say {expected}"
        )
    later = {day: pnl for day, pnl in lot.booked.items() if day > on and pnl}
    if later:
        out.append(f"position {key}: P&L of {on} kept, but later days booked {later}")
    return out
