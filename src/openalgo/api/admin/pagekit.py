"""What every admin page needs: rendering with a CSRF token, reading and checking forms, errors.

Pages are plain HTML forms (no JavaScript at all, so the CSP can forbid every script). A POST is
accepted only with a valid CSRF token and, when the browser says where it came from
(``Origin`` / ``Sec-Fetch-Site``), only from this site.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from openalgo import __version__
from openalgo.api.auth import WebIdentity, get_security
from openalgo.errors import OpenAlgoError
from openalgo.security.csrf import CSRF_COOKIE, CSRF_FIELD
from openalgo.security.middleware import client_address

MAX_FORM_FIELDS = 50

# Messages shown after a redirect (``?msg=...``): a fixed vocabulary, never text from the URL.
MESSAGES = {
    "setup_done": "Admin account created. Sign in to continue.",
    "logged_out": "You are signed out.",
    "expired": "Your session has ended. Sign in again.",
    "key_revoked": "API key revoked. It stops working immediately.",
    "password_changed": "Password changed. Your other sessions were signed out.",
    "totp_enabled": "Two-factor sign-in is on.",
    "totp_disabled": "Two-factor sign-in is off.",
    "ban_lifted": "Ban lifted.",
}


class PageError(OpenAlgoError):
    """An error shown to a person as an HTML page (status from the subclass)."""

    status_code = 400
    default_message = "That request could not be completed."


class CsrfFailed(PageError):
    status_code = 403
    default_message = (
        "This form expired or did not come from this site. Go back, reload the page and try again."
    )


@dataclass
class Page:
    request: Request
    identity: WebIdentity | None
    csrf_cookie: str
    new_cookie: bool

    @property
    def csrf_token(self) -> str:
        session_id = self.identity.session_id if self.identity else None
        return get_security(self.request).csrf.token(self.csrf_cookie, session_id)


def page(request: Request, identity: WebIdentity | None) -> Page:
    cookie = request.cookies.get(CSRF_COOKIE)
    if cookie and 20 <= len(cookie) <= 100:
        return Page(request, identity, cookie, new_cookie=False)
    security = get_security(request)
    return Page(request, identity, security.csrf.new_cookie_value(), new_cookie=True)


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def templates(request: Request) -> Jinja2Templates:
    found: Jinja2Templates = request.app.state.templates
    return found


def render(
    p: Page,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    values: dict[str, Any] = {
        "version": __version__,
        "csrf_field": CSRF_FIELD,
        "csrf_token": p.csrf_token,
        "user": p.identity.user if p.identity else None,
        "notice": MESSAGES.get(p.request.query_params.get("msg", "")),
    }
    values.update(context or {})
    response = templates(p.request).TemplateResponse(
        p.request, template, values, status_code=status_code, headers=headers
    )
    response.headers["Cache-Control"] = "no-store"
    if p.new_cookie:
        set_cookie(response, p.request, CSRF_COOKIE, p.csrf_cookie, max_age=None)
    return response


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
    )


def delete_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=is_secure(request))


def redirect(url: str, *, msg: str | None = None) -> RedirectResponse:
    if msg:
        url = f"{url}{'&' if '?' in url else '?'}msg={msg}"
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None, default: str = "/account/apikeys") -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


async def read_form(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise PageError("Forms must be sent as application/x-www-form-urlencoded.")
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError as exc:
        raise PageError("Too many form fields.") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def _same_origin(request: Request) -> bool:
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    # Host only, not scheme: a TLS-terminating proxy that is not configured as trusted would
    # otherwise make every form fail. The token is the real defence; this is defence in depth.
    return parts.netloc == request.headers.get("host", "")


async def checked_form(request: Request, p: Page) -> dict[str, str]:
    """The POSTed form, after the CSRF token and the origin were checked."""
    form = await read_form(request)
    session_id = p.identity.session_id if p.identity else None
    cookie = None if p.new_cookie else p.csrf_cookie
    if not _same_origin(request) or not get_security(request).csrf.verify(
        cookie, session_id, form.get(CSRF_FIELD)
    ):
        raise CsrfFailed()
    return form


def address(request: Request) -> str:
    return client_address(request.scope)
