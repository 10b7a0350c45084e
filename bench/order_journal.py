"""Order journal throughput at the service layer: intent + outcome per order, with and without an
Idempotency-Key, 1 and 32 concurrent callers, on SQLite and PostgreSQL. The baseline, measured in
the same run, is what the journal replaces at best: two empty write transactions per order.

    .venv/bin/python bench/order_journal.py [--orders 600] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rest_overhead import _prepare_database, _recreate_postgres, _settings
from openalgo.db.engine import create_engine
from openalgo.db.session import create_sessionmaker, transaction
from openalgo.services.order_journal import Intent, OrderContext, OrderJournal

PAYLOAD = {"strategy": "bench", "symbol": "SBIN", "exchange": "NSE", "quantity": "1"}


async def rate(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def limited(i: int) -> None:
        async with gate:
            await one(i)

    start = time.perf_counter()
    await asyncio.gather(*(limited(i) for i in range(n)))
    return n / (time.perf_counter() - start)


async def run(name: str, url: str, data: Path, orders: int) -> None:
    user_id = await asyncio.to_thread(_prepare_database, url, data)
    engine = create_engine(_settings(), url)
    sessionmaker = create_sessionmaker(engine)
    journal = OrderJournal(sessionmaker)

    async def two_commits(_: int) -> None:
        for _ in range(2):
            async with transaction(sessionmaker) as session:
                await session.execute(text("SELECT 1"))

    def journal_order(tag: str) -> Callable[[int], Awaitable[None]]:
        async def one(i: int) -> None:
            ctx = OrderContext(
                user_id=user_id,
                endpoint="placeorder",
                payload=PAYLOAD,
                idempotency_key=f"{tag}-{i}" if tag else None,
            )
            intent = await journal.begin(ctx)
            assert isinstance(intent, Intent)
            await journal.finish(intent, status=200, body={"status": "success", "orderid": str(i)})

        return one

    try:
        for concurrency in (1, 32):
            base = await rate(orders, concurrency, two_commits)
            plain = await rate(orders, concurrency, journal_order(""))
            keyed = await rate(orders, concurrency, journal_order(f"k{concurrency}"))
            print(
                f"{name:<10} {concurrency:>2} callers: baseline (2 empty commits) {base:6.0f}/s | "
                f"journal {plain:6.0f} orders/s ({plain / base:.2f}x) | "
                f"journal + key {keyed:6.0f} orders/s ({keyed / base:.2f}x)",
                flush=True,
            )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores, {args.orders} orders")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = Path(tmp) / "sqlite"
        sqlite.mkdir()
        os.environ["BENCH_DATA_DIR"] = str(sqlite)
        os.environ["BENCH_DATABASE_URL"] = f"sqlite+aiosqlite:///{sqlite / 'j.db'}"
        asyncio.run(run("SQLite", os.environ["BENCH_DATABASE_URL"], sqlite, args.orders))
        if not args.no_postgres:
            url = os.environ.get(
                "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/openalgo_bench"
            )
            _recreate_postgres(url)
            os.environ["BENCH_DATABASE_URL"] = url
            asyncio.run(run("PostgreSQL", url, sqlite, args.orders))


if __name__ == "__main__":
    main()
