"""``ApiUser`` and ``/api/v1/ping`` through real ASGI requests: where the key may come from, what
a bad key gets, how fast revocation and settings changes are seen, and body parsing alongside."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.api.auth import ApiUser
from openalgo.api.deps import get_read_sessionmaker
from openalgo.db.session import transaction
from openalgo.domain.clock import SystemClock
from openalgo.security.apikeys import ApiPrincipal
from openalgo.services.apikeys import revoke_api_key, rotate_api_key
from openalgo.services.broker_sessions import store_broker_session
from openalgo.services.user_settings import set_analyzer_mode, set_broker
from tests.conftest import TEST_PEPPER
from tests.support.accounts import committed_account, make_account
from tests.support.appfixtures import LiveApp

INVALID = {"status": "error", "message": "Invalid openalgo apikey"}


async def test_ping_with_key_in_body(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    r = await live.client.post("/api/v1/ping", json={"apikey": account.api_key})
    assert r.status_code == 200
    assert r.json() == {"status": "success", "data": {"broker": "simulator", "message": "pong"}}


async def test_ping_with_key_in_header(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    r = await live.client.post("/api/v1/ping", headers={"X-API-KEY": account.api_key})
    assert r.status_code == 200
    assert r.json()["data"]["broker"] == "simulator"


async def test_body_key_wins_over_header(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    r = await live.client.post(
        "/api/v1/ping", json={"apikey": "0" * 64}, headers={"X-API-KEY": account.api_key}
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"json": {}},
        {"json": {"apikey": ""}},
        {"json": {"apikey": None}},
        {"json": {"apikey": 12345}},
        {"json": {"apikey": "not-a-key"}},
        {"json": {"apikey": "A" * 64}},
        {"json": {"apikey": "0" * 64}},
        {"json": {"apikey": "x" * 100_000}},
        {"json": ["apikey"]},
        {"json": "apikey"},
        {"headers": {"X-API-KEY": "0" * 64}},
        {
            "content": b"apikey=abc",
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        },
    ],
    ids=[
        "no-body",
        "empty-object",
        "empty-string",
        "null",
        "number",
        "short",
        "upper-case",
        "unknown",
        "huge",
        "array-body",
        "string-body",
        "unknown-header",
        "form-body",
    ],
)
async def test_missing_or_bad_key_is_403_envelope(live: LiveApp, kwargs: dict[str, object]) -> None:
    await committed_account(live.runtime.sessionmaker, live.clock)
    r = await live.client.post("/api/v1/ping", **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 403
    assert r.json() == INVALID


async def test_malformed_json_is_400_not_500(live: LiveApp) -> None:
    r = await live.client.post(
        "/api/v1/ping", content=b'{"apikey": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["message"] == "Malformed JSON in request body"


async def test_get_on_ping_is_405(live: LiveApp) -> None:
    r = await live.client.get("/api/v1/ping")
    assert r.status_code == 405
    assert r.json()["status"] == "error"


async def test_revocation_is_visible_at_once(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    body = {"apikey": account.api_key}
    assert (await live.client.post("/api/v1/ping", json=body)).status_code == 200
    assert len(live.security.verifier) == 1  # the principal is cached now
    async with transaction(live.runtime.sessionmaker) as session:
        await revoke_api_key(
            session, user_id=account.user_id, key_id=account.api_key_id, now=live.clock.now()
        )
    # The revocation came from outside this process's request path (like the CLI); the change
    # counter poll drops the cache.
    assert await live.security.sync_now()
    r = await live.client.post("/api/v1/ping", json=body)
    assert r.status_code == 403
    assert r.json() == INVALID


async def test_rotation_replaces_the_key_at_once(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    assert (await live.client.post("/api/v1/ping", json={"apikey": account.api_key})).is_success
    async with transaction(live.runtime.sessionmaker) as session:
        new = await rotate_api_key(
            session,
            user_id=account.user_id,
            key_id=account.api_key_id,
            pepper=TEST_PEPPER,
            now=live.clock.now(),
        )
    await live.security.sync_now()
    old = await live.client.post("/api/v1/ping", json={"apikey": account.api_key})
    assert old.status_code == 403
    fresh = await live.client.post("/api/v1/ping", json={"apikey": new.plaintext})
    assert fresh.status_code == 200


async def test_settings_change_reaches_the_cached_principal_at_once(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    principal = await live.security.verifier.verify(account.api_key)
    assert principal is not None
    assert (principal.broker, principal.analyzer_mode, principal.mode) == (
        "simulator",
        False,
        "live",
    )
    async with transaction(live.runtime.sessionmaker) as session:
        await set_analyzer_mode(
            session,
            user_id=account.user_id,
            enabled=True,
            now=live.clock.now(),
            cache=live.security.verifier,
        )
    # No poll, no TTL: the service invalidated this process's cache itself.
    changed = await live.security.verifier.verify(account.api_key)
    assert changed is not None
    assert changed.analyzer_mode is True
    assert changed.mode == "analyze"


async def test_expired_broker_session_is_a_clear_403(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    async with transaction(live.runtime.sessionmaker) as session:
        await set_broker(
            session,
            user_id=account.user_id,
            broker="zerodha",
            now=live.clock.now(),
            cache=live.security.verifier,
        )
    body = {"apikey": account.api_key}
    r = await live.client.post("/api/v1/ping", json=body)
    assert r.status_code == 403
    assert r.json() == {"status": "error", "message": "No zerodha session: log in to zerodha again"}

    async with transaction(live.runtime.sessionmaker) as session:
        await store_broker_session(
            session,
            live.security.box,
            user_id=account.user_id,
            broker="zerodha",
            auth_token="broker-access-token",
            now=live.clock.now(),
            expiry_time=live.security.expiry_time,
        )
    ok = await live.client.post("/api/v1/ping", json=body)
    assert ok.json() == {"status": "success", "data": {"broker": "zerodha", "message": "pong"}}

    live.clock.advance(24 * 3600)  # past the next 03:00 IST
    expired = await live.client.post("/api/v1/ping", json=body)
    assert expired.status_code == 403
    assert expired.json() == {"status": "error", "message": "Broker session expired, log in again"}


# --- the dependency beside a route's own body model ------------------------------------------


class Order(BaseModel):
    apikey: str | None = None
    symbol: str
    quantity: int


def probe_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/probe")

    @router.post("/order")
    async def order(order: Order, principal: ApiUser) -> dict[str, object]:
        return {"user": principal.username, "symbol": order.symbol, "quantity": order.quantity}

    @router.get("/whoami")
    async def whoami(principal: ApiUser) -> dict[str, object]:
        return {"user": principal.username}

    return router


async def test_route_body_model_and_api_key_share_the_body(live: LiveApp) -> None:
    live.app.include_router(probe_router())
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    r = await live.client.post(
        "/api/v1/probe/order", json={"apikey": account.api_key, "symbol": "SBIN", "quantity": 5}
    )
    assert r.status_code == 200
    assert r.json() == {"user": "alice", "symbol": "SBIN", "quantity": 5}
    bad = await live.client.post(
        "/api/v1/probe/order", json={"apikey": account.api_key, "symbol": "SBIN", "quantity": "x"}
    )
    assert bad.status_code == 400
    assert "quantity" in bad.json()["errors"]
    # The key is checked before the body is validated: a stranger learns nothing about fields.
    anon = await live.client.post("/api/v1/probe/order", json={"symbol": "SBIN"})
    assert anon.status_code == 403
    assert anon.json() == INVALID


async def test_get_routes_take_the_key_from_the_query(live: LiveApp) -> None:
    live.app.include_router(probe_router())
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    r = await live.client.get("/api/v1/probe/whoami", params={"apikey": account.api_key})
    assert r.json() == {"user": "alice"}
    assert (await live.client.get("/api/v1/probe/whoami")).status_code == 403


# --- with the shared, rolled-back test transaction ---------------------------------------------


async def test_api_user_works_with_the_shared_client_fixture(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Other suites create keys inside the test transaction: the dependency must see them."""
    account = await make_account(session, SystemClock(), "carol")
    await session.flush()
    r = await client.post("/api/v1/ping", json={"apikey": account.api_key})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["broker"] == "simulator"
    verifier = app.state.runtime.security.verifier
    found = await verifier.verify(account.api_key, sessions=lambda: _Borrowed(session))
    assert isinstance(found, ApiPrincipal)


class _Borrowed:
    """The test's own session as an opener's context manager (left open on exit)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def __aenter__(self) -> AsyncSession:
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_database_outage_is_503_not_403(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    await live.runtime.engine.dispose()
    broken = live.runtime.engine.url.set(database="/nonexistent/dir/x.db")
    from openalgo.db.engine import create_engine
    from openalgo.db.session import create_sessionmaker

    if live.runtime.engine.dialect.name == "postgresql":
        broken = live.runtime.engine.url.set(port=1)
    engine = create_engine(live.settings, broken.render_as_string(hide_password=False))
    live.app.dependency_overrides[get_read_sessionmaker] = lambda: create_sessionmaker(engine)
    try:
        r = await live.client.post("/api/v1/ping", json={"apikey": account.api_key})
    finally:
        await engine.dispose()
    assert r.status_code == 503
    assert r.json() == {"status": "error", "message": "Authentication is temporarily unavailable"}
