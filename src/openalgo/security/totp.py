"""TOTP second factor (RFC 6238, 30-second steps, 6 digits) via pyotp.

A code is accepted for the current step and one step either side (clock drift), and never twice:
the last accepted step is stored on the user, so a code seen over someone's shoulder cannot be
replayed in the same minute.
"""

from __future__ import annotations

from datetime import datetime

import pyotp

from openalgo.security.digests import constant_time_equals

ISSUER = "openalgo"
STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    return str(pyotp.random_base32())


def provisioning_uri(secret: str, username: str) -> str:
    return str(pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER))


def code_at(secret: str, when: datetime) -> str:
    return str(pyotp.TOTP(secret).at(when))


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to, if it is valid now and newer than ``last_step``."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    found: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Check every candidate (no early exit) so timing does not reveal which one matched.
        if constant_time_equals(str(totp.generate_otp(step)), code):
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found
