"""Fixtures for tests that run the whole app with its own sessionmakers on a fresh database.

The shared ``client`` fixture joins every request to one rolled-back transaction; that cannot test
code that opens its own transactions (the API-key verifier's cache misses, the last-used flusher,
bans written by the abuse monitor, the change-counter poll). These fixtures give each test a new,
migrated database instead -- copied from a template migrated once per session -- and start the real
app on it, with a `ManualClock`. Import them in a ``conftest.py`` to use them.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from openalgo.app import create_app
from openalgo.db import migrations
from openalgo.db.engine import create_engine
from openalgo.domain.clock import IST, ManualClock
from openalgo.runtime import Runtime
from openalgo.security.runtime import SecurityRuntime
from openalgo.settings import Settings
from tests.conftest import Database, make_settings
from tests.support.services import POSTGRES_ADMIN_URL, provision_postgres, worker_suffix

# A Monday morning in IST, well away from the 03:00 session boundary.
START = datetime(2026, 11, 30, 10, 0, tzinfo=IST)
_counter = itertools.count()

# Limits generous enough that only the tests about limits ever meet them.
TEST_OVERRIDES: dict[str, Any] = {
    # Each live app has its own database, so its background work cannot wait on a test lock.
    "background_tasks": True,
    "ban_exempt": "",
    "login_rate_limit": "1000 per minute",
    "api_rate_limit": "1000 per second",
}


@dataclass
class LiveApp:
    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock
    settings: Settings

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def security(self) -> SecurityRuntime:
        security = self.runtime.security
        assert security is not None
        return security

    def client_for(self, address: str, port: int = 40000) -> httpx.AsyncClient:
        """Another client, speaking from ``address`` (the ASGI peer); close it after use."""
        transport = httpx.ASGITransport(
            app=self.app, raise_app_exceptions=False, client=(address, port)
        )
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture(scope="session")
async def template_database(database: Database, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated once, to copy for each test (dropped with the run's databases)."""
    if database.backend == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = await provision_postgres(f"openalgo_tmpl_{worker_suffix()}")
    engine = create_engine(make_settings(tmp_path_factory.mktemp("tmpl"), url), url)
    await migrations.upgrade(engine)
    await engine.dispose()
    return url


@asynccontextmanager
async def database_copy(
    database: Database, template_url: str, tmp_path: Path, prefix: str = "f"
) -> AsyncIterator[str]:
    """A private copy of ``template_url`` (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE``
    on PostgreSQL), dropped afterwards; yields its URL."""
    if database.backend == "sqlite":
        source = make_url(template_url).database
        assert source is not None
        target = tmp_path / f"{prefix}-copy.db"
        shutil.copyfile(source, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    name = f"openalgo_{prefix}{next(_counter)}_{worker_suffix()}"
    template = make_url(template_url).database
    admin = create_async_engine(
        make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        yield make_url(template_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def fresh_database(
    database: Database, template_database: str, tmp_path: Path
) -> AsyncIterator[str]:
    """The URL of a new, migrated database for this test only."""
    async with database_copy(database, template_database, tmp_path) as url:
        yield url


StartApp = Callable[..., AbstractAsyncContextManager[LiveApp]]


@pytest.fixture
def start_app(fresh_database: str, tmp_path: Path) -> StartApp:
    """``async with start_app(**setting_overrides) as live:`` -- the real app on the fresh
    database, lifespan running; call it again (after leaving) to "restart" on the same data."""
    clock = ManualClock(START)

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[LiveApp]:
        settings = make_settings(tmp_path, fresh_database, **{**TEST_OVERRIDES, **overrides})
        app = create_app(settings, clock=clock)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield LiveApp(app=app, client=c, clock=clock, settings=settings)

    return run


@pytest.fixture
async def live(start_app: StartApp) -> AsyncIterator[LiveApp]:
    async with start_app() as running:
        yield running


@asynccontextmanager
async def served(live: LiveApp) -> AsyncIterator[str]:
    """Serve the running app over real HTTP on 127.0.0.1 (uvicorn, same event loop); yields the
    base URL. The app's lifespan is the live fixture's, so uvicorn does not run it again."""
    import asyncio
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        live.app, host="127.0.0.1", port=port, lifespan="off", log_config=None, proxy_headers=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
