"""Per-request traffic records and per-order stage timings, with no I/O on the request path.

Pure ASGI: WebSocket and lifespan scopes pass straight through. The route is recorded as its
template (``/api/v1/ticker/{ticker}``), never the raw path, so neither the metrics' label sets nor
the table fill up with one entry per symbol; unmatched paths share one label.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openalgo.services.monitoring import UNMATCHED_ROUTE, OrderTiming, TrafficMonitor

# Keys in the request's ASGI state.
REQUEST_START = "openalgo_request_start"  # time.perf_counter() at arrival
ORDER_TIMING = "openalgo_order_timing"  # an OrderTiming, set by the order guard
USER_ID = "openalgo_user_id"  # set by the API-key dependency when it knows the user


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def monitor_of(scope: Scope) -> TrafficMonitor | None:
    runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
    monitor: TrafficMonitor | None = getattr(runtime, "monitor", None)
    return monitor


def response_started(
    monitor: TrafficMonitor, state: dict[str, Any], start: float, status: int
) -> None:
    """At the response's start: complete and record the order's stage timing, if it is one."""
    timing = state.get(ORDER_TIMING)
    if isinstance(timing, OrderTiming):
        now = time.perf_counter()
        timing.status = status
        timing.response_ms = (now - (timing.venue_done or now)) * 1000
        timing.total_ms = (now - start) * 1000
        monitor.record_order(timing)


def request_done(
    monitor: TrafficMonitor, scope: Scope, state: dict[str, Any], start: float, status: int
) -> None:
    """After the response (or the exception that ended the request): its traffic record."""
    user_id = state.get(USER_ID)
    monitor.record(
        str(scope.get("method", "")),
        _route(scope),
        status,
        (time.perf_counter() - start) * 1000,
        user_id if isinstance(user_id, int) else None,
    )


class MonitoringMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        monitor = monitor_of(scope)
        if monitor is None:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        state[REQUEST_START] = start
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started(monitor, state, start, status)
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            request_done(monitor, scope, state, start, status)
