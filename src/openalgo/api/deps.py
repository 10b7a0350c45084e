"""Dependency vocabulary of the HTTP edge, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from openalgo.db.session import SessionOpener
from openalgo.db.write_gate import gated
from openalgo.runtime import Runtime
from openalgo.settings import Settings


def get_runtime(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime


def get_settings(conn: HTTPConnection) -> Settings:
    return get_runtime(conn).settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: committed before the response is sent, rolled back on error.

    Declared with ``scope="function"`` below, so a failing commit turns into an error response
    instead of a success response for a write that never happened. On a SQLite file it holds the
    process's write gate (`db.write_gate`) for the request's transaction.
    """
    runtime = get_runtime(request)
    async with gated(runtime.engine), runtime.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for requests that only read; it never takes SQLite's write lock."""
    async with get_runtime(request).read_sessionmaker() as session:
        try:
            yield session
        finally:
            await session.rollback()


async def _runtime(conn: HTTPConnection) -> Runtime:
    # async on purpose: FastAPI runs a plain-def dependency in its thread pool, a thread hop per
    # request for an attribute read.
    return get_runtime(conn)


async def _settings(conn: HTTPConnection) -> Settings:
    return get_settings(conn)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
SettingsDep = Annotated[Settings, Depends(_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


# Opens a read session only when called: for dependencies that usually need none (the API-key
# check on a cache hit). The test suite overrides it like `get_read_session`.
async def get_read_sessionmaker(conn: HTTPConnection) -> SessionOpener:
    # async: FastAPI would run a plain function in its thread pool, a hop on every request.
    return get_runtime(conn).read_sessionmaker


ReadSessionMakerDep = Annotated[SessionOpener, Depends(get_read_sessionmaker)]
