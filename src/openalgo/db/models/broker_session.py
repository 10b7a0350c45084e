"""Broker credentials and broker login sessions, encrypted at rest (see `security/crypto.py`).

A broker session holds the access token a broker issued at login; it expires at the daily boundary
(``OPENALGO_SESSION_EXPIRY_TIME``), after which the API answers "broker session expired". One row
per (user, broker): logging in again replaces the tokens.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openalgo.db.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime


class BrokerSession(IdMixin, TimestampMixin, Base):
    __tablename__ = "broker_sessions"
    __table_args__ = (UniqueConstraint("user_id", "broker"),)

    # The (user_id, broker) unique constraint doubles as the index for per-user lookups.
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    broker: Mapped[str] = mapped_column(String(32), nullable=False)
    auth_token_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    feed_token_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    broker_user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class BrokerCredential(IdMixin, TimestampMixin, Base):
    """A user's API key/secret (and whatever else) for one broker, as one encrypted JSON object."""

    __tablename__ = "broker_credentials"
    __table_args__ = (UniqueConstraint("user_id", "broker"),)

    # The (user_id, broker) unique constraint doubles as the index for per-user lookups.
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    broker: Mapped[str] = mapped_column(String(32), nullable=False)
    secrets_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
