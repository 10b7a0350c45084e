"""Per-user settings: the active broker and analyzer mode.

Read on every API call through the cached `ApiPrincipal`; every change here therefore invalidates
the caller's verifier (pass it as ``cache``) and bumps the change counter for the other processes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.models.user_settings import DEFAULT_BROKER
from openalgo.db.repositories.user_settings import UserSettingsRepository
from openalgo.errors import ValidationFailed
from openalgo.security.apikeys import PrincipalCache, invalidate_after_commit
from openalgo.security.audit import AuditEvent, bump_auth_counter, record_event

BROKER_NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


@dataclass(frozen=True)
class Preferences:
    broker: str
    analyzer_mode: bool


async def get_preferences(session: AsyncSession, user_id: int) -> Preferences:
    row = await UserSettingsRepository(session).get(user_id)
    if row is None:
        return Preferences(broker=DEFAULT_BROKER, analyzer_mode=False)
    return Preferences(broker=row.broker, analyzer_mode=row.analyzer_mode)


async def set_analyzer_mode(
    session: AsyncSession,
    *,
    user_id: int,
    enabled: bool,
    now: datetime,
    cache: PrincipalCache | None = None,
) -> Preferences:
    row = await UserSettingsRepository(session).get_or_create(user_id)
    if row.analyzer_mode != enabled:
        row.analyzer_mode = enabled
        row.updated_at = now
        await session.flush()
        await record_event(
            session,
            AuditEvent.SETTINGS_CHANGED,
            at=now,
            user_id=user_id,
            detail=f"analyzer_mode={'on' if enabled else 'off'}",
        )
        await _changed(session, user_id, cache)
    return Preferences(broker=row.broker, analyzer_mode=row.analyzer_mode)


async def set_broker(
    session: AsyncSession,
    *,
    user_id: int,
    broker: str,
    now: datetime,
    cache: PrincipalCache | None = None,
) -> Preferences:
    if not BROKER_NAME.fullmatch(broker):
        raise ValidationFailed(
            "broker must be a lower-case name such as 'zerodha'", errors={"broker": ["invalid"]}
        )
    row = await UserSettingsRepository(session).get_or_create(user_id)
    if row.broker != broker:
        row.broker = broker
        row.updated_at = now
        await session.flush()
        await record_event(
            session, AuditEvent.SETTINGS_CHANGED, at=now, user_id=user_id, detail=f"broker={broker}"
        )
        await _changed(session, user_id, cache)
    return Preferences(broker=row.broker, analyzer_mode=row.analyzer_mode)


async def _changed(session: AsyncSession, user_id: int, cache: PrincipalCache | None) -> None:
    await bump_auth_counter(session)
    if cache is not None:
        invalidate_after_commit(session, cache, user_id)
