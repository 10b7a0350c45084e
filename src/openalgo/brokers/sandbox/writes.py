"""A batch's writes, gathered and then sent in as few round trips as each database allows.

Why: a batch of fills changes four tables (funds, orders, trades, positions). Sent one statement at
a time, that is four round trips on PostgreSQL, and on SQLite four trips to aiosqlite's thread of
three hand-offs each (cursor, execute, close); on a busy machine each hand-off waits for the CPU.

- PostgreSQL: every piece becomes a data-modifying CTE of **one** statement, its rows passed as
  arrays (``unnest``), so the statement is the same prepared statement whatever the row count. The
  outer query counts what each piece touched; a compare-and-set that matched fewer rows than it
  was given means another writer got there first (`StaleState`, the batch is retried). The CTEs
  run in the order the outer query reads them, funds first, which keeps the lock order.
- SQLite: each piece is one ``executemany`` on the driver connection (one hand-off), compiled by
  SQLAlchemy and with SQLAlchemy's own parameter processing (so decimals, dates and times are
  stored exactly as every other statement stores them). It runs inside the writer's transaction,
  which already holds SQLite's write lock.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Integer,
    Table,
    and_,
    any_,
    bindparam,
    case,
    column,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from openalgo.db.driver_statements import as_sqlalchemy_errors, driver_of

Bind = AsyncSession | AsyncConnection
# kind, table, key, columns, and for an insert the columns its new ids are returned by
Shape = tuple[str, Table, str, tuple[str, ...], tuple[str, ...]]


class StaleState(Exception):
    """A compare-and-set matched no row: someone else changed it. The batch is retried."""


@dataclass(slots=True)
class _Piece:
    kind: str  # "cas" | "insert" | "delete"
    table: Table
    key: str  # cas and delete: the column rows are matched on
    columns: tuple[str, ...]  # cas: columns set; insert: columns given
    rows: list[Any]  # cas: (key, version, values); insert: values; delete: (key, version)
    # insert, PostgreSQL: also bring back each new row's id, by these columns' values.
    ids_by: tuple[str, ...] = ()

    @property
    def shape(self) -> Shape:
        return (self.kind, self.table, self.key, self.columns, self.ids_by)


class Writes:
    def __init__(self, ledger: str) -> None:
        self.ledger = ledger
        self.pieces: list[_Piece] = []

    def cas(self, table: Table, key: str, rows: list[tuple[Any, int, dict[str, Any]]]) -> None:
        """Set columns of rows still at the version read (``rows``: key, version, new values)."""
        if rows:
            self.pieces.append(_Piece("cas", table, key, tuple(rows[0][2]), rows))

    def insert(
        self, table: Table, rows: list[dict[str, Any]], *, ids_by: tuple[str, ...] = ()
    ) -> None:
        """Insert ``rows``. With ``ids_by`` (PostgreSQL), `run_postgresql` returns the new ids
        by those columns' values."""
        if rows:
            self.pieces.append(_Piece("insert", table, "id", tuple(rows[0]), rows, ids_by))

    def empty(
        self,
        kind: str,
        table: Table,
        key: str,
        columns: tuple[str, ...],
        ids_by: tuple[str, ...] = (),
    ) -> None:
        """A piece with no rows: the statement's shape without its work (to prepare it)."""
        self.pieces.append(_Piece(kind, table, key, columns, [], ids_by))

    def delete(self, table: Table, rows: list[tuple[Any, int]]) -> None:
        """Delete rows still at the version read (``rows``: id, version)."""
        if rows:
            self.pieces.append(_Piece("delete", table, "id", (), rows))

    # --- PostgreSQL -----------------------------------------------------------------------------

    async def run_postgresql(self, bind: Bind) -> dict[str, dict[tuple[Any, ...], int]]:
        """Run every piece in one statement; the ids of rows inserted with ``ids_by``, per
        table name, by the tuple of those columns' values."""
        ids: dict[str, dict[tuple[Any, ...], int]] = {}
        if not self.pieces:
            return ids
        params: dict[str, Any] = {}
        for number, piece in enumerate(self.pieces):
            params.update(_pg_params(f"p{number}_", piece, self.ledger))
            params[f"p{number}_expected"] = len(piece.rows)
        stmt = _pg_statement(tuple(piece.shape for piece in self.pieces))
        try:
            row = (await bind.execute(stmt, params)).one()._mapping
        except DBAPIError as exc:
            if _sqlstate(exc) == DIVISION_BY_ZERO:  # the statement's own guard: see below
                raise StaleState(f"rows changed under us ({len(self.pieces)} pieces)") from exc
            raise
        for number, piece in enumerate(self.pieces):
            if piece.ids_by:
                keys = zip(
                    *(row[f"k{number}_{j}"] or () for j in range(len(piece.ids_by))), strict=True
                )
                found = ids.setdefault(piece.table.name, {})
                found.update(zip(keys, row[f"i{number}"] or (), strict=True))
        return ids

    # --- SQLite ---------------------------------------------------------------------------------

    def compile_sqlite(self, dialect: Dialect) -> None:
        """Build (and cache) each piece's SQLite statement without running it: the warm-up."""
        for piece in self.pieces:
            _sqlite_statement(dialect, piece.shape)

    async def run_sqlite(self, bind: Bind) -> None:
        if not self.pieces:
            return
        conn = bind if isinstance(bind, AsyncConnection) else await bind.connection()
        driver = await driver_of(conn)
        for piece in self.pieces:
            sql, row_of = _sqlite_statement(conn.dialect, piece.shape)
            rows = [row_of(row, self.ledger) for row in piece.rows]
            # As SQLAlchemy would raise them, so the writer recognises a clash it retries.
            with as_sqlalchemy_errors(sql):
                cursor = await driver.executemany(sql, rows)
            if piece.kind != "insert" and cursor.rowcount != len(piece.rows):
                raise StaleState(
                    f"{piece.table.name}: {len(piece.rows) - cursor.rowcount} of "
                    f"{len(piece.rows)} rows changed under us"
                )


