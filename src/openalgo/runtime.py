"""The typed container of everything the lifespan creates.

Routers and dependencies read it from ``app.state.runtime``; nothing in the service is a module-level
singleton, so two apps (or two tests) never share an engine or a background task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.db.session import SessionMaker
from openalgo.settings import Settings

if TYPE_CHECKING:
    from openalgo.brokers.simulator.market import SimulatorMarket
    from openalgo.domain.calendar import MarketCalendar
    from openalgo.domain.clock import Clock
    from openalgo.services.instrument_cache import InstrumentCache
    from openalgo.services.monitoring import TrafficMonitor
    from openalgo.services.order_journal import OrderJournal


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: SessionMaker
    read_sessionmaker: SessionMaker
    # Instruments and the simulated market (issue 3); set by the lifespan.
    instruments: InstrumentCache = field(default=None)  # type: ignore[assignment]
    calendar: MarketCalendar = field(default=None)  # type: ignore[assignment]
    clock: Clock = field(default=None)  # type: ignore[assignment]
    simulator: SimulatorMarket = field(default=None)  # type: ignore[assignment]
    # Idempotency keys and the order log; request and order-latency records (issue 6).
    journal: OrderJournal = field(default=None)  # type: ignore[assignment]
    monitor: TrafficMonitor = field(default=None)  # type: ignore[assignment]
