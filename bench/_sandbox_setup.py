"""Shared set-up for the sandbox benchmarks: a fresh migrated database, users, an in-memory market.

Not a benchmark itself (``make bench`` runs it and it does nothing).
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from openalgo.brokers.base import Capabilities
from openalgo.brokers.sandbox.config import EngineTiming
from openalgo.brokers.sandbox.engine import SandboxEngine
from openalgo.db import migrations
from openalgo.db.engine import create_engine, reader
from openalgo.db.models import User
from openalgo.db.session import create_sessionmaker
from openalgo.domain.clock import SystemClock
from openalgo.domain.enums import Exchange, InstrumentType
from openalgo.domain.instruments import Instrument
from openalgo.domain.market import Candle, Depth, Quote
from openalgo.domain.orders import OrderEvent
from openalgo.errors import NotFound, OpenAlgoError
from openalgo.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "OPENALGO_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
USERS: Table = User.__table__  # type: ignore[assignment]


def pin_to_one_core() -> str:
    """Run the benchmark process on one CPU, as the targets are stated per core."""
    try:
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return "not pinned"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} on {os.cpu_count()} cores"


def percentiles(samples: Sequence[float]) -> str:
    if not samples:
        return "n/a"
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, max {ordered[-1] * 1000:.2f} ms"


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        env="testing",
        data_dir=data_dir,
        database_url=url,
        secret_key="b" * 64,
        pepper="p" * 64,
    )


@asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[tuple[AsyncEngine, Settings]]:
    """A migrated, empty database on ``backend``; dropped afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        name = f"openalgo_bench_{os.getpid()}"
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
        else:
            admin_url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg")
            admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
            await admin.dispose()
            url = admin_url.set(database=name).render_as_string(hide_password=False)
        settings = settings_for(url, data_dir)
        engine = create_engine(settings)
        await migrations.upgrade(engine)
        try:
            yield engine, settings
        finally:
            await engine.dispose()
            if backend != "sqlite":
                admin = create_async_engine(
                    make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg"),
                    isolation_level="AUTOCOMMIT",
                )
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()


async def make_users(engine: AsyncEngine, count: int) -> list[int]:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(USERS).returning(USERS.c.id),
            [
                {
                    "username": f"bench{i}",
                    "password_hash": "x",
                    "is_admin": False,
                    "is_active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(count)
            ],
        )
        return [int(r) for r in result.scalars()]


def equity(symbol: str) -> Instrument:
    return Instrument(
        symbol=symbol,
        exchange="NSE",
        name=symbol,
        instrument_type=InstrumentType.EQ,
        token=symbol,
        broker_symbol=symbol,
        broker_exchange="NSE",
        lot_size=1,
        tick_size=Decimal("0.05"),
    )


class Instruments:
    def __init__(self, symbols: Sequence[str]) -> None:
        self.rows = {(s, "NSE"): equity(s) for s in symbols}

    async def resolve(self, symbol: str, exchange: str) -> Instrument | None:
        return self.rows.get((symbol, exchange))


@dataclass
class Market:
    """In-memory quotes, as a simulator would answer them."""

    prices: dict[tuple[str, str], float] = field(default_factory=dict)
    name: str = "bench"
    capabilities: Capabilities = field(
        default_factory=lambda: Capabilities(exchanges=frozenset(Exchange))
    )

    async def quote(self, symbol: str, exchange: str) -> Quote:
        ltp = self.prices.get((symbol, exchange))
        if ltp is None:
            raise NotFound(symbol)
        return Quote(
            ltp=ltp,
            open=ltp,
            high=0,
            low=0,
            prev_close=ltp,
            volume=0,
            bid=ltp - 0.05,
            ask=ltp + 0.05,
            timestamp_ms=int(time.time() * 1000),
        )

    async def quotes(self, items: Sequence[tuple[str, str]]) -> list[Quote | OpenAlgoError]:
        out: list[Quote | OpenAlgoError] = []
        for s, e in items:
            try:
                out.append(await self.quote(s, e))
            except OpenAlgoError as exc:
                out.append(exc)
        return out

    async def depth(self, symbol: str, exchange: str) -> Depth:
        raise NotFound(symbol)

    async def history(
        self, symbol: str, exchange: str, interval: str, start: datetime, end: datetime
    ) -> list[Candle]:
        return []


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def publish(self, event: OrderEvent) -> None:
        self.count += 1


async def started_engine(
    db: AsyncEngine, symbols: Sequence[str], market: Market, **timing: Any
) -> SandboxEngine:
    """A started sandbox ledger over ``db`` with ``symbols`` listed and priced by ``market``,
    the market always open, no background loops; ``timing`` adds `EngineTiming` fields."""
    engine = SandboxEngine(
        ledger="sandbox",
        sessionmaker=create_sessionmaker(db),
        read_sessionmaker=create_sessionmaker(reader(db)),
        instruments=Instruments(symbols),
        market=lambda _u: market,
        events=CountingSink(),
        clock=SystemClock(),
        timing=EngineTiming(market_always_open=True, quote_max_age=3600, **timing),
    )
    await engine.start(background=False)
    return engine
