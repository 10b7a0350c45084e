"""Password hashing: Argon2id over ``password + pepper``.

The pepper lives outside the database (settings / the secrets file), so a stolen database alone does
not allow offline guessing. The concatenation order (pepper last) is OpenAlgo's, which keeps hashes
portable between the two systems given the same pepper.
"""

from __future__ import annotations

import re

from passlib.hash import argon2

from openalgo.errors import ValidationFailed

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
_SPECIALS = "!@#$%^&*"


def hash_password(password: str, pepper: str) -> str:
    return str(argon2.hash(password + pepper))  # type: ignore[no-untyped-call]


def verify_password(password: str, pepper: str, password_hash: str) -> bool:
    try:
        return bool(argon2.verify(password + pepper, password_hash))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        return False


def password_problems(password: str) -> list[str]:
    """What makes a password too weak; empty when it is acceptable."""
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"at most {MAX_PASSWORD_LENGTH} characters")
    if not re.search(r"[A-Z]", password):
        problems.append("an upper-case letter")
    if not re.search(r"[a-z]", password):
        problems.append("a lower-case letter")
    if not re.search(r"[0-9]", password):
        problems.append("a digit")
    if not any(c in _SPECIALS for c in password):
        problems.append(f"one of {_SPECIALS}")
    return problems


def require_strong_password(password: str) -> None:
    problems = password_problems(password)
    if problems:
        raise ValidationFailed(
            "password too weak: it needs " + ", ".join(problems),
            errors={"password": [f"needs {p}" for p in problems]},
        )
