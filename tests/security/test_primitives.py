"""The small pure pieces: daily boundary, client address resolution, derived keys, encryption at
rest, signed session tokens, CSRF tokens, TOTP, and constant-time comparison everywhere."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import pytest

from openalgo.domain.clock import IST
from openalgo.security import digests, totp
from openalgo.security.apikeys import (
    generate_api_key,
    is_well_formed,
    key_prefix,
    lookup_digest,
)
from openalgo.security.clientaddr import (
    AddressSet,
    client_from_forwarded,
    normalize,
    parse_networks,
)
from openalgo.security.crypto import SecretBox, UndecryptableSecret
from openalgo.security.csrf import CsrfProtector
from openalgo.security.expiry import next_expiry, parse_hhmm
from openalgo.security.sessions import SessionCodec
from openalgo.settings import Settings

SECRET = "s" * 64


# --- daily boundary ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now_ist", "boundary", "expected_ist"),
    [
        (datetime(2026, 12, 1, 2, 59), time(3, 0), datetime(2026, 12, 1, 3, 0)),
        (datetime(2026, 12, 1, 3, 0), time(3, 0), datetime(2026, 12, 2, 3, 0)),
        (datetime(2026, 12, 1, 10, 0), time(3, 0), datetime(2026, 12, 2, 3, 0)),
        (datetime(2026, 12, 31, 23, 0), time(3, 0), datetime(2027, 1, 1, 3, 0)),
        (datetime(2026, 12, 1, 10, 0), time(15, 30), datetime(2026, 12, 1, 15, 30)),
    ],
)
def test_next_expiry(now_ist: datetime, boundary: time, expected_ist: datetime) -> None:
    now = now_ist.replace(tzinfo=IST).astimezone(UTC)
    assert next_expiry(now, boundary) == expected_ist.replace(tzinfo=IST)


def test_next_expiry_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_expiry(datetime(2026, 1, 1), time(3, 0))


@pytest.mark.parametrize("text", ["3", "25:00", "03:60", "3:0", "03-00", "", "ab:cd", "003:00"])
def test_bad_expiry_times(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hhmm(text)
    with pytest.raises(ValueError, match="session_expiry_time"):
        Settings(_env_file=None, session_expiry_time=text)


def test_good_expiry_times() -> None:
    assert parse_hhmm("03:00") == time(3, 0)
    assert parse_hhmm(" 9:15 ") == time(9, 15)


# --- client address --------------------------------------------------------------------------------


TRUSTED = AddressSet.parse("10.0.0.0/8, 127.0.0.1")


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # untrusted peer: header ignored
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
        ("127.0.0.1", "1.1.1.1, 198.51.100.7", "198.51.100.7"),  # the hop our proxy saw
        ("127.0.0.1", "198.51.100.7, 10.1.2.3", "198.51.100.7"),  # skip our own inner proxy
        ("127.0.0.1", "10.1.1.1, 10.2.2.2", "10.1.1.1"),  # all ours: left-most
        ("127.0.0.1", "not-an-ip", "127.0.0.1"),
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
        ("::ffff:127.0.0.1", "198.51.100.7", "198.51.100.7"),
        ("127.0.0.1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_from_forwarded(peer: str, header: str | None, expected: str) -> None:
    assert client_from_forwarded(peer, header, TRUSTED) == expected


def test_address_set_and_parsing() -> None:
    assert "10.200.3.4" in TRUSTED and "11.0.0.1" not in TRUSTED and "garbage" not in TRUSTED
    assert not AddressSet.parse("")
    assert normalize("::ffff:1.2.3.4") == "1.2.3.4" and normalize("[::1]") == "::1"
    with pytest.raises(ValueError, match="not an IP address or network: 'example.com'"):
        parse_networks("127.0.0.1, example.com")
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings(_env_file=None, trusted_proxies="localhost")


# --- keys and encryption ---------------------------------------------------------------------------


def test_api_key_format() -> None:
    key = generate_api_key()
    assert is_well_formed(key) and len(key) == 64 and key == key.lower()
    assert key_prefix(key) == key[:8]
    assert generate_api_key() != key
    assert (
        not is_well_formed(key.upper())
        and not is_well_formed(key[:-1])
        and not is_well_formed(None)
    )


def test_lookup_digest_is_keyed_by_the_pepper() -> None:
    key = generate_api_key()
    assert lookup_digest(key, "p" * 64) != lookup_digest(key, "q" * 64)
    assert lookup_digest(key, "p" * 64) != digests.sha256_hex(key)
    assert len(lookup_digest(key, "p" * 64)) == 64


def test_derived_keys_differ_per_purpose_and_secret() -> None:
    a = digests.derive_key(SECRET, "csrf")
    assert a != digests.derive_key(SECRET, "session-jwt")
    assert a != digests.derive_key("t" * 64, "csrf")
    assert len(a) == 32


def test_secret_box_round_trip_and_refusals() -> None:
    box = SecretBox(SECRET)
    sealed = box.encrypt("access-token-123")
    assert "access-token-123" not in sealed
    assert box.decrypt(sealed) == "access-token-123"
    assert box.decrypt_json(box.encrypt_json({"api_secret": "x"})) == {"api_secret": "x"}
    with pytest.raises(UndecryptableSecret):
        SecretBox("t" * 64).decrypt(sealed)
    with pytest.raises(UndecryptableSecret):
        box.decrypt(sealed[:-6] + "AAAAAA")
    with pytest.raises(UndecryptableSecret):
        box.decrypt("not a token")
    with pytest.raises(UndecryptableSecret):
        box.decrypt_json(box.encrypt("[1, 2]"))


# --- signed session tokens ---------------------------------------------------------------------------


def test_session_tokens() -> None:
    codec = SessionCodec(SECRET)
    now = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    token = codec.issue(
        user_id=7, session_id="sid", expires_at=now + timedelta(hours=1), now=now, typ="session"
    )
    claims = codec.read(token, now=now, typ="session")
    assert claims is not None and (claims.user_id, claims.session_id) == (7, "sid")
    assert codec.read(token, now=now, typ="totp_pending") is None  # wrong purpose
    assert codec.read(token, now=now + timedelta(hours=1), typ="session") is None  # expired
    assert SessionCodec("t" * 64).read(token, now=now, typ="session") is None  # other secret
    head, body, sig = token.split(".")
    assert codec.read(f"{head}.{body}.{sig[::-1]}", now=now, typ="session") is None
    assert codec.read(None, now=now, typ="session") is None
    assert codec.read("x" * 5000, now=now, typ="session") is None
    # "alg": "none" tokens are refused.
    import base64
    import json

    none_head = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    assert codec.read(f"{none_head.decode()}.{body}.", now=now, typ="session") is None


def test_csrf_tokens() -> None:
    csrf = CsrfProtector(SECRET)
    cookie = csrf.new_cookie_value()
    token = csrf.token(cookie, "session-1")
    assert csrf.verify(cookie, "session-1", token)
    assert not csrf.verify(cookie, "session-2", token)
    assert not csrf.verify(cookie, None, token)
    assert not csrf.verify(csrf.new_cookie_value(), "session-1", token)
    assert not csrf.verify(None, "session-1", token)
    assert not csrf.verify(cookie, "session-1", None)
    assert not csrf.verify(cookie, "session-1", token[:-1])
    assert not CsrfProtector("t" * 64).verify(cookie, "session-1", token)


def test_totp_steps_and_replay() -> None:
    secret = totp.new_secret()
    now = datetime(2026, 12, 1, 4, 0, 10, tzinfo=UTC)
    code = totp.code_at(secret, now)
    step = totp.matching_step(secret, code, now, None)
    assert step == int(now.timestamp()) // 30
    assert totp.matching_step(secret, code, now + timedelta(seconds=30), None) == step  # drift
    assert totp.matching_step(secret, code, now + timedelta(seconds=90), None) is None
    assert totp.matching_step(secret, code, now, step) is None  # replay
    assert totp.matching_step(secret, f"{code[:3]} {code[3:]}", now, None) == step
    assert totp.matching_step(secret, "12345", now, None) is None
    assert totp.matching_step(secret, "abcdef", now, None) is None
    assert totp.provisioning_uri(secret, "admin").startswith("otpauth://totp/openalgo:admin?")


# --- constant-time comparison --------------------------------------------------------------------------


@pytest.fixture
def compare_spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Record every hmac.compare_digest call (the real one still decides)."""
    calls: list[tuple[bytes, bytes]] = []
    real: Callable[[bytes, bytes], bool] = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def test_secret_comparisons_are_constant_time(compare_spy: list[tuple[bytes, bytes]]) -> None:
    csrf = CsrfProtector(SECRET)
    cookie = csrf.new_cookie_value()
    token = csrf.token(cookie, None)
    assert not csrf.verify(cookie, None, "f" * 64)
    assert csrf.verify(cookie, None, token)
    assert len(compare_spy) == 2
    compare_spy.clear()

    secret = totp.new_secret()
    now = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    totp.matching_step(secret, "000000", now, None)
    # Every candidate step is compared, matching or not, so timing shows nothing.
    assert len(compare_spy) == 2 * totp.DRIFT_STEPS + 1
