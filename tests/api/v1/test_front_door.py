"""`api.v1.front_door`: planned ``/api/v1`` requests skip Starlette's middleware stack and are
answered exactly as the stack would answer them, errors, headers and monitoring records included;
everything the stack has more work for goes through it.

The error cases use stand-in routes (a route that fails is what they need); each request is sent
through the front door, then through the stack, by overriding a dependency of the route with
itself (an override makes the dispatcher, and so the front door, hand the request on).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from openalgo.api.v1 import dispatch, v1_routes
from openalgo.api.v1.front_door import FrontDoor
from openalgo.app import create_app
from openalgo.db.engine import create_engine
from openalgo.db.session import create_sessionmaker
from openalgo.errors import BadRequest
from openalgo.services.monitoring import TrafficMonitor
from openalgo.settings import Settings
from tests.conftest import make_settings
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader

__all__ = ["shared_trading_live", "trader"]


def front_door_of(app: FastAPI) -> FrontDoor | None:
    """The front door in ``app``'s built stack (after its first request), if there is one."""
    layer: Any = app.middleware_stack
    while layer is not None and not isinstance(layer, FrontDoor):
        layer = getattr(layer, "app", None)
    return layer


# --- the real routes ----------------------------------------------------------------------------


async def test_a_planned_request_is_served_at_the_front_door(trader: Trader) -> None:
    app = trader.live.app
    await trader.client.post("/api/v1/ping", json={"apikey": trader.api_key})
    door = front_door_of(app)
    assert door is not None
    before = door.served
    response = await trader.client.post("/api/v1/ping", json={"apikey": trader.api_key})
    assert response.status_code == 200
    assert door.served == before + 1
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src 'self';" in response.headers["content-security-policy"]
    assert response.headers["x-ratelimit-limit"]


