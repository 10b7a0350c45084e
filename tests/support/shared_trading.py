"""One trading app per test module, a fresh user per test: the `trader` fixture's world at a
fraction of its cost.

Starting the app on a fresh copy of the trading template takes a few seconds (the database copy,
the instrument cache, the engines); a test of one endpoint takes milliseconds. Tests that only act
through their own user's account (each user has separate ledgers, idempotency keys and analyzer
mode) can share the app. A module opts in by importing both fixtures; its ``trader`` then
overrides the per-test one:

    from tests.support.shared_trading import shared_trading_live, trader  # noqa: F401
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Database, make_settings
from tests.support.appfixtures import START, LiveApp, database_copy
from tests.support.trading import TRADING_OVERRIDES, Trader, new_trader

_users = itertools.count(1)


@pytest.fixture(scope="module")
async def shared_trading_live(
    database: Database, trading_template: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveApp]:
    """The app on a private copy of the trading template, for the whole module."""
    from openalgo.app import create_app
    from openalgo.domain.clock import ManualClock

    tmp = tmp_path_factory.mktemp("shared-trading")
    async with database_copy(database, trading_template, tmp, prefix="m") as url:
        clock = ManualClock(START)
        settings = make_settings(tmp, url, **TRADING_OVERRIDES)
        app = create_app(settings, clock=clock)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield LiveApp(app=app, client=c, clock=clock, settings=settings)


@pytest.fixture
async def trader(shared_trading_live: LiveApp) -> Trader:
    """A new user (simulator broker, analyzer mode off) with an API key on the shared app."""
    return await new_trader(shared_trading_live, f"trader{next(_users)}")
