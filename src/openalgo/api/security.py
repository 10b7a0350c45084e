"""Wiring of the security layer into the app: middleware, pages, the first API route, handlers.

`install_security(app, settings)` is called by `create_app`; `SecurityRuntime.start` by its lifespan.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

from openalgo import __version__
from openalgo.api.admin import account, auth_pages, security_pages
from openalgo.api.admin.pagekit import PageError, templates
from openalgo.api.auth import AdminRequired, LoginRequired
from openalgo.resources import templates_dir
from openalgo.security.clientaddr import AddressSet
from openalgo.security.middleware import (
    BanGuardMiddleware,
    ClientAddressMiddleware,
    ScopedCORSMiddleware,
    SecurityHeadersMiddleware,
)
from openalgo.settings import Settings


def _security_of(scope: Scope) -> Any:
    runtime = getattr(scope["app"].state, "runtime", None)
    return None if runtime is None else runtime.security


def install_security(app: FastAPI, settings: Settings) -> None:
    # add_middleware puts each new layer outside the previous ones: innermost first.
    origins = [o.strip() for o in settings.cors_allowed_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(ScopedCORSMiddleware, origins=origins)
    app.add_middleware(SecurityHeadersMiddleware, hsts_max_age=settings.hsts_max_age)
    _outermost(app, AddressSet.parse(settings.trusted_proxies))

    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(AdminRequired, _admin_required)
    app.add_exception_handler(LoginRequired, _login_required)

    static = templates_dir() / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.include_router(auth_pages.router)
    app.include_router(account.router)
    app.include_router(security_pages.router)


def _outermost(app: FastAPI, trusted: AddressSet) -> None:
    """Put address resolution and the ban check *outside* Starlette's own middleware stack.

    ``add_middleware`` can only place layers inside Starlette's error and body-size middleware,
    and a banned flood should not pay for those (nor for their wrapped ``send``). Starlette builds
    its stack once, on the first request, through ``build_middleware_stack``; wrapping that keeps
    every other layer where it is. Neither wrapper can raise on its own.
    """
    build_inner = app.build_middleware_stack

    def build() -> ASGIApp:
        inner = build_inner()
        return ClientAddressMiddleware(BanGuardMiddleware(inner, lookup=_security_of), trusted)

    app.build_middleware_stack = build  # type: ignore[method-assign]


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError | AdminRequired)
    response = templates(request).TemplateResponse(
        request,
        "error.html",
        {"version": __version__, "message": exc.message, "user": None},
        status_code=exc.status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def _admin_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminRequired)
    if request.url.path.startswith("/api/"):
        return JSONResponse(exc.body(), status_code=exc.status_code)
    return await _page_error(request, exc)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"status": "error", "message": exc.message}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Response(status_code=303, headers={"location": f"/login?next={quote(target, safe='/')}"})
