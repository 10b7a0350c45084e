"""`/analyzer` and `/analyzer/toggle` (reference 7.17, 7.18): the caller's own analyzer switch.

Neither is sandbox-served, so neither carries a top-level ``mode`` (OpenAlgo's don't either); the
mode is in ``data``.
"""

from __future__ import annotations

from openalgo.api.auth import ApiUser
from openalgo.api.deps import ReadSessionDep, RuntimeDep, SessionDep
from openalgo.api.v1.endpoints import endpoint
from openalgo.api.v1.routing import route, v1_router
from openalgo.api.v1.schemas.account import KeyOnlyRequest
from openalgo.api.v1.schemas.analyzer import (
    AnalyzerResponse,
    AnalyzerStatus,
    AnalyzerToggleRequest,
)
from openalgo.services import analyzer as analyzer_service

router = v1_router()


def _status(found: analyzer_service.AnalyzerStatus, message: str | None = None) -> AnalyzerStatus:
    return AnalyzerStatus(
        mode="analyze" if found.analyze_mode else "live",
        analyze_mode=found.analyze_mode,
        total_logs=found.total_logs,
        message=message,
    )


@route(router, endpoint("analyzer"))
async def analyzer(
    principal: ApiUser, session: ReadSessionDep, body: KeyOnlyRequest | None = None
) -> AnalyzerResponse:
    del body
    found = await analyzer_service.status(session, principal.user_id, principal.analyzer_mode)
    return AnalyzerResponse(data=_status(found))


@route(router, endpoint("analyzer/toggle"))
async def analyzer_toggle(
    body: AnalyzerToggleRequest, principal: ApiUser, session: SessionDep, runtime: RuntimeDep
) -> AnalyzerResponse:
    found = await analyzer_service.switch(
        session,
        user_id=principal.user_id,
        enabled=body.mode,
        now=runtime.clock.now(),
        cache=runtime.security.verifier if runtime.security is not None else None,
    )
    return AnalyzerResponse(data=_status(found, f"Analyzer mode switched to {found.mode}"))
