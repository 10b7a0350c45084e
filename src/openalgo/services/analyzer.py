"""Analyzer (paper-trading) mode of one user: its status and its switch.

OpenAlgo's switch is one flag for the whole installation and ``total_logs`` counts its analyzer
log table. Ours is per user (issue 5): ``total_logs`` counts the caller's own order requests
recorded in analyzer mode (the order log), and the switch is `user_settings.set_analyzer_mode`,
which drops the caller's cached principal after the commit so the very next request runs in the
new mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.models.order_log import OrderLog
from openalgo.security.apikeys import PrincipalCache
from openalgo.services.user_settings import set_analyzer_mode

ANALYZE = "analyze"
LIVE = "live"


@dataclass(frozen=True, slots=True)
class AnalyzerStatus:
    analyze_mode: bool
    total_logs: int

    @property
    def mode(self) -> str:
        return ANALYZE if self.analyze_mode else LIVE


async def analyzer_logs(session: AsyncSession, user_id: int) -> int:
    """How many order requests the user sent in analyzer mode."""
    stmt = (
        select(func.count())
        .select_from(OrderLog)
        .where(OrderLog.user_id == user_id, OrderLog.mode == ANALYZE)
    )
    return int((await session.execute(stmt)).scalar_one())


async def status(session: AsyncSession, user_id: int, analyze_mode: bool) -> AnalyzerStatus:
    return AnalyzerStatus(analyze_mode, await analyzer_logs(session, user_id))


async def switch(
    session: AsyncSession,
    *,
    user_id: int,
    enabled: bool,
    now: datetime,
    cache: PrincipalCache | None,
) -> AnalyzerStatus:
    """Set the user's mode (in the caller's transaction; a no-op when already there)."""
    prefs = await set_analyzer_mode(session, user_id=user_id, enabled=enabled, now=now, cache=cache)
    return AnalyzerStatus(prefs.analyzer_mode, await analyzer_logs(session, user_id))
