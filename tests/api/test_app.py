"""The app factory, error envelope and per-request transaction, through real ASGI requests."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import func, select

from openalgo.api.deps import SessionDep
from openalgo.db.models import User
from openalgo.errors import Conflict
from openalgo.logging import setup_logging


class Order(BaseModel):
    symbol: str
    quantity: int


def probe_router() -> APIRouter:
    """Routes that exercise the framework pieces; added to the real app in these tests only."""
    router = APIRouter(prefix="/probe")

    @router.post("/echo")
    async def echo(order: Order) -> Order:
        return order

    @router.post("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom apikey=" + "ab" * 32)

    @router.post("/conflict")
    async def conflict() -> None:
        raise Conflict("order already exists", extra={"orderid": "42"})

    @router.post("/users/{name}")
    async def write_user(name: str, session: SessionDep, fail: bool = False) -> dict[str, int]:
        session.add(User(username=name, password_hash="x"))
        await session.flush()
        if fail:
            raise Conflict("refused after writing")
        count = await session.scalar(select(func.count()).select_from(User))
        return {"count": int(count or 0)}

    @router.get("/users")
    async def count_users(session: SessionDep) -> dict[str, int]:
        return {"count": int(await session.scalar(select(func.count()).select_from(User)) or 0)}

    return router


@pytest.fixture
def probed(app: FastAPI) -> FastAPI:
    app.include_router(probe_router())
    return app


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = setup_logging("INFO", "text", stream)
    yield stream
    logging.getLogger().removeHandler(handler)


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok"}


async def test_docs_and_openapi(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert (await client.get("/redoc")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert schema["paths"]["/health"]["get"]["operationId"] == "health"


async def test_home_page_renders_template(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert "Your trading gateway is running" in page.text


async def test_unknown_path_is_404_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.json() == {"status": "error", "message": "Not found"}


async def test_wrong_method_is_405_envelope(client: httpx.AsyncClient) -> None:
    r = await client.post("/health")
    assert r.status_code == 405
    assert r.json()["status"] == "error"
    assert r.headers["allow"] == "GET"


async def test_malformed_json_is_400(probed: FastAPI, client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/probe/echo", content=b'{"symbol": "SBIN",', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["status"] == "error"
    assert r.json()["message"] == "Malformed JSON in request body"


async def test_validation_error_names_the_field(probed: FastAPI, client: httpx.AsyncClient) -> None:
    r = await client.post("/probe/echo", json={"symbol": "SBIN", "quantity": "ten"})
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "error"
    assert body["message"].startswith("quantity:")
    assert list(body["errors"]) == ["quantity"]


async def test_missing_field_is_400(probed: FastAPI, client: httpx.AsyncClient) -> None:
    r = await client.post("/probe/echo", json={"quantity": 1})
    assert r.status_code == 400
    assert "symbol" in r.json()["errors"]


async def test_domain_error_renders_its_status_and_extra(
    probed: FastAPI, client: httpx.AsyncClient
) -> None:
    r = await client.post("/probe/conflict")
    assert r.status_code == 409
    assert r.json() == {"status": "error", "message": "order already exists", "orderid": "42"}


async def test_unexpected_error_is_500_without_details(
    probed: FastAPI, client: httpx.AsyncClient, logs: io.StringIO
) -> None:
    r = await client.post("/probe/boom")
    assert r.status_code == 500
    assert r.json() == {"status": "error", "message": "Internal server error"}
    logged = logs.getvalue()
    assert "kaboom" in logged and "RuntimeError" in logged
    assert "ab" * 32 not in logged


async def test_request_transaction_commits_on_success(
    probed: FastAPI, client: httpx.AsyncClient
) -> None:
    assert (await client.post("/probe/users/alice")).json() == {"count": 1}
    assert (await client.get("/probe/users")).json() == {"count": 1}


async def test_request_transaction_rolls_back_on_error(
    probed: FastAPI, client: httpx.AsyncClient
) -> None:
    r = await client.post("/probe/users/bob", params={"fail": "true"})
    assert r.status_code == 409
    assert (await client.get("/probe/users")).json() == {"count": 0}
