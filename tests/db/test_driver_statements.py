"""`db.driver_statements`: rows written on the driver connection are stored exactly as SQLAlchemy
stores them, a multi-row insert returns its ids in order, and the driver's errors arrive as
SQLAlchemy's (what the group commit and the journal catch)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.db.driver_statements import DriverStatement, executemany, insert_returning
from openalgo.db.engine import create_engine
from openalgo.db.models.order_log import OrderLog
from tests.conftest import make_settings
from tests.support.databases import add_user, fresh_database

ORDER_LOG: Any = OrderLog.__table__
COLUMNS = [c.name for c in ORDER_LOG.c if c.name != "id"]
INSERT = insert(ORDER_LOG).values({n: bindparam(n) for n in COLUMNS}).returning(ORDER_LOG.c.id)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with fresh_database("sqlite", tmp_path) as url:
        engine = create_engine(make_settings(tmp_path, url))
        try:
            yield engine
        finally:
            await engine.dispose()


def entry(user_id: int, n: int) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "endpoint": "placeorder",
        "mode": "live",
        "venue": "simulator",
        "strategy": "s",
        "symbol": "SBIN",
        "exchange": "NSE",
        "request": {"n": n, "price": "1.10", "note": "caf\u00e9"},
        "idempotency_key": None,
        "status": "pending",
        "http_status": None,
        "orderid": None,
        "response": None,
        "error": None,
        "venue_ms": 1.5,
        "latency_ms": None,
        "created_at": datetime(2026, 11, 28, 9, 15, 0, n, tzinfo=UTC),
        "completed_at": None,
    }


async def test_rows_are_stored_as_sqlalchemy_stores_them(engine: AsyncEngine) -> None:
    user = await add_user(engine, "driver")
    statement = DriverStatement.compile(INSERT, engine.dialect)
    async with engine.begin() as conn:
        ids = [r[0] for r in await insert_returning(conn, statement, [entry(user, 1)])]
        via_orm = await conn.execute(insert(ORDER_LOG).returning(ORDER_LOG.c.id), [entry(user, 1)])
        ids.append(via_orm.scalar_one())
        raw = (
            await conn.execute(
                text("SELECT request, created_at, venue_ms FROM order_log WHERE id IN (:a, :b)"),
                {"a": ids[0], "b": ids[1]},
            )
        ).all()
    assert len(raw) == 2
    assert raw[0] == raw[1]  # byte for byte what SQLAlchemy writes
    async with engine.connect() as conn:
        read = (await conn.execute(select(ORDER_LOG).where(ORDER_LOG.c.id == ids[0]))).one()
    assert read.request == {"n": 1, "price": "1.10", "note": "caf\u00e9"}
    assert read.created_at == datetime(2026, 11, 28, 9, 15, 0, 1, tzinfo=UTC)


async def test_a_multi_row_insert_returns_every_id_in_order(engine: AsyncEngine) -> None:
    user = await add_user(engine, "multi")
    statement = DriverStatement.compile(INSERT, engine.dialect)
    async with engine.begin() as conn:
        ids = sorted(
            r[0]
            for r in await insert_returning(conn, statement, [entry(user, n) for n in range(1, 40)])
        )
        rows = (
            await conn.execute(
                select(ORDER_LOG.c.id, ORDER_LOG.c.created_at).order_by(ORDER_LOG.c.id)
            )
        ).all()
    assert len(ids) == 39
    assert [r.id for r in rows] == ids
    assert [r.created_at.microsecond for r in rows] == list(range(1, 40))


async def test_executemany_updates_and_counts(engine: AsyncEngine) -> None:
    user = await add_user(engine, "update")
    stmt = (
        update(ORDER_LOG)
        .where(ORDER_LOG.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), response=bindparam("b_response"))
    )
    statement = DriverStatement.compile(stmt, engine.dialect)
    insert_statement = DriverStatement.compile(INSERT, engine.dialect)
    async with engine.begin() as conn:
        ids = [
            r[0]
            for r in await insert_returning(
                conn, insert_statement, [entry(user, 1), entry(user, 2)]
            )
        ]
        changed = await executemany(
            conn,
            statement,
            [{"b_id": i, "b_status": "success", "b_response": {"orderid": str(i)}} for i in ids]
            + [{"b_id": 10_000, "b_status": "success", "b_response": None}],  # no such row
        )
        rows = (
            await conn.execute(
                select(ORDER_LOG.c.status, ORDER_LOG.c.response).order_by(ORDER_LOG.c.id)
            )
        ).all()
    assert changed == 2
    assert [tuple(r) for r in rows] == [("success", {"orderid": str(i)}) for i in ids]


async def test_driver_errors_arrive_as_sqlalchemy_errors(engine: AsyncEngine) -> None:
    statement = DriverStatement.compile(INSERT, engine.dialect)
    async with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            await insert_returning(conn, statement, [entry(10_000, 1) | {"endpoint": None}])
        await conn.rollback()
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM order_log"))).scalar_one()
    assert count == 0  # nothing half-written


async def test_what_it_refuses(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="positional"):
        DriverStatement.compile(
            INSERT,
            create_engine(
                make_settings(Path(".")), "postgresql+asyncpg://nobody@127.0.0.1:1/none"
            ).dialect,
        )
    stmt = update(ORDER_LOG).where(ORDER_LOG.c.id == bindparam("b_id")).values(status="x")
    with pytest.raises(ValueError, match="single-row INSERT"):
        DriverStatement.compile(stmt, engine.dialect).multi_row_sql(2)
    with pytest.raises(KeyError):
        DriverStatement.compile(INSERT, engine.dialect).row({"user_id": 1})
