"""The paper-trading engine for one ledger ("sandbox" or "simulator"), shared by all its users.

Three parts, each in its own module:
- the writer (`writer.py`): every change to money goes through one queue and commits in batches;
- the matcher (`book.py`): an in-memory index of resting orders woken by ticks (`on_tick`) or, for
  symbols without ticks, by polled quotes;
- the loops: polling fallback plus index resync, and maintenance (T+1 settlement, MIS square-off,
  expiry settlement, GTT expiry, scheduled reset), each deriving its work from the database and the
  clock, so a restart catches up on whatever it missed.

Nothing here keeps a lock across an await. Correctness under races (two engines, cancels racing
fills) comes from the database: row locks, compare-and-set versions and the unique trade per order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Coroutine, Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite

from openalgo.brokers.base import MarketData, OrderNotFound, OrderRejected
from openalgo.brokers.sandbox import gtt as gtt_ops
from openalgo.brokers.sandbox import sessions, views
from openalgo.brokers.sandbox.book import GttLeg, Resting, RestingBook, SymbolKey
from openalgo.brokers.sandbox.config import (
    WEEKDAYS,
    EngineTiming,
    SandboxConfig,
    parse_config_value,
)
from openalgo.brokers.sandbox.driver_reads import Reads
from openalgo.brokers.sandbox.feed import MarketDataFor, NoFeed, PriceBoard, PriceFeed, Snapshot
from openalgo.brokers.sandbox.ids import OrderIds, TradeIds
from openalgo.brokers.sandbox.ops import (
    SQUARE_OFF_STRATEGY,
    CancelAll,
    CancelAllResult,
    CancelOrder,
    ClosePositions,
    CloseResult,
    FillOrder,
    MarketPrice,
    ModifyOrder,
    Placed,
    PlaceOrder,
    RecordRejection,
    Reset,
    SettleExpired,
    Touch,
    TriggerOrder,
    is_expired,
    settle_t1,
)
from openalgo.brokers.sandbox.rowcache import RowCache
from openalgo.brokers.sandbox.rules import (
    Spec,
    check_instrument,
    check_quantity,
    check_shape,
    mis_entry_block,
    relevant_prices,
    square_off_cutoff,
    t1_settlement_day,
)
from openalgo.brokers.sandbox.state import OPEN_STATUSES, FundsState, GttState, OrderState
from openalgo.brokers.sandbox.store import FUNDS, GTTS, ORDERS, POSITIONS, LedgerTx
from openalgo.brokers.sandbox.writer import BatchWriter
from openalgo.db.models.sandbox import SandboxConfig as ConfigRow
from openalgo.db.session import SessionMaker, transaction
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import IST, Clock, ist
from openalgo.domain.enums import PriceType, Product
from openalgo.domain.instruments import InstrumentLookup
from openalgo.domain.market import Quote, Tick
from openalgo.domain.money import PRICE_QUANTUM, QTY_QUANTUM, ZERO, price
from openalgo.domain.orders import ModifyRequest, OrderEventSink, OrderRequest
from openalgo.errors import OpenAlgoError, ValidationFailed
from openalgo.settings import Settings

log = logging.getLogger("openalgo.sandbox")

CONFIG_TABLE: Table = ConfigRow.__table__  # type: ignore[assignment]
RESYNC_EVERY = 6  # polling cycles between index resyncs


def _storable(value: object, quantum: Decimal) -> Decimal:
    """A client-sent number in a form the rejected-order row can hold (0 if it is not a number)."""
    try:
        number = Decimal(value) if isinstance(value, int | Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return ZERO
    if not number.is_finite() or abs(number) >= Decimal("1e12"):
        return ZERO
    return number.quantize(quantum)


class SandboxEngine:
    def __init__(
        self,
        *,
        ledger: str,
        sessionmaker: SessionMaker,
        read_sessionmaker: SessionMaker | None = None,
        instruments: InstrumentLookup,
        market: MarketDataFor,
        events: OrderEventSink,
        clock: Clock,
        config: SandboxConfig | None = None,
        timing: EngineTiming | None = None,
        feed: PriceFeed | None = None,
        mode: str = "analyze",
        calendar: MarketCalendar | None = None,
    ) -> None:
        self.ledger = ledger
        self.mode = mode
        self.ids = OrderIds()
        self.trade_ids = TradeIds()
        self.instruments = instruments
        self.market_for = market
        self.events = events
        self.clock = clock
        self.feed: PriceFeed = feed or NoFeed()
        self.defaults = config or SandboxConfig()
        self.timing = timing or EngineTiming()
        # Trading days and sessions for the MIS cut-off and T+1 (the effective calendar: with
        # market_always_open every day trades, as the simulated market does then).
        self.calendar = calendar or MarketCalendar.bundled(
            always_open=self.timing.market_always_open
        )
        self.sessionmaker = sessionmaker
        self.read_sessionmaker = read_sessionmaker or sessionmaker
        self.reads = Reads(self.read_sessionmaker)
        self.book = RestingBook()
        self.board = PriceBoard()
        self.rows = RowCache()
        self.writer = BatchWriter(
            name=ledger,
            sessionmaker=sessionmaker,
            make_tx=self._make_tx,
            after_commit=self._after_commit,
            on_failure=self.rows.clear,
            max_batch=self.timing.batch_size,
            lanes=self.timing.writer_lanes if _postgresql(sessionmaker) else 1,
        )
        self.fill_latencies: deque[float] = deque(maxlen=200_000)
        self._configs: dict[int, SandboxConfig] = {}
        self._wanted: set[SymbolKey] = set()
        self._stamp = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._settled_today: dict[int, Any] = {}
        self._synced = False

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> SandboxEngine:
        return cls(
            config=SandboxConfig.from_settings(settings),
            timing=EngineTiming.from_settings(settings),
            **kwargs,
        )

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, *, background: bool = True) -> None:
        """Start the writer, load config and the resting book; optionally the loops."""
        self.writer.start()
        try:
            await self.load_config()
            await self.resync()
            self._synced = True
        except Exception as exc:
            # The service must start even when the database is down (/ready then says so);
            # the polling loop (when running) retries the load.
            log.warning("sandbox %s: cannot read the ledger yet (%s); will retry", self.ledger, exc)
        if background:
            self._tasks = [
                asyncio.create_task(self._poll_loop(), name=f"sandbox-poll-{self.ledger}"),
                asyncio.create_task(
                    self._maintenance_loop(), name=f"sandbox-maintenance-{self.ledger}"
                ),
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._side_tasks:
            await asyncio.gather(*self._side_tasks, return_exceptions=True)
        await self.writer.stop()
        # The reads' held connections go back to the pool before the app disposes of it.
        await self.reads.aclose()
        for key in list(self._wanted):
            self.feed.release(*key)
        self._wanted.clear()

    async def drain(self) -> None:
        """Wait until every operation queued so far (and the GTT firings it spawned) committed."""
        while True:
            if self._side_tasks:
                await asyncio.gather(*list(self._side_tasks), return_exceptions=True)
            await self.writer.barrier()
            if not self._side_tasks and self.writer.idle:
                return

    # --- config ---------------------------------------------------------------------------------

    def config(self, user_id: int) -> SandboxConfig:
        return self._configs.get(user_id, self.defaults)

    async def load_config(self) -> None:
        async with self.read_sessionmaker() as session:
            rows = (
                await session.execute(
                    select(CONFIG_TABLE.c.user_id, CONFIG_TABLE.c.key, CONFIG_TABLE.c.value).where(
                        CONFIG_TABLE.c.ledger == self.ledger
                    )
                )
            ).all()
        per_user: dict[int, dict[str, str]] = {}
        for user_id, key, value in rows:
            per_user.setdefault(user_id, {})[key] = value
        configs = {}
        for user_id, overrides in per_user.items():
            try:
                configs[user_id] = self.defaults.with_overrides(overrides)
            except ValidationFailed:
                log.warning("sandbox config of user %s is invalid; using defaults", user_id)
        self._configs = configs

    async def set_config(self, user_id: int, key: str, value: str) -> SandboxConfig:
        """Store one per-user override (validated); takes effect at once."""
        parse_config_value(key, value)
        async with transaction(self.sessionmaker) as session:
            pg = session.get_bind().dialect.name == "postgresql"
            dialect_insert = postgresql.insert if pg else sqlite.insert
            now = self.clock.now()
            stmt = dialect_insert(CONFIG_TABLE).values(
                user_id=user_id,
                ledger=self.ledger,
                key=key,
                value=value.strip(),
                created_at=now,
                updated_at=now,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["user_id", "ledger", "key"],
                set_={"value": value.strip(), "updated_at": now},
            )
            await session.execute(stmt)
        await self.load_config()
        return self.config(user_id)

    # --- the transaction factory used by the writer ---------------------------------------------

    def _make_tx(self, session: Any) -> LedgerTx:
        now = self.clock.now()
        return LedgerTx(
            session,
            ledger=self.ledger,
            now=now,
            today=ist(now).date(),
            session_day=sessions.session_day(self.session_start(now)),
            new_funds=lambda user_id: self.config(user_id).starting_capital,
            settle=settle_t1,
            cache=self.rows,
            t1_day=self.t1_day,
        )

    def t1_day(self, exchange: str, day: date) -> date:
        """When a CNC trade of ``day`` on ``exchange`` settles into holdings."""
        return t1_settlement_day(self.calendar, exchange, day)

    def _after_commit(self, tx: LedgerTx) -> None:
        self.rows.remember(*tx.committed_rows())
        for hook in tx.after_commit:
            hook()
        for event in tx.events:
            try:
                self.events.publish(event)
            except Exception:  # pragma: no cover - a sink must not break the ledger
                log.exception("order event sink failed")

    async def _run(self, op: Any) -> Any:
        result = await self.writer.run(op)
        if isinstance(result, OpenAlgoError):
            raise result
        return result

    # --- orders ---------------------------------------------------------------------------------

    async def place_order(self, user_id: int, order: OrderRequest) -> str:
        """Place (and, when marketable, fill) an order. Raises OrderRejected, with the id of the
        recorded rejected order, when the order is refused."""
        placed: Placed = await self._run(await self.prepare_order(user_id, order))
        return placed.orderid

    async def prepare_order(
        self, user_id: int, order: OrderRequest
    ) -> PlaceOrder | RecordRejection:
        """Everything that needs no ledger state: field rules, instrument, time window, price."""
        exchange = str(order.exchange)
        action = str(order.action).upper()
        pricetype = str(order.pricetype)
        product = str(order.product)
        qty, problem = check_quantity(order.quantity, exchange)
        raw_price, raw_trigger = order.price, order.trigger_price
        if not problem:
            problem = check_shape(
                exchange=exchange,
                action=action,
                pricetype=pricetype,
                product=product,
                price=Decimal(raw_price),
                trigger_price=Decimal(raw_trigger),
            )
        if problem:
            return self._rejection(user_id, order, problem)
        assert qty is not None
        limit, trigger = relevant_prices(pricetype, Decimal(raw_price), Decimal(raw_trigger))
        instrument = await self.instruments.resolve(order.symbol, exchange)
        if instrument is None:
            return self._rejection(user_id, order, f"Symbol {order.symbol} not found on {exchange}")
        spec = Spec.of(instrument)
        problem = check_instrument(spec, qty, limit, trigger)
        if problem:
            return self._rejection(user_id, order, problem)
        now = self.clock.now()
        mis_block = ""
        if product == Product.MIS and not self.timing.market_always_open:
            mis_block = mis_entry_block(
                self.config(user_id), exchange, now, self.timing.trading_start, self.calendar
            )
        market = await self.market_price(user_id, (exchange, spec.symbol))
        return PlaceOrder(
            user_id=user_id,
            strategy=order.strategy[:100],
            spec=spec,
            action=action,
            quantity=qty,
            pricetype=pricetype,
            product=product,
            price=limit,
            trigger_price=trigger,
            market=market,
            mis_block=mis_block,
            ctx=self,
        )

    def _rejection(self, user_id: int, order: OrderRequest, reason: str) -> RecordRejection:
        return RecordRejection(
            user_id=user_id,
            strategy=order.strategy[:100],
            symbol=str(order.symbol),
            exchange=str(order.exchange),
            action=str(order.action),
            quantity=_storable(order.quantity, QTY_QUANTUM),
            pricetype=str(order.pricetype),
            product=str(order.product),
            price=_storable(order.price, PRICE_QUANTUM),
            trigger_price=_storable(order.trigger_price, PRICE_QUANTUM),
            reason=reason,
            ctx=self,
        )

    async def modify_order(self, user_id: int, request: ModifyRequest) -> str:
        qty, problem = check_quantity(request.quantity, str(request.exchange))
        if problem or qty is None:
            raise OrderRejected(problem, orderid=request.orderid)
        for name, value in (("Price", request.price), ("Trigger price", request.trigger_price)):
            number = Decimal(value)
            if not number.is_finite() or number < 0 or number != number.quantize(PRICE_QUANTUM):
                raise OrderRejected(f"{name} must be a non-negative number with at most 4 decimals")
        instrument = await self.instruments.resolve(request.symbol, str(request.exchange))
        spec = Spec.of(instrument) if instrument is not None else None
        result: str = await self._run(
            ModifyOrder(
                user_id=user_id,
                orderid=request.orderid,
                quantity=qty,
                price=Decimal(request.price),
                trigger_price=Decimal(request.trigger_price),
                spec=spec,
                ctx=self,
            )
        )
        return result

    async def cancel_order(self, user_id: int, orderid: str) -> str:
        if not orderid:
            raise OrderNotFound("Order ID is missing")
        result: str = await self._run(CancelOrder(user_id, orderid, self))
        return result

    async def cancel_all_orders(self, user_id: int) -> CancelAllResult:
        result: CancelAllResult = await self._run(CancelAll(user_id, self))
        return result

    async def close_all_positions(self, user_id: int, strategy: str = "Squareoff") -> CloseResult:
        """Square off every open position at the market (`/closeposition`)."""
        keys = await self._open_position_keys(user_id)
        prices = await self._prices_for(user_id, keys)
        result: CloseResult = await self._run(
            ClosePositions(user_id=user_id, prices=prices, strategy=strategy[:100], ctx=self)
        )
        return result

    async def reset(self, user_id: int) -> FundsState:
        result: FundsState = await self._run(Reset(user_id, self))
        return result

    async def settle_if_due(self, user_id: int) -> None:
        """Run a due T+1 settlement before a read, so books never show yesterday's positions."""
        today = ist(self.clock.now()).date()
        if self._settled_today.get(user_id) == today:
            return
        await self._run(Touch(user_id))
        self._settled_today[user_id] = today

    # --- GTT ------------------------------------------------------------------------------------

    async def place_gtt(
        self,
        user_id: int,
        *,
        trigger_type: str,
        symbol: str,
        exchange: str,
        action: str,
        product: str,
        quantity: object,
        pricetype: str = "LIMIT",
        price: Decimal = ZERO,
        triggerprice_sl: Decimal | None = None,
        triggerprice_tg: Decimal | None = None,
        stoploss: Decimal | None = None,
        target: Decimal | None = None,
        expires_at: datetime | None = None,
        strategy: str = "",
    ) -> str:
        spec, qty, legs, pricetype = await self._gtt_request(
            symbol=symbol,
            exchange=exchange,
            action=action,
            product=product,
            quantity=quantity,
            pricetype=pricetype,
            trigger_type=trigger_type,
            price=price,
            triggerprice_sl=triggerprice_sl,
            triggerprice_tg=triggerprice_tg,
            stoploss=stoploss,
            target=target,
        )
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=IST)
        if expires_at is not None and expires_at <= self.clock.now():
            raise ValidationFailed("expires_at must be in the future")
        snap = self.board.get((exchange, spec.symbol))
        result: str = await self._run(
            gtt_ops.PlaceGtt(
                user_id=user_id,
                strategy=strategy[:100],
                spec=spec,
                action=action.upper(),
                product=product,
                quantity=qty,
                pricetype=pricetype,
                legs=legs,
                last_price=price_or_zero(snap),
                expires_at=expires_at.astimezone(UTC) if expires_at else None,
                ctx=self,
            )
        )
        return result

    async def modify_gtt(
        self,
        user_id: int,
        gtt_id: str,
        *,
        trigger_type: str,
        symbol: str,
        exchange: str,
        action: str,
        product: str,
        quantity: object,
        pricetype: str = "LIMIT",
        price: Decimal = ZERO,
        triggerprice_sl: Decimal | None = None,
        triggerprice_tg: Decimal | None = None,
        stoploss: Decimal | None = None,
        target: Decimal | None = None,
    ) -> str:
        spec, qty, legs, pricetype = await self._gtt_request(
            symbol=symbol,
            exchange=exchange,
            action=action,
            product=product,
            quantity=quantity,
            pricetype=pricetype,
            trigger_type=trigger_type,
            price=price,
            triggerprice_sl=triggerprice_sl,
            triggerprice_tg=triggerprice_tg,
            stoploss=stoploss,
            target=target,
        )
        result: str = await self._run(
            gtt_ops.ModifyGtt(
                user_id=user_id,
                gtt_id=gtt_id,
                spec=spec,
                action=action.upper(),
                trigger_type=legs.trigger_type,
                quantity=qty,
                pricetype=pricetype,
                legs=legs,
                ctx=self,
            )
        )
        return result

    async def cancel_gtt(self, user_id: int, gtt_id: str) -> str:
        result: str = await self._run(gtt_ops.CancelGtt(user_id, gtt_id, self))
        return result

    async def _gtt_request(
        self,
        *,
        symbol: str,
        exchange: str,
        action: str,
        product: str,
        quantity: object,
        pricetype: str,
        trigger_type: str,
        price: Decimal,
        triggerprice_sl: Decimal | None,
        triggerprice_tg: Decimal | None,
        stoploss: Decimal | None,
        target: Decimal | None,
    ) -> tuple[Spec, Decimal, gtt_ops.GttLegs, str]:
        pricetype = pricetype.upper()
        if product not in (Product.CNC, Product.NRML):
            raise ValidationFailed("GTT product must be CNC or NRML")
        if pricetype not in (PriceType.LIMIT, PriceType.MARKET):
            raise ValidationFailed("GTT pricetype must be LIMIT or MARKET")
        qty, problem = check_quantity(quantity, exchange)
        problem = problem or check_shape(
            exchange=exchange,
            action=action.upper(),
            pricetype=PriceType.MARKET,  # leg prices are checked below, leg by leg
            product=product,
            price=price,
            trigger_price=ZERO,
        )
        if problem or qty is None:
            raise ValidationFailed(problem)
        for value in (triggerprice_sl, triggerprice_tg, stoploss, target):
            if value is not None and (value < 0 or value != value.quantize(PRICE_QUANTUM)):
                raise ValidationFailed("GTT prices must be non-negative with at most 4 decimals")
        legs = gtt_ops.build_legs(
            trigger_type=trigger_type,
            price=price,
            triggerprice_sl=triggerprice_sl,
            triggerprice_tg=triggerprice_tg,
            stoploss=stoploss,
            target=target,
        )
        instrument = await self.instruments.resolve(symbol, exchange)
        if instrument is None:
            raise ValidationFailed(f"Symbol {symbol} not found on {exchange}")
        spec = Spec.of(instrument)
        for trigger, limit in ((legs.trigger_sl, legs.price_sl), (legs.trigger_tg, legs.price_tg)):
            if trigger is None:
                continue
            leg_limit = limit if pricetype == PriceType.LIMIT and limit else ZERO
            if pricetype == PriceType.LIMIT and leg_limit <= 0:
                raise ValidationFailed("A LIMIT GTT needs a price greater than 0 for each leg")
            problem = check_instrument(spec, qty, leg_limit, trigger)
            if problem:
                raise ValidationFailed(problem)
        return spec, qty, legs, pricetype

    # --- reads ----------------------------------------------------------------------------------

    def session_start(self, now: datetime | None = None) -> datetime:
        """Start of the current trading session (OpenAlgo's SESSION_EXPIRY_TIME, 03:00 IST)."""
        return sessions.session_start(now or self.clock.now(), self.timing.session_start)

    async def orders(self, user_id: int, *, all_sessions: bool = False) -> list[OrderState]:
        since = None if all_sessions else self.session_start()
        return await views.load_orders(self.reads, self.ledger, user_id, since)

    async def order(self, user_id: int, orderid: str) -> OrderState:
        found = await views.load_order(self.reads, self.ledger, user_id, orderid)
        if found is None:
            raise OrderNotFound(f"Order {orderid} not found")
        return found

    async def trades(self, user_id: int, *, all_sessions: bool = False) -> list[views.TradeState]:
        since = None if all_sessions else self.session_start()
        return await views.load_trades(self.reads, self.ledger, user_id, since)

    async def position_lines(self, user_id: int) -> list[views.PositionLine]:
        start = self.session_start()
        account = await self._account(user_id, start)
        return await self._lines(user_id, account, start)

    async def _account(self, user_id: int, start: datetime) -> views.Account:
        """Funds and positions (with today's realised P&L) in one read statement.

        A due T+1 settlement runs first (an in-memory check once this process has settled the
        user today; settling is idempotent in the database, so another worker having done it
        too is harmless). A missing funds row means the memo is wrong (the row was never made
        here or is gone): settle again, which creates it, and read once more.
        """
        await self.settle_if_due(user_id)
        account = await views.load_account(self.reads, self.ledger, user_id, start)
        if account.funds is None:
            self._settled_today.pop(user_id, None)
            await self.settle_if_due(user_id)
            account = await views.load_account(self.reads, self.ledger, user_id, start)
        return account

    async def _lines(
        self, user_id: int, account: views.Account, start: datetime
    ) -> list[views.PositionLine]:
        keys = {(b.position.exchange, b.position.symbol) for b in account.positions}
        open_keys = {
            (b.position.exchange, b.position.symbol)
            for b in account.positions
            if b.position.quantity
        }
        prices = await self._prices_for(user_id, open_keys)
        lots = {}
        for exchange, symbol in keys:
            instrument = await self.instruments.resolve(symbol, exchange)
            lots[(exchange, symbol)] = instrument.lot_size if instrument else 1
        return views.position_lines(
            account.positions, prices=prices, lot_sizes=lots, session_start=start
        )

    async def holding_lines(self, user_id: int) -> list[views.HoldingLine]:
        await self.settle_if_due(user_id)
        holdings = await views.load_holdings(self.reads, self.ledger, user_id)
        prices = await self._prices_for(user_id, {(h.exchange, h.symbol) for h in holdings})
        return [
            views.HoldingLine(h, prices.get((h.exchange, h.symbol), h.cost / h.quantity))
            for h in holdings
            if h.quantity
        ]

    async def funds_view(self, user_id: int) -> views.FundsView:
        start = self.session_start()
        account = await self._account(user_id, start)
        lines = await self._lines(user_id, account, start)
        assert account.funds is not None  # _account settled, which creates the row
        return views.FundsView(
            funds=account.funds,
            unrealized=sum((line.unrealized for line in lines), ZERO),
            today_realized=sum((line.today_realized for line in lines), ZERO),
            gross_exposure=sum(
                (abs(line.position.quantity) * line.ltp for line in lines), ZERO
            ).quantize(Decimal("0.01")),
        )

    async def open_quantity(
        self, user_id: int, symbol: str, exchange: str, product: str
    ) -> Decimal:
        """Net quantity of one position (`/openposition`, smart orders)."""
        return await views.load_open_quantity(
            self.reads, self.ledger, user_id, (symbol, exchange, product)
        )

    async def gtts(self, user_id: int, *, active_only: bool = True) -> list[GttState]:
        return await views.load_gtts(self.reads, self.ledger, user_id, active_only=active_only)

    # --- prices ---------------------------------------------------------------------------------

    def _now_ts(self) -> float:
        return self.clock.now().timestamp()

    async def market_price(self, user_id: int, key: SymbolKey) -> MarketPrice | None:
        """The current touch: a fresh tick if there is one, else a quote from the user's source."""
        snap = self.board.fresh(key, self._now_ts(), self.timing.quote_max_age)
        if snap is None:
            source = self.market_for(user_id)
            if source is None:
                return None
            try:
                quote = await source.quote(key[1], key[0])
            except Exception as exc:
                log.info("sandbox: no quote for %s:%s (%s)", key[0], key[1], exc)
                return None
            if quote.ltp <= 0:
                return None
            snap = self.board.from_quote(key, quote, self._now_ts())
        if not snap.plausible:
            return None
        return snap.market()

    async def _prices_for(
        self, user_id: int, keys: Iterable[SymbolKey]
    ) -> dict[SymbolKey, Decimal]:
        now = self._now_ts()
        out: dict[SymbolKey, Decimal] = {}
        missing: list[SymbolKey] = []
        for key in keys:
            snap = self.board.fresh(key, now, self.timing.quote_max_age)
            if snap is not None:
                out[key] = price(snap.ltp)
            else:
                missing.append(key)
        source = self.market_for(user_id) if missing else None
        if source is not None:
            try:
                quotes = await source.quotes([(s, e) for e, s in missing])
            except Exception as exc:
                log.info("sandbox: quotes failed (%s)", exc)
                quotes = []
            for key, quote in zip(missing, quotes, strict=False):
                if isinstance(quote, Quote) and quote.ltp > 0:
                    out[key] = price(self.board.from_quote(key, quote, now).ltp)
        return out

    async def _open_position_keys(self, user_id: int) -> set[SymbolKey]:
        positions = await views.load_positions(self.reads, self.ledger, user_id)
        return {(p.exchange, p.symbol) for p, _ in positions if p.quantity}

    # --- the matcher ----------------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> None:
        """Take one tick (called by the streaming hub or the simulator; never blocks)."""
        started = time.perf_counter()
        snap = self.board.from_tick(tick, self._now_ts())
        key = (tick.exchange, tick.symbol)
        if key in self.book.books:
            self._match(key, snap, started)

    def publish(self, tick: Tick) -> None:
        """`TickSink` spelling of `on_tick`, so the engine can sit behind any tick source."""
        self.on_tick(tick)

    def _match(self, key: SymbolKey, snap: Snapshot, started: float) -> None:
        if not snap.plausible:
            return
        for crossing in self.book.cross(key, snap.ltp):
            if crossing.kind == "gtt":
                leg = crossing.gtt
                assert leg is not None
                self._spawn(self._fire_gtt(leg, snap.market(), started))
                continue
            entry = crossing.order
            assert entry is not None
            if crossing.kind == "trigger":
                op: Any = TriggerOrder(entry.user_id, entry.orderid, entry.version, self)
            else:
                fill_price = crossing.price if crossing.price is not None else snap.touch(entry.buy)
                snapshot = entry.snapshot
                op = FillOrder(
                    user_id=entry.user_id,
                    orderid=entry.orderid,
                    version=entry.version,
                    symbol=key[1],
                    exchange=key[0],
                    price=fill_price,
                    ctx=self,
                    snapshot=snapshot if isinstance(snapshot, OrderState) else None,
                )
            future = self.writer.submit(op)
            future.add_done_callback(_Timed(self, started))

    def _settled(self, future: asyncio.Future[Any], started: float) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.warning("sandbox: matcher operation failed: %r", error)
            return
        if future.result():
            self.fill_latencies.append(time.perf_counter() - started)

    async def _fire_gtt(self, leg: GttLeg, market: MarketPrice, started: float) -> None:
        instrument = await self.instruments.resolve(leg.key[1], leg.key[0])
        spec = (
            Spec.of(instrument)
            if instrument is not None
            else Spec(symbol=leg.key[1], exchange=leg.key[0], instrument_type="EQ")
        )
        try:
            result = await self.writer.run(
                gtt_ops.FireGtt(
                    user_id=leg.user_id,
                    gtt_id=leg.gtt_id,
                    version=leg.version,
                    leg=leg.leg,
                    spec=spec,
                    market=market,
                    ctx=self,
                )
            )
        except Exception as exc:
            log.warning("sandbox: firing GTT %s failed: %r", leg.gtt_id, exc)
            return
        if result is not None:
            self.fill_latencies.append(time.perf_counter() - started)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # Index maintenance, called after commits (Context protocol).

    def index_order(self, order: OrderState) -> None:
        if not order.is_open:
            return
        key = (order.exchange, order.symbol)
        stop = order.pricetype in (PriceType.SL, PriceType.SL_M)
        entry = Resting(
            orderid=order.orderid,
            user_id=order.user_id,
            version=order.version,
            key=key,
            buy=order.side > 0,
            price=order.price,
            trigger=order.trigger_price,
            stop=stop,
            stop_market=order.pricetype == PriceType.SL_M,
            triggered=order.triggered,
        )
        self._stamp += 1
        entry.stamp = self._stamp
        entry.snapshot = replace(order, dirty=False)
        self.book.add_order(entry)
        self._want(key)
        self._check_now(key)

    def unindex_order(self, orderid: str) -> None:
        self.book.remove_order(orderid)

    def index_gtt(self, gtt: GttState) -> None:
        if gtt.status != gtt_ops.GTT_ACTIVE:
            return
        key = (gtt.exchange, gtt.symbol)
        self._stamp += 1
        legs = []
        for number, above, trigger, _ in gtt.legs():
            leg = GttLeg(
                gtt_id=gtt.gtt_id,
                user_id=gtt.user_id,
                version=gtt.version,
                key=key,
                leg=number,
                above=above,
                trigger=trigger,
            )
            leg.stamp = self._stamp
            legs.append(leg)
        self.book.add_gtt(legs)
        self._want(key)
        self._check_now(key)

    def unindex_gtt(self, gtt_id: str) -> None:
        self.book.remove_gtt(gtt_id)

    def _check_now(self, key: SymbolKey) -> None:
        snap = self.board.fresh(key, self._now_ts(), self.timing.quote_max_age)
        if snap is not None:
            self._match(key, snap, time.perf_counter())

    def _want(self, key: SymbolKey) -> None:
        if key not in self._wanted:
            self._wanted.add(key)
            self.feed.want(*key)

    def release_idle(self) -> None:
        """Give back ticks for symbols with nothing resting any more."""
        for key in list(self._wanted):
            book = self.book.books.get(key)
            if book is None or book.live == 0:
                self._wanted.discard(key)
                self.feed.release(*key)

    async def resync(self) -> None:
        """Make the index agree with the database (orders placed or closed by other workers)."""
        started_at = self._stamp
        async with self.read_sessionmaker() as session:
            orders = (
                await session.execute(
                    select(ORDERS).where(
                        ORDERS.c.ledger == self.ledger, ORDERS.c.status.in_(OPEN_STATUSES)
                    )
                )
            ).all()
            gtts = (
                await session.execute(
                    select(GTTS).where(
                        GTTS.c.ledger == self.ledger, GTTS.c.status == gtt_ops.GTT_ACTIVE
                    )
                )
            ).all()
        from openalgo.brokers.sandbox.store import gtt_from, order_from

        seen = set()
        for row in orders:
            seen.add(row.orderid)
            existing = self.book.orders.get(row.orderid)
            if existing is None or existing.version < row.version:
                self.index_order(order_from(row))
        for orderid, entry in list(self.book.orders.items()):
            if orderid not in seen and entry.stamp <= started_at:
                self.book.remove_order(orderid)
        seen_gtts = set()
        for row in gtts:
            seen_gtts.add(row.gtt_id)
            legs = self.book.gtts.get(row.gtt_id)
            if not legs or legs[0].version < row.version:
                self.index_gtt(gtt_from(row))
        for gtt_key, legs in list(self.book.gtts.items()):
            if gtt_key not in seen_gtts and legs and legs[0].stamp <= started_at:
                self.book.remove_gtt(gtt_key)

    async def poll_once(self) -> int:
        """Price the symbols that have resting orders but no fresh tick; returns symbols priced."""
        now = self._now_ts()
        interval = self.timing.order_check_interval
        owners: dict[SymbolKey, int] = {}
        for entry in self.book.orders.values():
            owners.setdefault(entry.key, entry.user_id)
        for legs in self.book.gtts.values():
            for leg in legs:
                owners.setdefault(leg.key, leg.user_id)
        groups: dict[int, tuple[MarketData, list[SymbolKey]]] = {}
        for key, user_id in owners.items():
            if self.board.fresh(key, now, interval) is not None:
                continue
            source = self.market_for(user_id)
            if source is None:
                continue
            groups.setdefault(id(source), (source, []))[1].append(key)
        priced = 0
        for source, keys in groups.values():
            try:
                quotes = await source.quotes([(s, e) for e, s in keys])
            except Exception as exc:
                log.info("sandbox: polling quotes failed (%s)", exc)
                continue
            for key, quote in zip(keys, quotes, strict=False):
                if isinstance(quote, Quote) and quote.ltp > 0:
                    snap = self.board.from_quote(key, quote, self._now_ts())
                    self._match(key, snap, time.perf_counter())
                    priced += 1
        return priced

    async def _poll_loop(self) -> None:
        cycles = 0
        while True:
            await self.clock.sleep(self.timing.order_check_interval)
            cycles += 1
            try:
                if not self._synced or cycles % RESYNC_EVERY == 0:
                    await self.load_config()
                    await self.resync()
                    self._synced = True
                    self.release_idle()
                await self.poll_once()
            except Exception:
                log.exception("sandbox %s: polling cycle failed", self.ledger)

    # --- maintenance ----------------------------------------------------------------------------

    async def _maintenance_loop(self) -> None:
        while True:
            try:
                await self.run_maintenance()
            except Exception:
                log.exception("sandbox %s: maintenance failed", self.ledger)
            await self.clock.sleep(self.timing.maintenance_interval)

    async def run_maintenance(self) -> None:
        """One pass of every time-driven duty; safe to run any number of times, on any worker."""
        await self.settle_due()
        await self.square_off_due()
        await self.settle_expired()
        await self.expire_gtts()
        await self.scheduled_resets()

    async def settle_due(self) -> int:
        today = ist(self.clock.now()).date()
        async with self.read_sessionmaker() as session:
            users = (
                await session.execute(
                    select(FUNDS.c.user_id).where(
                        FUNDS.c.ledger == self.ledger, FUNDS.c.settled_on < today
                    )
                )
            ).scalars()
            due = list(users)
        await asyncio.gather(*(self._run(Touch(u)) for u in due))
        return len(due)

    async def square_off_due(self) -> int:
        """Close MIS positions (and cancel MIS orders) on exchanges past their square-off time.

        Derived from the database every time, so a restart after the cut-off (or the next
        morning) still closes what was left open.
        """
        if self.timing.market_always_open:
            return 0
        now = self.clock.now()
        local = ist(now)
        today = local.date()
        session_start = self.session_start(now)
        async with self.read_sessionmaker() as session:
            positions = (
                await session.execute(
                    select(
                        POSITIONS.c.user_id,
                        POSITIONS.c.symbol,
                        POSITIONS.c.exchange,
                        POSITIONS.c.quantity,
                        POSITIONS.c.opened_on,
                    ).where(POSITIONS.c.ledger == self.ledger, POSITIONS.c.product == "MIS")
                )
            ).all()
            orders = (
                await session.execute(
                    select(ORDERS.c.user_id, ORDERS.c.exchange, ORDERS.c.created_at).where(
                        ORDERS.c.ledger == self.ledger,
                        ORDERS.c.product == "MIS",
                        ORDERS.c.status.in_(OPEN_STATUSES),
                    )
                )
            ).all()

        def due(user_id: int, exchange: str, stale: bool) -> bool:
            cfg = self.config(user_id)
            if stale:  # from an earlier day: whatever the calendar says about today
                return cfg.square_off_time(exchange) is not None
            cutoff = square_off_cutoff(cfg, self.calendar, exchange, today)
            return cutoff is not None and local >= cutoff

        work: dict[int, set[str]] = {}
        keys: dict[int, set[SymbolKey]] = {}
        for row in positions:
            if row.quantity != 0 and due(row.user_id, row.exchange, row.opened_on < today):
                work.setdefault(row.user_id, set()).add(row.exchange)
                keys.setdefault(row.user_id, set()).add((row.exchange, row.symbol))
        for order_row in orders:
            if due(order_row.user_id, order_row.exchange, order_row.created_at < session_start):
                work.setdefault(order_row.user_id, set()).add(order_row.exchange)
        ops = []
        for user_id, exchanges in work.items():
            prices = await self._prices_for(user_id, keys.get(user_id, set()))
            ops.append(
                self._run(
                    ClosePositions(
                        user_id=user_id,
                        prices=prices,
                        strategy=SQUARE_OFF_STRATEGY,
                        ctx=self,
                        products=frozenset({"MIS"}),
                        exchanges=frozenset(exchanges),
                        fallback_to_last=True,
                        cancel_orders=True,
                    )
                )
            )
        results = await asyncio.gather(*ops)
        return sum(len(r.closed) for r in results)

    async def settle_expired(self) -> int:
        now = self.clock.now()
        async with self.read_sessionmaker() as session:
            positions = (
                await session.execute(
                    select(
                        POSITIONS.c.user_id,
                        POSITIONS.c.symbol,
                        POSITIONS.c.exchange,
                        POSITIONS.c.quantity,
                        POSITIONS.c.expiry,
                    ).where(POSITIONS.c.ledger == self.ledger, POSITIONS.c.expiry.is_not(None))
                )
            ).all()
            orders = (
                await session.execute(
                    select(ORDERS.c.user_id, ORDERS.c.exchange, ORDERS.c.expiry).where(
                        ORDERS.c.ledger == self.ledger,
                        ORDERS.c.expiry.is_not(None),
                        ORDERS.c.status.in_(OPEN_STATUSES),
                    )
                )
            ).all()
        users: dict[int, set[SymbolKey]] = {}
        for row in positions:
            if row.quantity != 0 and is_expired(
                row.expiry, row.exchange, now, self.config(row.user_id)
            ):
                users.setdefault(row.user_id, set()).add((row.exchange, row.symbol))
        for order_row in orders:
            if is_expired(
                order_row.expiry, order_row.exchange, now, self.config(order_row.user_id)
            ):
                users.setdefault(order_row.user_id, set())
        ops = []
        for user_id, keys in users.items():
            prices = await self._prices_for(user_id, keys)
            ops.append(self._run(SettleExpired(user_id=user_id, prices=prices, ctx=self)))
        results = await asyncio.gather(*ops)
        return sum(len(r.closed) for r in results)

    async def expire_gtts(self) -> int:
        now = self.clock.now()
        async with self.read_sessionmaker() as session:
            users = list(
                (
                    await session.execute(
                        select(GTTS.c.user_id)
                        .where(
                            GTTS.c.ledger == self.ledger,
                            GTTS.c.status == gtt_ops.GTT_ACTIVE,
                            GTTS.c.expires_at <= now,
                        )
                        .distinct()
                    )
                ).scalars()
            )
        counts = await asyncio.gather(*(self._run(gtt_ops.ExpireGtts(u, self)) for u in users))
        return sum(counts)

    async def scheduled_resets(self) -> int:
        now = self.clock.now()
        async with self.read_sessionmaker() as session:
            rows = (
                await session.execute(
                    select(FUNDS.c.user_id, FUNDS.c.last_reset_at, FUNDS.c.created_at).where(
                        FUNDS.c.ledger == self.ledger
                    )
                )
            ).all()
        due = []
        for row in rows:
            cfg = self.config(row.user_id)
            if cfg.reset_day == "never":
                continue
            last_slot = last_scheduled(now, WEEKDAYS.index(cfg.reset_day), cfg.reset_time)
            if (row.last_reset_at or row.created_at) < last_slot:
                due.append(row.user_id)
        await asyncio.gather(*(self._run(Reset(u, self, reason="Scheduled reset")) for u in due))
        return len(due)


def _postgresql(sessionmaker: SessionMaker) -> bool:
    bind = sessionmaker.kw.get("bind")
    return getattr(getattr(bind, "dialect", None), "name", None) == "postgresql"


def last_scheduled(now: datetime, weekday: int, at: Any) -> datetime:
    """The most recent instant (IST weekday ``weekday`` at ``at``) not after ``now``."""
    local = ist(now)
    candidate = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    candidate -= timedelta(days=(local.weekday() - weekday) % 7)
    if candidate > local:
        candidate -= timedelta(days=7)
    return candidate.astimezone(UTC)


def price_or_zero(snap: Snapshot | None) -> Decimal:
    return price(snap.ltp) if snap is not None else ZERO


class _Timed:
    """Done-callback of a matcher operation: records tick-to-fill latency, logs failures."""

    __slots__ = ("engine", "started")

    def __init__(self, engine: SandboxEngine, started: float) -> None:
        self.engine = engine
        self.started = started

    def __call__(self, future: asyncio.Future[Any]) -> None:
        self.engine._settled(future, self.started)
