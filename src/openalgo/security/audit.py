"""The security audit trail: one row per event that matters to whoever investigates an incident.

Events are written in the caller's transaction (services never commit). Invalid API keys are not
recorded one by one -- a flood would turn into a write per request; the ban they lead to is.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.models.security import SecurityEvent
from openalgo.db.repositories.security import ChangeCounterRepository

AUTH_COUNTER = "auth"


class AuditEvent(StrEnum):
    USER_CREATED = "user_created"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    TOTP_FAILED = "totp_failed"
    LOGOUT = "logout"
    SESSION_EVICTED = "session_evicted"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name, not a password
    TOTP_ENABLED = "totp_enabled"
    TOTP_DISABLED = "totp_disabled"
    APIKEY_CREATED = "apikey_created"
    APIKEY_REVOKED = "apikey_revoked"
    APIKEY_ROTATED = "apikey_rotated"
    ADDRESS_BANNED = "address_banned"
    BAN_LIFTED = "ban_lifted"
    BROKER_SESSION_STORED = "broker_session_stored"
    BROKER_SESSION_REVOKED = "broker_session_revoked"
    SETTINGS_CHANGED = "settings_changed"


async def record_event(
    session: AsyncSession,
    event: AuditEvent,
    *,
    at: datetime,
    user_id: int | None = None,
    username: str | None = None,
    address: str | None = None,
    detail: str | None = None,
) -> SecurityEvent:
    row = SecurityEvent(
        created_at=at,
        event=event.value,
        user_id=user_id,
        username=username[:80] if username else username,
        address=address[:64] if address else address,
        detail=detail[:300] if detail else detail,
    )
    session.add(row)
    await session.flush()
    return row


async def bump_auth_counter(session: AsyncSession) -> None:
    """Tell every process (through `security/runtime.py`'s poll) to drop its cached principals
    and reload bans once this transaction commits."""
    await ChangeCounterRepository(session).bump(AUTH_COUNTER)