# --- statement builders (cached per shape) --------------------------------------------------------

_PG: dict[tuple[Shape, ...], Any] = {}
# A piece row (and the ledger) as one statement's parameters: see `_sqlite_row_of`.
RowOf = Callable[[Any, str], tuple[Any, ...]]
_SQLITE: dict[tuple[str, Shape], tuple[str, RowOf]] = {}


def _pg_params(prefix: str, piece: _Piece, ledger: str) -> dict[str, Any]:
    out: dict[str, Any] = {f"{prefix}ledger": ledger}
    rows = piece.rows
    if piece.kind == "cas":
        out[f"{prefix}key"] = [r[0] for r in rows]
        out[f"{prefix}version"] = [r[1] for r in rows]
        for name in piece.columns:
            out[f"{prefix}s_{name}"] = [r[2][name] for r in rows]
    elif piece.kind == "insert":
        for name in piece.columns:
            out[f"{prefix}s_{name}"] = [r[name] for r in rows]
    else:
        out[f"{prefix}key"] = [r[0] for r in rows]
        out[f"{prefix}version"] = [r[1] for r in rows]
    return out


def _pg_piece(prefix: str, shape: Shape) -> Any:
    """One piece as DML returning the ids it touched; its rows come in as arrays named
    ``<prefix>key``, ``<prefix>version`` and ``<prefix>s_<column>`` (see `_pg_params`)."""
    kind, table, key, columns, ids_by = shape
    typed: list[tuple[str, str, Any]] = []  # (array parameter, column in the unnest, type)
    if kind in ("cas", "delete"):
        typed += [
            (f"{prefix}key", "w_key", table.c[key].type),
            (f"{prefix}version", "w_version", Integer()),
        ]
    typed += [(f"{prefix}s_{name}", f"s_{name}", table.c[name].type) for name in columns]
    arrays = (
        func.unnest(*(bindparam(param, type_=ARRAY(type_)) for param, _, type_ in typed))
        .table_valued(*(column(name, type_) for _, name, type_ in typed))
        .render_derived(name=f"{prefix}w")
    )
    ledger = bindparam(f"{prefix}ledger", type_=table.c.ledger.type)
    # ``key = ANY(keys)`` as well as the join: the table is then read through its index on the
    # key whatever the planner believes about its size (statistics lag behind a table that grew
    # fast, and a join planned on stale ones can scan the whole ledger for each batch).
    # Matched on the primary key, the ledger is implied (the id was read from, or returned by,
    # this ledger's rows) and left out: a condition on it gives the planner an index to prefer,
    # wrongly, when it believes the ledger holds a handful of rows.
    wanted = [table.c[key] == any_(bindparam(f"{prefix}key", type_=ARRAY(table.c[key].type)))]
    if key != "id":
        wanted.append(table.c.ledger == ledger)
    if kind == "cas":
        return (
            update(table)
            .where(
                *wanted,
                table.c[key] == arrays.c.w_key,
                table.c.version == arrays.c.w_version,
            )
            .values({name: arrays.c[f"s_{name}"] for name in columns})
            .returning(table.c.id)
        )
    if kind == "delete":
        return (
            delete(table)
            .where(
                *wanted,
                table.c[key] == arrays.c.w_key,
                table.c.version == arrays.c.w_version,
            )
            .returning(table.c.id)
        )
    stmt = insert(table).from_select(
        ["ledger", *columns],
        select(ledger, *(arrays.c[f"s_{name}"] for name in columns)),
    )
    return stmt.returning(table.c.id, *(table.c[name] for name in ids_by))


