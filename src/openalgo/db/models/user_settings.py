"""Per-user settings read on every API call: the active broker and analyzer (sandbox) mode.

OpenAlgo keeps analyzer mode as one global flag; here each user has their own. A user without a row
has the defaults (broker ``simulator``, analyzer off), so creating a user needs no extra write.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from openalgo.db.base import Base, BigId, UTCDateTime, utcnow

DEFAULT_BROKER = "simulator"


class UserSettings(Base):
    __tablename__ = "user_settings"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    broker: Mapped[str] = mapped_column(
        String(32), default=DEFAULT_BROKER, server_default=DEFAULT_BROKER, nullable=False
    )
    analyzer_mode: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )
