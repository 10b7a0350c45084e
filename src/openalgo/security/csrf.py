"""CSRF protection for the admin pages: signed double-submit tokens bound to the session.

Every page sets a random, HttpOnly ``openalgo_csrf`` cookie; each form carries
``HMAC(key, cookie | session id)``. A cross-site form can make the browser send the cookie but cannot
read it, so it cannot compute the token; binding the session id means a token stolen before login is
useless after it. The comparison is constant-time. The API (``/api/v1``) is exempt: it is
authenticated by API key, never by cookie.
"""

from __future__ import annotations

import secrets

from openalgo.security.digests import constant_time_equals, derive_key, hmac_hex

CSRF_COOKIE = "openalgo_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class CsrfProtector:
    def __init__(self, app_secret: str) -> None:
        self._key = derive_key(app_secret, "csrf")

    @staticmethod
    def new_cookie_value() -> str:
        return secrets.token_urlsafe(32)

    def token(self, cookie_value: str, session_id: str | None) -> str:
        return hmac_hex(self._key, f"{cookie_value}|{session_id or ''}")

    def verify(
        self, cookie_value: str | None, session_id: str | None, submitted: str | None
    ) -> bool:
        if not cookie_value or not submitted or len(submitted) != 64:
            return False
        return constant_time_equals(self.token(cookie_value, session_id), submitted)
