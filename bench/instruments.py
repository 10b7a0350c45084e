"""Instrument master and simulator benchmarks (issue 3).

Prints, for SQLite and PostgreSQL: time to load a synthetic 100,000-instrument master (first load
and the idempotent replace); time to warm the cache from it; search latency through the service
(warm cache, and the database scan a cold cache falls back to) with p50/p99 wall clock and CPU
time; warm-cache resolve p50/p99; simulator tick throughput on one core; daily history over six
years, first and repeated. Baselines measured in the same run: a plain dict lookup (resolve), a
naive scan of the in-memory master (search), ticks asked for one at a time, and the cost of one
session path (history).

    .venv/bin/python bench/instruments.py
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from typing import Any

from openalgo.db import migrations
from openalgo.db.engine import create_engine
from openalgo.db.repositories.instruments import InstrumentRepository, search_text
from openalgo.db.session import create_sessionmaker, transaction
from openalgo.domain.enums import InstrumentType, TickMode
from openalgo.domain.instruments import Instrument
from openalgo.domain.symbols import future_symbol, option_symbol
from openalgo.services.instrument_cache import InstrumentCache
from openalgo.services.instruments import search_instruments
from openalgo.settings import Settings

N = 100_000
PG_ADMIN = os.environ.get(
    "OPENALGO_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def synthetic(n: int) -> list[Instrument]:
    rng = random.Random(7)
    out: list[Instrument] = []
    bases = [f"STK{i:03d}" for i in range(400)] + ["NIFTY", "BANKNIFTY", "FINNIFTY"]
    expiries = [date(2027, 1, 26) + timedelta(days=7 * i) for i in range(12)]
    for i in range(1000):
        sym = f"EQ{i:04d}"
        out.append(Instrument(sym, "NSE", f"COMPANY {i}", InstrumentType.EQ, str(i), sym, "NSE"))
    seen = set()
    while len(out) < n:
        base = rng.choice(bases)
        expiry = rng.choice(expiries)
        if rng.random() < 0.02:
            sym, kind, strike = future_symbol(base, expiry), InstrumentType.FUT, None
        else:
            strike_v = rng.randrange(100, 60000, 50)
            kind = rng.choice([InstrumentType.CE, InstrumentType.PE])
            sym = option_symbol(base, expiry, strike_v, kind.value)
            strike = strike_v
        if sym in seen:
            continue
        seen.add(sym)
        from decimal import Decimal

        out.append(
            Instrument(
                sym,
                "NFO",
                base,
                kind,
                str(10_000 + len(out)),
                sym,
                "NFO",
                50,
                Decimal("0.05"),
                expiry,
                Decimal(strike) if strike else None,
            )
        )
    return out


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("NIFTY", {}),
    ("NIFTY 26000 CE", {}),
    ("STK123", {}),
    ("banknifty 45000", {}),
    ("COMPANY 12", {}),
    ("EQ0999", {}),
    ("STK0", {}),
    ("ZZZ", {}),
    ("FINNIFTY JAN27 PE", {}),
    ("26FEB27", {}),
    # harder: short terms (no trigram), broad terms under filters, a non-canonical strike
    ("E", {}),
    ("Q", {}),
    ("NIFTY CE", {"instrument_types": [InstrumentType.PE]}),
    ("NIFTY", {"exchange": "NSE"}),
    ("STK", {"instrument_types": [InstrumentType.FUT]}),
    ("NIFTY 24000.0", {}),
    ("STK12 CE 45000", {}),
]


def naive_search(rows: list[Instrument], texts: list[str], query: str) -> list[Instrument]:
    """Baseline: test every row, then rank (a list comprehension over the cache)."""
    terms = query.upper().split()
    hits = [r for r, t in zip(rows, texts, strict=True) if all(term in t for term in terms)]
    first = terms[0]
    exact = [r for r in hits if r.symbol == first]
    prefix = sorted(
        (r for r in hits if r.symbol.startswith(first) and r.symbol != first),
        key=lambda r: (r.symbol, r.exchange),
    )
    rest = [r for r in hits if not r.symbol.startswith(first)]
    return (exact + prefix + rest)[:500]


async def timed_searches(run: Any, rounds: int, cpu: list[float] | None = None) -> list[float]:
    """Wall-clock samples; ``cpu`` collects this thread's CPU time per query too (on a shared
    machine the wall clock's tail is mostly the process waiting for a core)."""
    samples = []
    for query, filters in QUERIES:
        await run(query, filters)  # warm
    for _ in range(rounds):
        for query, filters in QUERIES:
            t, c = time.perf_counter(), time.thread_time()
            await run(query, filters)
            samples.append(time.perf_counter() - t)
            if cpu is not None:
                cpu.append(time.thread_time() - c)
    return samples


