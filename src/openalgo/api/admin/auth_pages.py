"""First-run setup, sign-in (password, then TOTP when enabled) and sign-out."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from openalgo.api.admin.pagekit import (
    Page,
    address,
    checked_form,
    delete_cookie,
    page,
    redirect,
    render,
    safe_next,
    set_cookie,
)
from openalgo.api.auth import OptionalIdentity, SecurityDep, get_security
from openalgo.api.deps import ReadSessionDep, SessionDep
from openalgo.api.ratelimit import enforce
from openalgo.db.models.user import User
from openalgo.errors import Conflict, RateLimited, ValidationFailed
from openalgo.security.audit import AuditEvent
from openalgo.security.bans import FailureKind
from openalgo.security.ratelimit import RouteClass
from openalgo.security.sessions import PENDING_COOKIE, SESSION_COOKIE
from openalgo.services import auth as auth_service

router = APIRouter(include_in_schema=False)
PENDING_TTL = timedelta(minutes=5)
GENERIC_LOGIN_ERROR = "Wrong username or password."


# --- setup ----------------------------------------------------------------------------------------


@router.get("/setup")
async def setup_form(request: Request, db: ReadSessionDep, identity: OptionalIdentity) -> Response:
    if not await auth_service.needs_setup(db):
        return redirect("/login")
    return render(page(request, identity), "auth/setup.html")


@router.post("/setup")
async def setup_submit(
    request: Request, db: SessionDep, identity: OptionalIdentity, security: SecurityDep
) -> Response:
    p = page(request, identity)
    form = await checked_form(request, p)
    username = form.get("username", "").strip()
    password = form.get("password", "")
    if password != form.get("confirm", ""):
        return render(
            p,
            "auth/setup.html",
            {"error": "The passwords do not match.", "username": username},
            status_code=400,
        )
    try:
        await auth_service.create_first_admin(
            db,
            username=username,
            password=password,
            pepper=security.settings.pepper_value(),
            now=security.clock.now(),
            address=address(request),
        )
    except Conflict:
        return redirect("/login")
    except ValidationFailed as exc:
        return render(
            p, "auth/setup.html", {"error": exc.message, "username": username}, status_code=400
        )
    return redirect("/login", msg="setup_done")


# --- login ----------------------------------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request, db: ReadSessionDep, identity: OptionalIdentity) -> Response:
    if identity is not None:
        return redirect(safe_next(request.query_params.get("next")))
    if await auth_service.needs_setup(db):
        return redirect("/setup")
    return render(
        page(request, identity),
        "auth/login.html",
        {"next": safe_next(request.query_params.get("next"))},
    )


async def _limited(
    request: Request, p: Page, template: str, context: dict[str, object]
) -> Response | None:
    """The login rate limit (per client address); a page with 429 when exceeded."""
    try:
        await enforce(request, RouteClass.LOGIN, identity=f"ip:{address(request)}")
    except RateLimited as exc:
        return render(
            p,
            template,
            {**context, "error": "Too many attempts. Wait a minute and try again."},
            status_code=429,
            headers=exc.headers,
        )
    return None


@router.post("/login")
async def login_submit(
    request: Request,
    read_db: ReadSessionDep,
    db: SessionDep,
    identity: OptionalIdentity,
    security: SecurityDep,
) -> Response:
    p = page(request, identity)
    form = await checked_form(request, p)
    username = form.get("username", "").strip()[:80]
    next_url = safe_next(form.get("next"))
    context: dict[str, object] = {"username": username, "next": next_url}
    if (limited := await _limited(request, p, "auth/login.html", context)) is not None:
        return limited
    now = security.clock.now()
    user = await auth_service.check_credentials(
        read_db,
        username=username,
        password=form.get("password", ""),
        pepper=security.settings.pepper_value(),
    )
    if user is None:
        await auth_service.record_login_failure(
            db, username=username, now=now, address=address(request)
        )
        await security.abuse.failure(FailureKind.LOGIN, address(request), session=db)
        return render(
            p, "auth/login.html", {**context, "error": GENERIC_LOGIN_ERROR}, status_code=401
        )
    if user.totp_enabled:
        token = security.sessions.issue(
            user_id=user.id,
            session_id=secrets.token_urlsafe(16),
            expires_at=now + PENDING_TTL,
            now=now,
            typ="totp_pending",
        )
        response = redirect(f"/login/totp?next={quote(next_url, safe='/')}")
        set_cookie(
            response, request, PENDING_COOKIE, token, max_age=int(PENDING_TTL.total_seconds())
        )
        return response
    return await _signed_in(request, db, user, next_url)


async def _signed_in(request: Request, db: SessionDep, user: User, next_url: str) -> Response:
    security = get_security(request)
    now = security.clock.now()
    login = await auth_service.start_web_session(
        db,
        user=user,
        now=now,
        expiry_time=security.expiry_time,
        max_sessions=security.settings.max_sessions_per_user,
        address=address(request),
        user_agent=request.headers.get("user-agent"),
    )
    token = security.sessions.issue(
        user_id=user.id,
        session_id=login.session_id,
        expires_at=login.expires_at,
        now=now,
        typ="session",
    )
    response = redirect(next_url)
    set_cookie(
        response,
        request,
        SESSION_COOKIE,
        token,
        max_age=max(1, int((login.expires_at - now).total_seconds())),
    )
    delete_cookie(response, request, PENDING_COOKIE)
    return response


@router.get("/login/totp")
async def totp_form(
    request: Request, identity: OptionalIdentity, security: SecurityDep
) -> Response:
    claims = security.sessions.read(
        request.cookies.get(PENDING_COOKIE), now=security.clock.now(), typ="totp_pending"
    )
    if claims is None:
        return redirect("/login")
    return render(
        page(request, identity),
        "auth/totp.html",
        {"next": safe_next(request.query_params.get("next"))},
    )


@router.post("/login/totp")
async def totp_submit(
    request: Request, db: SessionDep, identity: OptionalIdentity, security: SecurityDep
) -> Response:
    p = page(request, identity)
    form = await checked_form(request, p)
    now = security.clock.now()
    claims = security.sessions.read(
        request.cookies.get(PENDING_COOKIE), now=now, typ="totp_pending"
    )
    if claims is None:
        return redirect("/login", msg="expired")
    next_url = safe_next(form.get("next"))
    context: dict[str, object] = {"next": next_url}
    if (limited := await _limited(request, p, "auth/totp.html", context)) is not None:
        return limited
    ok = await auth_service.verify_totp(
        db, security.box, user_id=claims.user_id, code=form.get("code", ""), now=now
    )
    if not ok:
        await auth_service.record_login_failure(
            db,
            username="",
            user_id=claims.user_id,
            now=now,
            address=address(request),
            event=AuditEvent.TOTP_FAILED,
        )
        await security.abuse.failure(FailureKind.LOGIN, address(request), session=db)
        return render(
            p, "auth/totp.html", {**context, "error": "That code is not valid."}, status_code=401
        )
    user = await db.get(User, claims.user_id)
    if user is None or not user.is_active:
        return redirect("/login")
    return await _signed_in(request, db, user, next_url)


@router.post("/logout")
async def logout(
    request: Request, db: SessionDep, identity: OptionalIdentity, security: SecurityDep
) -> Response:
    p = page(request, identity)
    await checked_form(request, p)
    if identity is not None:
        await auth_service.end_web_session(
            db,
            user=identity.user,
            session_id=identity.session_id,
            now=security.clock.now(),
            address=address(request),
        )
    response = redirect("/login", msg="logged_out")
    delete_cookie(response, request, SESSION_COOKIE)
    return response
