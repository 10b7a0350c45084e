"""Broker sessions and credentials: stored encrypted, expiring at the daily boundary.

A broker login (a later issue's adapters) calls `store_broker_session` with the tokens the broker
issued; every broker-backed API call then asks `require_broker_session`, which answers with the
decrypted tokens or raises `AuthExpired` ("Broker session expired, log in again") once the daily
boundary (``OPENALGO_SESSION_EXPIRY_TIME``, IST) has passed. Venues that need no login (the built-in
simulator) never have a session and never expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.brokers.base import AuthExpired, BrokerConfigError
from openalgo.db.models.broker_session import BrokerCredential, BrokerSession
from openalgo.db.repositories.broker_sessions import (
    BrokerCredentialRepository,
    BrokerSessionRepository,
)
from openalgo.security.audit import AuditEvent, record_event
from openalgo.security.crypto import SecretBox, UndecryptableSecret
from openalgo.security.expiry import next_expiry

# Venues that trade without a broker login. Kept here until the broker registry can say it
# through capabilities.
SESSIONLESS_BROKERS = frozenset({"simulator"})


@dataclass(frozen=True)
class BrokerTokens:
    broker: str
    auth_token: str
    feed_token: str | None
    broker_user_id: str | None
    expires_at: datetime


async def store_broker_session(
    session: AsyncSession,
    box: SecretBox,
    *,
    user_id: int,
    broker: str,
    auth_token: str,
    now: datetime,
    expiry_time: time,
    feed_token: str | None = None,
    broker_user_id: str | None = None,
) -> BrokerSession:
    """Save (or replace) the user's session for ``broker``; it lasts until the next boundary."""
    repo = BrokerSessionRepository(session)
    row = await repo.get(user_id, broker)
    expires_at = next_expiry(now, expiry_time)
    encrypted_feed = box.encrypt(feed_token) if feed_token else None
    if row is None:
        row = await repo.add(
            BrokerSession(
                user_id=user_id,
                broker=broker,
                auth_token_encrypted=box.encrypt(auth_token),
                feed_token_encrypted=encrypted_feed,
                broker_user_id=broker_user_id,
                expires_at=expires_at,
            )
        )
    else:
        row.auth_token_encrypted = box.encrypt(auth_token)
        row.feed_token_encrypted = encrypted_feed
        row.broker_user_id = broker_user_id
        row.expires_at = expires_at
        row.revoked_at = None
        await session.flush()
    await record_event(
        session, AuditEvent.BROKER_SESSION_STORED, at=now, user_id=user_id, detail=broker
    )
    return row


async def require_broker_session(
    session: AsyncSession, box: SecretBox, *, user_id: int, broker: str, now: datetime
) -> BrokerTokens | None:
    """The live tokens for ``broker``; None for session-less venues; `AuthExpired` otherwise."""
    if broker in SESSIONLESS_BROKERS:
        return None
    row = await BrokerSessionRepository(session).get(user_id, broker)
    if row is None or row.revoked_at is not None:
        raise AuthExpired(f"No {broker} session: log in to {broker} again")
    if row.expires_at <= now:
        raise AuthExpired()
    try:
        auth_token = box.decrypt(row.auth_token_encrypted)
        feed_token = box.decrypt(row.feed_token_encrypted) if row.feed_token_encrypted else None
    except UndecryptableSecret as exc:
        # The application secret changed since this login: the tokens are unusable.
        raise AuthExpired(f"Stored {broker} session is unreadable: log in again") from exc
    return BrokerTokens(
        broker=broker,
        auth_token=auth_token,
        feed_token=feed_token,
        broker_user_id=row.broker_user_id,
        expires_at=row.expires_at,
    )


async def revoke_broker_session(
    session: AsyncSession, *, user_id: int, broker: str, now: datetime
) -> bool:
    row = await BrokerSessionRepository(session).get(user_id, broker)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    await session.flush()
    await record_event(
        session, AuditEvent.BROKER_SESSION_REVOKED, at=now, user_id=user_id, detail=broker
    )
    return True


async def save_broker_credentials(
    session: AsyncSession, box: SecretBox, *, user_id: int, broker: str, secrets: dict[str, Any]
) -> BrokerCredential:
    repo = BrokerCredentialRepository(session)
    row = await repo.get(user_id, broker)
    if row is None:
        return await repo.add(
            BrokerCredential(
                user_id=user_id, broker=broker, secrets_encrypted=box.encrypt_json(secrets)
            )
        )
    row.secrets_encrypted = box.encrypt_json(secrets)
    await session.flush()
    return row


async def load_broker_credentials(
    session: AsyncSession, box: SecretBox, *, user_id: int, broker: str
) -> dict[str, Any] | None:
    row = await BrokerCredentialRepository(session).get(user_id, broker)
    if row is None:
        return None
    try:
        return box.decrypt_json(row.secrets_encrypted)
    except UndecryptableSecret as exc:
        raise BrokerConfigError(
            f"stored {broker} credentials do not decrypt (was OPENALGO_SECRET_KEY changed?): "
            "enter them again"
        ) from exc
