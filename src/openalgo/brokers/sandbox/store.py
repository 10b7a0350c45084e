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
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

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


class StaleState(Exception):
    """A compare-and-set matched no row: someone else changed it. The batch is retried."""


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
        session: AsyncSession,
        *,
        ledger: str,
        now: datetime,
        today: date,
        new_funds: Callable[[int], Decimal],
        settle: Callable[[LedgerTx, FundsState], Awaitable[None]],
    ) -> None:
        self.session = session
        self.ledger = ledger
        # 1 on the first run of a batch; a retry (after a lost race) re-reads everything.
        self.attempt = 1
        self.now = now
        self.today = today
        self._new_funds = new_funds
        self._settle = settle
        self._pg = session.get_bind().dialect.name == "postgresql"
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
        found = await self._select_funds(wanted)
        missing = [u for u in wanted if u not in found]
        if missing:
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
            self.funds_rows[user_id] = found[user_id]
        for user_id in wanted:
            funds = self.funds_rows[user_id]
            if funds.settled_on < self.today:
                await self._settle(self, funds)

    async def _select_funds(self, user_ids: list[int]) -> dict[int, FundsState]:
        stmt = (
            select(FUNDS)
            .where(FUNDS.c.ledger == self.ledger, self._among(FUNDS.c.user_id, user_ids))
            .order_by(FUNDS.c.user_id)
            .with_for_update()
        )
        rows = (await self.session.execute(stmt)).all()
        return {row.user_id: funds_from(row) for row in rows}

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
        stmt = (
            select(POSITIONS)
            .where(POSITIONS.c.ledger == self.ledger, among)
            .order_by(POSITIONS.c.id)
            .with_for_update()
        )
        for row in (await self.session.execute(stmt)).all():
            state = position_from(row)
            self.positions.setdefault(state.key, state)

    async def position(self, key: PositionKey) -> PositionState | None:
        """The position for ``key`` if it has a row (or was created in this batch)."""
        if key not in self.positions:
            await self.preload_positions([key])
        found = self.positions.get(key)
        return None if found is None or found.deleted else found

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
        return [p for p in self.positions.values() if p.user_id == user_id and not p.deleted]

    async def holding(self, user_id: int, symbol: str, exchange: str) -> HoldingState | None:
        key = (user_id, symbol, exchange)
        if key not in self.holdings and user_id not in self._all_holdings:
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

    # --- writing back ---------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write the batch back: bulk inserts, then one compare-and-set statement per table."""
        session = self.session
        now = self.now
        new_ids = {o.orderid for o in self.new_orders}
        if self.new_orders:
            await session.execute(
                insert(ORDERS), [{"ledger": self.ledger, **o.values()} for o in self.new_orders]
            )
        changed_orders = [o for o in self.orders.values() if o.dirty and o.orderid not in new_ids]
        # Orders are matched on their order id: an order adopted from the matcher's copy may
        # have been inserted without its row id coming back.
        await self._cas_many(
            ORDERS,
            [(o.orderid, o.version, _order_changes(o)) for o in changed_orders],
            key="orderid",
        )
        for o in changed_orders:
            o.version += 1
        if self.trades:
            await session.execute(
                insert(TRADES), [{"ledger": self.ledger, **t} for t in self.trades]
            )
        new_gtt_ids = {g.gtt_id for g in self.new_gtts}
        if self.new_gtts:
            await session.execute(
                insert(GTTS), [{"ledger": self.ledger, **_gtt_values(g)} for g in self.new_gtts]
            )
        changed_gtts = [g for g in self.gtts.values() if g.dirty and g.gtt_id not in new_gtt_ids]
        await self._cas_many(
            GTTS,
            [
                (g.id, g.version, _gtt_values(g) | {"version": g.version + 1, "updated_at": now})
                for g in changed_gtts
            ],
        )
        for g in changed_gtts:
            g.version += 1
        fresh: list[dict[str, Any]] = []
        changed: list[tuple[int | None, int, dict[str, Any]]] = []
        for pos in self.positions.values():
            if not pos.dirty:
                continue
            if pos.id is None:
                if not pos.deleted:
                    fresh.append(_position_values(pos, now) | {"created_at": now})
            elif pos.deleted:
                await self._cas_delete(POSITIONS, pos.id, pos.version)
            else:
                values = _position_values(pos, now)
                values["version"] = pos.version + 1
                changed.append((pos.id, pos.version, values))
        await self._cas_many(POSITIONS, changed)
        if fresh:
            await session.execute(insert(POSITIONS), [{"ledger": self.ledger, **v} for v in fresh])
        fresh = []
        changed = []
        for hold in self.holdings.values():
            if not hold.dirty:
                continue
            if hold.id is None:
                if not hold.deleted:
                    fresh.append(_holding_values(hold, now) | {"created_at": now})
            elif hold.deleted:
                await self._cas_delete(HOLDINGS, hold.id, hold.version)
            else:
                values = _holding_values(hold, now)
                values["version"] = hold.version + 1
                changed.append((hold.id, hold.version, values))
        await self._cas_many(HOLDINGS, changed)
        if fresh:
            await session.execute(insert(HOLDINGS), [{"ledger": self.ledger, **v} for v in fresh])
        await self._cas_many(
            FUNDS,
            [
                (
                    funds.id,
                    funds.version,
                    {
                        "capital": funds.capital,
                        "available": funds.available,
                        "used_margin": funds.used_margin,
                        "realized_pnl": funds.realized_pnl,
                        "reset_count": funds.reset_count,
                        "last_reset_at": funds.last_reset_at,
                        "settled_on": funds.settled_on,
                        "version": funds.version + 1,
                        "updated_at": now,
                    },
                )
                for funds in self.funds_rows.values()
                if funds.dirty
            ],
        )

    async def _cas_many(
        self,
        table: Table,
        rows: list[tuple[Any, int, dict[str, Any]]],
        key: str = "id",
    ) -> None:
        """Compare-and-set many rows in one statement; StaleState unless every row matched.

        Each row is (key value, version read, new values). SQLite: one executemany (its rowcount
        is the sum over the rows). PostgreSQL: one ``UPDATE ... FROM unnest(arrays) RETURNING``
        (asyncpg reports no executemany rowcount).
        """
        if not rows:
            return
        if len(rows) == 1:
            await self._cas(table, *rows[0], key=key)
            return
        columns = tuple(rows[0][2])
        if self._pg:
            params: dict[str, Any] = {
                "w_ledger": self.ledger,
                "w_key": [r[0] for r in rows],
                "w_version": [r[1] for r in rows],
            }
            for name in columns:
                params[f"s_{name}"] = [r[2][name] for r in rows]
            stmt = _pg_cas_statement(table, key, columns)
            matched = len((await self.session.execute(stmt, params)).all())
        else:
            result = await self.session.execute(
                _sqlite_cas_statement(table, key, columns),
                [
                    {
                        "w_ledger": self.ledger,
                        "w_key": key_value,
                        "w_version": version,
                        **{f"s_{c}": vals[c] for c in columns},
                    }
                    for key_value, version, vals in rows
                ],
            )
            matched = result.rowcount  # type: ignore[attr-defined]
        if matched != len(rows):
            raise StaleState(
                f"{table.name}: {len(rows) - matched} of {len(rows)} rows changed under us"
            )

    async def _cas(
        self, table: Table, key_value: Any, version: int, values: dict[str, Any], key: str = "id"
    ) -> None:
        stmt = (
            update(table)
            .where(
                table.c.ledger == self.ledger,
                table.c[key] == key_value,
                table.c.version == version,
            )
            .values(**values)
        )
        result = await self.session.execute(stmt)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleState(f"{table.name} row {key_value} changed under us (version {version})")

    async def _cas_delete(self, table: Table, id_: int, version: int) -> None:
        stmt = delete(table).where(table.c.id == id_, table.c.version == version)
        result = await self.session.execute(stmt)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleState(f"{table.name} row {id_} changed under us (version {version})")

    # --- reset ----------------------------------------------------------------------------------

    async def wipe_positions_and_holdings(self, user_id: int) -> None:
        """Reset: positions and holdings go (orders and trades stay, as in OpenAlgo)."""
        for pos in await self.user_positions(user_id):
            pos.deleted = True
            pos.dirty = True
        for hold in await self.user_holdings(user_id):
            hold.deleted = True
            hold.dirty = True


