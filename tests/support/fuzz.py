"""Apps for the property-based run (schemathesis), built once per test module.

`real_app()` is the application as shipped, on a migrated SQLite database of its own with the
simulator master loaded and one user, whose API key travels in the ``X-API-KEY`` header
(``FUZZ_HEADERS``), so generated requests get past authentication to the routes' own validation
and services. Every route the app has is fuzzed, so routers added later are covered without
touching the test.

`contract_app()` adds a probe for every /api/v1 endpoint of the table (see tests/api/v1/contract),
so the request models of routes not written yet are fuzzed through the real error handling.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date
from pathlib import Path

from fastapi import FastAPI

from openalgo.app import create_app
from openalgo.db import migrations
from openalgo.db.engine import create_engine
from openalgo.db.session import create_sessionmaker
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import SystemClock
from openalgo.services.instrument_loading import SIMULATOR, load_master, simulator_master
from openalgo.settings import Settings
from tests.api.v1.contract import add_probes
from tests.conftest import make_settings
from tests.support.accounts import committed_account
from tests.support.trading import TRADING_OVERRIDES

# Extra request headers for every fuzzed call: the fuzzing user's API key.
FUZZ_HEADERS: dict[str, str] = {}


def _migrated_settings(name: str, *, trading: bool = False) -> Settings:
    """Settings on a fresh migrated SQLite file; ``trading`` also loads the simulator master and
    creates the fuzzing user (bans off: generated bodies carry plenty of bad keys, and a ban
    would turn every later answer into the same 403)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"openalgo-fuzz-{name}-"))
    overrides = {**TRADING_OVERRIDES, "ban_enabled": False} if trading else {}
    settings = make_settings(tmp, f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}", **overrides)

    async def prepare() -> None:
        engine = create_engine(settings)
        try:
            await migrations.upgrade(engine)
            if trading:
                today = date.today()
                sessions = create_sessionmaker(engine)
                rows = simulator_master(MarketCalendar.bundled(always_open=True), today)
                await load_master(sessions, SIMULATOR, rows, as_of=today, source="fuzz", whole=True)
                account = await committed_account(sessions, SystemClock(), "fuzzer")
                FUZZ_HEADERS["X-API-KEY"] = account.api_key
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    return settings


def real_app() -> FastAPI:
    return create_app(_migrated_settings("real", trading=True))


def contract_app() -> FastAPI:
    return add_probes(create_app(_migrated_settings("contract")))
