"""One ledger transaction: load rows under lock, change them in memory, write them back once.

The writer (`writer.py`) runs a batch of operations inside one `LedgerTx`. Rows are loaded once per
batch and locked (``SELECT ... FOR UPDATE`` on PostgreSQL, in user order so two workers never
deadlock; SQLite's ``BEGIN IMMEDIATE`` already serialises writers). Operations change the cached
state; `flush` inserts new rows in bulk and writes each changed row with a compare-and-set on its
``version``. A compare-and-set that matches nothing raises `StaleState` and the whole batch is
retried, so a lost update is impossible even if a lock were missed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    Table,
    any_,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from openalgo.brokers.sandbox.rowcache import Pair, RowCache
from openalgo.brokers.sandbox.state import (
    OPEN_STATUSES,
    FundsState,
    GttState,
    HoldingKey,
    HoldingState,
    OrderState,
    PositionKey,
    PositionState,
)
from openalgo.brokers.sandbox.writes import StaleState as StaleState
from openalgo.brokers.sandbox.writes import Writes
from openalgo.db.models.sandbox import (
    SandboxFunds,
    SandboxGtt,
    SandboxHolding,
    SandboxOrder,
    SandboxPosition,
    SandboxTrade,
)
from openalgo.domain.money import ZERO
from openalgo.domain.orders import OrderEvent

ORDERS: Table = SandboxOrder.__table__  # type: ignore[assignment]
TRADES: Table = SandboxTrade.__table__  # type: ignore[assignment]
POSITIONS: Table = SandboxPosition.__table__  # type: ignore[assignment]
HOLDINGS: Table = SandboxHolding.__table__  # type: ignore[assignment]
FUNDS: Table = SandboxFunds.__table__  # type: ignore[assignment]
GTTS: Table = SandboxGtt.__table__  # type: ignore[assignment]


class NeedsLocks(Exception):
    """An optimistic batch (see `LedgerTx.optimistic`) reached a read that must hold a row lock.

    Nothing was written yet that matters: the writer rolls back and runs the same batch again at
    once in the ordinary, locking way."""


def funds_from(row: Any) -> FundsState:
    return FundsState(
        id=row.id,
        user_id=row.user_id,
        capital=row.capital,
        available=row.available,
        used_margin=row.used_margin,
        realized_pnl=row.realized_pnl,
        reset_count=row.reset_count,
        last_reset_at=row.last_reset_at,
        settled_on=row.settled_on,
        version=row.version,
    )


def position_from(row: Any) -> PositionState:
    return PositionState(
        id=row.id,
        user_id=row.user_id,
        symbol=row.symbol,
        exchange=row.exchange,
        product=row.product,
        quantity=row.quantity,
        cost=row.cost,
        margin_blocked=row.margin_blocked,
        realized_pnl=row.realized_pnl,
        last_price=row.last_price,
        instrument_type=row.instrument_type,
        expiry=row.expiry,
        opened_on=row.opened_on,
        today_realized_pnl=row.today_realized_pnl,
        realized_on=row.realized_on,
        version=row.version,
    )


def holding_from(row: Any) -> HoldingState:
    return HoldingState(
        id=row.id,
        user_id=row.user_id,
        symbol=row.symbol,
        exchange=row.exchange,
        quantity=row.quantity,
        cost=row.cost,
        settled_on=row.settled_on,
        version=row.version,
    )


def order_from(row: Any) -> OrderState:
    return OrderState(
        id=row.id,
        user_id=row.user_id,
        orderid=row.orderid,
        strategy=row.strategy,
        symbol=row.symbol,
        exchange=row.exchange,
        action=row.action,
        quantity=row.quantity,
        pricetype=row.pricetype,
        product=row.product,
        price=row.price,
        trigger_price=row.trigger_price,
        status=row.status,
        triggered=row.triggered,
        margin_blocked=row.margin_blocked,
        margin_price=row.margin_price,
        average_price=row.average_price,
        filled_quantity=row.filled_quantity,
        rejection_reason=row.rejection_reason,
        instrument_type=row.instrument_type,
        expiry=row.expiry,
        gtt_id=row.gtt_id,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def gtt_from(row: Any) -> GttState:
    return GttState(
        id=row.id,
        user_id=row.user_id,
        gtt_id=row.gtt_id,
        trigger_type=row.trigger_type,
        strategy=row.strategy,
        symbol=row.symbol,
        exchange=row.exchange,
        action=row.action,
        product=row.product,
        quantity=row.quantity,
        pricetype=row.pricetype,
        trigger_sl=row.trigger_sl,
        price_sl=row.price_sl,
        trigger_tg=row.trigger_tg,
        price_tg=row.price_tg,
        last_price=row.last_price,
        status=row.status,
        margin_blocked=row.margin_blocked,
        fired_leg=row.fired_leg,
        orderid=row.orderid,
        rejection_reason=row.rejection_reason,
        expires_at=row.expires_at,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class LedgerTx:
    """The state one batch works on. Never commits; the writer does."""

    def __init__(
        self,
        session: AsyncSession | AsyncConnection,
        *,
        ledger: str,
        now: datetime,
        today: date,
        session_day: date,
        new_funds: Callable[[int], Decimal],
        settle: Callable[[LedgerTx, FundsState], Awaitable[None]],
        cache: RowCache | None = None,
        t1_day: Callable[[str, date], date] | None = None,
    ) -> None:
        self.session = session
        # When a CNC trade of a day settles (T+1 on the exchange's trading days).
        self.t1_day = t1_day or (lambda _exchange, day: day + timedelta(days=1))
        self.ledger = ledger
        # 1 on the first run of a batch; a retry (after a lost race) re-reads everything.
        self.attempt = 1
        self.now = now
        # ``today`` is the IST calendar day (T+1 settlement, positions' opened_on);
        # ``session_day`` the trading session's day (`sessions.py`), which today's P&L is filed
        # under. They differ between midnight and the session start (03:00 IST).
        self.today = today
        self.session_day = session_day
        self._new_funds = new_funds
        self._settle = settle
        dialect = (
            session.dialect if isinstance(session, AsyncConnection) else session.get_bind().dialect
        )
        self._pg = dialect.name == "postgresql"
        self.postgresql = self._pg
        self.cache = cache
        # Set by the writer for each attempt. ``cache_funds`` / ``cache_positions``: those rows may
        # come from the engine's `RowCache` (every copy taken is written back with its
        # compare-and-set). ``optimistic`` (PostgreSQL, batches of fills only): reads take no row
        # locks; the rows are locked when they are written, funds first, and a read that needs a
        # lock raises `NeedsLocks`. All only on a first attempt: a retry reads and locks.
        self.cache_funds = False
        self.cache_positions = False
        self.optimistic = False
        self._validate: set[PositionKey] = set()
        self.funds_rows: dict[int, FundsState] = {}
        self.positions: dict[PositionKey, PositionState] = {}
        self.holdings: dict[HoldingKey, HoldingState] = {}
        self._all_positions: set[int] = set()
        self._looked_up: set[tuple[int, str]] = set()
        self._all_holdings: set[int] = set()
        self.orders: dict[str, OrderState] = {}
        self._missing_orders: set[str] = set()
        self.new_orders: list[OrderState] = []
        self.trades: list[dict[str, Any]] = []
        self.gtts: dict[str, GttState] = {}
        self.new_gtts: list[GttState] = []
        self.events: list[OrderEvent] = []
        self.after_commit: list[Callable[[], None]] = []
        # CNC sells accepted in this batch but not yet in the table, per (user, symbol, exchange).
        self.pending_cnc_sells: dict[HoldingKey, Decimal] = {}

    # --- funds ----------------------------------------------------------------------------------

    async def lock_funds(self, user_ids: Iterable[int]) -> None:
        """Load (creating if needed) and lock the funds rows of these users, in user order."""
        wanted = sorted(set(user_ids) - self.funds_rows.keys())
        if not wanted:
            return
        found: dict[int, FundsState] = {}
        if self.cache_funds and self.cache is not None:
            for user_id in wanted:
                cached = self.cache.take_funds(user_id)
                if cached is not None:
                    found[user_id] = cached
        rest = [u for u in wanted if u not in found]
        if rest:
            found.update(await self._select_funds(rest))
        missing = [u for u in wanted if u not in found]
        if missing:
            self._need_locks("a new funds row")
            values = [
                {
                    "user_id": u,
                    "ledger": self.ledger,
                    "capital": self._new_funds(u),
                    "available": self._new_funds(u),
                    "used_margin": ZERO,
                    "realized_pnl": ZERO,
                    "reset_count": 0,
                    "settled_on": self.today,
                    "version": 0,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
                for u in missing
            ]
            dialect_insert = postgresql.insert if self._pg else sqlite.insert
            stmt = dialect_insert(FUNDS).on_conflict_do_nothing(
                index_elements=["user_id", "ledger"]
            )
            await self.session.execute(stmt, values)
            found.update(await self._select_funds(missing))
        for user_id in wanted:
            funds = found[user_id]
            if self.optimistic or user_id not in rest:
                # Not read under a lock (cached copy, or an optimistic read): the write-back's
                # compare-and-set is what proves it was current.
                funds.dirty = True
            self.funds_rows[user_id] = funds
        for user_id in wanted:
            funds = self.funds_rows[user_id]
            if funds.settled_on < self.today:
                self._need_locks("T+1 settlement")
                await self._settle(self, funds)

    async def _select_funds(self, user_ids: list[int]) -> dict[int, FundsState]:
        stmt = (
            select(FUNDS)
            .where(FUNDS.c.ledger == self.ledger, self._among(FUNDS.c.user_id, user_ids))
            .order_by(FUNDS.c.user_id)
        )
        if not self.optimistic:
            stmt = stmt.with_for_update()
        rows = (await self.session.execute(stmt)).all()
        return {row.user_id: funds_from(row) for row in rows}

    def _need_locks(self, what: str) -> None:
        if self.optimistic:
            raise NeedsLocks(what)

    def _among(self, col: Any, items: list[Any]) -> Any:
        """``col IN (...)``; on PostgreSQL ``col = ANY(array)``, one prepared statement for any
        number of items (an expanding IN re-plans for every new list length)."""
        if self._pg:
            return col == any_(literal(list(items), ARRAY(col.type)))
        return col.in_(items)

    async def funds(self, user_id: int) -> FundsState:
        if user_id not in self.funds_rows:
            await self.lock_funds([user_id])
        return self.funds_rows[user_id]

    # --- positions and holdings -----------------------------------------------------------------

    async def preload_positions(self, keys: Iterable[PositionKey]) -> None:
        wanted = {
            k
            for k in keys
            if (k[0], k[1]) not in self._looked_up and k[0] not in self._all_positions
        }
        if not wanted:
            return
        pairs = sorted({(k[0], k[1]) for k in wanted})
        # Every product of these (user, symbol) pairs comes back: remember that, so a position
        # that does not exist yet is not looked for again in this batch.
        self._looked_up.update(pairs)
        if self.cache_positions and self.cache is not None:
            unknown = []
            for pair in pairs:
                cached = self.cache.take_pair(pair)
                if cached is None:
                    unknown.append(pair)
                    continue
                for state in cached:
                    self.positions.setdefault(state.key, state)
                    self._validate.add(state.key)
            pairs = unknown
            if not pairs:
                return
        if self._pg:
            listed = (
                func.unnest(
                    literal([p[0] for p in pairs], ARRAY(BigInteger())),
                    literal([p[1] for p in pairs], ARRAY(String())),
                )
                .table_valued("user_id", "symbol")
                .render_derived(name="wanted")
            )
            among = tuple_(POSITIONS.c.user_id, POSITIONS.c.symbol).in_(
                select(listed.c.user_id, listed.c.symbol)
            )
        else:
            among = tuple_(POSITIONS.c.user_id, POSITIONS.c.symbol).in_(pairs)
        stmt = select(POSITIONS).where(POSITIONS.c.ledger == self.ledger, among)
        stmt = stmt.order_by(POSITIONS.c.id)
        if not self.optimistic:
            stmt = stmt.with_for_update()
        for row in (await self.session.execute(stmt)).all():
            state = position_from(row)
            self.positions.setdefault(state.key, state)
            if self.optimistic:
                self._validate.add(state.key)

    async def position(self, key: PositionKey) -> PositionState | None:
        """The position for ``key`` if it has a row (or was created in this batch)."""
        if key not in self.positions:
            await self.preload_positions([key])
        found = self.positions.get(key)
        if found is None or found.deleted:
            return None
        if key in self._validate:
            found.dirty = True  # read without its lock: its write-back proves it was current
        return found

    def new_position(self, state: PositionState) -> PositionState:
        old = self.positions.get(state.key)
        if old is not None and old.id is not None:
            # The row was deleted earlier in this batch (T+1, reset): reuse it, don't re-insert.
            state.id, state.version = old.id, old.version
        state.dirty = True
        self.positions[state.key] = state
        return state

    async def user_positions(self, user_id: int) -> list[PositionState]:
        if user_id not in self._all_positions:
            self._need_locks("all positions of a user")
            stmt = (
                select(POSITIONS)
                .where(POSITIONS.c.ledger == self.ledger, POSITIONS.c.user_id == user_id)
                .order_by(POSITIONS.c.id)
                .with_for_update()
            )
            for row in (await self.session.execute(stmt)).all():
                state = position_from(row)
                self.positions.setdefault(state.key, state)
            self._all_positions.add(user_id)
        out = [p for p in self.positions.values() if p.user_id == user_id and not p.deleted]
        for state in out:
            if state.key in self._validate:
                state.dirty = True
        return out

    async def holding(self, user_id: int, symbol: str, exchange: str) -> HoldingState | None:
        key = (user_id, symbol, exchange)
        if key not in self.holdings and user_id not in self._all_holdings:
            self._need_locks("a holding")
            stmt = (
                select(HOLDINGS)
                .where(
                    HOLDINGS.c.ledger == self.ledger,
                    HOLDINGS.c.user_id == user_id,
                    HOLDINGS.c.symbol == symbol,
                    HOLDINGS.c.exchange == exchange,
                )
                .with_for_update()
            )
            row = (await self.session.execute(stmt)).first()
            if row is not None:
                self.holdings[key] = holding_from(row)
        found = self.holdings.get(key)
        return None if found is None or found.deleted else found

    async def user_holdings(self, user_id: int) -> list[HoldingState]:
        if user_id not in self._all_holdings:
            self._need_locks("all holdings of a user")
            stmt = (
                select(HOLDINGS)
                .where(HOLDINGS.c.ledger == self.ledger, HOLDINGS.c.user_id == user_id)
                .order_by(HOLDINGS.c.id)
                .with_for_update()
            )
            for row in (await self.session.execute(stmt)).all():
                state = holding_from(row)
                self.holdings.setdefault((state.user_id, state.symbol, state.exchange), state)
            self._all_holdings.add(user_id)
        return [h for h in self.holdings.values() if h.user_id == user_id and not h.deleted]

    def new_holding(self, state: HoldingState) -> HoldingState:
        old = self.holdings.get((state.user_id, state.symbol, state.exchange))
        if old is not None and old.id is not None:
            state.id, state.version = old.id, old.version
        state.dirty = True
        self.holdings[(state.user_id, state.symbol, state.exchange)] = state
        return state

    # --- orders ---------------------------------------------------------------------------------

    async def preload_orders(self, orderids: Iterable[str]) -> None:
        """Lock and cache the orders a batch will touch, in one statement."""
        wanted = sorted(set(orderids) - self.orders.keys() - self._missing_orders)
        if not wanted:
            return
        self._need_locks("orders")
        stmt = (
            select(ORDERS)
            .where(ORDERS.c.ledger == self.ledger, self._among(ORDERS.c.orderid, wanted))
            .order_by(ORDERS.c.id)
            .with_for_update()
        )
        for row in (await self.session.execute(stmt)).all():
            self.orders.setdefault(row.orderid, order_from(row))
        self._missing_orders.update(o for o in wanted if o not in self.orders)

    async def lock_order(self, orderid: str, *, user_id: int | None = None) -> OrderState | None:
        """The order, locked. With ``user_id``, another user's order is not even locked."""
        if orderid in self.orders:
            found = self.orders[orderid]
            return found if user_id is None or found.user_id == user_id else None
        if orderid in self._missing_orders:
            return None
        self._need_locks("an order")
        stmt = (
            select(ORDERS)
            .where(ORDERS.c.ledger == self.ledger, ORDERS.c.orderid == orderid)
            .with_for_update()
        )
        if user_id is not None:
            stmt = stmt.where(ORDERS.c.user_id == user_id)
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return None
        state = order_from(row)
        self.orders[orderid] = state
        return state

    async def lock_open_orders(
        self, *, user_id: int | None = None, where: Any = None
    ) -> list[OrderState]:
        """Open orders (of a user, or matching ``where``), locked, merged with this batch's cache."""
        self._need_locks("open orders")
        conditions = [ORDERS.c.ledger == self.ledger, ORDERS.c.status.in_(OPEN_STATUSES)]
        if user_id is not None:
            conditions.append(ORDERS.c.user_id == user_id)
        if where is not None:
            conditions.append(where)
        stmt = select(ORDERS).where(*conditions).order_by(ORDERS.c.id).with_for_update()
        out = []
        for row in (await self.session.execute(stmt)).all():
            state = self.orders.setdefault(row.orderid, order_from(row))
            if state.is_open:
                out.append(state)
        return out

    async def open_cnc_sell_quantity(self, user_id: int, symbol: str, exchange: str) -> Decimal:
        """Shares already promised to open CNC sell orders (held back from new sells)."""
        self._need_locks("open CNC sells")
        stmt = select(ORDERS.c.orderid, ORDERS.c.quantity).where(
            ORDERS.c.ledger == self.ledger,
            ORDERS.c.user_id == user_id,
            ORDERS.c.symbol == symbol,
            ORDERS.c.exchange == exchange,
            ORDERS.c.product == "CNC",
            ORDERS.c.action == "SELL",
            ORDERS.c.status.in_(OPEN_STATUSES),
        )
        total = ZERO
        for orderid, quantity in (await self.session.execute(stmt)).all():
            cached = self.orders.get(orderid)
            if cached is None or cached.is_open:
                total += quantity
        return total + self.pending_cnc_sells.get((user_id, symbol, exchange), ZERO)

    def adopt_order(self, snapshot: OrderState) -> OrderState:
        """Use the matcher's copy of an order instead of reading it. Safe because the write-back
        compares versions: if the order changed meanwhile the batch fails and is retried, and a
        retry reads the row (``attempt`` > 1)."""
        if snapshot.orderid in self.orders:
            return self.orders[snapshot.orderid]
        state = replace(snapshot, dirty=False)
        self.orders[state.orderid] = state
        return state

    def add_order(self, state: OrderState) -> None:
        self.new_orders.append(state)
        self.orders[state.orderid] = state

    def touch(self, state: OrderState) -> None:
        state.dirty = True
        state.updated_at = self.now

    def add_trade(self, values: dict[str, Any]) -> None:
        self.trades.append(values)

    def publish(self, event: OrderEvent) -> None:
        self.events.append(event)

    # --- GTT ------------------------------------------------------------------------------------

    async def lock_gtt(self, gtt_id: str) -> GttState | None:
        if gtt_id in self.gtts:
            return self.gtts[gtt_id]
        self._need_locks("a GTT")
        stmt = (
            select(GTTS)
            .where(GTTS.c.ledger == self.ledger, GTTS.c.gtt_id == gtt_id)
            .with_for_update()
        )
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return None
        state = gtt_from(row)
        self.gtts[gtt_id] = state
        return state

    async def lock_gtts(self, where: Any) -> list[GttState]:
        self._need_locks("GTTs")
        stmt = (
            select(GTTS)
            .where(GTTS.c.ledger == self.ledger, where)
            .order_by(GTTS.c.id)
            .with_for_update()
        )
        out = []
        for row in (await self.session.execute(stmt)).all():
            out.append(self.gtts.setdefault(row.gtt_id, gtt_from(row)))
        return out

    def add_gtt(self, state: GttState) -> None:
        self.new_gtts.append(state)
        self.gtts[state.gtt_id] = state

    async def warm_up(self) -> None:
        """Run, writing and reading nothing, the statements an optimistic batch of fills runs on
        PostgreSQL (its writes in each shape, `fill_warmups`, and the positions lookup), so the
        first fills on this connection find them prepared."""
        for writes in fill_warmups(self.ledger):
            await writes.run_postgresql(self.session)
        await self.preload_positions([(0, "", "", "")])  # user 0: nobody's positions

    # --- writing back ---------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write the batch back: bulk inserts, compare-and-sets and deletes, one piece per table
        and kind (`_Writes`), sent in as few round trips as the database allows.

        Funds first: an optimistic batch takes its row locks here, and funds before orders before
        positions is the order every batch locks in (see `writer.py`)."""
        now = self.now
        writes = Writes(self.ledger)
        # In id order: an optimistic batch takes these locks in this statement, so two workers
        # take them in the same order.
        changed_funds = sorted(
            (funds for funds in self.funds_rows.values() if funds.dirty), key=lambda f: f.id
        )
        writes.cas(
            FUNDS,
            "id",
            [(funds.id, funds.version, _funds_changes(funds, now)) for funds in changed_funds],
        )
        new_ids = {o.orderid for o in self.new_orders}
        writes.insert(ORDERS, [o.values() for o in self.new_orders], ids_by=("orderid",))
        changed_orders = [o for o in self.orders.values() if o.dirty and o.orderid not in new_ids]
        # Matched on the row id where every order has one (PostgreSQL brings the ids of new orders
        # back; a join on the order id can be planned as a scan of the ledger's orders when the
        # table's statistics are behind), else on the order id (SQLite inserts without them).
        by_id = all(o.id is not None for o in changed_orders)
        writes.cas(
            ORDERS,
            "id" if by_id else "orderid",
            [(o.id if by_id else o.orderid, o.version, _order_changes(o)) for o in changed_orders],
        )
        writes.insert(TRADES, self.trades)
        new_gtt_ids = {g.gtt_id for g in self.new_gtts}
        writes.insert(GTTS, [_gtt_values(g) for g in self.new_gtts])
        changed_gtts = [g for g in self.gtts.values() if g.dirty and g.gtt_id not in new_gtt_ids]
        writes.cas(
            GTTS,
            "id",
            [
                (g.id, g.version, _gtt_values(g) | {"version": g.version + 1, "updated_at": now})
                for g in changed_gtts
            ],
        )
        fresh: list[dict[str, Any]] = []
        changed: list[tuple[Any, int, dict[str, Any]]] = []
        gone: list[tuple[Any, int]] = []
        changed_positions = []
        opened_positions = []
        for pos in self.positions.values():
            if not pos.dirty:
                continue
            if pos.id is None:
                if not pos.deleted:
                    fresh.append(_position_values(pos, now) | {"created_at": now})
                    opened_positions.append(pos)
            elif pos.deleted:
                gone.append((pos.id, pos.version))
            else:
                values = _position_values(pos, now)
                values["version"] = pos.version + 1
                changed.append((pos.id, pos.version, values))
                changed_positions.append(pos)
        writes.delete(POSITIONS, gone)
        writes.cas(POSITIONS, "id", changed)
        # PostgreSQL brings their ids back, so the row cache can keep them (`rowcache.py`).
        writes.insert(POSITIONS, fresh, ids_by=POSITION_KEY)
        fresh, changed, gone = [], [], []
        for hold in self.holdings.values():
            if not hold.dirty:
                continue
            if hold.id is None:
                if not hold.deleted:
                    fresh.append(_holding_values(hold, now) | {"created_at": now})
            elif hold.deleted:
                gone.append((hold.id, hold.version))
            else:
                values = _holding_values(hold, now)
                values["version"] = hold.version + 1
                changed.append((hold.id, hold.version, values))
        writes.delete(HOLDINGS, gone)
        writes.cas(HOLDINGS, "id", changed)
        writes.insert(HOLDINGS, fresh)
        if self._pg:
            ids = await writes.run_postgresql(self.session)
            order_ids = ids.get(ORDERS.name, {})
            for o in self.new_orders:
                o.id = order_ids.get((o.orderid,))
            position_ids = ids.get(POSITIONS.name, {})
            for pos in opened_positions:
                pos.id = position_ids.get(pos.key)
        else:
            await writes.run_sqlite(self.session)
        for funds in changed_funds:
            funds.version += 1
        for o in changed_orders:
            o.version += 1
        for g in changed_gtts:
            g.version += 1
        for pos in changed_positions:
            pos.version += 1

    def committed_rows(self) -> tuple[list[FundsState], dict[Pair, list[PositionState]]]:
        """After the commit: the funds rows and the complete (user, symbol) position pairs this
        batch holds, for the engine's `RowCache`."""
        pairs: dict[Pair, list[PositionState]] = {pair: [] for pair in self._looked_up}
        for pos in self.positions.values():
            pair = (pos.user_id, pos.symbol)
            if pair in pairs:
                pairs[pair].append(pos)
            elif pos.user_id in self._all_positions:
                pairs[pair] = [pos]
        return list(self.funds_rows.values()), pairs

    # --- reset ----------------------------------------------------------------------------------

    async def wipe_positions_and_holdings(self, user_id: int) -> None:
        """Reset: positions and holdings go (orders and trades stay, as in OpenAlgo)."""
        for pos in await self.user_positions(user_id):
            pos.deleted = True
            pos.dirty = True
        for hold in await self.user_holdings(user_id):
            hold.deleted = True
            hold.dirty = True


