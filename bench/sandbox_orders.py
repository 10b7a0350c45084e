"""MARKET order placement through the sandbox service layer (`SandboxEngine.place_order`).

Target (issue 4): at least 1,500 orders/s on one core, on SQLite and on PostgreSQL.

Each order is validated, priced from the in-memory market, margined, netted into its position and
committed (order, trade, position, funds) before its caller gets the order id. Three figures per
backend, measured in the same run:
- baseline: one client placing orders one after another (every order is its own transaction);
- concurrent: many clients at once, which the writer commits in groups;
- the ledger is then checked against its trades for a sample of users.

Usage: .venv/bin/python bench/sandbox_orders.py [--backend sqlite|postgresql|both]
       [--orders 20000] [--clients 64] [--users 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._sandbox_setup import (
    Market,
    fresh_database,
    load,
    make_users,
    percentiles,
    pin_to_one_core,
    rss_mb,
    started_engine,
)
from openalgo.brokers.sandbox import check_ledger
from openalgo.db.engine import reader
from openalgo.db.session import create_sessionmaker
from openalgo.domain.enums import Action, PriceType, Product
from openalgo.domain.orders import OrderRequest

SYMBOLS = [f"STOCK{i:02d}" for i in range(10)]


def market_order(n: int) -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOLS[n % len(SYMBOLS)],
        exchange="NSE",
        action=Action.BUY if (n // len(SYMBOLS)) % 2 == 0 else Action.SELL,
        quantity=1 + n % 7,
        pricetype=PriceType.MARKET,
        product=Product.MIS,
        price=Decimal(0),
        trigger_price=Decimal(0),
        strategy="bench",
    )


async def run(backend: str, orders: int, clients: int, users_count: int) -> None:
    async with fresh_database(backend) as (db, _settings):
        users = await make_users(db, users_count)
        market = Market({(s, "NSE"): 500.0 + i for i, s in enumerate(SYMBOLS)})
        engine = await started_engine(db, SYMBOLS, market)
        # Warm up: funds rows, positions, statement caches, quote board.
        await asyncio.gather(*(engine.place_order(u, market_order(i)) for i, u in enumerate(users)))

        sequential = max(200, orders // 20)
        latencies: list[float] = []
        started = time.perf_counter()
        for n in range(sequential):
            t0 = time.perf_counter()
            await engine.place_order(users[n % len(users)], market_order(n))
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        print(
            f"  baseline, 1 client (one transaction per order): {sequential / elapsed:8.0f} "
            f"orders/s  latency {percentiles(latencies)}"
        )

        per_client = orders // clients
        latencies = []
        batches_before = engine.writer.batches

        async def client(c: int) -> None:
            user = users[c % len(users)]
            for n in range(per_client):
                t0 = time.perf_counter()
                await engine.place_order(user, market_order(c * per_client + n))
                latencies.append(time.perf_counter() - t0)

        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        total = per_client * clients
        batches = engine.writer.batches - batches_before
        print(
            f"  {clients} concurrent clients:                      {total / elapsed:8.0f} "
            f"orders/s  latency {percentiles(latencies)}  ({total / max(1, batches):.1f} "
            f"orders per commit)"
        )
        print(
            f"  CPU per order: {cpu / total * 1e6:.0f} us in this process "
            f"(= {total / cpu:.0f} orders per CPU-second)"
        )
        await engine.stop()
        async with create_sessionmaker(reader(db))() as session:
            problems = []
            for user in users[:5]:
                problems += await check_ledger(session, "sandbox", user)
        print(f"  ledger check on 5 users: {'ok' if not problems else problems[:3]}")
        print(f"  peak RSS {rss_mb():.0f} MB")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    print(f"sandbox MARKET order placement ({pin_to_one_core()}, {load()})")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        print(f"{backend}:")
        await run(backend, args.orders, args.clients, args.users)


if __name__ == "__main__":
    asyncio.run(main())