async def test_what_the_stack_has_work_for_goes_through_it(trader: Trader) -> None:
    app = trader.live.app
    key = {"apikey": trader.api_key}
    await trader.client.post("/api/v1/ping", json=key)
    door = front_door_of(app)
    assert door is not None
    before = door.served

    slash = await trader.client.post("/api/v1/ping/", json=key)
    assert slash.status_code == 200  # the trailing-slash layer strips it

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"apikey": '
        yield f'"{trader.api_key}"}}'.encode()

    chunked = await trader.client.post(
        "/api/v1/ping", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 200  # no Content-Length: the body-limit layer counts it

    limit = trader.live.settings.max_body_bytes
    big = await trader.client.post(
        "/api/v1/ping",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": str(limit + 1)},
    )
    assert big.status_code == 413
    assert big.json()["status"] == "error"
    invalid = await trader.client.post(
        "/api/v1/ping",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": "-1"},
    )
    assert invalid.status_code == 400

    unplanned = await trader.client.get("/api/v1/ticker/NSE:SBIN", params=key)
    assert unplanned.status_code in (200, 400)
    wrong_method = await trader.client.get("/api/v1/ping")
    assert wrong_method.status_code == 405
    assert door.served == before


# --- stand-in routes: errors and monitoring -----------------------------------------------------


async def marker() -> None:
    """The stand-in routes' dependency: overriding it sends a request through the stack."""


class Payload(BaseModel):
    n: int


@dataclass
class StandIn:
    app: FastAPI
    monitor: TrafficMonitor
    client: httpx.AsyncClient

    async def both(self, path: str, **request: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The front door's answer and the stack's, each with the traffic record it left."""
        door_answer = await self._one(path, **request)
        self.app.dependency_overrides[marker] = marker
        try:
            stack_answer = await self._one(path, **request)
        finally:
            del self.app.dependency_overrides[marker]
        return door_answer, stack_answer

    async def _one(self, path: str, **request: Any) -> dict[str, Any]:
        door = front_door_of(self.app)
        before = door.served if door is not None else 0
        response = await self.client.post(path, **request)
        door = front_door_of(self.app)
        assert door is not None
        record = self.monitor._requests[-1]
        return {
            "status": response.status_code,
            "body": response.text,
            "headers": dict(response.headers),
            "record": record[1:4],  # method, route, status
            "front door": door.served - before,
        }


def stand_in_app(settings: Settings) -> FastAPI:
    """The real app with four stand-in routes, planned like every v1 route, and a traffic
    monitor (no lifespan: the routes need nothing else)."""
    app = create_app(settings)
    router = APIRouter(dependencies=[Depends(marker)])

    @router.post("/api/v1/test-ok")
    async def ok(body: Payload) -> dict[str, Any]:
        return {"status": "success", "n": body.n}

    @router.post("/api/v1/test-boom")
    async def boom() -> dict[str, Any]:
        raise RuntimeError("boom")

    @router.post("/api/v1/test-teapot")
    async def teapot() -> dict[str, Any]:
        raise HTTPException(418, "short and stout")

    @router.post("/api/v1/test-refused")
    async def refused() -> dict[str, Any]:
        raise BadRequest("refused here")

    app.include_router(router)
    dispatch.uninstall(app)
    dispatch.install(app, [*v1_routes(), *(r for r in router.routes if isinstance(r, APIRoute))])
    return app


@pytest.fixture
async def stand_in(tmp_path: Path) -> AsyncIterator[StandIn]:
    settings = make_settings(tmp_path)
    app = stand_in_app(settings)
    engine = create_engine(settings)
    monitor = TrafficMonitor(create_sessionmaker(engine))
    app.state.runtime = SimpleNamespace(monitor=monitor, security=None)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield StandIn(app, monitor, client)
    finally:
        await engine.dispose()


def agree(door: dict[str, Any], stack: dict[str, Any]) -> None:
    assert door["front door"] == 1
    assert stack["front door"] == 0
    assert {**door, "front door": None} == {**stack, "front door": None}


@pytest.mark.parametrize(
    ("path", "request_", "status"),
    [
        ("/api/v1/test-ok", {"json": {"n": 3}}, 200),
        ("/api/v1/test-ok", {"json": {"n": "x"}}, 400),  # validation
        (
            "/api/v1/test-ok",
            {"content": b"{", "headers": {"content-type": "application/json"}},
            400,
        ),
        ("/api/v1/test-teapot", {"json": {}}, 418),  # Starlette's HTTPException
        ("/api/v1/test-refused", {"json": {}}, 400),  # our errors
        ("/api/v1/test-boom", {"json": {}}, 500),  # unhandled
    ],
)
async def test_answers_and_records_agree(
    stand_in: StandIn, path: str, request_: dict[str, Any], status: int
) -> None:
    door, stack = await stand_in.both(path, **request_)
    agree(door, stack)
    assert door["status"] == status
    assert door["record"] == ("POST", path, status)
    if status == 500:
        # As from Starlette's error middleware, which sits outside the security headers.
        assert "x-frame-options" not in door["headers"]
    else:
        assert door["headers"]["x-frame-options"] == "DENY"


async def test_an_unhandled_error_still_reaches_the_server(stand_in: StandIn) -> None:
    """Re-raised after the 500 is sent, as Starlette's error middleware does: the server logs it."""
    transport = httpx.ASGITransport(app=stand_in.app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with pytest.raises(RuntimeError, match="boom"):
            await client.post("/api/v1/test-boom", json={})
        door = front_door_of(stand_in.app)
        assert door is not None
        before = door.served
        with pytest.raises(RuntimeError, match="boom"):
            await client.post("/api/v1/test-boom", json={})
        assert door.served == before + 1


async def test_it_stands_aside_where_the_stack_does_more(tmp_path: Path) -> None:
    """CORS (configured) is a layer the front door does not do: the stack answers, with it."""
    app = stand_in_app(make_settings(tmp_path, cors_allowed_origins="https://app.example"))
    app.state.runtime = SimpleNamespace(monitor=None, security=None)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/api/v1/test-ok", json={"n": 1}, headers={"origin": "https://app.example"}
        )
    assert response.status_code == 200
    assert front_door_of(app) is None
    assert response.headers["access-control-allow-origin"] == "https://app.example"
