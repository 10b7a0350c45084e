from __future__ import annotations

from pathlib import Path

import httpx

from openalgo.app import create_app
from tests.conftest import make_settings


async def test_ready_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, "postgresql+asyncpg://nobody@127.0.0.1:1/none", db_connect_timeout=0.5
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/health")).status_code == 200
            r = await client.get("/ready")
    assert r.status_code == 503
    assert r.json() == {"status": "error", "message": "database unreachable"}
