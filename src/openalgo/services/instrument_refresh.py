"""Keeping the simulator's master current in a server that runs for days.

``openalgo serve`` builds the day's master before it starts; without this task a server started on
Monday would still list Monday's contracts on Friday (expired weeklies in, the new one missing).
Each day after the cut-off (OpenAlgo's ``MASTER_CONTRACT_CUTOFF_TIME``, 08:00 IST by default, well
before the 09:15 open) the task regenerates the master for the new IST date, replaces it in the
database in one transaction, and reloads the in-memory cache, which swaps its indexes in one
assignment: a request sees the old master or the new one, never a mix.

Several workers may share one PostgreSQL database: each runs this task, the first replaces the rows
and the others find today's master already there and only reload their caches. A worker that must
not write (``OPENALGO_BACKGROUND_TASKS=false``: another process does the upkeep) only reloads, and
keeps looking every few minutes until the writer has put the new day's master in.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from openalgo.db.session import SessionMaker
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import IST, Clock
from openalgo.services.instrument_cache import InstrumentCache
from openalgo.services.instrument_loading import LoadSummary, ensure_simulator_master

if TYPE_CHECKING:
    from openalgo.brokers.simulator.market import SimulatorMarket

log = logging.getLogger("openalgo.instruments")

RETRY_SECONDS = 300.0
# Long sleeps are taken in slices, so a clock that jumps (a suspended laptop) is noticed within one.
MAX_SLEEP_SECONDS = 3600.0


def next_refresh(now: datetime, at: time) -> datetime:
    """The first instant strictly after ``now`` at which the IST wall clock reads ``at``."""
    local = now.astimezone(IST)
    candidate = datetime.combine(local.date(), at, tzinfo=IST)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=IST)
    return candidate


class SimulatorMasterRefresh:
    """Rebuilds the simulator's master once a day; `run` is the lifespan's task."""

    def __init__(
        self,
        *,
        sessionmaker: SessionMaker,
        read_sessionmaker: SessionMaker,
        cache: InstrumentCache,
        clock: Clock,
        at: time = time(8, 0),
        seed: int = 0,
        market: SimulatorMarket | None = None,
        write: bool = True,
        calendar: MarketCalendar | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.read_sessionmaker = read_sessionmaker
        self.cache = cache
        self.clock = clock
        self.at = at
        self.seed = seed
        self.market = market
        self.write = write
        # The running market's calendar: its price paths (and so the strikes the master centres on)
        # depend on whether it is kept open around the clock; expiries always follow the real one.
        self.calendar = calendar or MarketCalendar.bundled()

    def today(self) -> date:
        return self.clock.now().astimezone(IST).date()

    async def refresh(self) -> LoadSummary | None:
        """Make today's master current in the database and in the cache.

        Returns the load summary when this call rebuilt the rows (``None`` when they were
        already today's, for instance loaded by another worker, or when this one does not write).
        """
        today = self.today()
        summary = None
        if self.write:
            summary = await ensure_simulator_master(
                self.sessionmaker, self.calendar, today, seed=self.seed
            )
        if summary is not None:
            log.info("instrument master refreshed for %s: %s", today.isoformat(), summary.line())
        if summary is not None or self.cache.as_of != today:
            rows = await self.cache.load(self.read_sessionmaker)
            if self.market is not None:
                self.market.forget_delisted()
            log.info("instrument cache reloaded: %d %s instruments", rows, self.cache.broker)
        return summary

    async def run(self) -> None:
        while True:
            due = next_refresh(self.clock.now(), self.at)
            await self._sleep_until(due)
            while True:
                try:
                    await self.refresh()
                except Exception:  # a database hiccup must not end the daily refresh
                    log.exception("instrument master refresh failed; retrying")
                if self.cache.as_of == self.today():
                    break
                await self.clock.sleep(RETRY_SECONDS)

    async def _sleep_until(self, due: datetime) -> None:
        while (remaining := (due - self.clock.now()).total_seconds()) > 0:
            await self.clock.sleep(min(remaining, MAX_SLEEP_SECONDS))
