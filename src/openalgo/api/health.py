"""Liveness and readiness probes for load balancers, compose and Kubernetes. No auth."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from openalgo.api.deps import RuntimeDep
from openalgo.db.engine import reader
from openalgo.errors import ServiceUnavailable

router = APIRouter(tags=["health"])
log = logging.getLogger("openalgo.health")
READY_TIMEOUT_SECONDS = 2.0


class HealthResponse(BaseModel):
    status: str = "ok"


class ReadyResponse(BaseModel):
    status: str = "ready"
    database: str = "ok"


@router.get("/health", operation_id="health", summary="Liveness: the process answers")
async def health() -> HealthResponse:
    return HealthResponse()


@router.get(
    "/ready",
    operation_id="ready",
    summary="Readiness: the database answers",
    responses={503: {"description": "The database is unreachable"}},
)
async def ready(runtime: RuntimeDep) -> ReadyResponse:
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with reader(runtime.engine).connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("readiness check failed: %s", exc)
        raise ServiceUnavailable("database unreachable") from exc
    return ReadyResponse()
