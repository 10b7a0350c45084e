from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from openalgo.logging import REDACTED, redact, setup_logging

KEY = "a3f1" * 16  # 64 hex characters, the shape of an OpenAlgo API key


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = setup_logging("DEBUG", "text", stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def test_secret_in_message(captured: io.StringIO) -> None:
    logging.getLogger("t").info("login password=hunter2 for user bob")
    out = captured.getvalue()
    assert "hunter2" not in out
    assert f"password={REDACTED}" in out
    assert "user bob" in out


def test_secret_in_arguments(captured: io.StringIO) -> None:
    logging.getLogger("t").warning("payload %s", {"apikey": KEY, "symbol": "SBIN"})
    out = captured.getvalue()
    assert KEY not in out
    assert "SBIN" in out


def test_secret_in_exception_text(captured: io.StringIO) -> None:
    try:
        raise RuntimeError(f"broker said: access_token=tok_secret_123 api_key: {KEY}")
    except RuntimeError:
        logging.getLogger("t").exception("broker call failed")
    out = captured.getvalue()
    assert "tok_secret_123" not in out
    assert KEY not in out
    assert "RuntimeError" in out and "broker call failed" in out


def test_json_lines_are_redacted(captured: io.StringIO) -> None:
    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream)
    try:
        logging.getLogger("json").info("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def")
    finally:
        logging.getLogger().removeHandler(handler)
    record = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert record["level"] == "INFO"
    assert record["logger"] == "json"
    assert "eyJhbGci" not in record["message"]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"apikey": "' + KEY + '"}', KEY),
        ("{'password': 'p@ss:w0rd'}", "p@ss:w0rd"),
        ("X-API-KEY: abcdef123456", "abcdef123456"),
        ("Authorization: token myapi:myaccess", "myapi:myaccess"),
        ("Bearer abc.def.ghi123456", "abc.def.ghi123456"),
        ("postgresql://user:s3cr3t@db:5432/x", "s3cr3t"),
        ("secret_key=abc123&x=1", "abc123"),
        ("feed_token=FT999", "FT999"),
        (f"bare key {KEY} in text", KEY),
    ],
)
def test_redact_patterns(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "placed order 25102800000006 BUY 10 SBIN@NSE at 812.35"
    assert redact(text) == text
