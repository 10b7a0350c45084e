"""The two ledgers the service runs, built and stopped by the app lifespan.

- ``sandbox``: analyzer mode; order and account calls of a user in analyze mode land here.
- ``simulator``: the built-in simulator broker's own order API (a new user's default broker).

The collaborators are passed in: the instrument lookup, the market data of a user's active broker,
the tick feed and the order-event sink. Until those are wired (see the report for issue 4) the
lifespan uses the placeholders below, under which every symbol is unknown and orders are refused
with that reason rather than failing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from openalgo.brokers.base import MarketData
from openalgo.brokers.sandbox.engine import SandboxEngine
from openalgo.brokers.sandbox.feed import MarketDataFor, PriceFeed
from openalgo.brokers.sandbox.venue import SandboxVenue
from openalgo.db.session import SessionMaker
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import Clock, SystemClock
from openalgo.domain.instruments import Instrument, InstrumentLookup
from openalgo.domain.orders import OrderEvent, OrderEventSink
from openalgo.settings import Settings

log = logging.getLogger("openalgo.sandbox")

SANDBOX = "sandbox"
SIMULATOR = "simulator"


class NoInstruments:
    """Placeholder lookup until the instrument master is wired in: nothing resolves."""

    async def resolve(self, symbol: str, exchange: str) -> Instrument | None:
        return None


def no_market_data(_user_id: int) -> MarketData | None:
    """Placeholder until a user's active broker provides quotes."""
    return None


class LoggedEvents:
    """Placeholder order-event sink until the streaming hub subscribes: events go to the log."""

    def publish(self, event: OrderEvent) -> None:
        log.debug(
            "order %s %s for user %s on %s",
            event.order.orderid,
            event.kind,
            event.user_id,
            event.venue,
        )


@dataclass
class SandboxEngines:
    sandbox: SandboxEngine
    simulator: SandboxEngine

    def venue(self, ledger: str, user_id: int) -> SandboxVenue:
        engine = self.sandbox if ledger == SANDBOX else self.simulator
        return SandboxVenue(engine, user_id)

    async def start(self, *, background: bool = True) -> None:
        await self.sandbox.start(background=background)
        await self.simulator.start(background=background)

    async def stop(self) -> None:
        await self.simulator.stop()
        await self.sandbox.stop()


def build_engines(
    settings: Settings,
    sessionmaker: SessionMaker,
    read_sessionmaker: SessionMaker,
    *,
    instruments: InstrumentLookup | None = None,
    sandbox_market: MarketDataFor | None = None,
    simulator_market: MarketDataFor | None = None,
    events: OrderEventSink | None = None,
    feed: PriceFeed | None = None,
    clock: Clock | None = None,
    calendar: MarketCalendar | None = None,
) -> SandboxEngines:
    """Both ledgers with their settings. ``sandbox_market`` prices analyze-mode orders from the
    user's active broker; ``simulator_market`` prices the simulator ledger from the simulator."""
    common = {
        "sessionmaker": sessionmaker,
        "read_sessionmaker": read_sessionmaker,
        "instruments": instruments or NoInstruments(),
        "events": events or LoggedEvents(),
        "clock": clock or SystemClock(),
        "feed": feed,
        "calendar": calendar,
    }
    return SandboxEngines(
        sandbox=SandboxEngine.from_settings(
            settings,
            ledger=SANDBOX,
            market=sandbox_market or no_market_data,
            mode="analyze",
            **common,
        ),
        simulator=SandboxEngine.from_settings(
            settings,
            ledger=SIMULATOR,
            market=simulator_market or no_market_data,
            mode="live",
            **common,
        ),
    )
