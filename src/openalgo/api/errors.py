"""The single place where exceptions become HTTP responses, all in one envelope.

Every error is ``{"status": "error", "message": "<field>: <problem>"}``; validation errors add
``"errors": {field: [problems]}``; requests served by the sandbox add ``"mode": "analyze"``.
OpenAlgo has four shapes of ``message`` (a dict, the ``str()`` of a dict, "Validation error" or
"Validation failed" plus ``errors``) and answers malformed JSON with a 500; we have one shape and
answer every client mistake with a 4xx (see docs/api.md).

- `OpenAlgoError` and subclasses: their own status and message.
- Request validation (FastAPI/pydantic): 400, with a message naming each field and the problem.
  Malformed JSON, a missing body, a body that is not a JSON object and a non-JSON content type are
  400 too, each with its own sentence.
- Starlette's 404/405/413: the envelope with the same status.
- Anything else: 500 with a generic message; the traceback goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection

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

# Key in the request's ASGI state: the mode ("analyze") a sandbox-served request runs in. Whoever
# learns the user's mode (the API-key dependency) sets it; every response, errors included, then
# carries it, as OpenAlgo's sandbox responses do.
RESPONSE_MODE_STATE = "openalgo_response_mode"

MALFORMED_JSON = "Malformed JSON in request body"
MISSING_BODY = "Request body is missing: send a JSON object"
NOT_AN_OBJECT = "Request body must be a JSON object"
WRONG_CONTENT_TYPE = "Content-Type must be application/json"


def set_response_mode(conn: HTTPConnection, mode: str | None) -> None:
    """Mark the request as served in ``mode`` (``"analyze"``): its responses say so."""
    conn.scope.setdefault("state", {})[RESPONSE_MODE_STATE] = mode


def response_mode(conn: HTTPConnection) -> str | None:
    mode = conn.scope.get("state", {}).get(RESPONSE_MODE_STATE)
    return mode if isinstance(mode, str) else None


def error_body(
    message: str, *, errors: Mapping[str, list[str]] | None = None, mode: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "error", "message": message}
    if errors:
        body["errors"] = dict(errors)
    if mode:
        body["mode"] = mode
    return body


def error_response(
    status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(status_code=status, content=body, headers=dict(headers or {}) or None)


# --- validation messages ------------------------------------------------------------------------


def _field_name(loc: Sequence[Any], error: Mapping[str, Any] | None = None) -> str:
    # Drop the "body"/"query" prefix: clients know the field as `quantity`, not `body.quantity`.
    parts = list(loc)
    cause = (error or {}).get("ctx", {}).get("error")
    target = getattr(cause, "field", None)
    if isinstance(target, str):  # a cross-field rule names the field it blames
        parts.append(target)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def _limit(ctx: Mapping[str, Any], key: str) -> str:
    value = ctx.get(key)
    return format(value, "f") if hasattr(value, "as_tuple") else str(value)


# Fields the SDK's docstrings suggest for placeorder that no OpenAlgo endpoint takes. Ignoring them
# would leave a trader believing a stop-loss exists; refusing them says what to do instead.
_BRACKET_HINT = "bracket orders are not supported: place a separate SL or LIMIT order"
_UNKNOWN_FIELD_HINTS = {
    "target": _BRACKET_HINT,
    "stoploss": _BRACKET_HINT,
    "trailing_sl": _BRACKET_HINT,
}


def describe(error: Mapping[str, Any]) -> str:
    """One pydantic error as a short phrase: "field required", "must be an integer"."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    msg = str(error.get("msg", "invalid value"))
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        loc = tuple(error.get("loc", ()))
        hint = _UNKNOWN_FIELD_HINTS.get(str(loc[-1])) if loc else None
        return f"unknown field ({hint})" if hint else "unknown field"
    if kind == "string_type":
        return "must be a string"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"must be at least {n} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"must have at least {n} items"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "greater_than":
        return f"must be greater than {_limit(ctx, 'gt')}"
    if kind == "greater_than_equal":
        return f"must be at least {_limit(ctx, 'ge')}"
    if kind == "less_than":
        return f"must be less than {_limit(ctx, 'lt')}"
    if kind == "less_than_equal":
        return f"must be at most {_limit(ctx, 'le')}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a JSON object"
    if kind == "list_type":
        return "must be a list"
    if kind == "literal_error":
        return f"must be one of: {str(ctx.get('expected', '')).replace(' or ', ', ')}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be an integer"
    if kind in ("float_type", "float_parsing", "decimal_type", "decimal_parsing", "finite_number"):
        return "must be a number or a numeric string"
    if kind in ("bool_type", "bool_parsing"):
        return "must be a boolean (true or false)"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return msg


def _body_problem(exc: RequestValidationError, request: Request) -> str | None:
    """The sentence for a body that is unusable as a whole, or None if fields are at fault."""
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            return MALFORMED_JSON
        if loc != ("body",) or err.get("type") == "value_error":
            continue
        body = getattr(exc, "body", None)
        if isinstance(body, bytes | bytearray):
            return WRONG_CONTENT_TYPE
        if err.get("type") == "missing":
            length = request.headers.get("content-length")
            return NOT_AN_OBJECT if length not in (None, "0") else MISSING_BODY
        return NOT_AN_OBJECT
    return None


def validation_errors(errors: Sequence[Any]) -> tuple[str, dict[str, list[str]]]:
    """Turn pydantic errors into (message, {field: [problems]})."""
    by_field: dict[str, list[str]] = {}
    for err in errors:
        if err.get("type") == "json_invalid":
            return MALFORMED_JSON, {"body": ["malformed JSON"]}
        problems = by_field.setdefault(_field_name(err.get("loc", ()), err), [])
        phrase = describe(err)
        if phrase not in problems:
            problems.append(phrase)
    message = "; ".join(
        f"{field}: {', '.join(m.rstrip('.') for m in msgs)}" for field, msgs in by_field.items()
    )
    return message or "Invalid request", by_field


# --- handlers -----------------------------------------------------------------------------------


async def _openalgo_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OpenAlgoError)
    if exc.status_code >= 500:
        log.error("request failed: %s", exc.message)
    body = exc.body()
    mode = response_mode(request)
    if mode and "mode" not in body:
        body["mode"] = mode
    return error_response(exc.status_code, body, exc.headers)


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    mode = response_mode(request)
    problem = _body_problem(exc, request)
    if problem is not None:
        return error_response(400, error_body(problem, errors={"body": [problem]}, mode=mode))
    message, by_field = validation_errors(exc.errors())
    return error_response(400, error_body(message, errors=by_field, mode=mode))


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else None
    if message is None or message == _default_phrase(exc.status_code):
        message = _HTTP_MESSAGES.get(exc.status_code, "Error")
    body = error_body(message, mode=response_mode(request))
    return error_response(exc.status_code, body, dict(exc.headers) if exc.headers else None)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, error_body("Internal server error", mode=response_mode(request)))


def _default_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OpenAlgoError, _openalgo_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, _unhandled)
