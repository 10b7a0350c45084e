"""The signed-in user's own account: API keys, password, two-factor sign-in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.api.admin.pagekit import Page, address, checked_form, page, redirect, render
from openalgo.api.auth import CurrentIdentity, SecurityDep
from openalgo.api.deps import ReadSessionDep, SessionDep
from openalgo.errors import Conflict, NotFound, ValidationFailed
from openalgo.security import totp
from openalgo.security.apikeys import invalidate_after_commit
from openalgo.security.crypto import UndecryptableSecret
from openalgo.services import apikeys as apikey_service
from openalgo.services import auth as auth_service

router = APIRouter(include_in_schema=False)


@router.get("/account")
async def account_home() -> Response:
    return redirect("/account/apikeys")


# --- API keys ---------------------------------------------------------------------------------------


async def _keys_page(
    p: Page,
    db: AsyncSession,
    *,
    new_key: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    assert p.identity is not None
    keys = await apikey_service.list_api_keys(db, user_id=p.identity.user.id)
    return render(
        p,
        "account/apikeys.html",
        {"keys": keys, "new_key": new_key, "error": error},
        status_code=status_code,
    )


@router.get("/account/apikeys")
async def apikeys_page(request: Request, identity: CurrentIdentity, db: ReadSessionDep) -> Response:
    return await _keys_page(page(request, identity), db)


@router.post("/account/apikeys")
async def apikeys_create(
    request: Request, identity: CurrentIdentity, db: SessionDep, security: SecurityDep
) -> Response:
    p = page(request, identity)
    form = await checked_form(request, p)
    try:
        created = await apikey_service.create_api_key(
            db,
            user_id=identity.user.id,
            pepper=security.settings.pepper_value(),
            now=security.clock.now(),
            name=form.get("name"),
            address=address(request),
        )
    except (Conflict, ValidationFailed) as exc:
        return await _keys_page(p, db, error=exc.message, status_code=exc.status_code)
    # Shown once, in this response only; it is not stored anywhere in clear.
    return await _keys_page(p, db, new_key=created.plaintext)


@router.post("/account/apikeys/{key_id}/rotate")
async def apikeys_rotate(
    key_id: int, request: Request, identity: CurrentIdentity, db: SessionDep, security: SecurityDep
) -> Response:
    p = page(request, identity)
    await checked_form(request, p)
    try:
        created = await apikey_service.rotate_api_key(
            db,
            user_id=identity.user.id,
            key_id=key_id,
            pepper=security.settings.pepper_value(),
            now=security.clock.now(),
            address=address(request),
        )
    except NotFound as exc:
        return await _keys_page(p, db, error=exc.message, status_code=404)
    invalidate_after_commit(db, security.verifier, identity.user.id)
    return await _keys_page(p, db, new_key=created.plaintext)


@router.post("/account/apikeys/{key_id}/revoke")
async def apikeys_revoke(
    key_id: int, request: Request, identity: CurrentIdentity, db: SessionDep, security: SecurityDep
) -> Response:
    p = page(request, identity)
    await checked_form(request, p)
    try:
        await apikey_service.revoke_api_key(
            db,
            user_id=identity.user.id,
            key_id=key_id,
            now=security.clock.now(),
            address=address(request),
        )
    except NotFound as exc:
        return await _keys_page(p, db, error=exc.message, status_code=404)
    invalidate_after_commit(db, security.verifier, identity.user.id)
    return redirect("/account/apikeys", msg="key_revoked")


# --- password ---------------------------------------------------------------------------------------


@router.get("/account/password")
async def password_page(request: Request, identity: CurrentIdentity) -> Response:
    return render(page(request, identity), "account/password.html")


@router.post("/account/password")
async def password_submit(
    request: Request, identity: CurrentIdentity, db: SessionDep, security: SecurityDep
) -> Response:
    p = page(request, identity)
    form = await checked_form(request, p)
    new_password = form.get("new_password", "")
    if new_password != form.get("confirm", ""):
        return render(
            p,
            "account/password.html",
            {"error": "The new passwords do not match."},
            status_code=400,
        )
    try:
        await auth_service.change_password(
            db,
            user=identity.user,
            current_password=form.get("current_password", ""),
            new_password=new_password,
            pepper=security.settings.pepper_value(),
            now=security.clock.now(),
            keep_session=identity.session,
            address=address(request),
        )
    except ValidationFailed as exc:
        return render(p, "account/password.html", {"error": exc.message}, status_code=400)
    return redirect("/account/password", msg="password_changed")


# --- two-factor sign-in -----------------------------------------------------------------------------


def _totp_context(security: SecurityDep, username: str, secret: str) -> dict[str, object]:
    return {
        "secret": secret,
        "sealed_secret": security.box.encrypt(secret),
        "uri": totp.provisioning_uri(secret, username),
    }


@router.get("/account/totp")
async def totp_page(request: Request, identity: CurrentIdentity, security: SecurityDep) -> Response:
    p = page(request, identity)
    if identity.user.totp_enabled:
        return render(p, "account/totp.html", {"enabled": True})
    context = _totp_context(security, identity.user.username, totp.new_secret())
    return render(p, "account/totp.html", {"enabled": False, **context})


@router.post("/account/totp/enable")
async def totp_enable(
    request: Request, identity: CurrentIdentity, db: SessionDep, security: SecurityDep
) -> Response:
    p = page(request, identity)
    form = await checked_form(request, p)
    try:
        # The candidate secret travels in the form sealed by our own key (ten-minute lifetime),
        # so enrolment needs no server-side state and the secret is never trusted from the client.
        secret = security.box.decrypt(form.get("sealed_secret", ""), ttl=600)
    except UndecryptableSecret:
        return redirect("/account/totp")
    try:
        await auth_service.enable_totp(
            db,
            security.box,
            user=identity.user,
            secret=secret,
            code=form.get("code", ""),
            now=security.clock.now(),
            address=address(request),
        )
    except ValidationFailed as exc:
        context = _totp_context(security, identity.user.username, secret)
        return render(
            p,
            "account/totp.html",
            {"enabled": False, "error": exc.message, **context},
            status_code=400,
        )
    return redirect("/account/totp", msg="totp_enabled")


@router.post("/account/totp/disable")
async def totp_disable(
    request: Request, identity: CurrentIdentity, db: SessionDep, security: SecurityDep
) -> Response:
    p = page(request, identity)
    form = await checked_form(request, p)
    try:
        await auth_service.disable_totp(
            db,
            security.box,
            user=identity.user,
            code=form.get("code", ""),
            now=security.clock.now(),
            address=address(request),
        )
    except ValidationFailed as exc:
        return render(
            p, "account/totp.html", {"enabled": True, "error": exc.message}, status_code=400
        )
    return redirect("/account/totp", msg="totp_disabled")
