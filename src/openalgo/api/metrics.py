"""``GET /metrics``: Prometheus text format, from this app's own registry.

Off with ``OPENALGO_METRICS_ENABLED=false``. It exposes route templates, status codes and
timings only: no symbols, users or keys. With several workers each has its own registry; scrape
each worker, or rely on the database tables, which all workers share.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from openalgo.api.deps import RuntimeDep
from openalgo.errors import NotFound

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    if not runtime.settings.metrics_enabled:
        raise NotFound()
    return Response(generate_latest(runtime.monitor.registry), media_type=CONTENT_TYPE_LATEST)
