"""Apps for the property-based run (schemathesis), built once per test module.

`real_app()` is the application as shipped, on a migrated SQLite database of its own: every route
it has is fuzzed, so routers added later are covered without touching the test. When the API-key
dependency lands, `real_app` is the place to create a user and key and return the header that
lets the fuzzer past authentication (``FUZZ_HEADERS``).

`contract_app()` adds a probe for every /api/v1 endpoint of the table (see tests/api/v1/contract),
so the request models of routes not written yet are fuzzed through the real error handling.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from fastapi import FastAPI

from openalgo.app import create_app
from openalgo.db import migrations
from openalgo.db.engine import create_engine
from tests.api.v1.contract import add_probes
from tests.conftest import make_settings

# Extra request headers for every fuzzed call (authentication, once it exists).
FUZZ_HEADERS: dict[str, str] = {}


def _migrated_settings(name: str) -> object:
    tmp = Path(tempfile.mkdtemp(prefix=f"openalgo-fuzz-{name}-"))
    settings = make_settings(tmp, f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}")

    async def migrate() -> None:
        engine = create_engine(settings)
        try:
            await migrations.upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(migrate())
    return settings


def real_app() -> FastAPI:
    return create_app(_migrated_settings("real"))  # type: ignore[arg-type]


def contract_app() -> FastAPI:
    return add_probes(create_app(_migrated_settings("contract")))  # type: ignore[arg-type]
