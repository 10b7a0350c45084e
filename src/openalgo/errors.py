"""The one error hierarchy of the service.

Every expected failure is an `OpenAlgoError` carrying its HTTP status; one handler in `api/errors.py`
renders it in OpenAlgo's envelope ``{"status": "error", "message": ...}``. Code below the API layer
raises these and never builds HTTP responses itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class ConfigError(Exception):
    """The service cannot start as configured. The CLI prints it on one line and exits with 2."""


class OpenAlgoError(Exception):
    """Base of every error that reaches a client."""

    status_code: ClassVar[int] = 500
    default_message: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON envelope: status and message first, then any extra fields."""
        return {"status": "error", "message": self.message, **self.extra}


class BadRequest(OpenAlgoError):
    status_code = 400
    default_message = "Bad request"


class ValidationFailed(BadRequest):
    """A request or an argument failed validation; ``errors`` maps field names to messages."""

    default_message = "Validation error"

    def __init__(
        self, message: str | None = None, *, errors: Mapping[str, list[str]] | None = None
    ) -> None:
        super().__init__(message, extra={"errors": dict(errors)} if errors else None)
        self.errors: dict[str, list[str]] = dict(errors or {})

    @classmethod
    def field(cls, field: str, problem: str) -> ValidationFailed:
        """One field's problem, named in the message as every validation error is:
        ``"symbol: unknown symbol SBIN1 on NSE"`` with ``errors = {"symbol": [problem]}``."""
        return cls(f"{field}: {problem}", errors={field: [problem]})


class Unauthorized(OpenAlgoError):
    status_code = 401
    default_message = "Authentication required"


class Forbidden(OpenAlgoError):
    status_code = 403
    default_message = "Forbidden"


class InvalidApiKey(Forbidden):
    default_message = "Invalid openalgo apikey"


class NotFound(OpenAlgoError):
    status_code = 404
    default_message = "Not found"


class MethodNotAllowed(OpenAlgoError):
    status_code = 405
    default_message = "Method not allowed"


class Conflict(OpenAlgoError):
    status_code = 409
    default_message = "Conflict"


class PayloadTooLarge(OpenAlgoError):
    status_code = 413
    default_message = "Request body too large"


class RateLimited(OpenAlgoError):
    status_code = 429
    default_message = "Rate limit exceeded. Please slow down your requests."


class ServiceUnavailable(OpenAlgoError):
    status_code = 503
    default_message = "Service unavailable"