def _funds_changes(funds: FundsState, now: datetime) -> dict[str, Any]:
    return {
        "capital": funds.capital,
        "available": funds.available,
        "used_margin": funds.used_margin,
        "realized_pnl": funds.realized_pnl,
        "reset_count": funds.reset_count,
        "last_reset_at": funds.last_reset_at,
        "settled_on": funds.settled_on,
        "version": funds.version + 1,
        "updated_at": now,
    }


# The columns a position is known by (`PositionState.key`'s order).
POSITION_KEY = ("user_id", "symbol", "exchange", "product")

# The columns of a trade row, as `ops.execute_fill` writes them (a test holds the two together).
TRADE_COLUMNS = (
    "user_id",
    "tradeid",
    "orderid",
    "strategy",
    "symbol",
    "exchange",
    "product",
    "action",
    "quantity",
    "price",
    "realized_pnl",
    "epoch",
    "created_at",
)


class _Columns:
    """Stands in for a state object when only the names of the columns it writes are wanted."""

    def __getattr__(self, name: str) -> Any:
        return 0


def fill_warmups(ledger: str, *, order_key: str = "id") -> list[Writes]:
    """Empty batches shaped like batches of fills, one per shape a fill batch takes (funds,
    orders and trades, and positions changed, opened or both), for the writer to run once per
    connection before the first fills (`LedgerTx.warm_up`, `writer.BatchWriter._warm`).

    Why: the first time a connection runs a statement it is compiled, prepared, and the server
    process loads the tables and indexes it touches: 20-50 ms on a busy machine, paid by the
    first fills after start-up, which come in a burst when resting orders sit near the price.
    Empty arrays write nothing and pass the statement's guard (zero rows expected, zero touched).
    ``order_key``: what orders are matched on (``"orderid"`` on SQLite, whose inserts bring no
    ids back).
    """
    stand_in: Any = _Columns()
    now = datetime(2000, 1, 1)
    funds = tuple(_funds_changes(stand_in, now))
    orders = tuple(_order_changes(stand_in))
    changed = tuple(_position_values(stand_in, now))  # its version is among them
    opened = (*_position_values(stand_in, now), "created_at")
    out = []
    for with_changed, with_opened in ((False, True), (True, False), (True, True)):
        writes = Writes(ledger)
        writes.empty("cas", FUNDS, "id", funds)
        writes.empty("cas", ORDERS, order_key, orders)
        writes.empty("insert", TRADES, "id", TRADE_COLUMNS)
        if with_changed:
            writes.empty("cas", POSITIONS, "id", changed)
        if with_opened:
            writes.empty("insert", POSITIONS, "id", opened, POSITION_KEY)
        out.append(writes)
    return out


