"""Traffic and latency monitoring: recorded in memory on the hot path, written in batches.

Per request: method, route template, status and duration. Per order request: the time spent in
validation (arrival until the handler starts: parsing, validation, authentication), in the venue
call, and in the response (venue return until the response starts). Recording costs a list
append and a few Prometheus updates; a lifespan task flushes the buffers to the database every
``flush_interval`` seconds with one multi-row INSERT per table. The buffers are bounded: when the
database is unreachable for long, new records are dropped and counted, never queued without end.

The same records feed Prometheus metrics (``/metrics``) and the queries the admin pages use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import Table, bindparam, case, delete, func, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from openalgo.db.models.monitoring import OrderLatency, RequestLog
from openalgo.db.session import SessionMaker, transaction
from openalgo.domain.clock import Clock, SystemClock

log = logging.getLogger("openalgo.monitoring")

UNMATCHED_ROUTE = "<unmatched>"
FLUSH_CHUNK = 200  # rows per monitoring transaction (see `TrafficMonitor.flush`)
REQUEST_LOG: Table = RequestLog.__table__  # type: ignore[assignment]
ORDER_LATENCY: Table = OrderLatency.__table__  # type: ignore[assignment]
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


@dataclass(slots=True)
class RequestRecord:
    created_at: datetime
    method: str
    route: str
    status: int
    duration_ms: float
    user_id: int | None = None


@dataclass(slots=True)
class OrderTiming:
    """Filled in by the order guard (validation, venue) and the middleware (response, status)."""

    endpoint: str
    venue: str
    created_at: datetime
    validation_ms: float
    venue_ms: float = 0.0
    response_ms: float = 0.0
    total_ms: float = 0.0
    status: int = 0
    user_id: int | None = None
    order_log_id: int | None = None
    venue_done: float = field(default=0.0, repr=False)  # perf_counter() when the venue returned


@dataclass(frozen=True, slots=True)
class RouteStats:
    method: str
    route: str
    count: int
    errors: int  # status >= 400
    avg_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class OrderLatencyStats:
    endpoint: str
    count: int
    failed: int
    avg_validation_ms: float
    avg_venue_ms: float
    avg_response_ms: float
    p50_total_ms: float
    p99_total_ms: float


class Metrics:
    """The Prometheus series, on a registry of their own (one per app, none at import time)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "openalgo_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "openalgo_http_request_duration_seconds",
            "Time from request arrival to the end of the response",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.order_stage = Histogram(
            "openalgo_order_stage_seconds",
            "Time an order request spent in each stage: validation, venue, response",
            ["endpoint", "stage"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.dropped = Counter(
            "openalgo_monitoring_dropped_records",
            "Monitoring records dropped because the buffer was full",
            registry=registry,
        )
        self.buffered = Gauge(
            "openalgo_monitoring_buffered_records",
            "Monitoring records waiting to be written",
            registry=registry,
        )


class TrafficMonitor:
    def __init__(
        self,
        sessionmaker: SessionMaker,
        *,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
        max_buffer: int = 50_000,
        retention: timedelta = timedelta(days=30),
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock or SystemClock()
        self.metrics = Metrics(registry or CollectorRegistry(auto_describe=True))
        self.max_buffer = max_buffer
        self.retention = retention
        # Buffered as plain tuples of atomic values, not the records: CPython stops tracking such
        # tuples in the garbage collector, and thousands of records waiting for the next flush
        # otherwise made every full collection walk them (4-36 ms pauses under load, every
        # half second: most of placeorder's p99).
        self._requests: list[tuple[Any, ...]] = []
        self._orders: list[tuple[Any, ...]] = []
        # Set when a buffer fills a chunk: `run` then flushes at once rather than at the end of
        # its interval (see `run`). None until `run` starts.
        self._chunk_ready: asyncio.Event | None = None
        # The labelled children per (method, route, status): `labels()` takes a lock and builds
        # a key on every call; routes are templates, so this stays as small as the route table.
        self._request_metrics: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._stage_metrics: dict[str, tuple[Any, ...]] = {}  # endpoint: its three stages
        self.metrics.buffered.set_function(lambda: len(self._requests) + len(self._orders))

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

    # --- hot path: no I/O -----------------------------------------------------------------------

    def record_request(self, record: RequestRecord) -> None:
        self.record(
            record.method,
            record.route,
            record.status,
            record.duration_ms,
            record.user_id,
            record.created_at,
        )

    def record(
        self,
        method: str,
        route: str,
        status: int,
        duration_ms: float,
        user_id: int | None,
        created_at: datetime | None = None,
    ) -> None:
        """`record_request` without building a `RequestRecord` (the middleware's call, once per
        request)."""
        key = (method, route, status)
        children = self._request_metrics.get(key)
        if children is None:
            children = self._request_metrics[key] = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.duration.labels(method, route),
            )
        children[0].inc()
        children[1].observe(duration_ms / 1000)
        self._buffer(
            self._requests,
            (
                created_at or self.clock.now(),
                method,
                route,
                status,
                duration_ms,
                user_id,
            ),
        )

    def record_order(self, timing: OrderTiming) -> None:
        stages = self._stage_metrics.get(timing.endpoint)
        if stages is None:
            stage = self.metrics.order_stage
            stages = self._stage_metrics[timing.endpoint] = tuple(
                stage.labels(timing.endpoint, name) for name in ("validation", "venue", "response")
            )
        stages[0].observe(timing.validation_ms / 1000)
        stages[1].observe(timing.venue_ms / 1000)
        stages[2].observe(timing.response_ms / 1000)
        self._buffer(
            self._orders,
            (
                timing.created_at,
                timing.endpoint,
                timing.venue,
                timing.status,
                timing.validation_ms,
                timing.venue_ms,
                timing.response_ms,
                timing.total_ms,
                timing.user_id,
                timing.order_log_id,
            ),
        )

    def _buffer(self, buffer: list[Any], item: Any) -> None:
        size = len(buffer)
        if size >= self.max_buffer:
            self.metrics.dropped.inc()
            return
        buffer.append(item)
        if size == FLUSH_CHUNK - 1 and self._chunk_ready is not None:
            self._chunk_ready.set()

    @property
    def pending(self) -> int:
        return len(self._requests) + len(self._orders)

    # --- background -----------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write everything buffered so far; returns the number of rows written.

        In transactions of at most `FLUSH_CHUNK` rows: a flush at full load holds thousands of
        rows, and as one transaction it held SQLite's write lock (and the event loop, building
        the rows) for over 100 ms every ``flush_interval``, which every order waiting behind it
        paid for (placeorder's p99). Between chunks other writers and requests go first. The
        rows go to the driver (`_RowInsert`: executemany on SQLite, COPY on PostgreSQL) with
        SQLAlchemy's compiled statement and bind processors: SQLAlchemy's executemany cost ~10 µs
        of the event loop per row, two rows per order at full load.
        """
        requests, self._requests = self._requests, []
        orders, self._orders = self._orders, []
        written = 0
        for table, rows in ((REQUEST_LOG, requests), (ORDER_LATENCY, orders)):
            for start in range(0, len(rows), FLUSH_CHUNK):
                chunk = rows[start : start + FLUSH_CHUNK]
                try:
                    async with transaction(self.sessionmaker) as session:
                        await _RowInsert.of(table).run(await session.connection(), chunk)
                except Exception:
                    log.exception("could not write %d monitoring records", len(chunk))
                    self.metrics.dropped.inc(len(chunk))
                    continue
                written += len(chunk)
                await asyncio.sleep(0)
        return written

    async def purge(self) -> int:
        cutoff = self.clock.now() - self.retention
        async with transaction(self.sessionmaker) as session:
            a = await session.execute(delete(RequestLog).where(RequestLog.created_at < cutoff))
            b = await session.execute(delete(OrderLatency).where(OrderLatency.created_at < cutoff))
        return int(getattr(a, "rowcount", 0) or 0) + int(getattr(b, "rowcount", 0) or 0)

    async def run(self, interval: float, purge_every: float = 3600.0) -> None:
        """The lifespan task: flush every ``interval`` seconds, or as soon as a buffer holds a
        `FLUSH_CHUNK`; purge old rows now and then.

        Why the chunk trigger: at full order load an interval's records are thousands of rows,
        and writing them all at once (tens of transactions back to back) took a third of a second
        of the event loop and of SQLite's write lock, every ``interval``: the orders of those
        moments were the slow ones (placeorder's p99). A chunk at a time, as the records come,
        costs the same in total and no order more than another.
        """
        loop = asyncio.get_running_loop()
        ready = self._chunk_ready = asyncio.Event()
        purged_at: float | None = None
        try:
            while True:
                if purged_at is None or loop.time() - purged_at >= purge_every:
                    purged_at = loop.time()
                    try:
                        await self.purge()
                    except Exception:
                        log.exception("monitoring purge failed")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await ready.wait()
                ready.clear()
                await self.flush()
        finally:
            self._chunk_ready = None

    # --- queries for the admin pages ------------------------------------------------------------

    async def route_stats(self, since: datetime) -> list[RouteStats]:
        is_error = func.sum(case((RequestLog.status >= 400, 1), else_=0))
        stmt = (
            select(
                RequestLog.method,
                RequestLog.route,
                func.count(),
                is_error,
                func.avg(RequestLog.duration_ms),
                func.max(RequestLog.duration_ms),
            )
            .where(RequestLog.created_at >= since)
            .group_by(RequestLog.method, RequestLog.route)
            .order_by(func.count().desc())
        )
        async with self.sessionmaker() as session:
            rows = (await session.execute(stmt)).all()
        return [
            RouteStats(m, r, int(n), int(e or 0), float(avg or 0), float(mx or 0))
            for m, r, n, e, avg, mx in rows
        ]

    async def recent_requests(self, limit: int = 100) -> Sequence[RequestLog]:
        stmt = select(RequestLog).order_by(RequestLog.id.desc()).limit(limit)
        async with self.sessionmaker() as session:
            return (await session.execute(stmt)).scalars().all()

    async def order_latency_stats(
        self, since: datetime, *, sample: int = 100_000
    ) -> list[OrderLatencyStats]:
        stmt = (
            select(OrderLatency)
            .where(OrderLatency.created_at >= since)
            .order_by(OrderLatency.id.desc())
            .limit(sample)
        )
        async with self.sessionmaker() as session:
            rows = (await session.execute(stmt)).scalars().all()
        by_endpoint: dict[str, list[OrderLatency]] = {}
        for row in rows:
            by_endpoint.setdefault(row.endpoint, []).append(row)
        return [_order_stats(endpoint, items) for endpoint, items in sorted(by_endpoint.items())]

    async def recent_order_timings(self, limit: int = 100) -> Sequence[OrderLatency]:
        stmt = select(OrderLatency).order_by(OrderLatency.id.desc()).limit(limit)
        async with self.sessionmaker() as session:
            return (await session.execute(stmt)).scalars().all()


# Plain dicts, not dataclasses.asdict: that deep-copies every value and was the single most
# expensive call of a flush.
_REQUEST_COLUMNS = ("created_at", "method", "route", "status", "duration_ms", "user_id")
_ORDER_COLUMNS = (
    "created_at",
    "endpoint",
    "venue",
    "status",
    "validation_ms",
    "venue_ms",
    "response_ms",
    "total_ms",
    "user_id",
    "order_log_id",
)


class _RowInsert:
    """Buffered tuples (in `_REQUEST_COLUMNS` / `_ORDER_COLUMNS` order) written by the driver:
    SQLAlchemy compiles the statement and supplies each column's bind processor (per dialect,
    once). SQLite: aiosqlite's executemany. PostgreSQL: asyncpg's COPY, one message for the whole
    chunk (an executemany there is one INSERT per row for the server to parse and run, and the
    server shares this machine's cores with the gateway)."""

    _made: dict[str, _RowInsert] = {}

    def __init__(self, table: Table) -> None:
        self.table = table
        self.columns = _REQUEST_COLUMNS if table is REQUEST_LOG else _ORDER_COLUMNS
        self._plans: dict[str, tuple[str, list[Any]]] = {}

    @classmethod
    def of(cls, table: Table) -> _RowInsert:
        found = cls._made.get(table.name)
        if found is None:
            found = cls._made[table.name] = cls(table)
        return found

    def _plan(self, dialect: Dialect) -> tuple[str, list[Any]]:
        key = f"{dialect.name}+{dialect.driver}"
        plan = self._plans.get(key)
        if plan is None:
            stmt = insert(self.table).values({name: bindparam(name) for name in self.columns})
            compiled = stmt.compile(dialect=dialect)
            order = list(compiled.positiontup or ())
            if sorted(order) != sorted(self.columns):  # pragma: no cover - a named paramstyle
                raise RuntimeError(f"{self.table.name}: unexpected parameters {order}")
            positions = [self.columns.index(name) for name in order]
            processors = [
                self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in order
            ]
            plan = self._plans[key] = (
                compiled.string,
                list(zip(positions, processors, strict=True)),
            )
        return plan

    async def run(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
        dialect = conn.dialect
        driver = (await conn.get_raw_connection()).driver_connection
        if dialect.driver not in ("aiosqlite", "asyncpg") or driver is None:
            await conn.execute(
                insert(self.table), [dict(zip(self.columns, r, strict=True)) for r in rows]
            )
            return
        sql, plan = self._plan(dialect)
        params = [tuple(row[i] if p is None else p(row[i]) for i, p in plan) for row in rows]
        if dialect.driver == "asyncpg":
            names = [self.columns[i] for i, _ in plan]
            await driver.copy_records_to_table(self.table.name, records=params, columns=names)
        else:
            await driver.executemany(sql, params)


def _percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _order_stats(endpoint: str, rows: list[OrderLatency]) -> OrderLatencyStats:
    totals = sorted(r.total_ms for r in rows)
    return OrderLatencyStats(
        endpoint=endpoint,
        count=len(rows),
        failed=sum(1 for r in rows if r.status >= 400),
        avg_validation_ms=statistics.fmean(r.validation_ms for r in rows),
        avg_venue_ms=statistics.fmean(r.venue_ms for r in rows),
        avg_response_ms=statistics.fmean(r.response_ms for r in rows),
        p50_total_ms=_percentile(totals, 50),
        p99_total_ms=_percentile(totals, 99),
    )
