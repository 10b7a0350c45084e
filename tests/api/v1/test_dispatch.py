"""`api.v1.dispatch` answers every request exactly as FastAPI's own router and solver would.

Each request of the corpus below is sent twice to the same running app: once served by the
dispatcher, once by FastAPI (a request is handed to FastAPI while one of its route's dependencies
is overridden; the override here is the dependency itself, so only the path through the framework
changes). Status, body and headers must agree; for successful orders, only the new order id
differs. The dispatcher's ``served`` counter shows which path answered.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from openalgo.api.auth import get_api_principal
from openalgo.api.v1.dispatch import V1Dispatch
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader

__all__ = ["shared_trading_live", "trader"]  # fixtures: one app per module, a user per test

SBIN = {"exchange": "NSE", "symbol": "SBIN"}
ORDER = {"strategy": "Test", **SBIN, "action": "BUY", "quantity": 1, "product": "MIS"}
# Headers that differ between any two responses, or with the request's position in a window.
VOLATILE_HEADERS = {"date", "x-ratelimit-remaining", "x-ratelimit-reset", "content-length"}
# Each pair of requests comes from its own address: invalid keys count towards a ban per address.
_addresses = (f"10.77.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def dispatcher(trader: Trader) -> V1Dispatch:
    stack = trader.live.app.router.middleware_stack
    assert isinstance(stack, V1Dispatch)
    return stack


@contextmanager
def through_fastapi(trader: Trader) -> Iterator[None]:
    overrides = trader.live.app.dependency_overrides
    overrides[get_api_principal] = get_api_principal
    try:
        yield
    finally:
        del overrides[get_api_principal]


def shape(response: httpx.Response, volatile: tuple[str, ...] = ()) -> dict[str, Any]:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        for key in volatile:
            if key in body:
                body[key] = "<volatile>"
    headers = {k: v for k, v in response.headers.items() if k not in VOLATILE_HEADERS}
    return {"status": response.status_code, "body": body, "headers": headers}


async def both(
    trader: Trader, method: str, path: str, *, volatile: tuple[str, ...] = (), **request: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The response of the dispatcher and FastAPI's, for the same request."""
    counter = dispatcher(trader)
    before = counter.served
    async with trader.live.client_for(next(_addresses)) as client:
        fast = await client.request(method, path, **request)
        served_fast = counter.served - before
        with through_fastapi(trader):
            framework = await client.request(method, path, **request)
    assert counter.served - before == served_fast, "the override did not reach FastAPI's router"
    return {**shape(fast, volatile), "dispatched": served_fast == 1}, {
        **shape(framework, volatile),
        "dispatched": False,
    }


def same(fast: dict[str, Any], framework: dict[str, Any], *, dispatched: bool = True) -> None:
    assert fast["dispatched"] is dispatched
    assert {**fast, "dispatched": None} == {**framework, "dispatched": None}


# --- which routes are planned -------------------------------------------------------------------


async def test_every_fixed_path_v1_route_is_dispatched_but_the_four_fastapi_keeps(
    trader: Trader,
) -> None:
    table = dispatcher(trader)
    assert set(table.unplanned) == {
        "/api/v1/ticker/{ticker}",  # a path parameter
        "/api/v1/instruments",  # a query model
        "/api/v1/analyzer",  # database sessions as generator dependencies
        "/api/v1/analyzer/toggle",
    }
    documented = trader.live.app.openapi()["paths"]
    routed = {path for path in documented if path.startswith("/api/v1/")}
    assert {path for path, _ in table.plans} == routed - set(table.unplanned)
    assert {method for _, method in table.plans} == {"POST"}
    assert len(table.plans) == 38


# --- the corpus ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ping", "funds", "orderbook", "tradebook", "positionbook"])
async def test_key_only_reads_agree(trader: Trader, name: str) -> None:
    path = f"/api/v1/{name}"
    same(*await both(trader, "POST", path, json={"apikey": trader.api_key}))
    same(*await both(trader, "POST", path, headers={"X-API-KEY": trader.api_key}))
    same(*await both(trader, "POST", path, json={"apikey": "not-a-key"}))
    same(*await both(trader, "POST", path, json={}))
    same(*await both(trader, "POST", path + "/", json={"apikey": trader.api_key}))


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b'{"apikey": ', {"content-type": "application/json"}),  # malformed JSON
        (b"[1, 2]", {"content-type": "application/json"}),  # not an object
        (b'"text"', {"content-type": "application/json"}),
        (b'{"apikey": "\xff"}', {"content-type": "application/json"}),  # not UTF-8
        (b'{"apikey": "x"}', {"content-type": "text/plain"}),  # not JSON by its type
        (b'{"apikey": "x"}', {}),  # no content type
        (b'{"apikey": "x"}', {"content-type": "application/vnd.api+json"}),
        (b'{"apikey": "x"}', {"content-type": "Application/JSON; charset=utf-8"}),
        (b"", {"content-type": "application/json"}),  # empty body
    ],
)
@pytest.mark.parametrize("name", ["funds", "placeorder", "quotes"])
async def test_bodies_the_framework_decodes_agree(
    trader: Trader, name: str, content: bytes, headers: dict[str, str]
) -> None:
    same(*await both(trader, "POST", f"/api/v1/{name}", content=content, headers=headers))


