"""Keyed digests, derived keys and constant-time comparison: the primitives under every secret.

One application secret (``OPENALGO_SECRET_KEY``) signs cookies, CSRF tokens and encrypts broker
tokens; each use gets its own key through HKDF with a distinct label, so a token minted for one
purpose can never be replayed for another. Every comparison of a secret value goes through
`constant_time_equals` so response timing says nothing about how many characters matched.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT = b"openalgo/v1"


def derive_key(secret: str, purpose: str, length: int = 32) -> bytes:
    """A key for one purpose (e.g. ``"session-jwt"``) derived from the application secret."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=purpose.encode())
    return hkdf.derive(secret.encode())


def hmac_hex(key: bytes | str, message: str) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, message.encode(), hashlib.sha256).hexdigest()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """Equality whose duration does not depend on where the inputs differ."""
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)
