"""Property-based run (schemathesis) of the market-data, symbol and calendar endpoints *past*
authentication: the app as shipped, the simulator master loaded, a user whose key travels in the
``X-API-KEY`` header. (The project-wide run in tests/api/test_fuzz.py has no key, so every real
route answers it with 403.)

Generated requests, valid and invalid, must never produce a 5xx, and every response must match
its documented status, content type and schema. The number of examples per operation is bounded
by ``OPENALGO_FUZZ_EXAMPLES`` (default 20). A run at 200 found a fuzzed year 0004 overflowing the
ticker's range clamp.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case, checks

from openalgo.app import create_app
from openalgo.db import migrations
from openalgo.db.engine import create_engine
from openalgo.db.session import create_sessionmaker
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import SystemClock
from openalgo.services.instrument_loading import SIMULATOR, load_master, simulator_master
from tests.conftest import make_settings
from tests.support.accounts import committed_account
from tests.support.trading import TRADING_OVERRIDES

EXAMPLES = int(os.environ.get("OPENALGO_FUZZ_EXAMPLES", "20"))
PATHS = (
    r"^/api/v1/(quotes|multiquotes|depth|history|intervals|ticker"
    r"|symbol|search|expiry|instruments|market/)"
)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
HEADERS: dict[str, str] = {}


def _app() -> FastAPI:
    """The shipped app on its own SQLite file with today's simulator master and one user.

    Bans are off: the fuzzer sends plenty of bad keys (in generated bodies), and a ban would turn
    every later answer into the same 403.
    """
    tmp = Path(tempfile.mkdtemp(prefix="openalgo-fuzz-market-"))
    config = make_settings(
        tmp, f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}", **TRADING_OVERRIDES, ban_enabled=False
    )

    async def prepare() -> None:
        engine = create_engine(config)
        try:
            await migrations.upgrade(engine)
            today = date.today()
            sessions = create_sessionmaker(engine)
            rows = simulator_master(MarketCalendar.bundled(), today)
            await load_master(sessions, SIMULATOR, rows, as_of=today, source="fuzz", whole=True)
            account = await committed_account(sessions, SystemClock(), "fuzzer")
            HEADERS["X-API-KEY"] = account.api_key
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    return create_app(config)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.include(path_regex=PATHS).parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_market_endpoints_with_a_key(case: Case[Any]) -> None:
    # A generated `apikey` would win over the header (the body is OpenAlgo's place for the key).
    for part in (case.body, case.query):
        if isinstance(part, dict):
            part.pop("apikey", None)
    case.call_and_validate(headers=HEADERS, checks=CHECKS)
