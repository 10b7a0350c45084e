"""The application factory.

`create_app(settings)` wires routers, error handlers and the lifespan; the lifespan owns every
resource (engine, sessionmakers, and later the broker registry, tick bus, hub and background
engines) and releases them in reverse order. Nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from openalgo import __version__
from openalgo.api import health, metrics, pages
from openalgo.api.errors import install_error_handlers
from openalgo.api.middleware.body_limit import BodyLimitMiddleware
from openalgo.api.middleware.monitoring import MonitoringMiddleware
from openalgo.api.middleware.paths import TrailingSlashMiddleware
from openalgo.api.v1 import build_router as build_v1_router
from openalgo.api.v1.endpoints import TAG_DESCRIPTIONS
from openalgo.background import start_background, stop_background
from openalgo.db.engine import create_engine, reader
from openalgo.db.session import create_sessionmaker
from openalgo.runtime import Runtime
from openalgo.services.monitoring import TrafficMonitor
from openalgo.services.order_journal import OrderJournal
from openalgo.settings import Settings, load_settings

log = logging.getLogger("openalgo.app")

OPENAPI_TAGS = [
    {"name": "health", "description": "Liveness and readiness probes."},
    *({"name": tag.value, "description": text} for tag, text in TAG_DESCRIPTIONS.items()),
]


def create_app(settings: Settings) -> FastAPI:
    """Build the ASGI app. ``settings`` must have its secrets resolved (see `load_settings`)."""
    if settings.secret_key is None or settings.pepper is None:
        raise ValueError("create_app needs resolved secrets: build settings with load_settings()")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        sessionmaker = create_sessionmaker(engine)
        read_sessionmaker = create_sessionmaker(reader(engine))
        app.state.runtime = runtime = Runtime(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            read_sessionmaker=read_sessionmaker,
            journal=OrderJournal(
                sessionmaker,
                ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
                lease=timedelta(seconds=settings.idempotency_lease_seconds),
            ),
            monitor=TrafficMonitor(
                sessionmaker, retention=timedelta(days=settings.monitoring_retention_days)
            ),
        )
        market_task = await start_market(runtime)
        background = start_background(runtime)
        log.info("openalgo %s started (database %s)", __version__, engine.url.render_as_string())
        try:
            yield
        finally:
            await stop_background(runtime, background)
            market_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await market_task
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
    app.include_router(build_v1_router())
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(MonitoringMiddleware)
    app.include_router(metrics.router)
    return app


async def start_market(runtime: Runtime) -> asyncio.Task[None]:
    """Calendar, clock, instrument cache and the simulated market; returns its tick task."""
    from openalgo.brokers.simulator.market import SimulatorMarket
    from openalgo.domain.calendar import MarketCalendar
    from openalgo.domain.clock import SystemClock
    from openalgo.services.instrument_cache import InstrumentCache
    from openalgo.services.instrument_loading import SIMULATOR
    from openalgo.services.instrument_refresh import SimulatorMasterRefresh

    settings = runtime.settings
    runtime.calendar = MarketCalendar.bundled(always_open=settings.market_always_open)
    runtime.clock = SystemClock()
    runtime.instruments = InstrumentCache(SIMULATOR)
    try:
        loaded = await runtime.instruments.load(runtime.read_sessionmaker)
        log.info("instrument master: %d %s instruments in memory", loaded, SIMULATOR)
    except Exception as exc:  # an unmigrated or unreachable database must not stop the start
        log.warning("instrument master not loaded (%s); starting with none", _first_line(exc))
    runtime.simulator = SimulatorMarket(
        runtime.instruments,
        runtime.calendar,
        runtime.clock,
        ticks_per_second=settings.sim_ticks_per_second,
        seed=settings.sim_seed,
    )
    refresh = SimulatorMasterRefresh(
        sessionmaker=runtime.sessionmaker,
        read_sessionmaker=runtime.read_sessionmaker,
        cache=runtime.instruments,
        clock=runtime.clock,
        at=settings.master_refresh_time,
        seed=settings.sim_seed,
        market=runtime.simulator,
        write=settings.background_tasks,
    )
    return asyncio.create_task(_run_together(runtime.simulator.run, refresh.run), name="simulator")


async def _run_together(*loops: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Background loops as one task: cancelling it cancels them all."""
    async with asyncio.TaskGroup() as group:
        for loop in loops:
            group.create_task(loop())


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def create_app_from_env() -> FastAPI:
    """Factory used by ``uvicorn --factory`` (and ``openalgo serve --reload``)."""
    return create_app(load_settings())
