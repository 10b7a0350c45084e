"""Session factories and the transaction helper for code that runs outside a request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from openalgo.db.write_gate import gated

SessionMaker = async_sessionmaker[AsyncSession]
# Anything that opens a session when called: a SessionMaker, or a test's savepoint factory.
SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def bind_of(opener: SessionOpener) -> Any:
    """The engine (or connection) a sessionmaker is bound to; None for other session openers
    (a test's savepoint factory)."""
    return getattr(opener, "kw", {}).get("bind")


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    # expire_on_commit=False: objects stay readable after the commit that happens before the
    # response is rendered, without another round trip.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    """One short transaction: commit on success, roll back on any error.

    On a SQLite file it holds the process's write gate (`write_gate`) throughout.
    """
    async with gated(bind_of(sessionmaker)), sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
