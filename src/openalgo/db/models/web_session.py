"""Admin web sessions. The cookie carries a signed JWT naming a random session id; only a SHA-256
digest of that id is stored, so a copy of the table cannot be turned into a working cookie. A row can
be revoked (logout, password change, too many sessions) before its daily expiry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from openalgo.db.base import Base, BigId, IdMixin, UTCDateTime, utcnow


class WebSession(IdMixin, Base):
    __tablename__ = "web_sessions"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    session_digest: Mapped[str] = mapped_column(String(64), unique=True, index=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(200), nullable=True)
