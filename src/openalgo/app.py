"""The application factory.

`create_app(settings)` wires routers, error handlers and the lifespan; the lifespan owns every
resource (engine, sessionmakers, and later the broker registry, tick bus, hub and background
engines) and releases them in reverse order. Nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from openalgo import __version__
from openalgo.api import health, metrics, pages, ws
from openalgo.api.auth import document_api_key
from openalgo.api.errors import install_error_handlers
from openalgo.api.middleware.body_limit import BodyLimitMiddleware
from openalgo.api.middleware.monitoring import MonitoringMiddleware
from openalgo.api.middleware.paths import TrailingSlashMiddleware
from openalgo.api.security import install_security
from openalgo.api.v1 import build_router as build_v1_router
from openalgo.api.v1 import dispatch as v1_dispatch
from openalgo.api.v1 import front_door as v1_front_door
from openalgo.api.v1 import v1_routes
from openalgo.api.v1.endpoints import TAG_DESCRIPTIONS
from openalgo.background import start_background, stop_background
from openalgo.brokers.sandbox.feed import CallbackFeed
from openalgo.brokers.sandbox.lifecycle import build_engines
from openalgo.db.engine import create_engine, reader
from openalgo.db.session import create_sessionmaker
from openalgo.domain.clock import Clock, SystemClock
from openalgo.domain.enums import TickMode
from openalgo.domain.market import Tick, TickSink
from openalgo.runtime import Runtime
from openalgo.security.runtime import SecurityRuntime
from openalgo.services.monitoring import TrafficMonitor
from openalgo.services.order_journal import OrderJournal
from openalgo.settings import Settings, load_settings
from openalgo.streaming.auth import ApiKeyAuthenticator
from openalgo.streaming.seams import SharedFeedResolver, StreamingSeams
from openalgo.streaming.service import StreamingService, StreamingSetup
from openalgo.streaming.simulator_feed import SimulatorFeed

log = logging.getLogger("openalgo.app")

OPENAPI_TAGS = [
    {"name": "health", "description": "Liveness and readiness probes."},
    *({"name": tag.value, "description": text} for tag, text in TAG_DESCRIPTIONS.items()),
]


def create_app(
    settings: Settings,
    *,
    ws_listener: bool = False,
    streaming_setup: StreamingSetup | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the ASGI app. ``settings`` must have its secrets resolved (see `load_settings`).

    ``ws_listener`` opens the native WebSocket port (``openalgo serve`` does; tests that only need
    ``/ws`` leave it off). ``streaming_setup`` builds the authenticator, instrument lookup and
    feed resolver the WebSocket layer uses (it receives the service, whose bus feeds publish to).
    ``clock`` defaults to the system clock; tests pass a `ManualClock` to move time.
    """
    app_clock: Clock = clock or SystemClock()
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
            clock=app_clock,
            journal=OrderJournal(
                sessionmaker,
                ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
                lease=timedelta(seconds=settings.idempotency_lease_seconds),
            ),
            monitor=TrafficMonitor(
                sessionmaker, retention=timedelta(days=settings.monitoring_retention_days)
            ),
        )
        runtime.security = await SecurityRuntime.start(
            settings,
            engine=engine,
            sessionmaker=sessionmaker,
            read_sessionmaker=read_sessionmaker,
            clock=app_clock,
        )
        streaming = StreamingService(settings)
        await streaming.start()
        runtime.streaming = streaming
        market_task = await start_market(runtime)
        await start_sandbox(runtime)
        try:
            await start_streaming(runtime, streaming_setup)
            if ws_listener:
                await streaming.listen(settings.host, settings.ws_port)
        except BaseException:
            await _stop(runtime, market_task, [])
            raise
        background = start_background(runtime)
        # Everything built so far (instrument cache, master, modules) lives as long as the
        # process: move it out of the collector's reach, or every full collection walks those
        # ~200k objects and stalls all requests for a quarter of a second.
        gc.collect()
        gc.freeze()
        log.info("openalgo %s started (database %s)", __version__, engine.url.render_as_string())
        try:
            yield
        finally:
            await _stop(runtime, market_task, background)
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
    app.include_router(build_v1_router())
    app.include_router(ws.router)
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(MonitoringMiddleware)
    app.include_router(metrics.router)
    # The front door goes around Starlette's stack before the address and ban layers go around
    # it (`install_security`): they must stay outermost.
    v1_dispatch.install(app, v1_routes())
    v1_front_door.install(app, settings)
    install_security(app, settings)
    document_api_key(app)
    return app