def _pg_statement(shapes: tuple[Shape, ...]) -> Any:
    """One statement for all pieces: ``WITH p0 AS (...), ... SELECT count(p0), ..., guard``.

    The guard divides by zero unless every piece touched as many rows as it was given
    (``p<n>_expected``), so a lost compare-and-set fails the whole statement: nothing of it is
    written even outside a transaction (an optimistic batch runs it alone, in autocommit).
    An insert piece with ``ids_by`` adds arrays: the values of each of those columns and the ids,
    aggregated together in one pass over its CTE."""
    if shapes not in _PG:
        columns: list[Any] = []
        counts = []
        aggregates: list[Any] = []  # one-row subqueries, joined side by side
        for n, shape in enumerate(shapes):
            cte = _pg_piece(f"p{n}_", shape).cte(f"p{n}")
            count = select(func.count()).select_from(cte).scalar_subquery().label(f"n{n}")
            columns.append(count)
            counts.append((f"n{n}", bindparam(f"p{n}_expected", type_=Integer())))
            kind, _, _, _, ids_by = shape
            if kind == "insert" and ids_by:
                # One aggregate node over one scan of the CTE: the arrays line up row for row.
                agg = select(
                    *(
                        func.array_agg(cte.c[name]).label(f"k{n}_{j}")
                        for j, name in enumerate(ids_by)
                    ),
                    func.array_agg(cte.c.id).label(f"i{n}"),
                ).subquery(f"a{n}")
                columns.extend(agg.c)
                aggregates.append(agg)
        inner_select = select(*columns)
        if aggregates:
            joined = aggregates[0]
            for agg in aggregates[1:]:
                joined = joined.join(agg, true())
            inner_select = inner_select.select_from(joined)
        inner = inner_select.subquery("written")
        every = and_(*(inner.c[name] == expected for name, expected in counts))
        guard = (literal(1, Integer()) / case((every, 1), else_=0)).label("guard")
        _PG[shapes] = select(*inner.c, guard)
    return _PG[shapes]


DIVISION_BY_ZERO = "22012"


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None


def _getter(kind: str, name: str) -> Callable[[Any, str], Any]:
    """How parameter ``name`` is read from a piece row of ``kind`` (and the ledger)."""
    if name in ("ledger", "w_ledger"):
        return lambda _row, ledger: ledger
    if kind == "insert":
        return lambda row, _ledger: row[name]
    if name == "w_key":
        return lambda row, _ledger: row[0]
    if name == "w_version":
        return lambda row, _ledger: row[1]
    column = name[2:]  # a cas's new value, s_<column>
    return lambda row, _ledger: row[2][column]


def _sqlite_row_of(kind: str, names: list[str], processors: list[Any]) -> RowOf:
    """A piece row (see `_Piece.rows`) as the statement's positional parameters, processed.

    Made once per statement: the getters follow the compiled parameter order, and only the
    columns whose type has a bind processor (decimals, timestamps) pay for a call.
    """
    getters = [_getter(kind, name) for name in names]
    plan = list(zip(getters, processors, strict=True))
    if kind == "insert" and "ledger" in names:
        # Inserts are most of a batch's rows: read the columns with one itemgetter call.
        at = names.index("ledger")
        columns = [name for name in names if name != "ledger"]
        take = operator.itemgetter(*columns) if len(columns) > 1 else None
        processed = [(i, p) for i, p in enumerate(processors) if p is not None]

        def insert_row(row: Any, ledger: str) -> tuple[Any, ...]:
            values = list(take(row)) if take is not None else [row[columns[0]]]
            values.insert(at, ledger)
            for i, process in processed:
                values[i] = process(values[i])
            return tuple(values)

        return insert_row

    def any_row(row: Any, ledger: str) -> tuple[Any, ...]:
        return tuple(
            [
                get(row, ledger) if process is None else process(get(row, ledger))
                for get, process in plan
            ]
        )

    return any_row


def _sqlite_statement(dialect: Dialect, shape: Shape) -> tuple[str, RowOf]:
    """SQL text and the maker of its parameter rows, compiled by SQLAlchemy once."""
    cache_key = (dialect.name, shape)
    if cache_key not in _SQLITE:
        kind, table, key, columns, _ = shape
        stmt: Any
        if kind == "insert":
            stmt = insert(table).values(
                {n: bindparam(n, type_=table.c[n].type) for n in ("ledger", *columns)}
            )
        else:
            where = (
                table.c.ledger == bindparam("w_ledger", type_=table.c.ledger.type),
                table.c[key] == bindparam("w_key", type_=table.c[key].type),
                table.c.version == bindparam("w_version", type_=Integer()),
            )
            if kind == "cas":
                stmt = (
                    update(table)
                    .where(*where)
                    .values({n: bindparam(f"s_{n}", type_=table.c[n].type) for n in columns})
                )
            else:
                stmt = delete(table).where(*where)
        compiled = stmt.compile(dialect=dialect)
        names = list(compiled.positiontup or ())
        processors = [
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        ]
        _SQLITE[cache_key] = (compiled.string, _sqlite_row_of(kind, names, processors))
    return _SQLITE[cache_key]
