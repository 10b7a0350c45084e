"""Encryption at rest for broker credentials, broker session tokens and TOTP secrets.

Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp) from ``cryptography``; the key is derived from
the application secret with HKDF under its own label, so it is never stored anywhere. Changing
``OPENALGO_SECRET_KEY`` therefore makes stored ciphertext unreadable: broker sessions expire daily
anyway, and stored broker credentials and TOTP secrets must then be entered again. A value that does
not decrypt raises `UndecryptableSecret` instead of passing garbage on.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from openalgo.security.digests import derive_key


class UndecryptableSecret(Exception):
    """A stored secret no longer decrypts (the application secret changed, or it was tampered with)."""


class SecretBox:
    def __init__(self, app_secret: str) -> None:
        key = derive_key(app_secret, "fernet-at-rest")
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str, *, ttl: int | None = None) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii"), ttl=ttl).decode()
        except (InvalidToken, ValueError, UnicodeError) as exc:
            raise UndecryptableSecret("stored secret does not decrypt") from exc

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True))

    def decrypt_json(self, token: str) -> dict[str, Any]:
        data = json.loads(self.decrypt(token))
        if not isinstance(data, dict):
            raise UndecryptableSecret("stored secret is not an object")
        return data
