"""Queries over the instrument master, one broker at a time.

Reads return domain `Instrument`s built from plain rows (no ORM identity map: a master has 100k+
rows and is read in bulk). Writes are one operation, `replace`: delete the broker's rows for the
given exchanges and bulk-insert the new ones, inside the caller's transaction, so a load is all or
nothing and loading the same master twice leaves the same rows. Inserts go through the driver in
large batches (COPY on PostgreSQL, one ``executemany`` per batch on SQLite): building ORM objects or
SQLAlchemy parameter dicts for 100k rows costs more than the database does.

`search` here is the fallback for a broker whose master is not in memory yet; the service normally
answers from `openalgo.services.instrument_search`, which implements the same rules (brokers
reference C3): the query is split on whitespace, every term must match (case-insensitively, as a
substring of symbol, broker symbol, name or token; a numeric term also matches the strike), and
results are ranked exact symbol match first, then symbols that start with the first term, then the
rest in master order. It is a plain ``LIKE`` scan, correct on both databases and not fast.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.base import utcnow
from openalgo.db.models.instrument import InstrumentMaster, InstrumentRecord
from openalgo.db.repository import Repository
from openalgo.domain.enums import InstrumentType
from openalgo.domain.instruments import Instrument

SEARCH_LIMIT = 500
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
INSERT_CHUNK = 20_000
LOAD_CACHE_KIB = 64 * 1024  # SQLite page cache while loading a master
T = InstrumentRecord

_COLUMNS = (
    T.symbol,
    T.exchange,
    T.name,
    T.instrument_type,
    T.token,
    T.broker_symbol,
    T.broker_exchange,
    T.lot_size,
    T.tick_size,
    T.expiry,
    T.strike,
)
_COPY_COLUMNS = [
    "broker",
    "exchange",
    "symbol",
    "broker_symbol",
    "name",
    "broker_exchange",
    "token",
    "instrument_type",
    "expiry",
    "strike",
    "lot_size",
    "tick_size",
    "search_text",
]
_SQLITE_INSERT = (
    "INSERT INTO instruments (broker, exchange, symbol, broker_symbol, name, broker_exchange, "
    "token, instrument_type, expiry, strike, lot_size, tick_size, search_text) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
Progress = Callable[[int], None]
# PostgreSQL replace of a master the broker already holds (see `_replace_postgresql`).
_PG_SCRATCH = (
    "CREATE TEMP TABLE instruments_load ON COMMIT DROP AS "
    "SELECT broker, exchange, symbol, broker_symbol, name, broker_exchange, token, "
    "instrument_type, expiry, strike, lot_size, tick_size, search_text, 0 AS position "
    "FROM instruments WITH NO DATA"
)
_PG_DELETE_CHANGED = """
DELETE FROM instruments AS i
WHERE i.broker = $1 AND i.exchange = ANY($2::varchar[])
  AND NOT EXISTS (
    SELECT 1 FROM instruments_load AS t
    WHERE t.exchange = i.exchange AND t.symbol = i.symbol
      AND t.broker_symbol = i.broker_symbol AND t.name = i.name
      AND t.broker_exchange = i.broker_exchange AND t.token = i.token
      AND t.instrument_type = i.instrument_type
      AND t.expiry IS NOT DISTINCT FROM i.expiry AND t.strike IS NOT DISTINCT FROM i.strike
      AND t.lot_size = i.lot_size AND t.tick_size = i.tick_size
      AND t.search_text = i.search_text)
"""
_PG_INSERT_NEW = """
INSERT INTO instruments (broker, exchange, symbol, broker_symbol, name, broker_exchange, token,
                         instrument_type, expiry, strike, lot_size, tick_size, search_text)
SELECT broker, exchange, symbol, broker_symbol, name, broker_exchange, token,
       instrument_type, expiry, strike, lot_size, tick_size, search_text
FROM instruments_load AS t
WHERE NOT EXISTS (
    SELECT 1 FROM instruments AS i
    WHERE i.broker = $1 AND i.exchange = t.exchange AND i.symbol = t.symbol)
