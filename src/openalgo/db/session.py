"""Session factories and the transaction helper for code that runs outside a request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

SessionMaker = async_sessionmaker[AsyncSession]
# Anything that opens a session when called: a SessionMaker, or a test's savepoint factory.
SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    # expire_on_commit=False: objects stay readable after the commit that happens before the
    # response is rendered, without another round trip.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    """One short transaction: commit on success, roll back on any error."""
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
