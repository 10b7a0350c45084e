"""Admin sign-in: first-run setup, password and TOTP checks, web sessions, password change.

Password hashing (Argon2, ~100 ms of CPU) runs in a worker thread so one login never stalls the event
loop. An unknown username costs the same hash as a known one, so timing does not reveal which
usernames exist. Sessions end at the daily boundary; at most ``max_sessions`` stay active per user
(the oldest are evicted on a new login).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, time
from functools import cache

from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.models.user import User
from openalgo.db.models.web_session import WebSession
from openalgo.db.repositories.users import UserRepository
from openalgo.db.repositories.web_sessions import WebSessionRepository
from openalgo.errors import Conflict, ValidationFailed
from openalgo.security.audit import AuditEvent, bump_auth_counter, record_event
from openalgo.security.crypto import SecretBox, UndecryptableSecret
from openalgo.security.expiry import next_expiry
from openalgo.security.passwords import hash_password, require_strong_password, verify_password
from openalgo.security.sessions import new_session_id, session_digest
from openalgo.security.totp import matching_step
from openalgo.services.users import create_user


@cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password", "not-a-real-pepper")


@dataclass(frozen=True)
class WebLogin:
    user: User
    session_id: str
    expires_at: datetime
    row: WebSession


async def needs_setup(session: AsyncSession) -> bool:
    return await UserRepository(session).count() == 0


async def create_first_admin(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    pepper: str,
    now: datetime,
    address: str | None = None,
) -> User:
    """Create the admin on a fresh installation; Conflict once any user exists."""
    # Bumping the counter first takes a row lock (PostgreSQL) or the write lock (SQLite), so two
    # concurrent setups cannot both see an empty users table.
    await bump_auth_counter(session)
    if not await needs_setup(session):
        raise Conflict("setup is already complete: sign in instead")
    user = await create_user(session, username=username, password=password, pepper=pepper)
    await record_event(
        session,
        AuditEvent.USER_CREATED,
        at=now,
        user_id=user.id,
        username=user.username,
        address=address,
        detail="first admin (setup page)",
    )
    return user


async def check_credentials(
    session: AsyncSession, *, username: str, password: str, pepper: str
) -> User | None:
    user = await UserRepository(session).get_by_username(username)
    if user is None or not user.is_active:
        await asyncio.to_thread(verify_password, password, pepper, _dummy_hash())
        return None
    if await asyncio.to_thread(verify_password, password, pepper, user.password_hash):
        return user
    return None


async def start_web_session(
    session: AsyncSession,
    *,
    user: User,
    now: datetime,
    expiry_time: time,
    max_sessions: int,
    address: str | None,
    user_agent: str | None,
) -> WebLogin:
    repo = WebSessionRepository(session)
    active = await repo.active_for_user(user.id, now)
    for old in active[: max(0, len(active) - (max_sessions - 1))]:
        old.revoked_at = now
        await record_event(
            session,
            AuditEvent.SESSION_EVICTED,
            at=now,
            user_id=user.id,
            username=user.username,
            address=address,
            detail=f"more than {max_sessions} active sessions",
        )
    session_id = new_session_id()
    expires_at = next_expiry(now, expiry_time)
    row = await repo.add(
        WebSession(
            user_id=user.id,
            session_digest=session_digest(session_id),
            created_at=now,
            expires_at=expires_at,
            address=address,
            user_agent=(user_agent or "")[:200] or None,
        )
    )
    await record_event(
        session,
        AuditEvent.LOGIN_SUCCEEDED,
        at=now,
        user_id=user.id,
        username=user.username,
        address=address,
    )
    return WebLogin(user=user, session_id=session_id, expires_at=expires_at, row=row)


async def resolve_web_session(
    session: AsyncSession, session_id: str, now: datetime
) -> tuple[User, WebSession] | None:
    row = await WebSessionRepository(session).by_digest(session_digest(session_id))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    user = await UserRepository(session).get_by_id(row.user_id)
    if user is None or not user.is_active:
        return None
    return user, row


async def end_web_session(
    session: AsyncSession, *, user: User, session_id: str, now: datetime, address: str | None
) -> None:
    row = await WebSessionRepository(session).by_digest(session_digest(session_id))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
        await session.flush()
    await record_event(
        session,
        AuditEvent.LOGOUT,
        at=now,
        user_id=user.id,
        username=user.username,
        address=address,
    )


async def record_login_failure(
    session: AsyncSession,
    *,
    username: str,
    now: datetime,
    address: str | None,
    event: AuditEvent = AuditEvent.LOGIN_FAILED,
    user_id: int | None = None,
) -> None:
    await record_event(session, event, at=now, user_id=user_id, username=username, address=address)


async def change_password(
    session: AsyncSession,
    *,
    user: User,
    current_password: str,
    new_password: str,
    pepper: str,
    now: datetime,
    keep_session: WebSession | None,
    address: str | None,
) -> int:
    """Set a new password and sign out every other session; returns how many were ended."""
    # Both hashes are computed before the first write, so no write lock is held while they run.
    if not await asyncio.to_thread(verify_password, current_password, pepper, user.password_hash):
        raise ValidationFailed(
            "current password is wrong", errors={"current_password": ["wrong password"]}
        )
    require_strong_password(new_password)
    if new_password == current_password:
        raise ValidationFailed(
            "the new password must differ from the current one",
            errors={"new_password": ["unchanged"]},
        )
    new_hash = await asyncio.to_thread(hash_password, new_password, pepper)
    fresh = await UserRepository(session).get_by_id(user.id, for_update=True)
    if fresh is None:
        raise ValidationFailed("no such user")
    fresh.password_hash = new_hash
    ended = await WebSessionRepository(session).revoke_all(
        user.id, now, keep_id=keep_session.id if keep_session is not None else None
    )
    await session.flush()
    await record_event(
        session,
        AuditEvent.PASSWORD_CHANGED,
        at=now,
        user_id=user.id,
        username=user.username,
        address=address,
        detail=f"{ended} other session(s) ended",
    )
    return ended


# --- TOTP ---------------------------------------------------------------------------------------


async def verify_totp(
    session: AsyncSession, box: SecretBox, *, user_id: int, code: str, now: datetime
) -> bool:
    """Check a code for a user with TOTP on, and burn its time step so it cannot be replayed."""
    user = await UserRepository(session).get_by_id(user_id, for_update=True)
    if user is None or not user.totp_enabled or not user.totp_secret_encrypted:
        return False
    try:
        secret = box.decrypt(user.totp_secret_encrypted)
    except UndecryptableSecret:
        return False
    step = matching_step(secret, code, now, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    await session.flush()
    return True


async def enable_totp(
    session: AsyncSession,
    box: SecretBox,
    *,
    user: User,
    secret: str,
    code: str,
    now: datetime,
    address: str | None,
) -> None:
    step = matching_step(secret, code, now, None)
    if step is None:
        raise ValidationFailed(
            "that code does not match: check the time on your phone and try the current code",
            errors={"code": ["does not match"]},
        )
    user = await _writable(session, user)
    user.totp_secret_encrypted = box.encrypt(secret)
    user.totp_enabled = True
    user.totp_last_step = step
    await session.flush()
    await record_event(
        session,
        AuditEvent.TOTP_ENABLED,
        at=now,
        user_id=user.id,
        username=user.username,
        address=address,
    )


async def disable_totp(
    session: AsyncSession,
    box: SecretBox,
    *,
    user: User,
    code: str,
    now: datetime,
    address: str | None,
) -> None:
    if not await verify_totp(session, box, user_id=user.id, code=code, now=now):
        raise ValidationFailed("that code does not match", errors={"code": ["does not match"]})
    user = await _writable(session, user)
    user.totp_enabled = False
    user.totp_secret_encrypted = None
    user.totp_last_step = None
    await session.flush()
    await record_event(
        session,
        AuditEvent.TOTP_DISABLED,
        at=now,
        user_id=user.id,
        username=user.username,
        address=address,
    )


async def _writable(session: AsyncSession, user: User) -> User:
    """The same user as loaded by ``session`` (the caller's copy may come from a read session)."""
    fresh = await UserRepository(session).get_by_id(user.id, for_update=True)
    if fresh is None:
        raise ValidationFailed("no such user")
    return fresh
