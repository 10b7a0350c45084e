"""Fixtures for the ledger: its own committed database per backend, wiped before each test.

The ledger opens its own transactions (like every background engine), so these tests cannot use
the rolled-back ``session`` fixture: on SQLite its open transaction would hold the write lock.

Note: in this package ``engine`` is the `SandboxEngine`, shadowing the suite's database engine;
tests that need the app (``app``, ``client``) live in ``tests/api``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Table, delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.brokers.sandbox import EngineTiming, SandboxConfig, SandboxEngine, check_ledger
from openalgo.brokers.sandbox.store import FUNDS, GTTS, HOLDINGS, ORDERS, POSITIONS, TRADES
from openalgo.db import migrations
from openalgo.db.engine import create_engine, reader
from openalgo.db.models import SandboxConfig as ConfigRow
from openalgo.db.models import User
from openalgo.db.session import SessionMaker, create_sessionmaker
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import IST, ManualClock
from openalgo.domain.enums import Action, PriceType, Product
from openalgo.domain.orders import OrderRequest
from tests.conftest import Database, make_settings
from tests.fakes.market import CollectingSink, FakeInstruments, FakeMarket, RecordingFeed
from tests.support.services import provision_postgres, worker_suffix

USERS: Table = User.__table__  # type: ignore[assignment]
CONFIG: Table = ConfigRow.__table__  # type: ignore[assignment]

# A Monday, mid-session.
MORNING = datetime(2026, 12, 14, 10, 0, tzinfo=IST)  # a Monday
# The exchange calendar engines use by default (EngineTiming(): the market is not always open).
CALENDAR = MarketCalendar.bundled()


@pytest.fixture(scope="session")
async def ledger_db(
    database: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    if database.backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}"
    else:
        url = await provision_postgres(f"openalgo_ledger_{worker_suffix()}")
    eng = create_engine(make_settings(tmp_path_factory.mktemp("ledger-data"), url))
    await migrations.upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def db(ledger_db: AsyncEngine) -> AsyncEngine:
    """The ledger database, emptied."""
    async with ledger_db.begin() as conn:
        for table in (TRADES, ORDERS, POSITIONS, HOLDINGS, FUNDS, GTTS, CONFIG, USERS):
            await conn.execute(delete(table))
    return ledger_db


@pytest.fixture
def sessionmaker(db: AsyncEngine) -> SessionMaker:
    return create_sessionmaker(db)


@pytest.fixture
def read_sessionmaker(db: AsyncEngine) -> SessionMaker:
    return create_sessionmaker(reader(db))


async def make_user(db: AsyncEngine, name: str) -> int:
    async with db.begin() as conn:
        result = await conn.execute(
            insert(USERS)
            .values(
                username=name,
                password_hash="x",
                is_admin=False,
                is_active=True,
                created_at=MORNING,
                updated_at=MORNING,
            )
            .returning(USERS.c.id)
        )
        return int(result.scalar_one())


@pytest.fixture
async def user(db: AsyncEngine) -> int:
    return await make_user(db, "trader")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MORNING)


@pytest.fixture
def market() -> FakeMarket:
    m = FakeMarket()
    m.set("SBIN", "NSE", 800.0)
    m.set("RELIANCE", "NSE", 2500.0)
    m.set("INFY", "NSE", 1500.0)
    m.set("ZEEL", "BSE", 112.37)
    m.set("NIFTY29DEC26FUT", "NFO", 24000.0)
    m.set("NIFTY29DEC2624000CE", "NFO", 150.0)
    m.set("NIFTY29DEC2624000PE", "NFO", 120.0)
    m.set("USDINR29DEC26FUT", "CDS", 83.2525)
    m.set("CRUDEOIL29DEC26FUT", "MCX", 6500.0)
    m.set("BTCUSDT", "CRYPTO", 65000.5)
    return m


@pytest.fixture
def instruments() -> FakeInstruments:
    return FakeInstruments()


@pytest.fixture
def sink() -> CollectingSink:
    return CollectingSink()


@pytest.fixture
def feed() -> RecordingFeed:
    return RecordingFeed()


EngineFactory = Callable[..., Awaitable[SandboxEngine]]


@pytest.fixture
async def make_engine(
    sessionmaker: SessionMaker,
    read_sessionmaker: SessionMaker,
    instruments: FakeInstruments,
    market: FakeMarket,
    sink: CollectingSink,
    clock: ManualClock,
    feed: RecordingFeed,
) -> AsyncIterator[EngineFactory]:
    started: list[SandboxEngine] = []

    async def factory(
        *,
        background: bool = False,
        config: SandboxConfig | None = None,
        timing: EngineTiming | None = None,
        ledger: str = "sandbox",
        **overrides: Any,
    ) -> SandboxEngine:
        kwargs: dict[str, Any] = {
            "ledger": ledger,
            "sessionmaker": sessionmaker,
            "read_sessionmaker": read_sessionmaker,
            "instruments": instruments,
            "market": lambda _user: market,
            "events": sink,
            "clock": clock,
            "config": config,
            "timing": timing or EngineTiming(),
            "feed": feed,
        }
        kwargs.update(overrides)
        engine = SandboxEngine(**kwargs)
        await engine.start(background=background)
        started.append(engine)
        return engine

    yield factory
    for engine in reversed(started):
        await engine.stop()


@pytest.fixture
async def engine(make_engine: EngineFactory) -> SandboxEngine:
    return await make_engine()


Checker = Callable[..., Awaitable[None]]


@pytest.fixture
def assert_consistent(read_sessionmaker: SessionMaker) -> Checker:
    async def check(user_id: int, ledger: str = "sandbox") -> None:
        async with read_sessionmaker() as session:
            problems = await check_ledger(session, ledger, user_id, calendar=CALENDAR)
        assert problems == []

    return check


def order(
    symbol: str,
    action: str = "BUY",
    quantity: int | Decimal = 1,
    *,
    exchange: str = "NSE",
    pricetype: str = "MARKET",
    product: str = "MIS",
    price: str | Decimal = "0",
    trigger_price: str | Decimal = "0",
    strategy: str = "test",
) -> OrderRequest:
    """An order request, spelled the way a test reads best."""
    return OrderRequest(
        symbol=symbol,
        exchange=exchange,
        action=Action(action),
        quantity=quantity,  # type: ignore[arg-type]
        pricetype=PriceType(pricetype),
        product=Product(product),
        price=Decimal(price),
        trigger_price=Decimal(trigger_price),
        strategy=strategy,
    )