def _order_changes(o: OrderState) -> dict[str, Any]:
    """The columns an order can change after it is written."""
    return {
        "quantity": o.quantity,
        "price": o.price,
        "trigger_price": o.trigger_price,
        "status": o.status,
        "triggered": o.triggered,
        "margin_blocked": o.margin_blocked,
        "margin_price": o.margin_price,
        "average_price": o.average_price,
        "filled_quantity": o.filled_quantity,
        "rejection_reason": o.rejection_reason,
        "version": o.version + 1,
        "updated_at": o.updated_at,
    }


def _position_values(pos: PositionState, now: datetime) -> dict[str, Any]:
    return {
        "user_id": pos.user_id,
        "symbol": pos.symbol,
        "exchange": pos.exchange,
        "product": pos.product,
        "quantity": pos.quantity,
        "cost": pos.cost,
        "margin_blocked": pos.margin_blocked,
        "realized_pnl": pos.realized_pnl,
        "last_price": pos.last_price,
        "instrument_type": pos.instrument_type,
        "expiry": pos.expiry,
        "opened_on": pos.opened_on,
        "today_realized_pnl": pos.today_realized_pnl,
        "realized_on": pos.realized_on,
        "version": pos.version,
        "updated_at": now,
    }


def _holding_values(hold: HoldingState, now: datetime) -> dict[str, Any]:
    return {
        "user_id": hold.user_id,
        "symbol": hold.symbol,
        "exchange": hold.exchange,
        "quantity": hold.quantity,
        "cost": hold.cost,
        "settled_on": hold.settled_on,
        "version": hold.version,
        "updated_at": now,
    }


def _gtt_values(g: GttState) -> dict[str, Any]:
    return {
        "user_id": g.user_id,
        "gtt_id": g.gtt_id,
        "trigger_type": g.trigger_type,
        "strategy": g.strategy,
        "symbol": g.symbol,
        "exchange": g.exchange,
        "action": g.action,
        "product": g.product,
        "quantity": g.quantity,
        "pricetype": g.pricetype,
        "trigger_sl": g.trigger_sl,
        "price_sl": g.price_sl,
        "trigger_tg": g.trigger_tg,
        "price_tg": g.price_tg,
        "last_price": g.last_price,
        "status": g.status,
        "margin_blocked": g.margin_blocked,
        "fired_leg": g.fired_leg,
        "orderid": g.orderid,
        "rejection_reason": g.rejection_reason,
        "expires_at": g.expires_at,
        "version": g.version,
        "created_at": g.created_at,
        "updated_at": g.updated_at,
    }