ORDER BY t.position
"""


def search_text(instrument: Instrument) -> str:
    """What a search term is matched against: symbol, broker symbol, name and token, upper case.

    Fields are joined with spaces and terms never contain one, so a term matches the text exactly
    when it matches one of the fields; a field repeating an earlier one is left out.
    """
    parts = [instrument.symbol]
    for value in (instrument.broker_symbol, instrument.name, instrument.token):
        if value and value not in parts:
            parts.append(value)
    return " ".join(parts).upper()


def _to_instrument(row: Sequence[Any]) -> Instrument:
    return Instrument(
        symbol=row[0],
        exchange=row[1],
        name=row[2],
        instrument_type=_TYPES[row[3]],
        token=row[4],
        broker_symbol=row[5],
        broker_exchange=row[6],
        lot_size=row[7],
        tick_size=_clean(row[8]),
        expiry=row[9],
        strike=_clean(row[10]) if row[10] is not None else None,
    )


def clean_decimal(value: Any) -> Decimal:
    """A numeric column value without storage padding: ``24000``, ``0.05`` (never ``2.4E+4``)."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.normalize()


# Reading a whole master converts the same few tick sizes and strikes over and over.
_clean = lru_cache(maxsize=65_536)(clean_decimal)
_TYPES = {t.value: t for t in InstrumentType}


