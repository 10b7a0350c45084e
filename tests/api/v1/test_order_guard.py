"""The order guard and the monitoring through the real app over ASGI, on SQLite and PostgreSQL.

A probe `placeorder` route stands in for the real one: it wraps a counting fake venue call in the
guard exactly as the order routers will. The user comes from a test header until the API-key
dependency exists."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Header
from sqlalchemy import select

from openalgo.api.errors import set_response_mode
from openalgo.api.v1 import dispatch
from openalgo.api.v1.endpoints import endpoint
from openalgo.api.v1.order_guard import OrderGuardDep
from openalgo.api.v1.routing import route, v1_router
from openalgo.api.v1.schemas.orders import OrderResponse, PlaceOrderRequest
from openalgo.app import create_app
from openalgo.brokers.base import OrderRejected
from openalgo.db.engine import create_engine
from openalgo.db.models import OrderLatency, OrderLog, RequestLog
from openalgo.db.session import create_sessionmaker, transaction
from openalgo.runtime import Runtime
from openalgo.services.monitoring import FLUSH_CHUNK, RequestRecord
from openalgo.services.order_journal import Intent, OrderJournal
from tests.api.v1.bodies import body
from tests.conftest import make_settings
from tests.support.databases import add_user, fresh_database


@dataclass
class FakeVenue:
    calls: list[PlaceOrderRequest] = field(default_factory=list)
    delay: float = 0.0
    fail: Exception | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    hold: asyncio.Event | None = None  # the venue answers once this is set

    async def place(self, order: PlaceOrderRequest) -> OrderResponse:
        self.calls.append(order)
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return OrderResponse(orderid=f"ORD{len(self.calls)}", mode="analyze")


def guarded_app(settings: Any, venue: FakeVenue) -> FastAPI:
    app = create_app(settings)
    router = v1_router()

    # Its own operation id: the real placeorder route is still in the app (behind this one).
    @route(router, endpoint("placeorder"), operation_id="placeorder_stand_in")
    async def placeorder(
        request: PlaceOrderRequest,
        guard: OrderGuardDep,
        x_test_user: Annotated[int, Header()],
        x_test_mode: Annotated[str | None, Header()] = None,
    ) -> Any:
        if x_test_mode:
            set_response_mode(guard.request, x_test_mode)
        return await guard.run(
            user_id=x_test_user,
            endpoint="placeorder",
            body=request,
            mode=x_test_mode or "live",
            venue="fake",
            call=lambda: venue.place(request),
        )

    app.router.routes[:0] = router.routes  # in front of the real placeorder route
    dispatch.uninstall(app)  # which it would otherwise answer first
    return app


@dataclass
class Env:
    client: httpx.AsyncClient
    runtime: Runtime
    venue: FakeVenue
    user: int
    other: int

    async def order(
        self, key: str | None = None, user: int | None = None, **changes: Any
    ) -> httpx.Response:
        headers = {"x-test-user": str(user or self.user)}
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(
            "/api/v1/placeorder", json=body("placeorder", **changes), headers=headers
        )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path_factory.mktemp("guard")) as url:
        yield url


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    settings = make_settings(tmp_path, database_url)
    engine = create_engine(settings)
    suffix = uuid.uuid4().hex[:12]
    user = await add_user(engine, f"u{suffix}")
    other = await add_user(engine, f"o{suffix}")
    await engine.dispose()
    venue = FakeVenue()
    app = guarded_app(settings, venue)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Env(client, app.state.runtime, venue, user, other)


async def test_without_a_key_every_request_places(env: Env) -> None:
    for n in (1, 2):
        r = await env.order()
        assert r.json() == {"status": "success", "orderid": f"ORD{n}", "mode": "analyze"}
    assert len(env.venue.calls) == 2


async def test_a_repeat_with_the_same_key_and_body_replays_without_placing(env: Env) -> None:
    first = await env.order("key-1")
    second = await env.order("key-1", quantity="1")  # same order, number sent as a string
    assert len(env.venue.calls) == 1
    assert second.status_code == first.status_code == 200
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


async def test_the_same_key_with_another_body_is_409(env: Env) -> None:
    await env.order("key-2")
    r = await env.order("key-2", quantity=2)
    assert r.status_code == 409
    assert r.json()["status"] == "error"
    assert "different request" in r.json()["message"]
    assert len(env.venue.calls) == 1


async def test_keys_belong_to_their_user(env: Env) -> None:
    await env.order("key-3")
    r = await env.order("key-3", user=env.other)
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert len(env.venue.calls) == 2


@pytest.mark.parametrize("key", [b"", b"a b", "é".encode(), b"x" * 256, b"tab\tkey"])
async def test_a_malformed_key_is_400(env: Env, key: bytes) -> None:
    r = await env.client.post(
        "/api/v1/placeorder",
        json=body("placeorder"),
        headers={b"x-test-user": str(env.user).encode(), b"Idempotency-Key": key},
    )
    assert r.status_code == 400
    assert r.json()["errors"] == {"Idempotency-Key": ["must be 1 to 255 visible ASCII characters"]}
    assert env.venue.calls == []


async def test_concurrent_repeats_place_at_most_once(env: Env) -> None:
    env.venue.delay = 0.3
    responses = await asyncio.gather(*(env.order("key-race") for _ in range(8)))
    assert len(env.venue.calls) == 1
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1 and codes.count(409) == 7
    busy = next(r for r in responses if r.status_code == 409)
    assert "still in progress" in busy.json()["message"]
    assert busy.headers["retry-after"] == "1"
    env.venue.delay = 0
    again = await env.order("key-race")
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"


async def test_a_rejected_order_is_logged_and_its_error_replayed(env: Env) -> None:
    env.venue.fail = OrderRejected("Insufficient funds", orderid="REJ1")
    r = await env.order("key-rej", x_test_mode=None)
    assert r.status_code == 400
    assert r.json() == {"status": "error", "message": "Insufficient funds", "orderid": "REJ1"}
    env.venue.fail = None
    again = await env.order("key-rej")
    assert again.status_code == 400 and again.json() == r.json()
    assert len(env.venue.calls) == 1


async def test_an_unexpected_failure_is_a_500_and_is_not_placed_again(env: Env) -> None:
    env.venue.fail = RuntimeError("venue exploded")
    r = await env.order("key-boom")
    assert r.status_code == 500
    assert r.json() == {"status": "error", "message": "Internal server error"}
    env.venue.fail = None
    assert (await env.order("key-boom")).status_code == 500
    assert len(env.venue.calls) == 1


async def test_the_order_log_holds_the_request_without_the_key(env: Env) -> None:
    await env.order("key-log")
    async with env.runtime.sessionmaker() as session:
        row = (
            await session.execute(select(OrderLog).where(OrderLog.idempotency_key == "key-log"))
        ).scalar_one()
    assert (row.user_id, row.status, row.orderid, row.venue) == (
        env.user,
        "success",
        "ORD1",
        "fake",
    )
    assert "apikey" not in row.request and row.request["symbol"] == "SBIN"
    assert row.latency_ms is not None and row.venue_ms is not None


async def test_without_a_key_the_response_does_not_wait_for_the_outcome(env: Env) -> None:
    """The outcome of a key-less order is committed after its response (`finish_soon`): with the
    order log locked once the intent is in, the response still comes; the outcome follows."""
    env.venue.hold = asyncio.Event()
    request = asyncio.create_task(env.order())
    await asyncio.wait_for(env.venue.entered.wait(), 5)  # the intent is committed by now
    async with transaction(env.runtime.sessionmaker) as session:
        intent = (
            await session.execute(
                select(OrderLog)
                .where(OrderLog.user_id == env.user)
                .order_by(OrderLog.id.desc())
                .limit(1)
                .with_for_update()  # PostgreSQL: the row; SQLite: this transaction has the lock
            )
        ).scalar_one()
        assert intent.status == "pending"
        env.venue.hold.set()
        response = await asyncio.wait_for(request, 5)  # while the outcome cannot be written
        assert response.status_code == 200
        assert response.json()["orderid"] == "ORD1"
        await session.refresh(intent)
        assert intent.status == "pending"
    await env.runtime.journal.settled()
    async with env.runtime.sessionmaker() as session:
        row = await session.get(OrderLog, intent.id)
    assert row is not None
    assert (row.status, row.orderid, row.http_status) == ("success", "ORD1", 200)
    assert row.completed_at is not None and row.latency_ms is not None


async def test_with_a_key_the_response_waits_for_the_outcome(env: Env) -> None:
    """A repeated key replays the stored outcome, so the response comes after it is committed."""
    response = await env.order("key-waits")
    assert response.status_code == 200
    async with env.runtime.sessionmaker() as session:
        row = (
            await session.execute(select(OrderLog).where(OrderLog.idempotency_key == "key-waits"))
        ).scalar_one()
    assert (row.status, row.orderid) == ("success", "ORD1")


async def test_an_outcome_that_cannot_be_written_later_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = create_engine(
        make_settings(tmp_path, db_connect_timeout=0.5),
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",
    )
    journal = OrderJournal(create_sessionmaker(dead))
    try:
        with caplog.at_level(logging.ERROR, logger="openalgo.services.order_journal"):
            journal.finish_soon(
                Intent(order_log_id=4242, idempotency_id=None, started=0.0),
                status=200,
                body={"status": "success", "orderid": "X"},
            )
            await journal.settled()
        assert any(
            "could not record the outcome of order log entry 4242" in r.getMessage()
            for r in caplog.records
        )
    finally:
        await journal.aclose()
        await dead.dispose()


async def test_the_header_is_documented(env: Env) -> None:
    schema = (await env.client.get("/openapi.json")).json()
    params = schema["paths"]["/api/v1/placeorder"]["post"]["parameters"]
    assert "Idempotency-Key" in {p["name"] for p in params}


async def test_requests_and_order_stages_reach_metrics_and_tables(env: Env) -> None:
    await env.order()
    await env.client.post("/api/v1/nowhere/ABC", json={})
    await env.client.get("/health")
    metrics = (await env.client.get("/metrics")).text
    assert (
        'openalgo_http_requests_total{method="POST",route="/api/v1/placeorder",status="200"}'
        in metrics
    )
    assert 'route="<unmatched>",status="404"' in metrics
    assert "ABC" not in metrics
    for stage in ("validation", "venue", "response"):
        assert (
            f'openalgo_order_stage_seconds_count{{endpoint="placeorder",stage="{stage}"}} 1.0'
            in metrics
        )

    monitor = env.runtime.monitor
    assert await monitor.flush() >= 4
    since = datetime.now(UTC) - timedelta(minutes=1)
    stats = {(s.method, s.route): s for s in await monitor.route_stats(since)}
    assert stats[("POST", "/api/v1/placeorder")].count == 1
    assert stats[("POST", "<unmatched>")].errors == 1
    orders = await monitor.order_latency_stats(since)
    assert [o.endpoint for o in orders] == ["placeorder"]
    assert orders[0].count == 1 and orders[0].p99_total_ms >= orders[0].avg_venue_ms
    async with env.runtime.sessionmaker() as session:
        latency = (await session.execute(select(OrderLatency))).scalars().all()
        requests = (await session.execute(select(RequestLog))).scalars().all()
    assert latency and latency[-1].order_log_id is not None
    assert latency[-1].total_ms >= latency[-1].venue_ms
    assert any(r.route == "/health" for r in requests)


async def test_a_flush_larger_than_a_chunk_writes_every_record(env: Env) -> None:
    monitor = env.runtime.monitor
    await monitor.flush()
    count = 2 * FLUSH_CHUNK + 37  # three transactions of requests
    now = datetime.now(UTC)
    for n in range(count):
        monitor.record_request(RequestRecord(now, "POST", f"/chunk/{n % 3}", 200, float(n)))
    assert monitor.pending == count
    assert await monitor.flush() == count
    assert monitor.pending == 0
    async with env.runtime.sessionmaker() as session:
        durations = (
            await session.scalars(
                select(RequestLog.duration_ms).where(RequestLog.route.like("/chunk/%"))
            )
        ).all()
    assert sorted(durations) == [float(n) for n in range(count)]


async def test_metrics_can_be_switched_off(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, metrics_enabled=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/metrics")).status_code == 404


async def test_background_flush_writes_without_being_asked(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, database_url, background_tasks=True, monitoring_flush_seconds=0.05
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/health", headers={"x-marker": "1"})
            monitor = app.state.runtime.monitor
            for _ in range(100):
                if monitor.pending == 0:
                    break
                await asyncio.sleep(0.05)
            assert monitor.pending == 0
    engine = create_engine(settings)
    async with create_sessionmaker(engine)() as session:
        routes = (await session.execute(select(RequestLog.route))).scalars().all()
    await engine.dispose()
    assert "/health" in routes


async def test_a_full_chunk_is_written_before_the_interval_ends(
    database_url: str, tmp_path: Path
) -> None:
    """The flush loop wakes as soon as a buffer holds a chunk (not only every interval), and
    leaves a smaller remainder for the interval."""
    settings = make_settings(
        tmp_path, database_url, background_tasks=True, monitoring_flush_seconds=3600
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        monitor = app.state.runtime.monitor
        await monitor.flush()  # whatever the start-up left
        for _ in range(50):  # the loop has started (and purged) once it waits on its event
            if monitor._chunk_ready is not None:
                break
            await asyncio.sleep(0.02)
        now = datetime.now(UTC)
        for n in range(FLUSH_CHUNK - 1):
            monitor.record_request(RequestRecord(now, "POST", "/early", 200, float(n)))
        await asyncio.sleep(0.3)
        assert monitor.pending == FLUSH_CHUNK - 1  # below a chunk: waits for the interval
        monitor.record_request(RequestRecord(now, "POST", "/early", 200, 1.0))
        for _ in range(100):
            if monitor.pending == 0:
                break
            await asyncio.sleep(0.02)
        assert monitor.pending == 0
        since = now - timedelta(seconds=1)
        stats = {s.route: s for s in await monitor.route_stats(since)}
        assert stats["/early"].count == FLUSH_CHUNK


async def test_no_order_is_placed_when_the_order_log_is_down(env: Env, tmp_path: Path) -> None:
    dead = create_engine(
        make_settings(tmp_path, db_connect_timeout=0.5),
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",
    )
    healthy = env.runtime.journal
    env.runtime.journal = OrderJournal(create_sessionmaker(dead))
    try:
        r = await env.order()
    finally:
        env.runtime.journal = healthy
        await dead.dispose()
    assert r.status_code == 503
    assert r.json()["message"].startswith("The order log is unavailable")
    assert env.venue.calls == []
