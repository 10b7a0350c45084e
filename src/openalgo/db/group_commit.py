"""Group commit: many concurrent callers, one transaction per batch.

Each caller of `GroupCommitter.submit` still waits until *its* item is committed, so nothing about
durability changes; what changes is that 30 orders arriving together cost one commit instead of
30. On SQLite, whose writers queue on one lock, and on PostgreSQL, whose commits wait on a disk
flush, the commit is the expensive part of a small write.

A batch that fails is retried item by item, so one bad item fails alone. The writer task starts
on the first submit and ends when the queue has stayed empty for its linger (`LINGER` seconds by
default); `aclose` waits for it (lifespan shutdown). While it runs it keeps one connection out of
the pool: a checkout per batch cost a pre-ping round trip on PostgreSQL, a rollback on return (a
hand-off to aiosqlite's thread on SQLite) and ~80-140 µs of the event loop, and under a steady
order flow the journal commits hundreds of batches a second. The connection goes back to the pool
when the task ends, so nothing is held while idle, at shutdown or after a test. A caller that
need not wait for its commit uses `enqueue`, and `settled` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from openalgo.db.session import SessionMaker, bind_of, transaction
from openalgo.db.write_gate import gated

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("openalgo.db.group_commit")

Apply = Callable[[AsyncSession, Sequence[T]], Awaitable[Sequence[R]]]
Prepare = Callable[[AsyncSession], Awaitable[None]]
# Seconds the writer waits on an empty queue before giving its connection back. Longer than the
# gap between an order's journal writes under load (one intent, then its outcome tens of ms
# later): at 5 ms the writer gave the connection back between them, and on PostgreSQL every new
# checkout costs a pre-ping round trip and a connection start (~2% of a placeorder's CPU).
LINGER = 0.05


class GroupCommitter(Generic[T, R]):
    def __init__(
        self,
        sessionmaker: SessionMaker,
        apply: Apply[T, R],
        *,
        name: str,
        max_batch: int = 256,
        prepare: Prepare | None = None,
        linger: float = LINGER,
        autocommit: bool = False,
    ) -> None:
        """``prepare`` runs first in every batch's transaction (a ``SET LOCAL``, say).

        ``autocommit`` (PostgreSQL): the connection runs each statement as its own transaction,
        with no BEGIN and COMMIT round trips around the batch. Only for an ``apply`` that issues
        exactly one statement per batch, which is then as atomic as the transaction was."""
        self.linger = linger
        self.autocommit = autocommit
        self.sessionmaker = sessionmaker
        self.apply = apply
        self.prepare = prepare
        self.name = name
        self.max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None
        bind = bind_of(sessionmaker)
        self._engine = bind if isinstance(bind, AsyncEngine) else None
        self._conn: AsyncConnection | None = None
        self._idle: asyncio.Future[None] | None = None  # the writer's wait for new items
        self._last: asyncio.Future[R] | None = None  # the future of the item queued last

    async def submit(self, item: T) -> R:
        """Run ``item`` in the next batch; returns its result once the batch is committed."""
        return await self.enqueue(item)

    def enqueue(self, item: T) -> asyncio.Future[R]:
        """Queue ``item`` for the next batch; the future is done once the batch is committed
        (or has failed). For a caller that need not wait: `settled` waits for it later."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._last = future
        idle = self._idle
        if idle is not None and not idle.done():
            idle.set_result(None)  # wake the lingering writer now
        elif self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name=f"group-commit-{self.name}")
        return future

    async def settled(self) -> None:
        """Wait until everything queued so far is committed or has failed (batches run in
        queue order, so the last item queued is the last to be done)."""
        last = self._last
        if last is not None and not last.done():
            await asyncio.wait([last])

    async def _drain(self) -> None:
        while True:
            try:
                while True:
                    while self._queue:
                        await self._next_batch()
                    await self._linger()
                    if not self._queue:
                        break
                    # Woken by a submit: keep the connection. (A ``continue`` of the outer
                    # loop here would run the ``finally`` and give it back every time.)
            finally:
                await self._release()
            # No await between this test and the task's end: an item submitted while the
            # connection went back is either seen here or finds this task done (a new one starts).
            if not self._queue:
                return

    async def _linger(self) -> None:
        """Wait up to ``linger`` for the next item (a submit wakes it at once)."""
        idle = self._idle = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self.linger):
                await idle
        except TimeoutError:
            pass
        finally:
            self._idle = None

    async def _next_batch(self) -> None:
        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        try:
            await self._commit(batch)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0][1], exc)
                return
            log.warning("%s: a batch of %d failed; retrying one by one", self.name, len(batch))
            for entry in batch:
                try:
                    await self._commit([entry])
                except Exception as single:
                    _fail(entry[1], single)

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in batch]
        if self._engine is None:  # a test's session factory: a transaction of its own
            async with transaction(self.sessionmaker) as session:
                results = await self._apply(session, items)
        else:
            conn = await self._connection()
            try:
                async with (
                    gated(conn),
                    AsyncSession(bind=conn, expire_on_commit=False, autoflush=False) as session,
                ):
                    try:
                        results = await self._apply(session, items)
                    except BaseException:
                        await session.rollback()
                        raise
                    await session.commit()
            except BaseException:
                await self._release()  # it may be broken; the next batch takes a fresh one
                raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _apply(self, session: AsyncSession, items: list[T]) -> Sequence[R]:
        if self.prepare is not None:
            await self.prepare(session)
        return await self.apply(session, items)

    async def _connection(self) -> AsyncConnection:
        assert self._engine is not None
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            conn = await self._engine.connect()
            if self.autocommit:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
        return self._conn

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def aclose(self) -> None:
        """Wait until everything submitted so far is committed (or has failed)."""
        writer = self._writer
        if writer is not None and not writer.done():
            await asyncio.shield(writer)


def _fail(future: asyncio.Future[R], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
