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
come from the engine's pool (checkout, pre-ping and return as usual). Only the execute is ours.

Consistency: the statement runs without an explicit transaction (the connection is in autocommit
on both drivers here), and one SELECT sees one snapshot on SQLite (WAL) and PostgreSQL alike.
Reads that need several statements to agree must be written as one statement (see
`views.load_account`). Another driver than asyncpg or aiosqlite runs through a session instead.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.db.session import SessionMaker

Processor = Callable[[Any], Any]
DRIVERS = ("asyncpg", "aiosqlite")


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


class Reads:
    """Runs `PreparedRead`s against the engine behind a read sessionmaker."""

    def __init__(self, sessionmaker: SessionMaker, *, direct: bool = True) -> None:
        """``direct=False`` runs every read through a session (the reference the tests compare
        the driver path with)."""
        self.sessionmaker = sessionmaker
        bind = sessionmaker.kw.get("bind")
        self.engine = bind if isinstance(bind, AsyncEngine) else None
        self.direct = direct and self.engine is not None and self.engine.dialect.driver in DRIVERS
        self.sqlite = self.engine is not None and self.engine.dialect.name == "sqlite"

    async def all(self, read: PreparedRead, params: Mapping[str, Any]) -> Sequence[Any]:
        if not self.direct:
            async with self.sessionmaker() as session:
                result: Sequence[Any] = (await session.execute(read.stmt, dict(params))).all()
            return result
        assert self.engine is not None
        plan = read.plan(self.engine.dialect)
        args = plan.args(params)
        async with self.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            try:
                if self.sqlite:
                    rows: Sequence[Any] = await driver.execute_fetchall(plan.sql, args)
                else:
                    rows = await driver.fetch(plan.sql, *args)
            except Exception as exc:
                # As SQLAlchemy would: the error as a DBAPIError (what callers catch), and a
                # connection that may be broken is discarded rather than returned to the pool.
                await conn.invalidate()
                raise DBAPIError(plan.sql, None, exc) from exc
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