async def start_market(runtime: Runtime) -> asyncio.Task[None]:
    """Calendar, clock, instrument cache and the simulated market; returns its tick task."""
    from openalgo.brokers.simulator.market import SimulatorMarket
    from openalgo.domain.calendar import MarketCalendar
    from openalgo.services.instrument_cache import InstrumentCache
    from openalgo.services.instrument_loading import SIMULATOR
    from openalgo.services.instrument_refresh import SimulatorMasterRefresh

    settings = runtime.settings
    runtime.calendar = MarketCalendar.bundled(always_open=settings.market_always_open)
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
        calendar=runtime.calendar,
    )
    return asyncio.create_task(_run_together(runtime.simulator.run, refresh.run), name="simulator")


async def _run_together(*loops: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Background loops as one task: cancelling it cancels them all."""
    async with asyncio.TaskGroup() as group:
        for loop in loops:
            group.create_task(loop())


class TickFanout:
    """Hands each tick to several sinks (the paper-trading ledgers, and the stream)."""

    def __init__(self, sinks: list[TickSink]) -> None:
        self.sinks = sinks

    def publish(self, tick: Tick) -> None:
        for sink in self.sinks:
            sink.publish(tick)


async def start_sandbox(runtime: Runtime) -> None:
    """The two paper-trading ledgers, priced and fed by the simulated market.

    Analyzer mode prices orders from the user's active broker; until real brokers exist that is
    the simulator for everyone.
    """
    simulator = runtime.simulator

    def feed() -> CallbackFeed:
        return CallbackFeed(
            lambda exchange, symbol: simulator.subscribe(symbol, exchange, TickMode.QUOTE),
            lambda exchange, symbol: simulator.unsubscribe(symbol, exchange, TickMode.QUOTE),
        )

    engines = build_engines(
        runtime.settings,
        runtime.sessionmaker,
        runtime.read_sessionmaker,
        instruments=runtime.instruments,
        sandbox_market=lambda _user_id: simulator,
        simulator_market=lambda _user_id: simulator,
        clock=runtime.clock,
        feed=feed(),
        calendar=runtime.calendar,
    )
    engines.simulator.feed = feed()
    runtime.sandbox = engines
    simulator.sink = TickFanout([engines.sandbox, engines.simulator])
    if runtime.streaming is not None:
        engines.sandbox.events = engines.simulator.events = runtime.streaming.orders
    await engines.start(background=runtime.settings.background_tasks)


async def start_streaming(runtime: Runtime, setup: StreamingSetup | None) -> None:
    """Put the simulator's ticks on the bus and give the WebSocket layer its services.

    ``setup`` replaces the default services (tests use it to plug in their own feeds).
    """
    streaming = runtime.streaming
    assert streaming is not None
    if setup is not None:
        streaming.wire(await setup(streaming))
        return
    assert runtime.security is not None
    authenticator = ApiKeyAuthenticator(runtime.security)
    feed = SimulatorFeed(runtime.simulator, streaming.bus.publisher())
    await feed.start()
    streaming.on_close(feed.stop)
    sink = runtime.simulator.sink
    if isinstance(sink, TickFanout):
        sink.sinks.append(feed)
    else:
        runtime.simulator.sink = feed
    streaming.wire(StreamingSeams(authenticator, runtime.instruments, SharedFeedResolver(feed)))


async def _stop(
    runtime: Runtime, market_task: asyncio.Task[None], background: list[asyncio.Task[None]]
) -> None:
    """Release everything the lifespan started, newest first."""
    await stop_background(runtime, background)
    if runtime.streaming is not None:
        await runtime.streaming.close()
    market_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await market_task
    if runtime.sandbox is not None:
        await runtime.sandbox.stop()
    if runtime.security is not None:
        await runtime.security.close()
    await runtime.engine.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def create_app_from_env() -> FastAPI:
    """Factory used by ``uvicorn --factory`` (and ``openalgo serve --reload``)."""
    return create_app(load_settings(), ws_listener=True)