def numeric_term(term: str) -> Decimal | None:
    """The strike a search term names, if it is a plain number (``24000``, ``292.5``)."""
    if _NUMBER.fullmatch(term) is None:
        return None
    return Decimal(term)


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (``None``: there is none,
    the prefix is all U+10FFFF)."""
    for end in range(len(prefix), 0, -1):
        if ord(prefix[end - 1]) < 0x10FFFF:
            return prefix[: end - 1] + chr(ord(prefix[end - 1]) + 1)
    return None


def _sqlite_row(record: tuple[Any, ...]) -> tuple[Any, ...]:
    expiry, strike, tick = record[8], record[9], record[11]
    return (
        *record[:8],
        expiry.isoformat() if expiry is not None else None,
        float(strike) if strike is not None else None,
        record[10],
        float(tick),
        record[12],
    )


class InstrumentRepository(Repository[InstrumentRecord]):
    model = InstrumentRecord

    def __init__(self, session: AsyncSession, broker: str) -> None:
        super().__init__(session)
        self.broker = broker

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _rows(self) -> Select[Any]:
        stmt: Select[Any] = select(*_COLUMNS).where(T.broker == self.broker)  # type: ignore[assignment]
        return stmt

    # --- reads ----------------------------------------------------------------------------------

    async def resolve(self, symbol: str, exchange: str) -> Instrument | None:
        result = await self.session.execute(
            self._rows().where(T.exchange == exchange, T.symbol == symbol)
        )
        row = result.first()
        return _to_instrument(row) if row is not None else None

    async def by_token(self, token: str, exchange: str | None = None) -> list[Instrument]:
        stmt = self._rows().where(T.token == token)
        if exchange is not None:
            stmt = stmt.where(T.exchange == exchange)
        return [_to_instrument(r) for r in await self.session.execute(stmt.order_by(T.id))]

    async def all(self, exchange: str | None = None) -> list[Instrument]:
        stmt = self._rows()
        if exchange is not None:
            stmt = stmt.where(T.exchange == exchange)
        result = await self.session.execute(stmt.order_by(T.id))
        return [_to_instrument(r) for r in result]

    async def count_by_exchange(self) -> dict[str, int]:
        result = await self.session.execute(
            select(T.exchange, func.count())
            .where(T.broker == self.broker)
            .group_by(T.exchange)
            .order_by(T.exchange)
        )
        return {exchange: int(n) for exchange, n in result}

    async def search(
        self,
        query: str,
        *,
        exchange: str | None = None,
        instrument_types: Iterable[InstrumentType] | None = None,
        limit: int = SEARCH_LIMIT,
    ) -> list[Instrument]:
        terms = query.upper().split()
        if not terms or limit <= 0:
            return []
        first = terms[0]
        scope: list[ColumnElement[bool]] = [T.broker == self.broker]
        if exchange is not None:
            scope.append(T.exchange == exchange)
        if instrument_types is not None:
            scope.append(T.instrument_type.in_([t.value for t in instrument_types]))
        matches = self._term_filters(terms)
        end = prefix_end(first)
        prefix = and_(T.symbol >= first, T.symbol < end) if end is not None else T.symbol >= first

        found: list[Instrument] = []
        tiers: list[tuple[ColumnElement[bool], Any]] = [
            (T.symbol == first, T.exchange),
            (and_(prefix, T.symbol != first), T.symbol),
            (not_(prefix), T.id),
        ]
        for condition, order in tiers:
            remaining = limit - len(found)
            if remaining <= 0:
                break
            stmt = (
                self._rows()
                .where(*scope, *matches, condition)
                .order_by(order, T.exchange)
                .limit(remaining)
            )
            found.extend(_to_instrument(r) for r in await self.session.execute(stmt))
        return found

    def _term_filters(self, terms: Sequence[str]) -> list[ColumnElement[bool]]:
        filters: list[ColumnElement[bool]] = []
        for term in terms:
            contains = T.search_text.like(f"%{_like_escape(term)}%", escape="\\")
            strike = numeric_term(term)
            filters.append(contains if strike is None else or_(contains, T.strike == strike))
        return filters

    async def expiries(
        self,
        underlying: str,
        exchange: str,
        *,
        instrument_types: Iterable[InstrumentType] | None = None,
        on_or_after: date | None = None,
    ) -> list[date]:
        stmt = (
            select(T.expiry)
            .distinct()
            .where(
                T.broker == self.broker,
                T.name == underlying,
                T.exchange == exchange,
                T.expiry.is_not(None),
            )
            .order_by(T.expiry)
        )
        if instrument_types is not None:
            stmt = stmt.where(T.instrument_type.in_([t.value for t in instrument_types]))
        if on_or_after is not None:
            stmt = stmt.where(T.expiry >= on_or_after)
        result = await self.session.execute(stmt)
        return [d for (d,) in result if d is not None]

    async def strikes(
        self, underlying: str, exchange: str, expiry: date, option_type: InstrumentType
    ) -> list[Decimal]:
        result = await self.session.execute(
            select(T.strike)
            .distinct()
            .where(
                T.broker == self.broker,
                T.name == underlying,
                T.exchange == exchange,
                T.expiry == expiry,
                T.instrument_type == option_type.value,
                T.strike.is_not(None),
            )
            .order_by(T.strike)
        )
        return [clean_decimal(s) for (s,) in result if s is not None]

    async def master(self) -> InstrumentMaster | None:
        return await self.session.get(InstrumentMaster, self.broker)

    # --- writes ---------------------------------------------------------------------------------

    async def replace(
        self,
        instruments: Sequence[Instrument],
        *,
        exchanges: Iterable[str] | None = None,
        as_of: date,
        source: str,
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Make ``instruments`` the broker's whole master for ``exchanges`` (default: theirs).

        Runs in the caller's transaction; returns the row count per exchange.
        """
        targets = sorted(
            set(exchanges) if exchanges is not None else {i.exchange for i in instruments}
        )
        stray = {i.exchange for i in instruments} - set(targets)
        if stray:
            raise ValueError(f"rows for exchanges outside the replaced set: {sorted(stray)}")
        if self._dialect == "postgresql":
            # Two processes replacing the same master would otherwise both delete the old rows
            # and then collide inserting the new ones; SQLite's writer lock already serializes.
            key = zlib.crc32(f"instruments:{self.broker}".encode())
            await self.session.execute(select(func.pg_advisory_xact_lock(key)))
        records = [self._record(i) for i in instruments]
        if self._dialect == "postgresql":
            await self._replace_postgresql(targets, records, progress)
        else:
            # 100k rows touch more index pages than SQLite's default 2 MB page cache holds;
            # without room for them the load spends most of its time re-reading pages.
            connection = await self.session.connection()
            before = await connection.exec_driver_sql("PRAGMA cache_size")
            previous = int(before.scalar_one())
            await connection.exec_driver_sql(f"PRAGMA cache_size = {-LOAD_CACHE_KIB}")
            try:
                await self._delete(targets)
                await self._insert(records, progress)
            finally:
                await connection.exec_driver_sql(f"PRAGMA cache_size = {previous}")
        counts = Counter(i.exchange for i in instruments)
        await self._record_master(as_of=as_of, source=source)
        return {exchange: counts.get(exchange, 0) for exchange in targets}

    def _record(self, i: Instrument) -> tuple[Any, ...]:
        return (
            self.broker,
            i.exchange,
            i.symbol,
            i.broker_symbol,
            i.name,
            i.broker_exchange,
            i.token,
            i.instrument_type.value,
            i.expiry,
            i.strike,
            i.lot_size,
            i.tick_size,
            search_text(i),
        )

    async def _delete(self, exchanges: list[str]) -> None:
        if exchanges:
            await self.session.execute(
                delete(T).where(T.broker == self.broker, T.exchange.in_(exchanges))
            )

    async def _insert(self, records: list[tuple[Any, ...]], progress: Progress | None) -> None:
        """SQLite: plain tuples through the driver, as SQLAlchemy would store them (dates as ISO
        text, numerics as floats, which is what the column's affinity keeps anyway)."""
        connection = await self.session.connection()
        sql = _SQLITE_INSERT
        for start in range(0, len(records), INSERT_CHUNK):
            chunk = records[start : start + INSERT_CHUNK]
            await connection.exec_driver_sql(sql, [_sqlite_row(r) for r in chunk])
            if progress is not None:
                progress(len(chunk))

    async def _replace_postgresql(
        self, targets: list[str], records: list[tuple[Any, ...]], progress: Progress | None
    ) -> None:
        """COPY straight in when the broker holds none of these rows; otherwise COPY into a
        scratch table and touch only what changed.

        A daily master differs from yesterday's in a few contracts; deleting and re-inserting the
        other 100k rows would cost seconds and leave as many dead index entries behind for every
        load until vacuum catches up. Rows that did not change keep their ids; new ones are
        appended in the order given.
        """
        held = (
            await self.session.scalar(
                select(func.count())
                .select_from(T)
                .where(T.broker == self.broker, T.exchange.in_(targets))
            )
            if targets
            else 0
        )
        if not held:
            await self._copy("instruments", _COPY_COLUMNS, records, progress)
            return
        # The statements above began the session's transaction, so the scratch table (ON COMMIT
        # DROP) lives in it rather than in an autocommitted statement of the raw connection.
        driver = await self._driver()
        await driver.execute("DROP TABLE IF EXISTS instruments_load")
        await driver.execute(_PG_SCRATCH)
        numbered = [(*record, position) for position, record in enumerate(records)]
        await self._copy("instruments_load", [*_COPY_COLUMNS, "position"], numbered, progress)
        # Indexed and analyzed, so no plan can compare every old row with every new one (right
        # after a bulk load the planner's row counts for ``instruments`` are stale).
        await driver.execute("CREATE INDEX ON instruments_load (exchange, symbol)")
        await driver.execute("ANALYZE instruments_load")
        await driver.execute(_PG_DELETE_CHANGED, self.broker, targets)
        await driver.execute(_PG_INSERT_NEW, self.broker)
        await driver.execute("DROP TABLE instruments_load")

    async def _driver(self) -> Any:
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        return driver

    async def _copy(
        self,
        table: str,
        columns: list[str],
        records: list[tuple[Any, ...]],
        progress: Progress | None,
    ) -> None:
        driver = await self._driver()
        for start in range(0, len(records), INSERT_CHUNK):
            chunk = records[start : start + INSERT_CHUNK]
            await driver.copy_records_to_table(table, records=chunk, columns=columns)
            if progress is not None:
                progress(len(chunk))

    async def _record_master(self, *, as_of: date, source: str) -> None:
        total = await self.session.scalar(
            select(func.count()).select_from(T).where(T.broker == self.broker)
        )
        master = await self.session.get(InstrumentMaster, self.broker)
        now: datetime = utcnow()
        if master is None:
            self.session.add(
                InstrumentMaster(
                    broker=self.broker,
                    as_of=as_of,
                    loaded_at=now,
                    rows=int(total or 0),
                    source=source[:512],
                )
            )
        else:
            master.as_of = as_of
            master.loaded_at = now
            master.rows = int(total or 0)
            master.source = source[:512]
        await self.session.flush()

    async def delete_all(self) -> int:
        result = await self.session.execute(delete(T).where(T.broker == self.broker))
        await self.session.execute(
            delete(InstrumentMaster).where(InstrumentMaster.broker == self.broker)
        )
        return int(getattr(result, "rowcount", 0) or 0)