async def bench_db(label: str, url: str, rows: list[Instrument]) -> None:
    settings = Settings(
        _env_file=None, data_dir=Path(tempfile.mkdtemp()), secret_key="k" * 40, pepper="p" * 40
    )
    engine = create_engine(settings, url)
    await migrations.upgrade(engine)
    maker = create_sessionmaker(engine)
    from dataclasses import replace as changed

    variants = [
        ("first", rows),
        ("same again", rows),  # the idempotent path
        (
            "2% changed",
            [changed(r, lot_size=r.lot_size + 1) if k % 50 == 0 else r for k, r in enumerate(rows)],
        ),
        ("every row changed", [changed(r, token=r.token + "X") for r in rows]),
    ]
    loads = []
    for name, master in variants:
        t = time.perf_counter()
        async with transaction(maker) as session:
            await InstrumentRepository(session, "bench").replace(
                master, as_of=date.today(), source="bench"
            )
        loads.append(f"{name} {time.perf_counter() - t:.2f} s")
    print(f"{label}: load {N} instruments: {', '.join(loads)}")
    cache = InstrumentCache("bench")
    t = time.perf_counter()
    async with maker() as session:
        await InstrumentRepository(session, "bench").all()
    read = time.perf_counter() - t
    t = time.perf_counter()
    await cache.load(maker)
    print(
        f"{label}: warm the cache: {time.perf_counter() - t:.2f} s "
        f"(read {read:.2f} s, then build indexes in a thread)"
    )
    async with maker() as session:

        async def warm(query: str, filters: dict[str, Any]) -> None:
            await search_instruments(session, "bench", query, cache=cache, **filters)

        async def cold(query: str, filters: dict[str, Any]) -> None:
            await search_instruments(session, "bench", query, **filters)

        cpu: list[float] = []
        samples = await timed_searches(warm, 30, cpu)
        print(
            f"{label}: search (service, warm cache) over {N}: p50 {pct(samples, 0.5):.2f} ms, "
            f"p99 {pct(samples, 0.99):.2f} ms, max {max(samples) * 1000:.2f} ms "
            f"({len(samples)} queries); CPU time p50 {pct(cpu, 0.5):.2f} ms, "
            f"p99 {pct(cpu, 0.99):.2f} ms"
        )
        samples = await timed_searches(cold, 1)
        print(
            f"{label}: search (service, cold cache: database scan) over {N}: "
            f"p50 {pct(samples, 0.5):.2f} ms, p99 {pct(samples, 0.99):.2f} ms"
        )
        await session.rollback()
    await engine.dispose()


async def bench_resolve(rows: list[Instrument]) -> None:
    cache = InstrumentCache("bench", rows)
    keys = [(r.symbol, r.exchange) for r in rows]
    rng = random.Random(1)
    picks = [rng.choice(keys) for _ in range(100_000)]

    async def run() -> list[float]:
        out = []
        for symbol, exchange in picks:
            t = time.perf_counter()
            await cache.resolve(symbol, exchange)
            out.append(time.perf_counter() - t)
        return out

    samples = await run()
    plain = {(r.exchange, r.symbol): r for r in rows}
    base = []
    for symbol, exchange in picks[:20000]:
        t = time.perf_counter()
        plain.get((exchange, symbol))
        base.append(time.perf_counter() - t)
    print(
        f"resolve (warm cache, {len(rows)} rows): p50 {pct(samples, 0.5) * 1000:.2f} us, p99 {pct(samples, 0.99) * 1000:.2f} us; baseline dict.get p50 {pct(base, 0.5) * 1000:.2f} us"
    )


