"""Probe routes for every `/api/v1` endpoint of the table, declared with the real scaffolding.

Until the area routers exist, these stand in for them: each validates its request with the
endpoint's real model and echoes what it parsed, so the tests exercise validation, the error
envelope, trailing slashes and the OpenAPI document through the real app over ASGI. A header
``X-Probe-Mode: analyze`` plays the part of the API-key dependency marking a sandbox-served
request.
"""

from __future__ import annotations

import functools
import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from openalgo.api.errors import set_response_mode
from openalgo.api.v1 import dispatch
from openalgo.api.v1.endpoints import ENDPOINTS, Endpoint
from openalgo.api.v1.routing import route, v1_router

PROBE_MODE_HEADER = "x-probe-mode"


async def mark_mode(request: Request) -> None:
    mode = request.headers.get(PROBE_MODE_HEADER)
    if mode:
        set_response_mode(request, mode)


def _echo(model: BaseModel | None, **extra: Any) -> JSONResponse:
    data = model.payload() if model is not None and hasattr(model, "payload") else None
    if data is None and model is not None:
        data = model.model_dump(mode="json", by_alias=True)
    return JSONResponse({"status": "success", "received": data, **extra})


def _probe(ep: Endpoint) -> Any:
    async def probe(**kwargs: Any) -> JSONResponse:
        body = kwargs.get("body")
        query = kwargs.get("query")
        extra = {"ticker": kwargs["ticker"]} if "ticker" in kwargs else {}
        return _echo(body if body is not None else query, **extra)

    params = [
        inspect.Parameter(
            "_mode", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[None, Depends(mark_mode)]
        )
    ]
    if ep.request is not None:
        params.append(
            inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=ep.request)
        )
    if ep.query is not None:
        params.append(
            inspect.Parameter(
                "query", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[ep.query, Query()]
            )
        )
    if "{ticker}" in ep.path:
        params.append(
            inspect.Parameter(
                "ticker",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[str, Path(pattern=r"^[A-Z_]+:[^:/]+$")],
            )
        )
    probe.__signature__ = inspect.Signature(params, return_annotation=JSONResponse)  # type: ignore[attr-defined]
    probe.__name__ = ep.operation_id
    return probe


def probe_router(*, typed_responses: bool = False, shadow: bool = False) -> APIRouter:
    """One probe per endpoint. ``typed_responses`` keeps the real response models (for the
    OpenAPI document); otherwise the probes answer with what they parsed. ``shadow`` adds probes
    for the endpoints with a real route too."""
    router = v1_router()
    real = frozenset() if shadow else implemented()
    for ep in ENDPOINTS:
        if ep.name in real:
            continue
        overrides: dict[str, Any] = {} if typed_responses else {"response_model": None}
        route(router, ep, **overrides)(_probe(ep))
    return router


@functools.cache
def implemented() -> frozenset[str]:
    """Endpoints with a real route in the app: those are tested with real API keys instead."""
    from openalgo.api.v1 import build_router

    app = FastAPI()
    app.include_router(build_router())
    paths = set(app.openapi()["paths"])
    return frozenset(ep.name for ep in ENDPOINTS if ep.full_path in paths)


def add_probes(app: FastAPI, *, typed_responses: bool = False, shadow: bool = False) -> FastAPI:
    """``shadow``: probes for every endpoint, matched before the real routes, so tests of the
    request models and the error envelope keep their echo once an endpoint is real (the real
    routes are tested through their own modules with real API keys)."""
    probes = probe_router(typed_responses=typed_responses, shadow=shadow)
    if shadow:
        app.router.routes[:0] = probes.routes
        dispatch.uninstall(app)  # it would answer the real routes before a probe is matched
    else:
        app.include_router(probes)
    return app
