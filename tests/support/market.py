"""A real simulated market over the generated master, on a manual clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from openalgo.brokers.simulator.market import SimulatorMarket
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import IST, ManualClock
from openalgo.domain.market import Tick
from openalgo.services.instrument_cache import InstrumentCache
from openalgo.services.instrument_loading import simulator_master

# Monday 30 Nov 2026, 11:00 IST: NSE, NFO, CDS and MCX all in session.
MONDAY_11 = datetime(2026, 11, 30, 11, 0, tzinfo=IST)


@dataclass
class ListSink:
    ticks: list[Tick] = field(default_factory=list)

    def publish(self, tick: Tick) -> None:
        self.ticks.append(tick)


def build_market(
    start: datetime = MONDAY_11, *, always_open: bool = False, today: date | None = None
) -> tuple[SimulatorMarket, ManualClock, ListSink]:
    calendar = MarketCalendar.bundled(always_open=always_open)
    cache = InstrumentCache("simulator", simulator_master(calendar, today or start.date()))
    clock = ManualClock(start)
    sink = ListSink()
    return SimulatorMarket(cache, calendar, clock, sink=sink), clock, sink
