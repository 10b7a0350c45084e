"""The whole app with the simulator's instrument master loaded and a user holding an API key:
what an `/api/v1` test needs to call real endpoints the way a client does.

    async def test_funds(trader: Trader) -> None:
        body = await trader.ok("funds")
        assert body["data"]["availablecash"] == "10000000.00"

The master is generated and loaded once per session into a template database (for the app's
`ManualClock` date, so expiries are relative to it), then each test gets a copy of that template,
as `appfixtures` does for plain migrated databases. Import the fixtures in a ``conftest.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from openalgo.db import migrations
from openalgo.db.engine import create_engine
from openalgo.db.session import create_sessionmaker
from openalgo.domain.calendar import MarketCalendar
from openalgo.services.instrument_loading import SIMULATOR, load_master, simulator_master
from openalgo.services.user_settings import set_analyzer_mode
from tests.conftest import Database, make_settings
from tests.support.accounts import Account, committed_account
from tests.support.appfixtures import START, TEST_OVERRIDES, LiveApp, StartApp, database_copy
from tests.support.services import provision_postgres, worker_suffix

_counter = itertools.count()

# Orders fill against a market that is always open, whatever the test's clock says.
TRADING_OVERRIDES: dict[str, Any] = {
    **TEST_OVERRIDES,
    "market_always_open": True,
    "order_rate_limit": "1000 per second",
    "smart_order_rate_limit": "1000 per second",
}


@pytest.fixture(scope="session")
async def trading_template(database: Database, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database holding the simulator master for `START`'s date."""
    if database.backend == "sqlite":
        path = tmp_path_factory.mktemp("trading-template") / "trading.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = await provision_postgres(f"openalgo_trade_{worker_suffix()}")
    engine = create_engine(make_settings(tmp_path_factory.mktemp("trading-tmpl"), url), url)
    try:
        await migrations.upgrade(engine)
        today = START.date()
        # The app runs with market_always_open, whose price paths the strikes must centre on.
        rows = simulator_master(MarketCalendar.bundled(always_open=True), today)
        await load_master(
            create_sessionmaker(engine), SIMULATOR, rows, as_of=today, source="test", whole=True
        )
    finally:
        await engine.dispose()
    return url


@pytest.fixture
async def trading_database(
    database: Database, trading_template: str, tmp_path: Path
) -> AsyncIterator[str]:
    """A private copy of the trading template for one test."""
    async with database_copy(database, trading_template, tmp_path, prefix="t") as url:
        yield url


@pytest.fixture
def start_trading_app(trading_database: str, tmp_path: Path) -> StartApp:
    """``async with start_trading_app(**overrides) as live`` on the trading database."""
    from contextlib import asynccontextmanager

    from openalgo.app import create_app
    from openalgo.domain.clock import ManualClock

    clock = ManualClock(START)

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[LiveApp]:
        settings = make_settings(tmp_path, trading_database, **{**TRADING_OVERRIDES, **overrides})
        app = create_app(settings, clock=clock)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield LiveApp(app=app, client=c, clock=clock, settings=settings)

    return run


@dataclass
class Trader:
    """A user with an API key on a running app; ``post`` sends the key in the body like the SDK."""

    live: LiveApp
    account: Account

    @property
    def api_key(self) -> str:
        return self.account.api_key

    @property
    def client(self) -> httpx.AsyncClient:
        return self.live.client

    async def post(self, name: str, /, **fields: Any) -> httpx.Response:
        return await self.client.post(f"/api/v1/{name}", json={"apikey": self.api_key, **fields})

    async def ok(self, name: str, /, **fields: Any) -> dict[str, Any]:
        """POST and insist on 200 with ``status: success``; the parsed body."""
        response = await self.post(name, **fields)
        assert response.status_code == 200, (name, response.status_code, response.text)
        body: dict[str, Any] = response.json()
        assert body.get("status") == "success", body
        return body

    async def analyzer(self, on: bool) -> None:
        """Switch this user's analyzer mode directly in the database (the toggle endpoint's
        own tests cover the API path)."""
        from openalgo.db.session import transaction

        security = self.live.security
        async with transaction(self.live.runtime.sessionmaker) as session:
            await set_analyzer_mode(
                session,
                user_id=self.account.user_id,
                enabled=on,
                now=self.live.clock.now(),
                cache=security.verifier,
            )


async def new_trader(live: LiveApp, username: str = "trader") -> Trader:
    account = await committed_account(live.runtime.sessionmaker, live.clock, username)
    return Trader(live, account)


@pytest.fixture
async def trading_live(start_trading_app: StartApp) -> AsyncIterator[LiveApp]:
    async with start_trading_app() as running:
        yield running


@pytest.fixture
async def trader(trading_live: LiveApp) -> Trader:
    """A user on the simulator broker (analyzer mode off) with an API key."""
    return await new_trader(trading_live)
