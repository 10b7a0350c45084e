"""Logging: one setup for the service, text or JSON lines, with secrets redacted.

The redaction filter sits on the handler, not on a logger, so it sees every record that is written,
including those of uvicorn, SQLAlchemy and third-party libraries that propagate to the root. It
rewrites the final message (after %-formatting, so secrets passed as arguments are caught too) and
the formatted exception text, which OpenAlgo's filter misses.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import IO, Final

REDACTED: Final = "[REDACTED]"

_KEY_NAMES = (
    r"api[_-]?key(?:_pepper)?|x-api-key|app[_-]?key|secret[_-]?key|client[_-]?secret|secret|pepper"
    r"|password|passwd|pwd|access[_-]?token|refresh[_-]?token|request[_-]?token|feed[_-]?token"
    r"|session[_-]?token|auth[_-]?token|enctoken|jwt[_-]?token|token|authorization|totp(?:[_-]?secret)?"
    r"|pin|cookie"
)
# key=value, key: value, "key": "value", 'key': 'value' -- the value stops at a quote, space,
# comma, semicolon, ampersand or closing bracket.
_KEY_VALUE = re.compile(
    rf"""(?P<key>["']?\b(?:{_KEY_NAMES})\b["']?\s*[:=]\s*)(?P<quote>["']?)(?!\[REDACTED\])(?P<value>[^"'\s,;&}}\]\)]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(
    r"\b(Bearer|Basic|token)\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=:-]{8,}", re.IGNORECASE
)
# An Authorization header's whole value is secret, whatever its scheme.
_AUTH_HEADER = re.compile(
    r"""(?P<key>["']?\b(?:proxy-)?authorization\b["']?\s*[:=]\s*["']?)(?!\[REDACTED\])[^"'\r\n,}]+""",
    re.IGNORECASE,
)
# A bare OpenAlgo API key (64 hex characters) is a secret wherever it appears.
_HEX_KEY = re.compile(r"\b[0-9a-fA-F]{64}\b")
# Passwords inside database URLs: scheme://user:password@host
_URL_PASSWORD = re.compile(
    r"(?P<prefix>\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s/]+)(?=@)", re.I
)


def redact(text: str) -> str:
    """Remove secrets from a piece of text."""
    text = _URL_PASSWORD.sub(lambda m: m.group("prefix") + REDACTED, text)
    text = _AUTH_HEADER.sub(lambda m: m.group("key") + REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _KEY_VALUE.sub(lambda m: m.group("key") + m.group("quote") + REDACTED, text)
    return _HEX_KEY.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrite each record so that its message, arguments and traceback carry no secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw parts so nothing is lost
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message and, when present, exception."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return json.dumps(payload, ensure_ascii=False)


TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_NOISY = (
    "httpx",
    "httpcore",
    "asyncio",
    "aiosqlite",
    "websockets",
    "multipart",
    "passlib",
    "alembic.runtime",
)


def setup_logging(
    level: str = "INFO", fmt: str = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """Configure the root logger once; later calls replace the previous handler.

    Returns the installed handler so tests and the CLI can inspect or remove it.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter())
    handler.set_name("openalgo")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "openalgo":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # uvicorn installs its own handlers unless told otherwise; route its records through ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    return handler
