"""Refuse request bodies above ``max_body_bytes`` with a 413 in the JSON envelope.

A declared ``Content-Length`` over the limit is answered before the app runs; a chunked body is
counted as it arrives and the read that crosses the limit raises a 413 inside the app, where the
error handler renders it. Starlette's own limiter answers in plain text, which clients that parse
every response as JSON would choke on.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openalgo.api.errors import error_body, error_response

TOO_LARGE = "Request body too large"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit or declared < 0:
                    status = 413 if declared > limit else 400
                    message = TOO_LARGE if status == 413 else "Invalid Content-Length header"
                    response = error_response(
                        status, error_body(f"{message} (limit {limit} bytes)")
                    )
                    await response(scope, receive, send)
                    return
                break
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"{TOO_LARGE} (limit {limit} bytes)")
            return message

        await self.app(scope, counted, send)
