"""Group commit: per ledger, queued operations are applied in batches, one transaction each.

Why a queue and not a lock: callers never wait on each other, only on their own future; nothing is
held across an await except the database transaction itself, and a batch turns N orders into a
handful of statements and one commit (SQLite allows one writer at a time anyway, so per-request
transactions would only queue on its busy timeout). Reads never come through here.

Lanes: on PostgreSQL a ledger has more than one queue, each with its own task and connections; a
user's operations always go to the same lane (they stay in order), and batches of different users
commit side by side. SQLite has one lane.

Batches of fills only (``optimistic`` operations) on PostgreSQL read without locks and write in one
self-guarding statement in autocommit: one round trip (see `store.LedgerTx` and `writes.py`).

Failure handling:
- A compare-and-set miss, a deadlock, a serialisation failure, a busy SQLite or a unique-key clash
  (two workers picking the same order id) rolls the batch back and runs it again on fresh rows.
- Any other exception splits the batch and runs each operation alone, so one bad operation fails
  only its own caller.
- Business outcomes (rejections, "order not found") are results, not exceptions: a rejection is
  recorded in the same commit as everything else in the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from openalgo.brokers.sandbox.state import PositionKey
from openalgo.brokers.sandbox.store import LedgerTx, NeedsLocks, StaleState, fill_warmups
from openalgo.db.session import SessionMaker
from openalgo.db.write_gate import gated
from openalgo.errors import ServiceUnavailable

log = logging.getLogger("openalgo.sandbox.writer")

MAX_ATTEMPTS = 8
# PostgreSQL: deadlock_detected, serialization_failure, lock_not_available.
RETRY_SQLSTATES = {"40P01", "40001", "55P03"}


class Op(Protocol):
    """One unit of ledger work. ``apply`` must only touch ``tx``: it may run more than once."""

    @property
    def user_ids(self) -> Iterable[int]: ...

    @property
    def position_keys(self) -> Iterable[PositionKey]: ...

    # Optionally, ``order_ids``: orders the operation will lock (preloaded in one statement),
    # and ``optimistic``: True if it can run without read locks (see `LedgerTx.optimistic`).

    async def apply(self, tx: LedgerTx) -> Any: ...


@dataclass(slots=True)
class _Job:
    op: Op
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.perf_counter)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, StaleState | IntegrityError):
        return True
    if isinstance(exc, OperationalError) and "locked" in str(exc).lower():
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True  # the server went away: the next attempt opens a new connection
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return code in RETRY_SQLSTATES
    return False


class _Lane:
    """One queue, one task, its own connections: a writer runs one batch at a time per lane."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.conns: dict[bool, AsyncConnection] = {}  # by autocommit


class _Barrier:
    """A no-op: when it commits in a lane, everything queued there before it has committed."""

    user_ids: tuple[int, ...] = ()
    position_keys: tuple[PositionKey, ...] = ()
    optimistic = True

    async def apply(self, tx: LedgerTx) -> None:
        return None


class BatchWriter:
    def __init__(
        self,
        *,
        name: str,
        sessionmaker: SessionMaker,
        make_tx: Callable[[Any], LedgerTx],
        after_commit: Callable[[LedgerTx], None],
        on_failure: Callable[[], None] = lambda: None,
        max_batch: int = 256,
        lanes: int = 1,
    ) -> None:
        """``lanes``: batches that may commit at the same time, each for its own users (a user's
        operations always go to the same lane, so they stay in order). More than one only helps
        PostgreSQL; SQLite has one writer at a time whatever we do."""
        self.name = name
        bind = sessionmaker.kw.get("bind")
        if not isinstance(bind, AsyncEngine):  # pragma: no cover - a programming error
            raise TypeError("the sandbox writer needs a sessionmaker bound to an AsyncEngine")
        self._engine = bind
        self._make_tx = make_tx
        self._after_commit = after_commit
        self._on_failure = on_failure
        self._max_batch = max_batch
        self._lanes = [_Lane(n) for n in range(max(1, lanes))]
        self.batches = 0
        self.operations = 0
        self.retries = 0
        self.relocked = 0  # optimistic attempts that needed locks after all
        self.batch_seconds: deque[float] = deque(maxlen=10_000)
        # Per operation: queued until its batch started (the part of a fill's latency that is
        # waiting for the lane, as opposed to its own batch's work).
        self.wait_seconds: deque[float] = deque(maxlen=200_000)

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    @property
    def idle(self) -> bool:
        """Nothing queued (a batch may still be committing)."""
        return all(lane.queue.empty() for lane in self._lanes)

    @property
    def running(self) -> bool:
        return all(lane.task is not None and not lane.task.done() for lane in self._lanes)

    def start(self) -> None:
        for lane in self._lanes:
            if lane.task is None:
                lane.task = asyncio.create_task(
                    self._loop(lane), name=f"sandbox-writer-{self.name}-{lane.number}"
                )

    async def stop(self) -> None:
        for lane in self._lanes:
            if lane.task is None:
                continue
            lane.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await lane.task
            lane.task = None
            await self._close_connections(lane)
            while not lane.queue.empty():
                job = lane.queue.get_nowait()
                if job is not None and not job.future.done():
                    job.future.set_exception(ServiceUnavailable("sandbox engine stopped"))

    def _lane_of(self, op: Op) -> _Lane:
        if len(self._lanes) == 1:
            return self._lanes[0]
        user = getattr(op, "user_id", None)
        if not isinstance(user, int):
            user = next(iter(op.user_ids), 0)
        return self._lanes[user % len(self._lanes)]

    def submit(self, op: Op) -> asyncio.Future[Any]:
        """Queue ``op``; the future resolves after the commit that contains it."""
        return self._submit(self._lane_of(op), op)

    def _submit(self, lane: _Lane, op: Op) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if lane.task is None or lane.task.done():
            future.set_exception(ServiceUnavailable("sandbox engine is not running"))
            return future
        lane.queue.put_nowait(_Job(op, future))
        return future

    async def run(self, op: Op) -> Any:
        return await self.submit(op)

    async def barrier(self) -> None:
        """Wait until everything queued so far, in every lane, has committed."""
        await asyncio.gather(*(self._submit(lane, _Barrier()) for lane in self._lanes))

    async def _loop(self, lane: _Lane) -> None:
        await self._warm(lane)
        while True:
            job = await lane.queue.get()
            if job is None:
                return
            jobs = [job]
            stop = False
            while len(jobs) < self._max_batch and not lane.queue.empty():
                nxt = lane.queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
            now = time.perf_counter()
            self.wait_seconds.extend(now - queued.enqueued for queued in jobs)
            try:
                await self._execute(lane, jobs)
            except Exception:  # pragma: no cover - _execute reports to futures; belt and braces
                log.exception("sandbox writer %s: batch failed", self.name)
            if stop:
                return

    async def _warm(self, lane: _Lane) -> None:
        """Open the lane's connections before its first batch needs them.

        Why: opened on demand, the first batch of each kind pays for it (on PostgreSQL the
        connection, its session settings and a commit) and each statement's first run on a
        connection (compiled, prepared, and the server process loading the tables it touches):
        20-50 ms each on a busy machine, measured as the first fills' commits, while the first
        fills after start-up come in a burst. The warm-up (`LedgerTx.warm_up`) writes nothing. A
        failure here is not an error: the batch that needs the connection opens it again and
        reports."""
        postgresql = self._engine.dialect.name == "postgresql"
        try:
            await self._connection(lane)
            if not postgresql:
                # SQLite prepares statements cheaply; what costs is building them in Python.
                for writes in fill_warmups(self.name, order_key="orderid"):
                    writes.compile_sqlite(self._engine.dialect)
            if postgresql:
                conn = await self._connection(lane, autocommit=True)
                tx = self._make_tx(conn)
                tx.optimistic = True
                await tx.warm_up()
                await conn.commit()  # ends SQLAlchemy's autobegun block; no round trip
        except Exception as exc:
            log.debug("sandbox writer %s: opening lane %d failed: %r", self.name, lane.number, exc)
            await self._close_connections(lane)

    async def _execute(self, lane: _Lane, jobs: list[_Job]) -> None:
        attempt = 0
        optimistic = all(getattr(job.op, "optimistic", False) for job in jobs)
        started = time.perf_counter()
        while True:
            attempt += 1
            try:
                results, tx = await self._once(lane, jobs, attempt, optimistic and attempt == 1)
            except NeedsLocks:
                # Not a conflict: the same batch, at once, taking its locks as it reads.
                self.relocked += 1
                optimistic = False
                attempt -= 1
                continue
            except Exception as exc:
                self._on_failure()
                if _retryable(exc) and attempt < MAX_ATTEMPTS:
                    self.retries += 1
                    log.debug("sandbox writer %s: retrying batch (%s)", self.name, exc)
                    await asyncio.sleep(0.001 * attempt)
                    continue
                if len(jobs) > 1:
                    for single in jobs:
                        await self._execute(lane, [single])
                    return
                log.warning(
                    "sandbox writer %s: operation %s failed: %r",
                    self.name,
                    type(jobs[0].op).__name__,
                    exc,
                )
                if not jobs[0].future.done():
                    jobs[0].future.set_exception(exc)
                return
            self.batches += 1
            self.operations += len(jobs)
            self.batch_seconds.append(time.perf_counter() - started)
            try:
                self._after_commit(tx)
            except Exception:  # pragma: no cover - hooks must not fail the committed batch
                log.exception("sandbox writer %s: after-commit hook failed", self.name)
            for job, result in zip(jobs, results, strict=True):
                if not job.future.done():
                    job.future.set_result(result)
            return

    async def _once(
        self, lane: _Lane, jobs: list[_Job], attempt: int, optimistic: bool
    ) -> tuple[list[Any], LedgerTx]:
        # On SQLite, the whole transaction holds the process's write gate (`db.write_gate`).
        async with gated(self._engine):
            return await self._attempt(lane, jobs, attempt, optimistic)

    async def _attempt(
        self, lane: _Lane, jobs: list[_Job], attempt: int, optimistic: bool
    ) -> tuple[list[Any], LedgerTx]:
        # An optimistic batch on PostgreSQL reads without locks and writes in one statement
        # that is all or nothing by itself (`writes.py`): no transaction needed, one round trip.
        autocommit = optimistic and self._engine.dialect.name == "postgresql"
        conn = await self._connection(lane, autocommit=autocommit)
        trans = None if autocommit else await conn.begin()
        try:
            tx = self._make_tx(conn)
            tx.attempt = attempt
            if attempt == 1:
                # Cached rows and optimistic reads: first attempts only (module docstring of
                # `rowcache.py`). On PostgreSQL a user's funds row is the first lock any batch
                # takes for that user (its other rows are locked after it, in any order), so a
                # locking batch reads funds under FOR UPDATE and may take the rest from the
                # cache; an optimistic batch takes its first lock when it writes, funds first.
                tx.optimistic = optimistic and tx.postgresql
                tx.cache_positions = tx.cache is not None
                tx.cache_funds = tx.cache is not None and (tx.optimistic or not tx.postgresql)
            users: set[int] = set()
            keys: set[PositionKey] = set()
            orderids: set[str] = set()
            for job in jobs:
                users.update(job.op.user_ids)
                keys.update(job.op.position_keys)
                orderids.update(getattr(job.op, "order_ids", ()))
            # Lock order: funds (per user, sorted), then orders, then positions. Every
            # writer takes them in this order, so two workers cannot deadlock. (An optimistic
            # batch reads without locks and takes them when it writes, in the same order.)
            await tx.lock_funds(users)
            await tx.preload_orders(orderids)
            await tx.preload_positions(keys)
            results = [await job.op.apply(tx) for job in jobs]
            await tx.flush()
            if trans is not None:
                await trans.commit()
            else:
                await conn.commit()  # ends SQLAlchemy's autobegun block; no round trip
        except BaseException as exc:
            await self._abandon(lane, conn, trans, exc)
            raise
        return results, tx

    async def _connection(self, lane: _Lane, *, autocommit: bool = False) -> AsyncConnection:
        """The writer's own connection (one per mode), kept between batches.

        Why: checking a connection out of the pool for every batch costs a ping (PostgreSQL's
        pre-ping) and a rollback on return (a hand-off to aiosqlite's thread), and an ORM session
        per batch adds its own bookkeeping to every statement; the writer only ever runs one
        transaction at a time, so one connection is all it needs (plus, on PostgreSQL, one in
        autocommit for optimistic batches).
        """
        conn = lane.conns.get(autocommit)
        if conn is None or conn.closed or conn.invalidated:
            conn = await self._engine.connect()
            if autocommit:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            if conn.dialect.name == "postgresql":
                # Every statement of the writer reaches its rows by key. The planner's
                # statistics lag behind a ledger that grows fast, and with them it scans the
                # whole orders table for a batch of fills (milliseconds, each batch); this
                # connection only ever runs the writer's statements. Reset before it is closed.
                await conn.execute(text("SET enable_seqscan = off"))
                # Commits return before their WAL record reaches the disk: the durability SQLite
                # has here (WAL, synchronous=NORMAL). A crash of the server or the machine can
                # lose the last moments of paper trading, whole transactions only; it cannot
                # half-apply one or break an invariant. An fsync per batch is otherwise most of
                # a fill's latency on a busy disk.
                await conn.execute(text("SET synchronous_commit = off"))
                await conn.commit()
            lane.conns[autocommit] = conn
        return conn

    async def _abandon(
        self,
        lane: _Lane,
        conn: AsyncConnection,
        trans: AsyncTransaction | None,
        exc: BaseException,
    ) -> None:
        """Roll back; a connection that failed (or cannot roll back) is closed, not reused."""
        broken = isinstance(exc, DBAPIError) and exc.connection_invalidated
        try:
            if trans is None:
                await conn.rollback()
            elif trans.is_active:
                await trans.rollback()
        except Exception:
            broken = True
        if broken or not isinstance(exc, Exception):
            await self._close_connections(lane)

    async def _close_connections(self, lane: _Lane) -> None:
        conns, lane.conns = lane.conns, {}
        for conn in conns.values():
            with contextlib.suppress(Exception):
                if conn.dialect.name == "postgresql" and not conn.invalidated:
                    await conn.rollback()
                    await conn.execute(text("RESET enable_seqscan"))
                    await conn.execute(text("RESET synchronous_commit"))
                    await conn.commit()
            with contextlib.suppress(Exception):
                await conn.close()
