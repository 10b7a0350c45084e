"""Users of the gateway. Every user-owned row elsewhere points here."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from openalgo.db.base import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # Second factor (issue 5): the TOTP secret, Fernet-encrypted; the last accepted time step stops
    # a code from being replayed inside its 30-second window.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    totp_enabled: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), nullable=False
    )
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
