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
import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import Table, case, delete, func, insert, select

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
        self._requests: list[RequestRecord] = []
        self._orders: list[OrderTiming] = []
        # The labelled children per (method, route, status): `labels()` takes a lock and builds
        # a key on every call; routes are templates, so this stays as small as the route table.
        self._request_metrics: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.metrics.buffered.set_function(lambda: len(self._requests) + len(self._orders))

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

    # --- hot path: no I/O -----------------------------------------------------------------------

    def record_request(self, record: RequestRecord) -> None:
        key = (record.method, record.route, record.status)
        children = self._request_metrics.get(key)
        if children is None:
            children = self._request_metrics[key] = (
                self.metrics.requests.labels(record.method, record.route, str(record.status)),
                self.metrics.duration.labels(record.method, record.route),
            )
        children[0].inc()
        children[1].observe(record.duration_ms / 1000)
        self._buffer(self._requests, record)

    def record_order(self, timing: OrderTiming) -> None:
        stage = self.metrics.order_stage
        stage.labels(timing.endpoint, "validation").observe(timing.validation_ms / 1000)
        stage.labels(timing.endpoint, "venue").observe(timing.venue_ms / 1000)
        stage.labels(timing.endpoint, "response").observe(timing.response_ms / 1000)
        self._buffer(self._orders, timing)

    def _buffer(self, buffer: list[Any], item: Any) -> None:
        if len(buffer) >= self.max_buffer:
            self.metrics.dropped.inc()
            return
        buffer.append(item)

    @property
    def pending(self) -> int:
        return len(self._requests) + len(self._orders)

    # --- background -----------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write everything buffered so far; returns the number of rows written.

        In transactions of at most `FLUSH_CHUNK` rows: a flush at full load holds thousands of
        rows, and as one transaction it held SQLite's write lock (and the event loop, building
        the rows) for over 100 ms every ``flush_interval``, which every order waiting behind it
        paid for (placeorder's p99). Between chunks other writers and requests go first.
        """
        requests, self._requests = self._requests, []
        orders, self._orders = self._orders, []
        written = 0
        for table, rows in (
            (REQUEST_LOG, [_request_row(r) for r in requests]),
            (ORDER_LATENCY, [_order_row(o) for o in orders]),
        ):
            for start in range(0, len(rows), FLUSH_CHUNK):
                chunk = rows[start : start + FLUSH_CHUNK]
                try:
                    async with transaction(self.sessionmaker) as session:
                        # Core executemany on the table: the ORM's bulk path costs several
                        # times more CPU on the event loop.
                        await session.execute(insert(table), chunk)
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
        """The lifespan task: flush every ``interval`` seconds, purge old rows now and then."""
        since_purge = purge_every  # purge once at start
        while True:
            if since_purge >= purge_every:
                since_purge = 0.0
                try:
                    await self.purge()
                except Exception:
                    log.exception("monitoring purge failed")
            await asyncio.sleep(interval)
            since_purge += interval
            await self.flush()

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
def _request_row(r: RequestRecord) -> dict[str, Any]:
    return {
        "created_at": r.created_at,
        "method": r.method,
        "route": r.route,
        "status": r.status,
        "duration_ms": r.duration_ms,
        "user_id": r.user_id,
    }


def _order_row(o: OrderTiming) -> dict[str, Any]:
    return {
        "created_at": o.created_at,
        "endpoint": o.endpoint,
        "venue": o.venue,
        "status": o.status,
        "validation_ms": o.validation_ms,
        "venue_ms": o.venue_ms,
        "response_ms": o.response_ms,
        "total_ms": o.total_ms,
        "user_id": o.user_id,
        "order_log_id": o.order_log_id,
    }


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
