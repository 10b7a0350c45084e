"""Suite-wide fixtures.

Database tests run twice, on SQLite and on PostgreSQL. Each backend's database is created once per
test session and migrated by Alembic (never ``create_all``, so the migrations are tested too); each
test then runs inside an outer transaction that is rolled back, and the code under test works in a
SAVEPOINT, so even a commit inside the test cannot leak into the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from openalgo.api.deps import get_read_session, get_session
from openalgo.app import create_app
from openalgo.db import migrations
from openalgo.db.engine import create_engine
from openalgo.settings import Settings
from tests.support.services import (
    drop_postgres,
    drop_run_databases,
    provision_postgres,
    worker_suffix,
)

TEST_SECRET = "t" * 64
TEST_PEPPER = "p" * 64


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    asyncio.run(drop_run_databases())


def make_settings(tmp: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Settings isolated from the developer's environment and `.env`."""
    values: dict[str, Any] = {
        "env": "testing",
        "data_dir": tmp,
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "pepper": TEST_PEPPER,
        # Background writers would wait on the write lock a rolled-back test transaction holds;
        # tests of the background work turn them on, on a database of their own.
        "background_tasks": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass(frozen=True)
class Database:
    backend: str
    url: str


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        yield Database("sqlite", f"sqlite+aiosqlite:///{path}")
        return
    name = f"openalgo_test_{worker_suffix()}"
    url = await provision_postgres(name)
    yield Database("postgresql", url)
    await drop_postgres(name)


@pytest.fixture(scope="session")
async def engine(
    database: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    settings = make_settings(tmp_path_factory.mktemp("data"), database.url)
    eng = create_engine(settings)
    await migrations.upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        try:
            yield conn
        finally:
            await outer.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    ) as sess:
        yield sess


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    return make_settings(tmp_path, database.url)


@pytest.fixture
def app(settings: Settings, connection: AsyncConnection) -> FastAPI:
    """The real app; its request sessions join the test's rolled-back transaction."""
    application = create_app(settings)

    async def test_session() -> AsyncIterator[AsyncSession]:
        async with AsyncSession(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        ) as sess:
            try:
                yield sess
            except BaseException:
                await sess.rollback()
                raise
            await sess.commit()

    application.dependency_overrides[get_session] = test_session
    application.dependency_overrides[get_read_session] = test_session
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
