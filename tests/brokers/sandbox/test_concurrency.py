"""Races: many clients, ticks flowing, cancels racing fills, two engines on one database.

After every storm the invariant checker replays each user's trades and must agree with funds,
margins, positions and P&L to the paisa. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.brokers.base import OrderNotFound, OrderRejected
from openalgo.brokers.sandbox import SandboxEngine
from openalgo.brokers.sandbox.store import ORDERS, TRADES
from openalgo.db.session import SessionMaker
from openalgo.domain.orders import ModifyRequest
from tests.brokers.sandbox.conftest import Checker, EngineFactory, make_user, order
from tests.fakes.market import FakeMarket, tick

D = Decimal


async def count(read_sessionmaker: SessionMaker, table: Any, **where: Any) -> int:
    async with read_sessionmaker() as session:
        stmt = select(func.count()).select_from(table)
        for column, value in where.items():
            stmt = stmt.where(table.c[column] == value)
        return int((await session.execute(stmt)).scalar_one())


async def test_storm_of_200_orders_from_20_clients_keeps_the_ledger_exact(
    db: AsyncEngine,
    engine: SandboxEngine,
    market: FakeMarket,
    read_sessionmaker: SessionMaker,
    assert_consistent: Checker,
) -> None:
    users = [await make_user(db, f"u{i}") for i in range(5)]
    rng = random.Random(4)
    price = {"ltp": 800.0}
    stop = asyncio.Event()
    outcomes: Counter[str] = Counter()

    async def ticker() -> None:
        while not stop.is_set():
            price["ltp"] = max(
                700.0, min(900.0, price["ltp"] + rng.choice((-0.5, -0.05, 0.05, 0.5)))
            )
            ltp = round(price["ltp"] * 20) / 20
            engine.on_tick(tick("SBIN", "NSE", ltp, bid=ltp - 0.05, ask=ltp + 0.05))
            await asyncio.sleep(0)

    async def client(n: int) -> None:
        user = users[n % len(users)]
        local = random.Random(n)
        for _ in range(10):
            ltp = round(price["ltp"] * 20) / 20
            kind = local.choice(("MARKET", "LIMIT", "LIMIT", "SL-M", "SL"))
            action = local.choice(("BUY", "SELL"))
            product = local.choice(("MIS", "MIS", "CNC"))
            qty = local.randint(1, 50)
            offset = local.choice((0.05, 0.1, 0.5, 1.0))
            below, above = f"{ltp - offset:.2f}", f"{ltp + offset:.2f}"
            if kind == "MARKET":
                req = order("SBIN", action, qty, product=product)
            elif kind == "LIMIT":
                limit = below if action == "BUY" else above
                req = order("SBIN", action, qty, product=product, pricetype="LIMIT", price=limit)
            elif kind == "SL-M":
                trig = above if action == "BUY" else below
                req = order(
                    "SBIN", action, qty, product=product, pricetype="SL-M", trigger_price=trig
                )
            else:
                trig = above if action == "BUY" else below
                limit = f"{float(trig) + (0.1 if action == 'BUY' else -0.1):.2f}"
                req = order(
                    "SBIN",
                    action,
                    qty,
                    product=product,
                    pricetype="SL",
                    price=limit,
                    trigger_price=trig,
                )
            try:
                oid = await engine.place_order(user, req)
            except OrderRejected:
                outcomes["rejected"] += 1
                continue
            outcomes["placed"] += 1
            if kind == "MARKET":
                continue
            roll = local.random()
            await asyncio.sleep(local.choice((0, 0, 0.001)))
            try:
                if roll < 0.4:
                    await engine.cancel_order(user, oid)
                    outcomes["cancelled"] += 1
                elif roll < 0.6:
                    await engine.modify_order(
                        user,
                        ModifyRequest(
                            orderid=oid,
                            symbol="SBIN",
                            exchange="NSE",
                            action=req.action,
                            quantity=qty + 1,
                            pricetype=req.pricetype,
                            product=req.product,
                            price=req.price,
                            trigger_price=req.trigger_price,
                        ),
                    )
                    outcomes["modified"] += 1
            except (OrderRejected, OrderNotFound):
                outcomes["lost the race"] += 1

    tick_task = asyncio.create_task(ticker())
    await asyncio.gather(*(client(n) for n in range(20)))
    await asyncio.sleep(0.05)
    stop.set()
    await tick_task
    await engine.drain()

    assert outcomes["placed"] + outcomes["rejected"] == 200
    assert outcomes["placed"] > 100 and outcomes["cancelled"] > 10
    complete = await count(read_sessionmaker, ORDERS, status="complete")
    trades = await count(read_sessionmaker, TRADES)
    assert complete == trades > 60
    for user in users:
        await assert_consistent(user)
    # Close everything out and check again: nothing may be left behind in margin.
    for user in users:
        await engine.cancel_all_orders(user)
        await engine.close_all_positions(user)
        view = await engine.funds_view(user)
        assert view.funds.used_margin == sum(
            (line.position.margin_blocked for line in await engine.position_lines(user)), D(0)
        )
        await assert_consistent(user)


async def test_cancels_racing_fills_resolve_one_way_only(
    engine: SandboxEngine, user: int, assert_consistent: Checker
) -> None:
    results: Counter[str] = Counter()
    for i in range(40):
        oid = await engine.place_order(
            user, order("SBIN", "BUY", 1, pricetype="LIMIT", price="799.95")
        )
        engine.on_tick(tick("SBIN", "NSE", 799.9 if i % 2 else 800.0))
        try:
            await engine.cancel_order(user, oid)
            results["cancelled"] += 1
        except OrderRejected as exc:
            results[exc.message] += 1
        engine.on_tick(tick("SBIN", "NSE", 800.0))
        await engine.drain()
    filled_first = "Cannot cancel order in complete status"
    assert results["cancelled"] + results[filled_first] == 40
    assert results[filled_first] > 0
    await assert_consistent(user)


async def test_two_engines_on_one_database_fill_each_order_once(
    make_engine: EngineFactory,
    user: int,
    read_sessionmaker: SessionMaker,
    assert_consistent: Checker,
) -> None:
    first = await make_engine()
    second = await make_engine()
    placed = []
    for i in range(60):
        venue = first if i % 2 else second
        limit = f"{799 - (i % 10) * 0.5:.2f}"
        placed.append(
            await venue.place_order(user, order("SBIN", "BUY", 1, pricetype="LIMIT", price=limit))
        )
    gtt = await first.place_gtt(
        user,
        trigger_type="SINGLE",
        symbol="SBIN",
        exchange="NSE",
        action="BUY",
        product="CNC",
        quantity=1,
        price=D("790"),
        triggerprice_sl=D("795"),
    )
    # Each engine learns the other's orders from the database, then both see the same ticks.
    await first.resync()
    await second.resync()
    assert len(first.book.orders) == len(second.book.orders) == 60
    for ltp in (798.0, 796.0, 790.0):
        first.on_tick(tick("SBIN", "NSE", ltp))
        second.on_tick(tick("SBIN", "NSE", ltp))
    await asyncio.gather(first.drain(), second.drain())

    assert await count(read_sessionmaker, TRADES) == 61
    assert await count(read_sessionmaker, ORDERS, status="complete") == 61
    assert [g.status for g in await first.gtts(user, active_only=False)] == ["triggered"]
    assert gtt
    await assert_consistent(user)


async def test_concurrent_gtt_firings_place_one_child(
    engine: SandboxEngine, user: int, read_sessionmaker: SessionMaker
) -> None:
    gtt_id = await engine.place_gtt(
        user,
        trigger_type="OCO",
        symbol="SBIN",
        exchange="NSE",
        action="SELL",
        product="CNC",
        quantity=1,
        price=D("780"),
        triggerprice_sl=D("790"),
        triggerprice_tg=D("810"),
        stoploss=D("789"),
        target=D("811"),
    )
    # Both legs woken by wild ticks, several times over.
    for ltp in (780.0, 820.0, 780.0, 820.0):
        engine.on_tick(tick("SBIN", "NSE", ltp))
    await engine.resync()
    engine.on_tick(tick("SBIN", "NSE", 820.0))
    await engine.drain()
    [gtt] = await engine.gtts(user, active_only=False)
    assert gtt.gtt_id == gtt_id and gtt.fired_leg in (1, 2)
    async with read_sessionmaker() as session:
        children = (
            await session.execute(select(func.count()).where(ORDERS.c.gtt_id == gtt_id))
        ).scalar_one()
    assert children == 1


@pytest.mark.parametrize("clients", [20])
async def test_many_users_place_at_once_without_blocking_each_other(
    db: AsyncEngine, engine: SandboxEngine, clients: int, assert_consistent: Checker
) -> None:
    users = [await make_user(db, f"c{i}") for i in range(clients)]
    await asyncio.gather(
        *(engine.place_order(u, order("SBIN", "BUY", 10)) for u in users for _ in range(5))
    )
    for u in users:
        view = await engine.funds_view(u)
        assert view.funds.used_margin == D("8000.00")
        await assert_consistent(u)
    assert engine.writer.batches < clients * 5  # placements were committed in groups
