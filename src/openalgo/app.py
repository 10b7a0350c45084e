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
from openalgo.api import health, pages, ws
from openalgo.api.errors import install_error_handlers
from openalgo.db.engine import create_engine, reader
from openalgo.db.session import create_sessionmaker
from openalgo.runtime import Runtime
from openalgo.settings import Settings, load_settings
from openalgo.streaming.service import StreamingService, StreamingSetup

log = logging.getLogger("openalgo.app")

OPENAPI_TAGS = [
    {"name": "health", "description": "Liveness and readiness probes."},
]


def create_app(
    settings: Settings,
    *,
    ws_listener: bool = False,
    streaming_setup: StreamingSetup | None = None,
) -> FastAPI:
    """Build the ASGI app. ``settings`` must have its secrets resolved (see `load_settings`).

    ``ws_listener`` opens the native WebSocket port (``openalgo serve`` does; tests that only need
    ``/ws`` leave it off). ``streaming_setup`` builds the authenticator, instrument lookup and
    feed resolver the WebSocket layer uses (it receives the service, whose bus feeds publish to).
    """
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
        )
        streaming = StreamingService(settings)
        await streaming.start()
        app.state.runtime.streaming = streaming
        if streaming_setup is not None or ws_listener:
            try:
                if streaming_setup is not None:
                    streaming.wire(await streaming_setup(streaming))
                if ws_listener:
                    await streaming.listen(settings.host, settings.ws_port)
            except BaseException:
                await streaming.close()
                await engine.dispose()
                raise
        log.info("openalgo %s started (database %s)", __version__, engine.url.render_as_string())
        try:
            yield
        finally:
            await streaming.close()
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
    )
    app.state.templates = pages.create_templates()
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(pages.router)
    app.include_router(ws.router)
    return app


def create_app_from_env() -> FastAPI:
    """Factory used by ``uvicorn --factory`` (and ``openalgo serve --reload``)."""
    return create_app(load_settings(), ws_listener=True)
