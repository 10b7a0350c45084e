"""The perimeter middleware: security headers, CSP, HSTS over TLS, CORS off by default, 413 for
oversized bodies (announced or streamed), all without disturbing other scopes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx

from tests.support.accounts import committed_account
from tests.support.appfixtures import LiveApp, StartApp, served


async def test_security_headers_on_pages_and_api(live: LiveApp) -> None:
    for r in (
        await live.client.get("/"),
        await live.client.get("/login"),
        await live.client.post("/api/v1/ping", json={}),
        await live.client.get("/nope"),
    ):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        csp = r.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
        assert "unsafe" not in csp
        assert directives["frame-ancestors"] == "'none'"
        assert "strict-transport-security" not in r.headers  # plain HTTP


async def test_pages_carry_no_inline_script_or_style(live: LiveApp) -> None:
    for path in ("/", "/login", "/setup"):
        html = (await live.client.get(path, follow_redirects=True)).text.lower()
        assert "<script" not in html
        assert "<style" not in html
        assert " style=" not in html
        assert "onclick" not in html


async def test_docs_pages_get_their_own_policy(live: LiveApp) -> None:
    r = await live.client.get("/docs")
    assert r.status_code == 200
    assert "cdn.jsdelivr.net" in r.headers["content-security-policy"]
    assert "cdn.jsdelivr.net" not in (await live.client.get("/")).headers["content-security-policy"]


async def test_hsts_only_over_tls_from_a_trusted_proxy(start_app: StartApp) -> None:
    async with start_app(trusted_proxies="127.0.0.1") as live:
        r = await live.client.get("/health", headers={"X-Forwarded-Proto": "https"})
        assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert "strict-transport-security" not in (await live.client.get("/health")).headers
    async with start_app(trusted_proxies="") as live:
        spoofed = await live.client.get("/health", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in spoofed.headers
    async with start_app() as live:
        transport = httpx.ASGITransport(app=live.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as tls:
            assert "strict-transport-security" in (await tls.get("/health")).headers


async def test_cors_is_off_by_default(live: LiveApp) -> None:
    origin = {"Origin": "https://evil.example"}
    r = await live.client.post("/api/v1/ping", json={}, headers=origin)
    assert "access-control-allow-origin" not in r.headers
    preflight = await live.client.options(
        "/api/v1/ping", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_allow_list_applies_to_the_api_only(start_app: StartApp) -> None:
    async with start_app(cors_allowed_origins="https://app.example, https://other.example") as live:
        account = await committed_account(live.runtime.sessionmaker, live.clock)
        ok = await live.client.post(
            "/api/v1/ping",
            json={"apikey": account.api_key},
            headers={"Origin": "https://app.example"},
        )
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in ok.headers
        preflight = await live.client.options(
            "/api/v1/ping",
            headers={
                "Origin": "https://other.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-api-key",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://other.example"
        stranger = await live.client.post(
            "/api/v1/ping", json={}, headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in stranger.headers
        page = await live.client.get("/login", headers={"Origin": "https://app.example"})
        assert "access-control-allow-origin" not in page.headers


async def test_oversized_body_is_413(start_app: StartApp) -> None:
    async with start_app(max_body_bytes=2048) as live:
        big = {"apikey": "0" * 64, "pad": "x" * 4096}
        r = await live.client.post("/api/v1/ping", json=big)
        assert r.status_code == 413
        assert r.json() == {
            "status": "error",
            "message": "Request body too large (limit 2048 bytes)",
        }
        # Just under the limit is parsed normally (and fails on the key, not the size).
        small = await live.client.post("/api/v1/ping", json={"apikey": "0" * 64, "pad": "x" * 1500})
        assert small.status_code == 403


async def test_streamed_oversized_body_is_413(start_app: StartApp) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"apikey": "'
        for _ in range(10):
            yield b"0" * 1000
        yield b'"}'

    async with start_app(max_body_bytes=2048) as live:
        r = await live.client.post(
            "/api/v1/ping", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413
        # Over real HTTP with chunked transfer encoding, too.
        async with served(live) as host, httpx.AsyncClient() as http:
            real = await http.post(
                f"http://{host}/api/v1/ping",
                content=chunks(),
                headers={"content-type": "application/json"},
            )
            assert real.status_code == 413
            assert real.json()["message"] == "Request body too large (limit 2048 bytes)"
            after = await http.get(f"http://{host}/health")
            assert after.status_code == 200


async def test_bad_content_length_is_400(live: LiveApp) -> None:
    """A header no HTTP client would send, straight through the ASGI interface."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/ping",
        "raw_path": b"/api/v1/ping",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-length", b"12abc")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }
    await live.app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"]) == {  # type: ignore[arg-type]
        "status": "error",
        "message": "Invalid Content-Length header",
    }
