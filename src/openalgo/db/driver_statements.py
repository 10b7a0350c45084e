"""SQLAlchemy statements run on the driver connection: compiled once, rows processed by hand.

Why: for a batch of small rows SQLAlchemy's ``execute`` spends more of the event loop than the
database does: it rebuilds the parameter list per execution (`construct_params`), runs every
column's processor through generic wrappers, and sets up a result. The order journal writes two
such batches per order. Here SQLAlchemy still compiles the statement and supplies each
parameter's bind processor (so values are stored exactly as through the ORM), once per statement
and dialect; the rows go to the driver as tuples.

The sandbox ledger's SQLite writes (`brokers/sandbox/writes.py`), which build their rows their
own way, share `driver_of` and `as_sqlalchemy_errors`.

SQLite only (aiosqlite): PostgreSQL's callers keep SQLAlchemy's path, where asyncpg's codecs and
``sort_by_parameter_order`` do work this module would have to repeat.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """One compiled statement: its SQL, parameter names in order and their processors."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Processor, ...]

    @classmethod
    def compile(cls, stmt: Any, dialect: Dialect) -> DriverStatement:
        compiled = stmt.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        if not names or "?" not in compiled.string:
            raise ValueError("expected a statement with positional (qmark) parameters")
        processors = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        )
        return cls(compiled.string, names, processors)

    def row(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """``values`` (by parameter name) as this statement's positional parameters."""
        return tuple(
            [
                values[name] if process is None else process(values[name])
                for name, process in zip(self.names, self.processors, strict=True)
            ]
        )

    def multi_row_sql(self, count: int) -> str:
        """For an ``INSERT ... VALUES (...)``: the same with ``count`` row groups (a multi-row
        insert, one statement for a batch, ``RETURNING`` included)."""
        match = _VALUES.search(self.sql)
        if match is None:
            raise ValueError("not a single-row INSERT ... VALUES statement")
        group = match.group(1)
        return self.sql[: match.start(1)] + ", ".join([group] * count) + self.sql[match.end(1) :]


_VALUES = re.compile(r"VALUES (\([?, ]+\))")


async def driver_of(bind: AsyncSession | AsyncConnection) -> Any:
    """The aiosqlite connection under ``bind`` (a session's current connection)."""
    conn = bind if isinstance(bind, AsyncConnection) else await bind.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    return driver


async def executemany(
    bind: AsyncSession | AsyncConnection,
    statement: DriverStatement,
    rows: Sequence[Mapping[str, Any]],
) -> int:
    """Run ``statement`` once per row (one hand-off to aiosqlite's thread); the rows changed."""
    driver = await driver_of(bind)
    with as_sqlalchemy_errors(statement.sql):
        cursor = await driver.executemany(statement.sql, [statement.row(r) for r in rows])
    return int(cursor.rowcount)


async def insert_returning(
    bind: AsyncSession | AsyncConnection,
    statement: DriverStatement,
    rows: Sequence[Mapping[str, Any]],
) -> list[tuple[Any, ...]]:
    """One multi-row ``INSERT ... RETURNING`` for ``rows`` (one hand-off); the returned rows."""
    driver = await driver_of(bind)
    params = [value for r in rows for value in statement.row(r)]
    sql = statement.multi_row_sql(len(rows))
    with as_sqlalchemy_errors(sql):
        return [tuple(r) for r in await driver.execute_fetchall(sql, params)]


@contextmanager
def as_sqlalchemy_errors(sql: str) -> Iterator[None]:
    """The driver's errors as SQLAlchemy raises them, which is what callers catch and retry."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(sql, None, exc) from exc
    except sqlite3.OperationalError as exc:
        raise OperationalError(sql, None, exc) from exc
