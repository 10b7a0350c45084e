"""Authentication dependencies of the HTTP edge.

- `ApiUser`: the `ApiPrincipal` of the request's API key, for every ``/api/v1`` route. The key is
  read from the JSON body field ``apikey`` (OpenAlgo's convention; query parameter ``apikey`` on GET),
  or from the ``X-API-KEY`` header. The body is read through Starlette's cached ``request.json()``,
  which FastAPI itself uses, so a route may still declare a pydantic body model (with an optional
  ``apikey`` field of its own). A missing, malformed, unknown or revoked key is a 403
  ``{"status":"error","message":"Invalid openalgo apikey"}`` and counts towards a ban of the address.
- `BrokerSessionDep`: the decrypted tokens of the principal's broker session (None for the
  simulator), or a 403 "Broker session expired, log in again".
- `CurrentUser` / `AdminUser`: the signed-in admin-page user (session cookie), or a redirect to the
  login page (``/api/`` paths get a 401 envelope instead).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.security import APIKeyHeader
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection

from openalgo.api.deps import ReadSessionDep, get_read_sessionmaker, get_runtime
from openalgo.db.models.user import User
from openalgo.db.models.web_session import WebSession
from openalgo.db.session import SessionOpener
from openalgo.errors import BadRequest, Forbidden, InvalidApiKey, ServiceUnavailable, Unauthorized
from openalgo.security.apikeys import ApiPrincipal
from openalgo.security.bans import FailureKind
from openalgo.security.middleware import client_address
from openalgo.security.runtime import SecurityRuntime
from openalgo.security.sessions import SESSION_COOKIE
from openalgo.services.auth import resolve_web_session
from openalgo.services.broker_sessions import (
    SESSIONLESS_BROKERS,
    BrokerTokens,
    require_broker_session,
)

API_KEY_HEADER = "x-api-key"
_KEY_SCOPE = "openalgo.apikey"
_MISSING = object()


def get_security(conn: HTTPConnection) -> SecurityRuntime:
    security = get_runtime(conn).security
    if security is None:  # pragma: no cover - the lifespan always builds it
        raise RuntimeError("security runtime not started")
    return security


async def _security_dependency(conn: HTTPConnection) -> SecurityRuntime:
    # async on purpose: FastAPI runs plain-function dependencies in its thread pool.
    return get_security(conn)


SecurityDep = Annotated[SecurityRuntime, Depends(_security_dependency)]


async def extract_api_key(request: Request) -> str | None:
    """The API key the request carries (body field, GET query parameter, or header), or None.

    Cached on the request scope: the rate limiter and the authentication dependency share it.
    """
    cached = request.scope.get(_KEY_SCOPE, _MISSING)
    if cached is not _MISSING:
        return cached if isinstance(cached, str) else None
    key: Any = None
    if request.method in ("GET", "HEAD"):
        key = request.query_params.get("apikey")
    elif _json_body_expected(request):
        body = await request.body()
        if body:
            try:
                data = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BadRequest("Malformed JSON in request body") from exc
            if isinstance(data, dict):
                key = data.get("apikey")
    if not key:
        key = request.headers.get(API_KEY_HEADER)
    value = key if isinstance(key, str) and key else None
    request.scope[_KEY_SCOPE] = value
    return value


def _json_body_expected(request: Request) -> bool:
    content_type = request.headers.get("content-type")
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


# The header as OpenAPI (and Swagger UI's "Authorize") should know it; the value itself is read by
# `extract_api_key`, which also looks in the body. Not a dependency of `get_api_principal`: a
# security dependency costs FastAPI's resolver ~15 us per reference per request (scope checks),
# more than the whole cached-key check; `document_api_key` adds it to the document instead.
_api_key_header = APIKeyHeader(
    name="X-API-KEY",
    auto_error=False,
    description="Your OpenAlgo API key; it may instead be sent as `apikey` in the JSON body.",
)
API_PATHS = "/api/v1/"


def document_api_key(app: FastAPI) -> None:
    """Declare the ``X-API-KEY`` scheme in ``app``'s OpenAPI document, required by every
    ``/api/v1`` operation (all of them authenticate with `ApiUser`, as in OpenAlgo)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        name = _api_key_header.scheme_name
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[name] = jsonable_encoder(_api_key_header.model, by_alias=True, exclude_none=True)
        for path, operations in schema.get("paths", {}).items():
            if path.startswith(API_PATHS):
                for operation in operations.values():
                    operation.setdefault("security", []).append({name: []})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def read_sessions(conn: HTTPConnection) -> SessionOpener:
    """The read-session opener of `get_read_sessionmaker`, including a test's override of it.

    Called directly rather than declared as a sub-dependency: FastAPI re-solves a dependency's
    whole sub-tree every time the dependency is referenced (caching only its final call), at some
    microseconds per node, and `ApiUser` is referenced once or twice on every ``/api/v1`` request.
    """
    override = getattr(conn.app, "dependency_overrides", {}).get(get_read_sessionmaker)
    if override is None:
        return get_runtime(conn).read_sessionmaker
    opener = override(conn) if _takes_argument(override) else override()
    if inspect.isawaitable(opener):
        opener = await opener
    return cast(SessionOpener, opener)


