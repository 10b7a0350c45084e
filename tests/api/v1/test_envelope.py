"""Every /api/v1 endpoint through the real app: the same error envelope for every kind of bad
request, trailing slashes, wrong methods, body limits and the analyzer marker."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from openalgo.api.errors import MALFORMED_JSON, MISSING_BODY, NOT_AN_OBJECT, WRONG_CONTENT_TYPE
from openalgo.api.v1.endpoints import ENDPOINTS, Endpoint
from tests.api.v1.bodies import MINIMAL, QUERIES, body
from tests.api.v1.contract import PROBE_MODE_HEADER, implemented

# The `api` app's probes shadow the real routes (tests/api/v1/contract.py): these tests check the
# request models and the envelope for every endpoint; the real routes have their own tests.
POSTS = [ep for ep in ENDPOINTS if ep.method == "POST"]
GETS = [ep for ep in ENDPOINTS if ep.method == "GET"]
JSON = {"content-type": "application/json"}


def ids(ep: Endpoint) -> str:
    return ep.name


def test_every_endpoint_has_a_minimal_body() -> None:
    assert set(MINIMAL) | set(QUERIES) == {ep.name for ep in ENDPOINTS}
    assert "ping" in implemented()  # the real routes are excluded from the probe tests below


@pytest.mark.parametrize("ep", POSTS, ids=ids)
async def test_minimal_body_is_accepted_with_and_without_trailing_slash(
    api: httpx.AsyncClient, ep: Endpoint
) -> None:
    for path in (ep.full_path, ep.full_path + "/"):
        r = await api.post(path, json=body(ep.name))
        assert r.status_code == 200, r.text
        received = r.json()["received"]
        assert "apikey" not in received  # never echoed, logged or stored


@pytest.mark.parametrize("ep", GETS, ids=ids)
async def test_get_endpoints_take_query_parameters(api: httpx.AsyncClient, ep: Endpoint) -> None:
    path, params = QUERIES[ep.name]
    for suffix in ("", "/"):
        r = await api.get("/api/v1" + path + suffix, params=params)
        assert r.status_code == 200, r.text
    r = await api.get("/api/v1" + path, params={**params, "bogus": "1"})
    assert r.status_code == 400
    assert r.json()["errors"] == {"bogus": ["unknown field"]}


@pytest.mark.parametrize("ep", POSTS, ids=ids)
async def test_unknown_field_is_named(api: httpx.AsyncClient, ep: Endpoint) -> None:
    r = await api.post(ep.full_path, json=body(ep.name, bogus=1))
    assert r.status_code == 400
    assert r.json() == {
        "status": "error",
        "message": "bogus: unknown field",
        "errors": {"bogus": ["unknown field"]},
    }


@pytest.mark.parametrize("ep", POSTS, ids=ids)
async def test_each_required_field_is_named_when_missing(
    api: httpx.AsyncClient, ep: Endpoint
) -> None:
    assert ep.request is not None
    required = [f for f in ep.request.model_json_schema().get("required", []) if f != "apikey"]
    for field in required:
        r = await api.post(ep.full_path, json=body(ep.name, **{field: None}))
        assert r.status_code == 400, (field, r.text)
        assert r.json()["errors"] == {field: ["field required"]}
        assert r.json()["message"] == f"{field}: field required"


@pytest.mark.parametrize(
    ("content", "headers", "message"),
    [
        (b"", {}, MISSING_BODY),
        (b"", JSON, MISSING_BODY),
        (b"null", JSON, NOT_AN_OBJECT),
        (b"[1, 2]", JSON, NOT_AN_OBJECT),
        (b'"text"', JSON, NOT_AN_OBJECT),
        (b"42", JSON, NOT_AN_OBJECT),
        (b'{"apikey": "k",', JSON, MALFORMED_JSON),
        (b"{'apikey': 'k'}", JSON, MALFORMED_JSON),
        (b'{"apikey": "k"}', {"content-type": "text/plain"}, WRONG_CONTENT_TYPE),
        (b"apikey=k", {"content-type": "application/x-www-form-urlencoded"}, WRONG_CONTENT_TYPE),
        (b'{"apikey": "k"}', {}, WRONG_CONTENT_TYPE),
    ],
    ids=[
        "empty",
        "empty-json",
        "null",
        "array",
        "string",
        "number",
        "truncated",
        "single-quotes",
        "text-plain",
        "form",
        "no-content-type",
    ],
)
@pytest.mark.parametrize("name", ["placeorder", "funds", "analyzer/toggle", "gttorderbook"])
async def test_unusable_bodies_are_400_with_one_sentence(
    api: httpx.AsyncClient, name: str, content: bytes, headers: dict[str, str], message: str
) -> None:
    r = await api.post(f"/api/v1/{name}", content=content, headers=headers)
    assert r.status_code == 400
    assert r.json() == {"status": "error", "message": message, "errors": {"body": [message]}}


@pytest.mark.parametrize("ep", POSTS, ids=ids)
async def test_wrong_method_is_405_envelope(api: httpx.AsyncClient, ep: Endpoint) -> None:
    r = await api.get(ep.full_path)
    assert r.status_code == 405
    assert r.json() == {"status": "error", "message": "Method not allowed"}
    assert r.headers["allow"] == "POST"


async def test_unknown_path_is_404_envelope(api: httpx.AsyncClient) -> None:
    for path in ("/api/v1/nope", "/api/v1/nope/", "/api/v1/strategy/list"):
        r = await api.post(path, json={})
        assert r.status_code == 404
        assert r.json() == {"status": "error", "message": "Not found"}


async def test_declared_oversized_body_is_413_before_parsing(api: httpx.AsyncClient) -> None:
    big = {"apikey": "k", "orders": [MINIMAL["placeorder"]] * 2000}
    r = await api.post("/api/v1/basketorder", json=big)
    assert r.status_code == 413
    assert r.json() == {
        "status": "error",
        "message": "Request body too large (limit 65536 bytes)",
    }


async def test_streamed_oversized_body_is_413(api: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        yield b'{"apikey": "k", "strategy": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    r = await api.post("/api/v1/cancelallorder", content=chunks(), headers=JSON)
    assert r.status_code == 413
    assert r.json()["message"] == "Request body too large (limit 65536 bytes)"


async def test_invalid_content_length_is_400(contract_app: Any) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/funds",
        "raw_path": b"/api/v1/funds",
        "query_string": b"",
        "headers": [(b"content-length", b"banana"), (b"content-type", b"application/json")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("t", 80),
        "client": ("c", 1),
        "root_path": "",
    }
    await contract_app(scope, receive, send)
    assert sent[0]["status"] == 400


@pytest.mark.parametrize("name", ["placeorder", "orderbook", "cancelorder"])
async def test_sandbox_served_errors_carry_the_mode(api: httpx.AsyncClient, name: str) -> None:
    r = await api.post(
        f"/api/v1/{name}", json=body(name, bogus=1), headers={PROBE_MODE_HEADER: "analyze"}
    )
    assert r.status_code == 400
    assert r.json()["mode"] == "analyze"
    # An unparseable body names no user, so nothing can know its mode.
    r = await api.post(
        f"/api/v1/{name}", content=b"{", headers={**JSON, PROBE_MODE_HEADER: "analyze"}
    )
    assert r.status_code == 400
    assert "mode" not in r.json()


async def test_key_in_body_is_never_echoed_in_errors(api: httpx.AsyncClient) -> None:
    secret = "f" * 64
    r = await api.post("/api/v1/placeorder", json=body("placeorder", apikey=secret, quantity="x"))
    assert r.status_code == 400
    assert secret not in r.text
    r = await api.post("/api/v1/placeorder", json=body("placeorder", apikey=1))
    assert r.status_code == 400
    assert r.json()["errors"] == {"apikey": ["must be a string"]}
