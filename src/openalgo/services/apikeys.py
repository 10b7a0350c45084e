"""Creating, rotating, revoking and listing API keys (pages and CLI).

The plaintext key exists only in the return value of `create_api_key` / `rotate_api_key`; callers
show it once. Revocation keeps the row (audit) and bumps the change counter so every process drops
its cached principal; the caller also invalidates its own verifier (see `security/apikeys.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.models.api_key import ApiKey
from openalgo.db.repositories.api_keys import ApiKeyRepository
from openalgo.errors import Conflict, NotFound, ValidationFailed
from openalgo.security.apikeys import (
    MAX_ACTIVE_KEYS_PER_USER,
    generate_api_key,
    hash_api_key,
    key_prefix,
    lookup_digest,
)
from openalgo.security.audit import AuditEvent, bump_auth_counter, record_event

MAX_NAME_LENGTH = 80


@dataclass(frozen=True)
class NewApiKey:
    """A freshly created key: the row, and the plaintext that is never stored."""

    row: ApiKey
    plaintext: str


def _clean_name(name: str | None) -> str:
    cleaned = " ".join((name or "").split())
    if len(cleaned) > MAX_NAME_LENGTH:
        raise ValidationFailed(
            f"key name too long (at most {MAX_NAME_LENGTH} characters)",
            errors={"name": ["too long"]},
        )
    return cleaned


async def create_api_key(
    session: AsyncSession,
    *,
    user_id: int,
    pepper: str,
    now: datetime,
    name: str | None = None,
    address: str | None = None,
    event: AuditEvent = AuditEvent.APIKEY_CREATED,
) -> NewApiKey:
    clean_name = _clean_name(name)
    plaintext = generate_api_key()
    # Argon2 takes tens of milliseconds of CPU: keep it off the event loop, and do it before the
    # first query so a SQLite write lock is not held while it runs.
    key_hash = await asyncio.to_thread(hash_api_key, plaintext, pepper)
    repo = ApiKeyRepository(session)
    if await repo.count_active(user_id) >= MAX_ACTIVE_KEYS_PER_USER:
        raise Conflict(
            f"at most {MAX_ACTIVE_KEYS_PER_USER} active API keys per user: revoke one first"
        )
    row = await repo.add(
        ApiKey(
            user_id=user_id,
            name=clean_name,
            prefix=key_prefix(plaintext),
            lookup_digest=lookup_digest(plaintext, pepper),
            key_hash=key_hash,
            created_at=now,
        )
    )
    await record_event(
        session, event, at=now, user_id=user_id, address=address, detail=f"key {row.prefix}"
    )
    return NewApiKey(row=row, plaintext=plaintext)


async def revoke_api_key(
    session: AsyncSession,
    *,
    user_id: int,
    key_id: int,
    now: datetime,
    address: str | None = None,
) -> ApiKey:
    repo = ApiKeyRepository(session)
    row = await repo.get_for_user(user_id, key_id)
    if row is None:
        raise NotFound("no such API key")
    if row.revoked_at is None:
        row.revoked_at = now
        await session.flush()
        await record_event(
            session,
            AuditEvent.APIKEY_REVOKED,
            at=now,
            user_id=user_id,
            address=address,
            detail=f"key {row.prefix}",
        )
        await bump_auth_counter(session)
    return row


async def rotate_api_key(
    session: AsyncSession,
    *,
    user_id: int,
    key_id: int,
    pepper: str,
    now: datetime,
    address: str | None = None,
) -> NewApiKey:
    """Revoke one key and issue its replacement (same name) in one transaction."""
    old = await ApiKeyRepository(session).get_for_user(user_id, key_id)
    if old is None or old.revoked_at is not None:
        raise NotFound("no such active API key")
    await revoke_api_key(session, user_id=user_id, key_id=key_id, now=now, address=address)
    return await create_api_key(
        session,
        user_id=user_id,
        pepper=pepper,
        now=now,
        name=old.name,
        address=address,
        event=AuditEvent.APIKEY_ROTATED,
    )


async def keys_by_prefix(session: AsyncSession, *, user_id: int, prefix: str) -> Sequence[ApiKey]:
    return await ApiKeyRepository(session).active_by_prefix(user_id, prefix.lower())


async def list_api_keys(session: AsyncSession, *, user_id: int) -> Sequence[ApiKey]:
    return await ApiKeyRepository(session).for_user(user_id)
