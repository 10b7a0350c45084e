"""Loading masters into the database: from a file, or the simulator's generated one.

One transaction per load: the broker's rows for the loaded exchanges are replaced together or not
at all. The CLI (``openalgo instruments load``) and ``openalgo serve`` (first start, and each new
trading day for the simulator) both come through here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from openalgo.db.repositories.instruments import InstrumentRepository
from openalgo.db.session import SessionMaker, transaction
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.enums import Exchange
from openalgo.domain.instruments import Instrument
from openalgo.errors import BadRequest
from openalgo.services.instrument_master import MasterFileError, parse_master_csv

SIMULATOR = "simulator"


@dataclass
class LoadSummary:
    broker: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    expired: int = 0
    source: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        per = ", ".join(f"{exchange} {n}" for exchange, n in sorted(self.counts.items()))
        extra = f"; skipped {self.expired} expired contracts" if self.expired else ""
        return (
            f"loaded {self.total} instruments for {self.broker} in {self.seconds:.2f} s "
            f"({per}){extra}"
        )


def today_ist() -> date:
    from datetime import datetime

    from openalgo.domain.clock import IST

    return datetime.now(IST).date()


def read_master_file(path: Path, *, today: date) -> tuple[list[Instrument], int]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            parsed = parse_master_csv(handle, today=today)
    except OSError as exc:
        raise BadRequest(f"Cannot read master file {str(path)!r}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise MasterFileError(f"Master file {str(path)!r} is not UTF-8 text: {exc.reason}") from exc
    return parsed.instruments, parsed.expired


def simulator_master(calendar: MarketCalendar, today: date, *, seed: int = 0) -> list[Instrument]:
    from openalgo.brokers.simulator.master import generate_master
    from openalgo.brokers.simulator.prices import PriceModel
    from openalgo.brokers.simulator.spec import load_spec

    spec = load_spec()
    return generate_master(spec, PriceModel(spec, calendar, seed=seed), calendar, today)


async def load_master(
    sessionmaker: SessionMaker,
    broker: str,
    instruments: list[Instrument],
    *,
    as_of: date,
    source: str,
    expired: int = 0,
    progress: Callable[[int], None] | None = None,
    whole: bool = False,
) -> LoadSummary:
    """Replace the exchanges present in ``instruments`` (``whole``: every exchange)."""
    started = time.perf_counter()
    exchanges = [e.value for e in Exchange] if whole else None
    async with transaction(sessionmaker) as session:
        counts = await InstrumentRepository(session, broker).replace(
            instruments, exchanges=exchanges, as_of=as_of, source=source, progress=progress
        )
    counts = {k: v for k, v in counts.items() if v or not whole}
    return LoadSummary(broker, counts, time.perf_counter() - started, expired, source)


async def ensure_simulator_master(
    sessionmaker: SessionMaker, calendar: MarketCalendar, today: date, *, seed: int = 0
) -> LoadSummary | None:
    """Generate and load the simulator's master unless today's is already there."""
    async with sessionmaker() as session:
        master = await InstrumentRepository(session, SIMULATOR).master()
        current = master is not None and master.as_of == today
        await session.rollback()
    if current:
        return None
    rows = simulator_master(calendar, today, seed=seed)
    return await load_master(
        sessionmaker,
        SIMULATOR,
        rows,
        as_of=today,
        source=f"generated for {today.isoformat()}",
        whole=True,
    )
