"""Ledger reads run on the database driver's connection, with SQLAlchemy's compiled SQL.

Why: a book or funds read is one small SELECT, and SQLAlchemy's async execution around it costs
more than the query. Measured per read on this project's machine (bench/sandbox_reads.py): on
SQLite a checkout, ``BEGIN DEFERRED``, the SELECT, its fetch and the ``ROLLBACK`` are five hops
to aiosqlite's thread (~430 us of CPU) where ``execute_fetchall`` is one (~115 us); on PostgreSQL
autobegin adds a ``BEGIN`` and a ``ROLLBACK`` round trip and result wrapping (~350 us against
~170 us for asyncpg's ``fetch`` on the same pooled connection).

What stays SQLAlchemy's: the statement is written in Core and compiled once per dialect by
SQLAlchemy (SQL text, parameter order, each parameter's bind processor and each column's result
processor: ExactDecimal text to Decimal on SQLite, UTCDateTime, Date, Boolean), and connections
come from the engine's pool (with its connect-time setup and pre-ping). What is ours: the execute,
and that a connection is held between reads rather than checked out for each (see `Reads`).

Consistency: the statement runs without an explicit transaction (the connection is in autocommit
on both drivers here), and one SELECT sees one snapshot on SQLite (WAL) and PostgreSQL alike.
Reads that need several statements to agree must be written as one statement (see
`views.load_account`). Another driver than asyncpg or aiosqlite runs through a session instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import StaticPool

from openalgo.db.engine import SQLITE_READ_LANES
from openalgo.db.session import SessionMaker

log = logging.getLogger("openalgo.sandbox.reads")

Processor = Callable[[Any], Any]
DRIVERS = ("asyncpg", "aiosqlite")
# Held read connections per `Reads` on PostgreSQL (SQLite's count is in `db.engine`, whose pool
# makes room for it). bench/sandbox_reads.py, 32 concurrent callers of a funds-row read: 1, 2, 4
# and 8 lanes all serve ~20-25k reads/s in one process (a round trip is ~40 us), so more only
# costs server connections per worker (the writers already hold up to eight). Two, so that one
# slow read (a busy account's day of trades) does not hold up all the others.
POSTGRES_READ_LANES = 2


class _Plan:
    """One statement compiled for one dialect: SQL, parameter order and value processors."""

    __slots__ = ("sql", "names", "binds", "fixed", "results")

    def __init__(self, stmt: Select[Any], dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self.names: list[str] = list(compiled.positiontup or ())
        self.binds: list[Processor | None] = [
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.names
        ]
        # Literals written into the statement (``status == "active"``) carry their own value;
        # a ``bindparam`` without one must be given at every execution.
        self.fixed: dict[str, Any] = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        self.results: list[tuple[int, Processor]] = []
        for index, column in enumerate(stmt.selected_columns):
            processor = _result_processor(column.type, dialect)
            if processor is not None:
                self.results.append((index, processor))

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        out = []
        for name, processor in zip(self.names, self.binds, strict=True):
            value = params[name] if name in params or name not in self.fixed else self.fixed[name]
            out.append(value if processor is None else processor(value))
        return out


def _result_processor(type_: Any, dialect: Dialect) -> Processor | None:
    impl = type_.dialect_impl(dialect)
    try:
        processor: Processor | None = impl.result_processor(dialect, None)
    except Exception:
        # asyncpg's Numeric picks its processor by the column's type OID, which a plan made ahead
        # of execution does not know; asyncpg already returns NUMERIC as Decimal.
        return None
    return processor


class PreparedRead:
    """A read statement and its per-dialect plans; rows come back as named tuples."""

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt
        self.row: Any = namedtuple("Row", [c.key for c in stmt.selected_columns])  # type: ignore[misc]
        self._plans: dict[str, _Plan] = {}

    def plan(self, dialect: Dialect) -> _Plan:
        key = f"{dialect.name}+{dialect.driver}"
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _Plan(self.stmt, dialect)
        return plan


class _Lane:
    """A connection held for reads, and its driver connection (aiosqlite's or asyncpg's)."""

    __slots__ = ("conn", "driver")

    def __init__(self, conn: AsyncConnection, driver: Any) -> None:
        self.conn = conn
        self.driver = driver


class Reads:
    """Runs `PreparedRead`s against the engine behind a read sessionmaker, on held connections.

    Why held connections ("lanes") rather than the pool per read: a checkout and checkin cost
    more than a funds SELECT (measured in-process, bench/sandbox_reads.py: ~83 us of CPU on
    SQLite, where the checkin's reset ROLLBACK is a hop to aiosqlite's thread, and ~140 us on
    PostgreSQL, a pre-ping round trip plus the reset, against ~35 us for the SELECT on SQLite).
    As the sandbox writer does (`writer.BatchWriter._connection`), a lane is checked out of the
    engine once (``engine.connect()``, so the engine's connect-time setup applies), kept, and
    lent to one read at a time; at most ``lanes`` exist, and a read finding them all busy waits
    for one (FIFO). They are opened on first use, not at start-up.

    Why that is safe: a read is one statement in autocommit (module docstring), so a lane has no
    transaction to reset between reads. A lane found inside a transaction (which would pin an old
    snapshot on SQLite's WAL) or closed by the server (asyncpg notices a dropped socket) is
    discarded before it is used. A lane whose statement failed or was cancelled in flight is
    invalidated and dropped, never reused; the next read opens a new one. When the server
    dropped that connection, the idle lanes are dropped with it. So a restarted PostgreSQL costs
    at most the one read that was on a dead connection whose loss asyncpg had not yet noticed:
    new lanes come from the pool, whose pre-ping weeds out its own dead ones.

    ``aclose`` (called by `SandboxEngine.stop`, before the engine is disposed) closes the idle
    lanes; a read still running then closes its lane when done, and reads after that check a
    connection out per read, as the pool does.
    """

    def __init__(
        self, sessionmaker: SessionMaker, *, direct: bool = True, lanes: int | None = None
    ) -> None:
        """``direct=False`` runs every read through a session (the reference the tests compare
        the driver path with). ``lanes``: connections held at most (default: per database)."""
        self.sessionmaker = sessionmaker
        bind = sessionmaker.kw.get("bind")
        self.engine = bind if isinstance(bind, AsyncEngine) else None
        self.direct = direct and self.engine is not None and self.engine.dialect.driver in DRIVERS
        self.sqlite = self.engine is not None and self.engine.dialect.name == "sqlite"
        default = SQLITE_READ_LANES if self.sqlite else POSTGRES_READ_LANES
        self.lanes = max(1, lanes or default)
        # An in-memory SQLite has one connection for everyone (StaticPool): nothing to hold.
        self._hold = self.engine is not None and not isinstance(self.engine.pool, StaticPool)
        self._idle: list[_Lane] = []
        self._open = 0
        self._slots = asyncio.Semaphore(self.lanes)
        self._discarding: set[asyncio.Task[None]] = set()

    @property
    def open_lanes(self) -> int:
        """Lanes that exist (idle or lent to a read, or being discarded)."""
        return self._open

    @property
    def idle_lanes(self) -> int:
        return len(self._idle)

    async def all(self, read: PreparedRead, params: Mapping[str, Any]) -> Sequence[Any]:
        if not self.direct:
            async with self.sessionmaker() as session:
                result: Sequence[Any] = (await session.execute(read.stmt, dict(params))).all()
            return result
        assert self.engine is not None
        plan = read.plan(self.engine.dialect)
        rows = await self._fetch(plan, plan.args(params))
        make = read.row._make
        if not plan.results:
            return [make(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for index, processor in plan.results:
                values[index] = processor(values[index])
            out.append(make(values))
        return out

    async def first(self, read: PreparedRead, params: Mapping[str, Any]) -> Any | None:
        rows = await self.all(read, params)
        return rows[0] if rows else None

    async def aclose(self) -> None:
        """Give the idle lanes back to the pool; lanes in use follow when their read ends."""
        self._hold = False
        idle, self._idle = self._idle, []
        for lane in idle:
            await self._close(lane)
        if self._discarding:
            await asyncio.gather(*self._discarding, return_exceptions=True)

    async def _fetch(self, plan: _Plan, args: list[Any]) -> Sequence[Any]:
        await self._slots.acquire()
        try:
            lane = await self._lane()
        except BaseException:
            self._slots.release()
            raise
        try:
            if self.sqlite:
                rows: Sequence[Any] = await lane.driver.execute_fetchall(plan.sql, args)
            else:
                rows = await lane.driver.fetch(plan.sql, *args)
        except Exception as exc:
            # As SQLAlchemy would: the error as a DBAPIError (what callers catch), and a
            # connection that may be broken is discarded rather than reused.
            gone = not self.sqlite and lane.driver.is_closed()
            await asyncio.shield(self._discard(lane))
            if gone:
                # The server dropped the connection; a restart drops every one, so the idle
                # lanes go too rather than costing one failed read each.
                idle, self._idle = self._idle, []
                for other in idle:
                    self._discard(other, release_slot=False)
            raise DBAPIError(plan.sql, None, exc) from exc
        except BaseException:
            # Cancelled with the statement in flight (a client went away): the driver may still
            # be running it or reading its reply, so the connection is not lent again. The
            # discard runs on its own, as this task is being cancelled.
            self._discard(lane)
            raise
        if self._hold:
            self._idle.append(lane)
            self._slots.release()
        else:
            try:
                await self._close(lane)
            finally:
                self._slots.release()
        return rows

    async def _lane(self) -> _Lane:
        """An idle lane fit for a read, or a new one. Called holding a slot."""
        while self._idle:
            lane = self._idle.pop()
            if self.sqlite:
                usable = not lane.driver.in_transaction
            else:
                usable = not lane.driver.is_closed() and not lane.driver.is_in_transaction()
            if usable:
                return lane
            log.warning(
                "sandbox reads: dropping a held connection that is closed or in a transaction"
            )
            await asyncio.shield(self._discard(lane, release_slot=False))
        assert self.engine is not None
        conn = await self.engine.connect()
        try:
            driver = (await conn.get_raw_connection()).driver_connection
        except BaseException:
            await conn.close()
            raise
        self._open += 1
        return _Lane(conn, driver)

    async def _close(self, lane: _Lane) -> None:
        """Return a healthy lane's connection to the pool (not held any more)."""
        try:
            with contextlib.suppress(Exception):
                await lane.conn.close()
        finally:
            self._open -= 1

    def _discard(self, lane: _Lane, *, release_slot: bool = True) -> asyncio.Task[None]:
        """Invalidate and close ``lane``'s connection in a task of its own; the lane's slot is
        free again when that is done (so the pool never has more out than ``lanes``)."""
        task = asyncio.get_running_loop().create_task(self._invalidate(lane, release_slot))
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)
        return task

    async def _invalidate(self, lane: _Lane, release_slot: bool) -> None:
        try:
            if self.sqlite:
                # A statement still running in aiosqlite's thread (the read was cancelled) is
                # stopped rather than waited for: the close below queues behind it.
                await lane.driver.interrupt()
            with contextlib.suppress(Exception):
                await lane.conn.invalidate()
            with contextlib.suppress(Exception):
                await lane.conn.close()
        finally:
            self._open -= 1
            if release_slot:
                self._slots.release()
