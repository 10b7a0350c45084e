"""Abuse control and the security audit trail.

``ip_bans`` survives restarts (each process also keeps the active bans in memory so a banned address
is refused before any other work). ``security_events`` records logins, failures, key changes, bans and
password changes. ``change_counters`` holds one number per topic that writers bump; every process
polls it, which is how a key revoked from the CLI stops working in a running server within a second.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from openalgo.db.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, utcnow


class IpBan(IdMixin, TimestampMixin, Base):
    __tablename__ = "ip_bans"

    address: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    # NULL: permanent (only set by an admin; automatic bans always expire).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ban_count: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class SecurityEvent(IdMixin, Base):
    __tablename__ = "security_events"

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, index=True, nullable=False
    )
    event: Mapped[str] = mapped_column(String(40), index=True, nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True, nullable=True
    )
    # The name that was tried, even when no such user exists (failed logins).
    username: Mapped[str | None] = mapped_column(String(80), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(String(300), nullable=True)


class ChangeCounter(Base):
    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
