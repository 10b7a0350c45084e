"""API keys: many per user, each stored as a lookup digest plus an Argon2 hash, never in clear.

``lookup_digest`` is HMAC-SHA256 of the key under the server pepper: a unique index on it turns
verification into one indexed lookup (OpenAlgo instead Argon2-checks the key against every stored
hash). The Argon2 hash of ``key + pepper`` is then checked as a second, slow-to-attack factor. A
revoked key keeps its row (and digest) for the audit trail.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from openalgo.db.base import Base, BigId, IdMixin, UTCDateTime, utcnow


class ApiKey(IdMixin, Base):
    __tablename__ = "api_keys"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(80), default="", nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    lookup_digest: Mapped[str] = mapped_column(String(64), unique=True, index=True, nullable=False)
    key_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