def _takes_argument(func: Any) -> bool:
    try:
        return bool(inspect.signature(func).parameters)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False


async def get_api_principal(request: Request) -> ApiPrincipal:
    security = get_security(request)
    api_key = await extract_api_key(request)
    digest = request.scope.get("openalgo.apikey_digest")
    try:
        principal = (
            await security.verifier.verify(
                api_key, sessions=await read_sessions(request), digest=digest
            )
            if api_key
            else None
        )
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        # A database outage is not the client's fault: 503, not 403 and not a bare 500.
        raise ServiceUnavailable("Authentication is temporarily unavailable") from exc
    if principal is None:
        await security.abuse.failure(FailureKind.API_KEY, client_address(request.scope))
        raise InvalidApiKey()
    return principal


ApiUser = Annotated[ApiPrincipal, Depends(get_api_principal)]


async def get_broker_tokens(request: Request, principal: ApiUser) -> BrokerTokens | None:
    """The live session of the principal's active broker: None for venues that need no login
    (the simulator; no database work then), else the decrypted tokens, or `AuthExpired` (403,
    "Broker session expired, log in again") once the daily boundary has passed."""
    if principal.broker in SESSIONLESS_BROKERS:
        return None
    security = get_security(request)
    sessions = await read_sessions(request)
    async with sessions() as session:
        try:
            return await require_broker_session(
                session,
                security.box,
                user_id=principal.user_id,
                broker=principal.broker,
                now=security.clock.now(),
            )
        finally:
            await session.rollback()


BrokerSessionDep = Annotated[BrokerTokens | None, Depends(get_broker_tokens)]


# --- admin pages --------------------------------------------------------------------------------


class LoginRequired(Unauthorized):
    """No valid admin session: pages redirect to the login page, ``/api/`` answers 401."""

    default_message = "Sign in required"


@dataclass(frozen=True)
class WebIdentity:
    user: User
    session: WebSession
    session_id: str


async def get_web_identity(request: Request, session: ReadSessionDep) -> WebIdentity | None:
    """The signed-in user of this request, or None (cached on the request)."""
    if "openalgo.identity" in request.scope:
        found: WebIdentity | None = request.scope["openalgo.identity"]
        return found
    security = get_security(request)
    now = security.clock.now()
    claims = security.sessions.read(request.cookies.get(SESSION_COOKIE), now=now, typ="session")
    identity: WebIdentity | None = None
    if claims is not None:
        resolved = await resolve_web_session(session, claims.session_id, now)
        if resolved is not None and resolved[0].id == claims.user_id:
            identity = WebIdentity(
                user=resolved[0], session=resolved[1], session_id=claims.session_id
            )
    request.scope["openalgo.identity"] = identity
    return identity


OptionalIdentity = Annotated[WebIdentity | None, Depends(get_web_identity)]


async def require_identity(identity: OptionalIdentity) -> WebIdentity:
    if identity is None:
        raise LoginRequired()
    return identity


async def require_user(identity: Annotated[WebIdentity, Depends(require_identity)]) -> User:
    return identity.user


class AdminRequired(Forbidden):
    """A signed-in user who is not an administrator (pages show it as an HTML page)."""

    default_message = "Administrators only"


async def require_admin(user: Annotated[User, Depends(require_user)]) -> User:
    if not user.is_admin:
        raise AdminRequired()
    return user


CurrentIdentity = Annotated[WebIdentity, Depends(require_identity)]
CurrentUser = Annotated[User, Depends(require_user)]
AdminUser = Annotated[User, Depends(require_admin)]
