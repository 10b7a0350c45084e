"""Group commit: many concurrent callers, one transaction per batch.

Each caller of `GroupCommitter.submit` still waits until *its* item is committed, so nothing about
durability changes; what changes is that 30 orders arriving together cost one commit instead of
30. On SQLite, whose writers queue on one lock, and on PostgreSQL, whose commits wait on a disk
flush, the commit is the expensive part of a small write.

A batch that fails is retried item by item, so one bad item fails alone. The writer task starts
on the first submit and ends when the queue is empty; `aclose` waits for it (lifespan shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.session import SessionMaker, transaction

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("openalgo.db.group_commit")

Apply = Callable[[AsyncSession, Sequence[T]], Awaitable[Sequence[R]]]
Prepare = Callable[[AsyncSession], Awaitable[None]]


class GroupCommitter(Generic[T, R]):
    def __init__(
        self,
        sessionmaker: SessionMaker,
        apply: Apply[T, R],
        *,
        name: str,
        max_batch: int = 256,
        prepare: Prepare | None = None,
    ) -> None:
        """``prepare`` runs first in every batch's transaction (a ``SET LOCAL``, say)."""
        self.sessionmaker = sessionmaker
        self.apply = apply
        self.prepare = prepare
        self.name = name
        self.max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Run ``item`` in the next batch; returns its result once the batch is committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name=f"group-commit-{self.name}")
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                await self._commit(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _fail(batch[0][1], exc)
                    continue
                log.warning("%s: a batch of %d failed; retrying one by one", self.name, len(batch))
                for entry in batch:
                    try:
                        await self._commit([entry])
                    except Exception as single:
                        _fail(entry[1], single)

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        async with transaction(self.sessionmaker) as session:
            if self.prepare is not None:
                await self.prepare(session)
            results = await self.apply(session, [item for item, _ in batch])
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def aclose(self) -> None:
        """Wait until everything submitted so far is committed (or has failed)."""
        writer = self._writer
        if writer is not None and not writer.done():
            await asyncio.shield(writer)


def _fail(future: asyncio.Future[R], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
