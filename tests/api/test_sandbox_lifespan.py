"""The app lifespan builds both ledgers, starts their tasks and stops them on shutdown."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from openalgo.app import create_app
from openalgo.brokers.sandbox.lifecycle import SANDBOX, SIMULATOR, NoInstruments, build_engines
from openalgo.db import migrations
from openalgo.db.engine import create_engine
from openalgo.runtime import Runtime
from openalgo.settings import Settings
from tests.conftest import make_settings


async def test_lifespan_starts_and_stops_the_ledgers(tmp_path: Path) -> None:
    # Its own database: the background loops take SQLite's write lock, which the shared test
    # transaction holds.
    settings = make_settings(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'own.db'}", background_tasks=True
    )
    eng = create_engine(settings)
    await migrations.upgrade(eng)
    await eng.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        assert runtime.sandbox is not None
        engines = runtime.sandbox
        assert (engines.sandbox.ledger, engines.simulator.ledger) == (SANDBOX, SIMULATOR)
        assert (engines.sandbox.mode, engines.simulator.mode) == ("analyze", "live")
        for engine in (engines.sandbox, engines.simulator):
            assert engine.writer.running
            assert len(engine._tasks) == 2 and not any(t.done() for t in engine._tasks)
        assert engines.venue(SIMULATOR, 7).engine is engines.simulator
        assert engines.venue(SANDBOX, 7).user_id == 7
    for engine in (engines.sandbox, engines.simulator):
        assert not engine.writer.running and engine._tasks == []


async def test_engines_take_their_rules_from_settings(settings: Settings, app: FastAPI) -> None:
    tuned = settings.model_copy(
        update={"sandbox_equity_mis_leverage": 8, "market_always_open": True}
    )
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        engines = build_engines(tuned, runtime.sessionmaker, runtime.read_sessionmaker)
        assert engines.sandbox.defaults.equity_mis_leverage == 8
        assert engines.simulator.timing.market_always_open
        assert isinstance(engines.sandbox.instruments, NoInstruments)
        assert await engines.sandbox.instruments.resolve("SBIN", "NSE") is None
