"""The perimeter, as pure ASGI middleware (no BaseHTTPMiddleware: it breaks WebSocket scopes and
streaming, and costs a task per request).

Outermost first:

1. `ClientAddressMiddleware` -- resolves the real client address (trusted proxies only) into
   ``scope["client"]`` and the scheme from ``X-Forwarded-Proto``; everything below sees the truth.
2. `BanGuardMiddleware` -- refuses banned addresses before any other work (HTTP 403 in the
   envelope; WebSocket closed before the handshake completes, which the server answers with 403).
3. `SecurityHeadersMiddleware` -- CSP without inline scripts, frame, referrer and type headers,
   HSTS over TLS.
4. `ScopedCORSMiddleware` -- only when an allow-list is configured, and only for ``/api/``.
5. `BodyLimitMiddleware` -- 413 for bodies over the limit, whether announced by Content-Length or
   streamed in chunks.

WebSocket and lifespan scopes pass through 3-5 untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openalgo.security.clientaddr import UNKNOWN, AddressSet, client_from_forwarded, normalize

_JSON = (b"content-type", b"application/json")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else UNKNOWN


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", str(len(payload)).encode()), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class ClientAddressMiddleware:
    def __init__(self, app: ASGIApp, trusted: AddressSet) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            peer = normalize(str(client[0])) if client else UNKNOWN
            if self.trusted and peer in self.trusted:
                self._from_proxy(scope, peer, int(client[1]) if client else 0)
            elif client is None or peer != client[0]:
                scope["client"] = (peer, int(client[1]) if client else 0)
        await self.app(scope, receive, send)

    def _from_proxy(self, scope: Scope, peer: str, port: int) -> None:
        address = client_from_forwarded(peer, _header(scope, b"x-forwarded-for"), self.trusted)
        proto = _header(scope, b"x-forwarded-proto")
        if proto:
            proto = proto.split(",")[0].strip().lower()
            if proto in ("http", "https"):
                secure = proto == "https"
                if scope["type"] == "websocket":
                    scope["scheme"] = "wss" if secure else "ws"
                else:
                    scope["scheme"] = proto
        scope["client"] = (address, port)
        scope.setdefault("state", {})["peer"] = peer


_BANNED_PAYLOAD = json.dumps(
    {"status": "error", "message": "Access denied: this address is temporarily banned"}
).encode()
_BANNED_START = {
    "type": "http.response.start",
    "status": 403,
    "headers": [_JSON, (b"content-length", str(len(_BANNED_PAYLOAD)).encode())],
}
_BANNED_BODY = {"type": "http.response.body", "body": _BANNED_PAYLOAD}


class BanGuardMiddleware:
    """One dict lookup per request; the ban list and clock are read from the app's runtime.

    A banned address gets a prebuilt 403 (no JSON encoding, no routing, no body read): at a
    thousand requests a second this is most of what keeps a flood cheap.
    """

    def __init__(self, app: ASGIApp, lookup: Callable[[Scope], Any]) -> None:
        self.app = app
        self.lookup = lookup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            security = self.lookup(scope)
            client = scope.get("client")
            if (
                security is not None
                and client is not None
                and security.bans.check(client[0], security.clock)
            ):
                if scope["type"] == "http":
                    await send(_BANNED_START)
                    await send(_BANNED_BODY)
                else:
                    await send({"type": "websocket.close", "code": 1008})
                return
        await self.app(scope, receive, send)


STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI and ReDoc (FastAPI's /docs and /redoc) load their bundles from a CDN and start with an
# inline script; those two pages get a policy that allows exactly that, and nothing else does.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src 'self' https://fonts.gstatic.com; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})


class SecurityHeaders:
    """The response headers every HTTP response gets (`SecurityHeadersMiddleware`, and the v1
    front door, which serves its routes without the middleware stack)."""

    def __init__(self, *, hsts_max_age: int) -> None:
        base = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (
                b"permissions-policy",
                b"camera=(), microphone=(), geolocation=(), payment=(), usb=()",
            ),
        ]
        self._strict = [*base, (b"content-security-policy", STRICT_CSP.encode())]
        self._docs = [*base, (b"content-security-policy", DOCS_CSP.encode())]
        self._hsts = (
            (b"strict-transport-security", f"max-age={hsts_max_age}; includeSubDomains".encode())
            if hsts_max_age > 0
            else None
        )

    def for_scope(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """The headers a response to ``scope`` gets (unless the app set them itself)."""
        extra = self._docs if scope.get("path") in DOCS_PATHS else self._strict
        if self._hsts is not None and scope.get("scheme") == "https":
            extra = [*extra, self._hsts]
        return extra

    @staticmethod
    def added(message: Message, extra: list[tuple[bytes, bytes]]) -> Message:
        """``message`` (a response start) with the ``extra`` headers it does not have."""
        headers = list(message.get("headers", ()))
        present = {key.lower() for key, _ in headers}
        headers.extend(item for item in extra if item[0] not in present)
        return {**message, "headers": headers}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts_max_age: int) -> None:
        self.app = app
        self.headers = SecurityHeaders(hsts_max_age=hsts_max_age)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers.for_scope(scope)
        added = self.headers.added

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = added(message, extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ScopedCORSMiddleware:
    """Starlette's CORS middleware, applied to ``/api/`` only (pages are same-origin by design)."""

    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Content-Type", "X-API-KEY"],
            expose_headers=[
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ],
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/api/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


_DISCARD_MARGIN = 1 << 20


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large_body(self) -> dict[str, Any]:
        return {
            "status": "error",
            "message": f"Request body too large (limit {self.max_bytes} bytes)",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await send_json(send, 400, {"status": "error", "message": "Invalid Content-Length"})
                return
            if too_big:
                # The server discards an unread body after the response; past a margin, closing
                # is cheaper than swallowing it (the client may then see a reset instead of 413).
                close = int(declared) > self.max_bytes + _DISCARD_MARGIN
                headers = [(b"connection", b"close")] if close else []
                await send_json(send, 413, self._too_large_body(), headers)
                return

        received = 0
        rejected = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    rejected = True
                    if not response_started:
                        await send_json(send, 413, self._too_large_body())
                    # The app sees a disconnect and stops reading; its own answer is dropped.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if rejected:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise
