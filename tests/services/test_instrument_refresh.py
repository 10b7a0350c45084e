"""The daily simulator master refresh, on a manual clock and a database of its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, time
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.brokers.simulator.market import SimulatorMarket
from openalgo.db import migrations
from openalgo.db.engine import create_engine, reader
from openalgo.db.repositories.instruments import InstrumentRepository
from openalgo.db.session import create_sessionmaker
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import IST, ManualClock
from openalgo.domain.enums import InstrumentType
from openalgo.services.instrument_cache import InstrumentCache
from openalgo.services.instrument_refresh import (
    RETRY_SECONDS,
    SimulatorMasterRefresh,
    next_refresh,
)
from tests.conftest import Database, make_settings
from tests.support.services import provision_postgres, worker_suffix

TUE = date(2026, 12, 1)  # a NIFTY weekly expiry
WED = date(2026, 12, 2)
THU = date(2026, 12, 3)


def ist(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=IST)


@pytest.fixture
async def blank(database: Database, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database of this test's own (the refresh writes in its own transactions)."""
    if database.backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'refresh.db'}"
    else:
        url = await provision_postgres(f"openalgo_refresh_{worker_suffix()}")
    engine = create_engine(make_settings(tmp_path, url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def fresh(blank: AsyncEngine) -> AsyncEngine:
    await migrations.upgrade(blank)
    return blank


def refresher(
    engine: AsyncEngine, clock: ManualClock, cache: InstrumentCache, **kw: object
) -> SimulatorMasterRefresh:
    return SimulatorMasterRefresh(
        sessionmaker=create_sessionmaker(engine),
        read_sessionmaker=create_sessionmaker(reader(engine)),
        cache=cache,
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )


async def eventually(check: Callable[[], bool]) -> None:
    """Poll another task's visible state (it offers no event to wait on)."""
    async with asyncio.timeout(30):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def settle() -> None:
    """Give a woken task time to do (or wrongly do) its work."""
    for _ in range(20):
        await asyncio.sleep(0.01)


async def stored_as_of(engine: AsyncEngine) -> date | None:
    async with create_sessionmaker(engine)() as session:
        master = await InstrumentRepository(session, "simulator").master()
        return master.as_of if master is not None else None


def test_next_refresh_is_the_next_cutoff_in_ist() -> None:
    at = time(8, 0)
    assert next_refresh(ist(TUE, 7, 59), at) == ist(TUE, 8)
    assert next_refresh(ist(TUE, 8), at) == ist(WED, 8)
    assert next_refresh(ist(TUE, 23, 59), at) == ist(WED, 8)
    # 02:00 UTC is 07:30 IST: the same IST morning, not the next UTC day's
    assert next_refresh(datetime.fromisoformat("2026-12-01T02:00:00+00:00"), at) == ist(TUE, 8)
    assert next_refresh(ist(TUE, 12), time(18, 30)) == ist(TUE, 18, 30)


async def test_a_running_server_gets_each_new_days_master(fresh: AsyncEngine) -> None:
    clock = ManualClock(ist(TUE, 12))
    cache = InstrumentCache("simulator")
    market = SimulatorMarket(cache, MarketCalendar.bundled(), clock)
    refresh = refresher(fresh, clock, cache, market=market)
    first = await refresh.refresh()
    assert first is not None and first.total > 5000
    assert cache.as_of == TUE and await stored_as_of(fresh) == TUE
    assert cache.option_expiries("NIFTY", "NFO")[0] == TUE
    expiring = next(i for i in cache.instruments("NFO") if i.expiry == TUE)
    await market.quote(expiring.symbol, expiring.exchange)  # the market now values it
    assert market.valuer(expiring.symbol, expiring.exchange) is not None
    assert await refresh.refresh() is None  # today's master is already there

    task = asyncio.create_task(refresh.run())
    try:
        await settle()
        clock.set(ist(WED, 7, 59))
        await settle()
        assert cache.as_of == TUE and await stored_as_of(fresh) == TUE
        before = len(cache)
        clock.set(ist(WED, 8, 0, 1))
        await eventually(lambda: cache.as_of == WED)
        assert await stored_as_of(fresh) == WED
        expiries = cache.option_expiries("NIFTY", "NFO")
        assert TUE not in expiries and expiries[0] > WED
        assert cache.get(expiring.symbol, expiring.exchange) is None
        assert (expiring.exchange, expiring.symbol) not in market._valuers
        assert abs(len(cache) - before) < before // 10
        # ...and the day after, without anything else happening.
        clock.set(ist(THU, 9))
        await eventually(lambda: cache.as_of == THU)
        assert await stored_as_of(fresh) == THU
    finally:
        task.cancel()


async def test_a_second_worker_reloads_what_the_first_refreshed(fresh: AsyncEngine) -> None:
    clock = ManualClock(ist(TUE, 12))
    one, two, three = (InstrumentCache("simulator") for _ in range(3))
    assert await refresher(fresh, clock, one).refresh() is not None
    await two.load(create_sessionmaker(fresh))
    await three.load(create_sessionmaker(fresh))
    # Worker three does not write: at the cut-off it finds yesterday's rows and keeps looking.
    reading = asyncio.create_task(refresher(fresh, clock, three, write=False).run())
    try:
        await settle()
        clock.set(ist(WED, 8, 30))
        await settle()
        assert three.as_of == TUE and await stored_as_of(fresh) == TUE
        assert await refresher(fresh, clock, one).refresh() is not None
        assert two.as_of == TUE
        assert await refresher(fresh, clock, two).refresh() is None  # rows already today's
        assert two.as_of == WED and len(two) == len(one)
        clock.advance(RETRY_SECONDS)
        await eventually(lambda: three.as_of == WED)
        assert len(three) == len(one)
    finally:
        reading.cancel()


async def test_a_failed_refresh_is_retried(
    blank: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(ist(TUE, 7))
    cache = InstrumentCache("simulator")
    refresh = refresher(blank, clock, cache)
    task = asyncio.create_task(refresh.run())
    try:
        await settle()  # the task is asleep until 08:00
        with caplog.at_level(logging.ERROR, logger="openalgo.instruments"):
            clock.set(ist(TUE, 8, 0, 1))  # the schema is missing: the refresh fails
            await eventually(lambda: "refresh failed" in caplog.text)
        assert not cache.warm
        await migrations.upgrade(blank)
        clock.advance(RETRY_SECONDS)
        await eventually(lambda: cache.as_of == TUE)
        assert task.done() is False
    finally:
        task.cancel()


def test_refresh_time_setting() -> None:
    from openalgo.errors import ConfigError
    from openalgo.settings import load_settings

    assert make_settings(Path("."), master_refresh_time="07:30").master_refresh_time == time(7, 30)
    assert make_settings(Path(".")).master_refresh_time == time(8, 0)
    with pytest.raises(ConfigError, match="master_refresh_time|MASTER_REFRESH_TIME"):
        load_settings(master_refresh_time="25:00", secret_key="s" * 40, pepper="p" * 40)


async def test_an_always_open_market_gets_strikes_around_its_own_prices(fresh: AsyncEngine) -> None:
    """Kept open around the clock, the market walks other price paths than the exchange calendar
    gives; the refreshed master centres its chains on the running market's level."""
    clock = ManualClock(ist(TUE, 12))
    calendar = MarketCalendar.bundled(always_open=True)
    cache = InstrumentCache("simulator")
    market = SimulatorMarket(cache, calendar, clock)
    await refresher(fresh, clock, cache, market=market, calendar=calendar).refresh()
    expiry = cache.option_expiries("NIFTY", "NFO")[0]
    assert expiry == TUE  # expiries still follow the exchange's rules
    strikes = cache.strikes("NIFTY", "NFO", expiry, InstrumentType.CE)
    middle = float(strikes[len(strikes) // 2])
    ltp = (await market.quote("NIFTY", "NSE_INDEX")).ltp
    assert abs(float(ltp) - middle) / middle < 0.02, (ltp, middle)