async def bench_ticks() -> None:
    from tests.support.market import MONDAY_11, build_market

    class Counter:
        n = 0

        def publish(self, tick: object) -> None:
            self.n += 1

    market, clock, _ = build_market()
    sink = Counter()
    market.sink = sink
    insts = [
        i
        for i in market.instruments.instruments()
        if i.exchange in ("NSE", "NFO", "NSE_INDEX", "BSE", "BFO")
    ]
    rng = random.Random(3)
    chosen = rng.sample(insts, 5000)
    for i, inst in enumerate(chosen):
        mode = (TickMode.LTP, TickMode.QUOTE, TickMode.DEPTH)[i % 3]
        market.subscribe(inst.symbol, inst.exchange, mode)

    async def run() -> tuple[int, float, float]:
        when = MONDAY_11
        await market.publish_due(when)  # warm: day paths built
        start, cpu = time.perf_counter(), time.process_time()
        sent = 0
        for _ in range(40):  # 20 simulated seconds at 2 ticks/s: vertices are crossed
            when += timedelta(milliseconds=500)
            sent += await market.publish_due(when)
        return sent, time.perf_counter() - start, time.process_time() - cpu

    sent, seconds, cpu = await run()
    print(
        f"simulator: {sent} ticks (5000 instruments, LTP/QUOTE/DEPTH mixed) in {seconds:.2f} s "
        f"= {sent / seconds:,.0f} ticks/s wall, {sent / cpu:,.0f} ticks per CPU-second"
    )
    # Baseline: the same ticks asked for one by one (each looks up its own session).
    picks = chosen[:2000]
    when = MONDAY_11 + timedelta(seconds=30)
    start = time.perf_counter()
    for i, inst in enumerate(picks):
        market.make_tick(
            inst.symbol, inst.exchange, (TickMode.LTP, TickMode.QUOTE, TickMode.DEPTH)[i % 3], when
        )
    seconds = time.perf_counter() - start
    print(f"baseline: make_tick one at a time: {len(picks) / seconds:,.0f} ticks/s")


async def bench_history() -> None:
    from tests.support.market import MONDAY_11, build_market

    market, _, _ = build_market()
    start = MONDAY_11 - timedelta(days=6 * 365)
    for symbol, exchange in (("SBIN", "NSE"), ("NIFTY29DEC26FUT", "NFO")):
        figures = []
        for _ in range(2):
            t = time.perf_counter()
            bars = await market.history(symbol, exchange, "D", start, MONDAY_11)
            figures.append(time.perf_counter() - t)
        print(
            f"history: {symbol} daily over 6 years ({len(bars)} bars): first {figures[0]:.2f} s, "
            f"repeated {figures[1] * 1000:.0f} ms"
        )
    fresh, _, _ = build_market()
    process = fresh.valuer("INFY", "NSE").process
    day = MONDAY_11.date() - timedelta(days=200)
    t = time.perf_counter()
    for k in range(200):
        fresh.model.day_path(process, day - timedelta(days=k))
    per_path = (time.perf_counter() - t) / 200
    print(f"baseline: one session path built: {per_path * 1000:.2f} ms (6 years: ~1,500 paths)")


async def bench_naive(rows: list[Instrument]) -> None:
    texts = [search_text(r) for r in rows]
    samples = []
    for query, _ in QUERIES[:10]:
        t = time.perf_counter()
        naive_search(rows, texts, query)
        samples.append(time.perf_counter() - t)
    print(f"baseline: naive in-memory scan over {N}: p50 {pct(samples, 0.5):.2f} ms")


async def main() -> None:
    print(f"load average: {os.getloadavg()}")
    rows = synthetic(N)
    await bench_naive(rows)
    await bench_resolve(rows)
    await bench_ticks()
    await bench_history()
    with tempfile.TemporaryDirectory() as tmp:
        await bench_db("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", rows)
    from tests.support.services import drop_postgres, provision_postgres

    try:
        url = await provision_postgres("openalgo_bench_instruments")
    except BaseException as exc:  # pytest.skip raises BaseException subclasses
        print(f"postgresql: unavailable ({exc})")
        return
    try:
        await bench_db("postgresql", url, rows)
    finally:
        await drop_postgres("openalgo_bench_instruments")


if __name__ == "__main__":
    asyncio.run(main())