_CAS_STATEMENTS: dict[tuple[str, str, str, tuple[str, ...]], Any] = {}


def _pg_cas_statement(table: Table, key: str, columns: tuple[str, ...]) -> Any:
    """``UPDATE t SET ... FROM unnest(arrays) AS w(...) WHERE key and version match RETURNING``.

    One prepared statement whatever the row count: the rows travel as arrays.
    """
    cache_key = ("pg", table.name, key, columns)
    if cache_key not in _CAS_STATEMENTS:
        typed = [("w_key", table.c[key].type), ("w_version", Integer())] + [
            (f"s_{name}", table.c[name].type) for name in columns
        ]
        arrays = (
            func.unnest(*(bindparam(name, type_=ARRAY(type_)) for name, type_ in typed))
            .table_valued(*(column(name, type_) for name, type_ in typed))
            .render_derived(name="w")
        )
        _CAS_STATEMENTS[cache_key] = (
            update(table)
            .where(
                table.c.ledger == bindparam("w_ledger"),
                table.c[key] == arrays.c.w_key,
                table.c.version == arrays.c.w_version,
            )
            .values({name: arrays.c[f"s_{name}"] for name in columns})
            .returning(table.c.id)
        )
    return _CAS_STATEMENTS[cache_key]


def _sqlite_cas_statement(table: Table, key: str, columns: tuple[str, ...]) -> Any:
    cache_key = ("sqlite", table.name, key, columns)
    if cache_key not in _CAS_STATEMENTS:
        _CAS_STATEMENTS[cache_key] = (
            update(table)
            .where(
                table.c.ledger == bindparam("w_ledger"),
                table.c[key] == bindparam("w_key"),
                table.c.version == bindparam("w_version"),
            )
            .values({name: bindparam(f"s_{name}") for name in columns})
        )
    return _CAS_STATEMENTS[cache_key]


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
