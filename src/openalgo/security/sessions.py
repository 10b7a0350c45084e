"""Signed cookies for the admin pages (JWT, HS256, via python-jose).

Two kinds of token share the codec, told apart by ``typ``: a *session* token (names a random session
id whose digest is a row in ``web_sessions``; valid until the daily boundary) and a short *pending*
token issued between the password and TOTP steps, which grants nothing but the right to present a
code. Expiry is checked against our `Clock`, not the library's wall clock, so tests can move time.
The signing key is derived from the application secret for this purpose alone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from jose import JWTError, jwt

from openalgo.security.digests import derive_key, sha256_hex

SESSION_COOKIE = "openalgo_session"
PENDING_COOKIE = "openalgo_pending"
TokenType = Literal["session", "totp_pending"]
_ALGORITHM = "HS256"


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_digest(session_id: str) -> str:
    return sha256_hex(session_id)


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    session_id: str
    expires_at: int
    typ: TokenType


class SessionCodec:
    def __init__(self, app_secret: str) -> None:
        self._key = derive_key(app_secret, "session-jwt").hex()

    def issue(
        self, *, user_id: int, session_id: str, expires_at: datetime, now: datetime, typ: TokenType
    ) -> str:
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "sid": session_id,
            "typ": typ,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        return str(jwt.encode(claims, self._key, algorithm=_ALGORITHM))

    def read(self, token: str | None, *, now: datetime, typ: TokenType) -> Claims | None:
        """The claims of a well-signed, unexpired token of the given type; None otherwise."""
        if not token or len(token) > 4096:
            return None
        try:
            data = jwt.decode(
                token, self._key, algorithms=[_ALGORITHM], options={"verify_exp": False}
            )
        except (JWTError, ValueError, TypeError):
            return None
        if not isinstance(data, dict) or data.get("typ") != typ:
            return None
        sub, sid, exp = data.get("sub"), data.get("sid"), data.get("exp")
        if not (isinstance(sub, str) and sub.isdigit() and isinstance(sid, str)):
            return None
        if not isinstance(exp, int) or exp <= now.timestamp():
            return None
        return Claims(user_id=int(sub), session_id=sid, expires_at=exp, typ=typ)
