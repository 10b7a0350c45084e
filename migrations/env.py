"""Alembic environment: async engines, a connection passed in by code, batch mode on SQLite."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from openalgo.db.engine import create_engine
from openalgo.db.models import Base
from openalgo.settings import Settings

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    settings = Settings()
    url = config.get_main_option("sqlalchemy.url") or settings.resolved_database_url
    engine = create_engine(settings, url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_configure_and_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
    else:
        asyncio.run(_run_with_own_engine())


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url,
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
