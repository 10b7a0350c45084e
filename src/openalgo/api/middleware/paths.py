"""``/api/v1/placeorder/`` is ``/api/v1/placeorder``.

OpenAlgo registers every resource with and without the trailing slash, and clients use both. We
strip it before routing instead of declaring every route twice (which would also list every path
twice in the OpenAPI document). A redirect would not do: clients do not follow a 307 on POST.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

API_PREFIX = "/api/"


class TrailingSlashMiddleware:
    def __init__(self, app: ASGIApp, prefix: str = API_PREFIX) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.endswith("/") and path.startswith(self.prefix) and len(path) > len(self.prefix):
                # In place, not a copy: outer middleware reads what routing adds to this scope.
                scope["path"] = path.rstrip("/") or "/"
                raw = scope.get("raw_path")
                if isinstance(raw, bytes):
                    scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
