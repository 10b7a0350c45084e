"""The front door for ``/api/v1``: a planned request goes from the ban check straight to its plan.

Why: between the ban check and the v1 dispatcher a request passed ten ASGI layers (Starlette's
error middleware, FastAPI's telemetry and body-size layers, our security headers, monitoring,
body limit and trailing-slash layers, Starlette's exception middleware, FastAPI's exit stack, the
router), each a call with its own wrapped ``send``. Measured with callgrind (instructions, which
this machine's noise does not move), that chain was about 7% of a ``placeorder`` and over a
quarter of a ``ping``. Here their work is done inline, for the requests that need nothing more
than that work:

- security headers: the same `SecurityHeaders` added to the response start;
- monitoring: the same stage timing and traffic record (`response_started`, `request_done`);
- exceptions: the app's handlers, chosen as Starlette's exception middleware chooses them;
  anything they do not handle is answered as Starlette's error middleware answers it (the app's
  ``Exception`` handler, sent without the security headers, as the error middleware sits outside
  them) and re-raised for the server to log.

What it leaves to the full stack, by passing the request on unchanged:
- anything the router's dispatcher has not planned, or every request when no dispatcher is
  installed (other paths and methods, a path with a trailing slash, a test's override);
- a body without a valid ``Content-Length`` within the limit (the body-limit layer answers it);
- requests FastAPI's telemetry follows.

It stands aside entirely where the stack has more to do for ``/api/v1``: a middleware it does not
know (CORS, when configured), FastAPI's own body limit, or debug mode. The parity tests
(`tests/api/v1/test_dispatch.py`, `test_front_door.py`) send the same requests through both paths
and require the same status, body and headers.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from starlette._exception_handler import _lookup_exception_handler
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openalgo.api.middleware.body_limit import BodyLimitMiddleware
from openalgo.api.middleware.monitoring import (
    REQUEST_START,
    MonitoringMiddleware,
    monitor_of,
    request_done,
    response_started,
)
from openalgo.api.middleware.paths import TrailingSlashMiddleware
from openalgo.api.v1.dispatch import Plan, V1Dispatch
from openalgo.security.middleware import SecurityHeaders, SecurityHeadersMiddleware
from openalgo.settings import Settings

# Set by FastAPI when its OpenTelemetry support is on; its middleware must then see every error.
_TELEMETRY = "fastapi.telemetry"


class FrontDoor:
    """Sits inside the ban check, outside Starlette's middleware stack (``inner``)."""

    def __init__(
        self,
        inner: ASGIApp,
        router: Router,
        *,
        headers: SecurityHeaders,
        max_body_bytes: int,
        exception_handlers: tuple[Any, Any],
        error_handler: Any,
    ) -> None:
        self.inner = inner
        self.router = router
        self.headers = headers
        self.max_body_bytes = max_body_bytes
        self.exception_handlers = exception_handlers
        self.error_handler = error_handler
        self.served = 0

    def _within_limit(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return False
                return 0 <= declared <= self.max_body_bytes
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The router's current dispatcher: tests uninstall it, or install another.
        dispatch = self.router.middleware_stack
        plan = dispatch.plan_for(scope) if isinstance(dispatch, V1Dispatch) else None
        if plan is None or not self._within_limit(scope) or _TELEMETRY in scope:
            await self.inner(scope, receive, send)
            return
        assert isinstance(dispatch, V1Dispatch)
        self.served += 1
        await self._serve(dispatch, plan, scope, receive, send)

    async def _serve(
        self, dispatch: V1Dispatch, plan: Plan, scope: Scope, receive: Receive, send: Send
    ) -> None:
        monitor = monitor_of(scope)
        start = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        state[REQUEST_START] = start
        extra = self.headers.for_scope(scope)
        added = self.headers.added
        status = 500
        started = False

        async def respond(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                if monitor is not None:
                    response_started(monitor, state, start, status)
                message = added(message, extra)
            await send(message)

        try:
            try:
                await dispatch.serve(plan, scope, receive, respond)
            except Exception as exc:
                # Starlette's exception middleware (`wrap_app_handling_exceptions`), inline.
                exception_handlers, status_handlers = self.exception_handlers
                handler = None
                if isinstance(exc, HTTPException):
                    handler = status_handlers.get(exc.status_code)
                if handler is None:
                    handler = _lookup_exception_handler(exception_handlers, exc)
                if handler is None:
                    raise
                if started:
                    raise RuntimeError(
                        "Caught handled exception, but response already started."
                    ) from exc
                request = Request(scope, receive, send)
                call: Any = handler  # typed by Starlette for requests and WebSockets alike
                if is_async_callable(call):
                    handled = await call(request, exc)
                else:
                    handled = await run_in_threadpool(call, request, exc)
                if handled is not None:
                    await handled(scope, receive, respond)
                exc.__traceback__ = None  # a reused exception would pile up tracebacks
            finally:
                if monitor is not None:
                    request_done(monitor, scope, state, start, status)
        except Exception as exc:
            if not started:
                request = Request(scope)
                handler = self.error_handler
                if handler is None:  # Starlette's default
                    response: Response = PlainTextResponse("Internal Server Error", 500)
                elif is_async_callable(handler):
                    response = await handler(request, exc)
                else:
                    response = await run_in_threadpool(handler, request, exc)
                await response(scope, receive, send)
            raise


def install(app: FastAPI, settings: Settings) -> None:
    """Put a `FrontDoor` around the stack Starlette builds for ``app`` (on its first request).
    It serves what the router's `V1Dispatch` (`dispatch.install`) has planned.

    Call before `api.security.install_security`, which wraps the same builder with the address
    and ban layers: those must stay outside the front door.
    """
    build_inner = app.build_middleware_stack

    def build() -> ASGIApp:
        inner = build_inner()
        if _stack_does_more(app):  # decided on the first request, once every layer is added
            return inner
        handlers: dict[Any, Any] = {}
        error_handler = None
        for key, value in app.exception_handlers.items():
            if key in (500, Exception):
                error_handler = value
            else:
                handlers[key] = value
        # Starlette's exception middleware, built as FastAPI builds it: its tables are what
        # `wrap_app_handling_exceptions` looks handlers up in.
        tables = ExceptionMiddleware(inner, handlers=handlers, debug=app.debug)
        return FrontDoor(
            inner,
            app.router,
            headers=SecurityHeaders(hsts_max_age=settings.hsts_max_age),
            max_body_bytes=settings.max_body_bytes,
            exception_handlers=(tables._exception_handlers, tables._status_handlers),
            error_handler=error_handler,
        )

    app.build_middleware_stack = build  # type: ignore[method-assign]


# The layers `add_middleware` may have put in the stack whose work the front door does itself
# (the trailing-slash layer has none for a planned path, which never ends in a slash).
_KNOWN_LAYERS = frozenset(
    {TrailingSlashMiddleware, BodyLimitMiddleware, MonitoringMiddleware, SecurityHeadersMiddleware}
)


def _stack_does_more(app: FastAPI) -> bool:
    """True when Starlette's stack has work for ``/api/v1`` that the front door does not do:
    another middleware (CORS, when configured), FastAPI's own body limit, or debug pages."""
    layers = {m.cls for m in app.user_middleware}
    return (
        not layers <= _KNOWN_LAYERS or app.debug or getattr(app, "max_body_size", None) is not None
    )
