"""The single place where exceptions become HTTP responses, all in OpenAlgo's envelope.

- `OpenAlgoError` and subclasses: their own status and message.
- Request validation (FastAPI/pydantic): 400, with a message naming the field and ``errors`` per field.
  Malformed JSON is a 400 too (OpenAlgo answers 500).
- Starlette's 404/405: the envelope with the same status.
- Anything else: 500 with a generic message; the traceback goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openalgo.errors import OpenAlgoError

log = logging.getLogger("openalgo.api")

_HTTP_MESSAGES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Unsupported media type",
}


def error_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(status_code=status, content=body, headers=headers)


def _field_name(loc: Sequence[Any]) -> str:
    # Drop the "body"/"query" prefix: clients know the field as `quantity`, not `body.quantity`.
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_errors(errors: Sequence[Any]) -> tuple[str, dict[str, list[str]]]:
    """Turn pydantic errors into (message, {field: [messages]})."""
    by_field: dict[str, list[str]] = {}
    for err in errors:
        if err.get("type") == "json_invalid":
            return "Malformed JSON in request body", {"body": ["Malformed JSON"]}
        by_field.setdefault(_field_name(err.get("loc", ())), []).append(
            str(err.get("msg", "invalid"))
        )
    message = "; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in by_field.items())
    return message or "Invalid request", by_field


async def _openalgo_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OpenAlgoError)
    if exc.status_code >= 500:
        log.error("request failed: %s", exc.message)
    return error_response(exc.status_code, exc.body(), exc.headers or None)


async def _request_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, by_field = validation_errors(exc.errors())
    return error_response(400, {"status": "error", "message": message, "errors": by_field})


async def _http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else None
    if message is None or message == _default_phrase(exc.status_code):
        message = _HTTP_MESSAGES.get(exc.status_code, "Error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, {"status": "error", "message": message}, headers)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, {"status": "error", "message": "Internal server error"})


def _default_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OpenAlgoError, _openalgo_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, _unhandled)
