"""The invariant checker must notice every kind of damage, and the schema must refuse some outright."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.brokers.sandbox import SandboxEngine, check_ledger
from openalgo.brokers.sandbox.ops import settle_t1
from openalgo.brokers.sandbox.store import (
    FUNDS,
    HOLDINGS,
    ORDERS,
    POSITIONS,
    TRADES,
    LedgerTx,
    StaleState,
)
from openalgo.db.session import SessionMaker
from openalgo.domain.clock import ist
from tests.brokers.sandbox.conftest import MORNING, order
from tests.fakes.market import tick

D = Decimal


async def problems(read_sessionmaker: SessionMaker, user: int) -> list[str]:
    async with read_sessionmaker() as session:
        return await check_ledger(session, "sandbox", user)


@pytest.fixture
async def traded(engine: SandboxEngine, user: int) -> SandboxEngine:
    """A user with a closed round trip, an open MIS position, a holding and a resting order."""
    from datetime import timedelta

    await engine.place_order(user, order("SBIN", "BUY", 10, product="CNC"))
    engine.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    await engine.place_order(user, order("INFY", "BUY", 10))
    engine.on_tick(tick("INFY", "NSE", 1510.0))
    await engine.place_order(user, order("INFY", "SELL", 4))
    await engine.place_order(user, order("RELIANCE", "BUY", 2, pricetype="LIMIT", price="2400"))
    await engine.settle_if_due(user)
    return engine


async def tamper(db: AsyncEngine, stmt: Any) -> None:
    async with db.begin() as conn:
        await conn.execute(stmt)


async def test_a_healthy_ledger_has_no_problems(
    traded: SandboxEngine, user: int, read_sessionmaker: SessionMaker
) -> None:
    assert await problems(read_sessionmaker, user) == []


async def test_a_paisa_missing_from_cash_is_noticed(
    traded: SandboxEngine, user: int, db: AsyncEngine, read_sessionmaker: SessionMaker
) -> None:
    async with db.connect() as conn:
        available = (await conn.execute(select(FUNDS.c.available))).scalar_one()
    await tamper(db, update(FUNDS).values(available=available - D("0.01")))
    assert any("cash not conserved" in p for p in await problems(read_sessionmaker, user))


async def test_margin_that_nothing_holds_is_noticed(
    traded: SandboxEngine, user: int, db: AsyncEngine, read_sessionmaker: SessionMaker
) -> None:
    await tamper(db, update(ORDERS).where(ORDERS.c.status == "open").values(status="cancelled"))
    assert any("used margin is" in p for p in await problems(read_sessionmaker, user))


async def test_a_lost_trade_is_noticed(
    traded: SandboxEngine, user: int, db: AsyncEngine, read_sessionmaker: SessionMaker
) -> None:
    async with db.connect() as conn:
        last = (await conn.execute(select(TRADES.c.id).order_by(TRADES.c.id.desc()))).first()
    assert last is not None
    await tamper(db, delete(TRADES).where(TRADES.c.id == last.id))
    found = await problems(read_sessionmaker, user)
    assert any("has 0 trades" in p for p in found)
    assert any("position" in p or "realised" in p for p in found)


async def test_a_wrong_position_or_holding_is_noticed(
    traded: SandboxEngine, user: int, db: AsyncEngine, read_sessionmaker: SessionMaker
) -> None:
    await tamper(db, update(POSITIONS).values(cost=D("1.0000")))
    await tamper(db, update(HOLDINGS).values(quantity=D("11")))
    found = await problems(read_sessionmaker, user)
    assert any(p.startswith("position") for p in found)
    assert any(p.startswith("holding") for p in found)


async def test_the_schema_refuses_a_second_trade_for_an_order(
    traded: SandboxEngine, user: int, db: AsyncEngine
) -> None:
    async with db.connect() as conn:
        row = (await conn.execute(select(TRADES).limit(1))).first()
    assert row is not None
    values = dict(row._mapping)
    values.pop("id")
    values["tradeid"] = "TRADE-duplicate"
    with pytest.raises(IntegrityError):
        await tamper(db, insert(TRADES).values(**values))


async def test_a_stale_read_cannot_overwrite(
    engine: SandboxEngine, user: int, sessionmaker: SessionMaker
) -> None:
    await engine.place_order(user, order("SBIN", "BUY", 1))
    async with sessionmaker() as session:
        tx = LedgerTx(
            session,
            ledger="sandbox",
            now=MORNING,
            today=ist(MORNING).date(),
            session_day=ist(MORNING).date(),
            new_funds=lambda _u: D("1000"),
            settle=settle_t1,
        )
        funds = await tx.funds(user)
        funds.version -= 1  # as if read before the last write
        funds.block(D("1.00"))
        with pytest.raises(StaleState):
            await tx.flush()
        await session.rollback()
