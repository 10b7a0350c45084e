from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from openalgo.app import create_app
from tests.api.v1.contract import add_probes
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def contract_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The real app (SQLite in a temp dir, nothing migrated: probes need no tables) plus a
    probe route for every /api/v1 endpoint. Shared by a module: probes keep no state."""
    settings = make_settings(tmp_path_factory.mktemp("contract"), max_body_bytes=64 * 1024)
    return add_probes(create_app(settings), shadow=True)


@pytest.fixture(scope="module")
async def api(contract_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with contract_app.router.lifespan_context(contract_app):
        transport = httpx.ASGITransport(app=contract_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


from tests.support.appfixtures import fresh_database, live, start_app, template_database  # noqa: E402
from tests.support.trading import (  # noqa: E402
    start_trading_app,
    trader,
    trading_database,
    trading_live,
    trading_template,
)

__all__ = [
    "fresh_database",
    "live",
    "start_app",
    "start_trading_app",
    "template_database",
    "trader",
    "trading_database",
    "trading_live",
    "trading_template",
]
