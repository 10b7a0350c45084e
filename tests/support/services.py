"""Locating the real services the suite talks to: PostgreSQL and Redis.

On a machine without them the tests that need them skip with the reason; CI sets
``OPENALGO_TEST_REQUIRE_SERVICES=1`` so that they fail instead.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

REQUIRE_SERVICES = os.environ.get("OPENALGO_TEST_REQUIRE_SERVICES") == "1"
POSTGRES_ADMIN_URL = os.environ.get(
    "OPENALGO_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("OPENALGO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(what: str, reason: str, variable: str = "OPENALGO_TEST_POSTGRES_URL") -> None:
    """Skip (or, in CI, fail) a test that needs a service that is not there."""
    message = f"{what} unavailable ({reason}); set {variable} or start it"
    if REQUIRE_SERVICES:
        pytest.fail(f"OPENALGO_TEST_REQUIRE_SERVICES=1 but {message}")
    pytest.skip(message)


async def provision_postgres(database: str) -> str:
    """Create (or re-create) an empty database for this test run; returns its async URL."""
    admin_url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg")
    admin = create_async_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 3}
    )
    try:
        async with asyncio.timeout(5):
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                await conn.execute(text(f'CREATE DATABASE "{database}"'))
    except Exception as exc:
        unavailable("PostgreSQL", f"{type(exc).__name__}: {exc}".splitlines()[0])
    finally:
        await admin.dispose()
    return admin_url.set(database=database).render_as_string(hide_password=False)


async def drop_postgres(database: str) -> None:
    admin_url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg")
    admin = create_async_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 3}
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def drop_run_databases() -> None:
    """Drop every database this run created (they all end in the run's suffix)."""
    admin_url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg")
    admin = create_async_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 3}
    )
    try:
        async with asyncio.timeout(10), admin.connect() as conn:
            rows = await conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                {"p": f"openalgo_%_{worker_suffix()}"},
            )
            for (name,) in rows.all():
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception:
        pass
    finally:
        await admin.dispose()


def worker_suffix() -> str:
    """Distinct per pytest-xdist worker (and per concurrent run of the suite)."""
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0") + f"_{os.getpid()}"


async def require_redis() -> str:
    """The Redis URL for tests, after a PING proved it answers (else skip, or fail in CI)."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        async with asyncio.timeout(3):
            await client.ping()
    except Exception as exc:
        unavailable(
            "Redis", f"{type(exc).__name__}: {exc}".splitlines()[0], "OPENALGO_TEST_REDIS_URL"
        )
    finally:
        await client.aclose()
    return REDIS_URL
