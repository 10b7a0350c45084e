"""The application factory.

`create_app(settings)` wires routers, error handlers and the lifespan; the lifespan owns every
resource (engine, sessionmakers, and later the broker registry, tick bus, hub and background
engines) and releases them in reverse order. Nothing is created at import time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from openalgo import __version__
from openalgo.api import health, pages
from openalgo.api.errors import install_error_handlers
from openalgo.api.security import OPENAPI_TAG as SECURITY_TAG
from openalgo.api.security import install_security
from openalgo.db.engine import create_engine, reader
from openalgo.db.session import create_sessionmaker
from openalgo.domain.clock import Clock, SystemClock
from openalgo.runtime import Runtime
from openalgo.security.runtime import SecurityRuntime
from openalgo.settings import Settings, load_settings

log = logging.getLogger("openalgo.app")

OPENAPI_TAGS = [
    {"name": "health", "description": "Liveness and readiness probes."},
    SECURITY_TAG,
]


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """Build the ASGI app. ``settings`` must have its secrets resolved (see `load_settings`).

    ``clock`` defaults to the system clock; tests pass a `ManualClock` to move time.
    """
    app_clock: Clock = clock or SystemClock()
    if settings.secret_key is None or settings.pepper is None:
        raise ValueError("create_app needs resolved secrets: build settings with load_settings()")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.runtime = Runtime(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            read_sessionmaker=create_sessionmaker(reader(engine)),
            clock=app_clock,
        )
        runtime: Runtime = app.state.runtime
        security = runtime.security = await SecurityRuntime.start(
            settings,
            engine=engine,
            sessionmaker=runtime.sessionmaker,
            read_sessionmaker=runtime.read_sessionmaker,
            clock=app_clock,
        )
        log.info("openalgo %s started (database %s)", __version__, engine.url.render_as_string())
        try:
            yield
        finally:
            await security.close()
            await engine.dispose()
            log.info("openalgo stopped")

    app = FastAPI(
        title="openalgo",
        version=__version__,
        summary="Self-hosted trading gateway for Indian markets, compatible with OpenAlgo's API.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
        # No OpenTelemetry provider is configured; without this FastAPI probes for one on every
        # request (a measurable share of a cheap request, e.g. a refused banned address).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.templates = pages.create_templates()
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(pages.router)
    install_security(app, settings)
    return app


def create_app_from_env() -> FastAPI:
    """Factory used by ``uvicorn --factory`` (and ``openalgo serve --reload``)."""
    return create_app(load_settings())