async def test_bodies_with_the_key_in_the_header_agree(trader: Trader) -> None:
    key = {"X-API-KEY": trader.api_key}
    for content, content_type in [
        (b"[1]", "application/json"),
        (b"{}", "text/plain"),
        (b"not json", "application/json"),
    ]:
        same(
            *await both(
                trader,
                "POST",
                "/api/v1/funds",
                content=content,
                headers={**key, "content-type": content_type},
            )
        )


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"action": "SELL"},
        {"quantity": "2", "pricetype": "LIMIT", "price": "100"},
        {"quantity": "abc"},  # wrong type
        {"quantity": 0},
        {"action": "HOLD"},  # not in the enum
        {"symbol": "NOSUCH"},  # unknown symbol
        {"exchange": "MOON"},
        {"product": None},
        {"unexpected": 1},
    ],
)
async def test_orders_agree(trader: Trader, changes: dict[str, Any]) -> None:
    body = {"apikey": trader.api_key, **ORDER, **changes}
    same(*await both(trader, "POST", "/api/v1/placeorder", json=body, volatile=("orderid",)))


async def test_missing_fields_agree(trader: Trader) -> None:
    for missing in ORDER:
        body = {"apikey": trader.api_key, **{k: v for k, v in ORDER.items() if k != missing}}
        same(*await both(trader, "POST", "/api/v1/placeorder", json=body, volatile=("orderid",)))


async def test_idempotency_keys_agree(trader: Trader) -> None:
    body = {"apikey": trader.api_key, **ORDER}
    for key in [b"", b" ", b"k" * 256, "caf\u00e9".encode("latin-1")]:
        same(
            *await both(
                trader, "POST", "/api/v1/placeorder", json=body, headers={b"Idempotency-Key": key}
            )
        )
    # A replay: the first request placed the order; both paths return its stored response.
    headers = {"Idempotency-Key": "dispatch-replay"}
    first = await trader.client.post("/api/v1/placeorder", json=body, headers=headers)
    assert first.status_code == 200
    fast, framework = await both(trader, "POST", "/api/v1/placeorder", json=body, headers=headers)
    same(fast, framework)
    assert fast["body"] == first.json()
    conflict = {**body, "quantity": 2}
    same(*await both(trader, "POST", "/api/v1/placeorder", json=conflict, headers=headers))


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("quotes", SBIN),
        ("depth", SBIN),
        ("symbol", SBIN),
        ("quotes", {"exchange": "NSE"}),
        ("multiquotes", {"symbols": [SBIN, {"exchange": "NSE", "symbol": "NOSUCH"}]}),
        ("search", {"query": "SBIN"}),
        ("expiry", {"symbol": "NIFTY", "exchange": "NFO", "instrumenttype": "options"}),
        ("orderstatus", {"strategy": "Test", "orderid": "nope"}),
        ("cancelorder", {"strategy": "Test", "orderid": "nope"}),
        ("intervals", {}),
        ("market/timings", {"date": "2024-13-01"}),
        ("margin", {"positions": []}),
    ],
)
async def test_other_endpoints_agree(trader: Trader, name: str, body: dict[str, Any]) -> None:
    request = {"apikey": trader.api_key, **body}
    same(*await both(trader, "POST", f"/api/v1/{name}", json=request))


async def test_analyzer_mode_marks_both_alike(trader: Trader) -> None:
    await trader.analyzer(True)
    key = {"apikey": trader.api_key}
    same(*await both(trader, "POST", "/api/v1/funds", json=key))
    same(
        *await both(
            trader,
            "POST",
            "/api/v1/placeorder",
            json={**key, **ORDER, "quantity": "x"},
        )
    )
    same(
        *await both(
            trader, "POST", "/api/v1/placeorder", json={**key, **ORDER}, volatile=("orderid",)
        )
    )


async def test_what_the_dispatcher_leaves_to_fastapi(trader: Trader) -> None:
    key = {"apikey": trader.api_key}
    # Methods a route does not declare: FastAPI's 405.
    same(*await both(trader, "GET", "/api/v1/funds"), dispatched=False)
    same(*await both(trader, "PUT", "/api/v1/placeorder", json=key), dispatched=False)
    # Unknown paths, and the routes it does not plan.
    same(*await both(trader, "POST", "/api/v1/nosuch", json=key), dispatched=False)
    same(*await both(trader, "GET", "/api/v1/ticker/NSE:SBIN", params=key), dispatched=False)
    same(*await both(trader, "POST", "/api/v1/analyzer", json=key), dispatched=False)
