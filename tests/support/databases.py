"""Databases of their own for code that opens its own write transactions (background writers,
the order journal): the suite's shared database is held by each test's rolled-back transaction,
so on SQLite such code would wait on the write lock."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.db import migrations
from openalgo.db.engine import create_engine
from openalgo.db.models import User
from openalgo.db.session import create_sessionmaker, transaction
from tests.conftest import make_settings
from tests.support.services import drop_postgres, provision_postgres, worker_suffix

_counter = itertools.count()


@asynccontextmanager
async def fresh_database(backend: str, tmp: Path) -> AsyncIterator[str]:
    """A new, migrated database; yields its URL."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / f'fresh{next(_counter)}.db'}"
        name = None
    else:
        name = f"openalgo_fresh{next(_counter)}_{worker_suffix()}"
        url = await provision_postgres(name)
    engine = create_engine(make_settings(tmp, url))
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()
    try:
        yield url
    finally:
        if name is not None:
            await drop_postgres(name)


async def add_user(engine: AsyncEngine, username: str) -> int:
    async with transaction(create_sessionmaker(engine)) as session:
        user = User(username=username, password_hash="x")
        session.add(user)
        await session.flush()
        return user.id
