"""Ledger reads through the sandbox venue: what each account/order-book body costs in-process.

Target (issue 6): ``funds`` at 3,000 requests/s on one uvicorn worker; this measures the ledger's
share of that budget (the venue call that renders the analyze-mode body), without HTTP.

One user per client holds a realistic book: open positions in ``--symbols`` symbols, positions
closed this session, today's trades and orders, a couple of CNC holdings. Each read is timed
sequentially (one caller, latency percentiles) and with ``--clients`` concurrent callers (calls/s
and CPU per call in this process). Prices come from a fresh quote board, as with live ticks.
Then one account gets ``--day-trades`` more trades today and ``funds`` and ``positionbook`` are
timed again: the P&L of the day is kept on the position rows, so the figures should not move.

First, one funds-row SELECT through `Reads.all` alone, by the way it reaches the database: through
a session, on a connection checked out of the pool per read (what a closed `Reads` does), and on
held connections ("lanes", the default) with 1, 2, 4 and 8 of them: the per-read cost of the
checkout and checkin, and how many lanes concurrent callers need.

To compare with another checkout's code, run this file with that checkout's interpreter (the
ledger is imported from the installed package; only `bench._sandbox_setup` comes from here).

Usage: .venv/bin/python bench/sandbox_reads.py [--backend sqlite|postgresql|both]
       [--calls 1000] [--clients 32] [--symbols 10] [--day-trades 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, select

from bench._sandbox_setup import (
    Market,
    fresh_database,
    load,
    make_users,
    percentiles,
    pin_to_one_core,
    started_engine,
)
from openalgo.brokers.sandbox import SandboxEngine, SandboxVenue
from openalgo.brokers.sandbox.driver_reads import PreparedRead, Reads
from openalgo.brokers.sandbox.store import FUNDS
from openalgo.domain.enums import Action, PriceType, Product
from openalgo.domain.orders import OrderRequest


def order(symbol: str, action: Action, qty: int, product: Product = Product.MIS) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        exchange="NSE",
        action=action,
        quantity=qty,
        pricetype=PriceType.MARKET,
        product=product,
        price=Decimal(0),
        trigger_price=Decimal(0),
        strategy="bench",
    )


async def build_book(engine: SandboxEngine, user: int, symbols: list[str]) -> str:
    """Open positions in every symbol, close two, leave a resting order; returns an order id."""
    for n, symbol in enumerate(symbols):
        await engine.place_order(user, order(symbol, Action.BUY, 2 + n % 3))
    for symbol in symbols[:2]:
        await engine.place_order(user, order(symbol, Action.SELL, 10))
        await engine.place_order(user, order(symbol, Action.BUY, 10))
    for symbol in symbols[-2:]:
        await engine.place_order(user, order(symbol, Action.BUY, 1, Product.CNC))
    resting = replace(order(symbols[0], Action.BUY, 1), pricetype=PriceType.LIMIT, price=Decimal(1))
    return await engine.place_order(user, resting)


async def measure(
    name: str, call: Callable[[int], Awaitable[Any]], users: list[int], calls: int, clients: int
) -> None:
    for u in users:  # warm up: statement caches, first-read settlement
        await call(u)
    latencies: list[float] = []
    started = time.perf_counter()
    for n in range(calls):
        t0 = time.perf_counter()
        await call(users[n % len(users)])
        latencies.append(time.perf_counter() - t0)
    sequential = calls / (time.perf_counter() - started)

    per_client = max(1, calls // clients)

    async def client(c: int) -> None:
        user = users[c % len(users)]
        for _ in range(per_client):
            await call(user)

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    total = per_client * clients
    print(
        f"  {name:<13} 1 caller {sequential:6.0f}/s ({percentiles(latencies)}); "
        f"{clients} callers {total / elapsed:6.0f}/s, CPU {cpu / total * 1e6:5.0f} us/call"
    )


FUNDS_ROW = PreparedRead(
    select(FUNDS).where(
        FUNDS.c.ledger == bindparam("ledger"), FUNDS.c.user_id == bindparam("user_id")
    )
)


async def measure_read_paths(
    engine: SandboxEngine, users: list[int], calls: int, clients: int
) -> None:
    """`Reads.all` of one funds row: session, checkout per read, held lanes."""
    sessionmaker = engine.read_sessionmaker
    checkout = Reads(sessionmaker)
    await checkout.aclose()  # closed: a pool checkout and checkin per read
    paths = {"session": Reads(sessionmaker, direct=False), "checkout/read": checkout}
    for lanes in (1, 2, 4, 8):
        paths[f"{lanes} lane{'s' if lanes > 1 else ''}"] = Reads(sessionmaker, lanes=lanes)
    for name, reads in paths.items():

        async def call(user: int, reads: Reads = reads) -> Any:
            return await reads.all(FUNDS_ROW, {"ledger": "sandbox", "user_id": user})

        await measure(name, call, users, calls, clients)
        await reads.aclose()


async def run(backend: str, calls: int, clients: int, symbols_count: int, day_trades: int) -> None:
    symbols = [f"STOCK{i:02d}" for i in range(symbols_count)]
    async with fresh_database(backend) as (db, _settings):
        users = await make_users(db, clients)
        market = Market({(s, "NSE"): 500.0 + i for i, s in enumerate(symbols)})
        engine = await started_engine(db, symbols, market)
        resting = await asyncio.gather(*(build_book(engine, u, symbols) for u in users))
        ids = dict(zip(users, resting, strict=True))
        venues = {u: SandboxVenue(engine, u) for u in users}
        print(" Reads.all, one funds row:")
        await measure_read_paths(engine, users, calls, clients)
        print(" venue bodies:")
        reads: dict[str, Callable[[int], Awaitable[Any]]] = {
            "funds": lambda u: venues[u].funds_body(),
            "positionbook": lambda u: venues[u].positionbook_body(),
            "orderbook": lambda u: venues[u].orderbook_body(),
            "tradebook": lambda u: venues[u].tradebook_body(),
            "holdings": lambda u: venues[u].holdings_body(),
            "orderstatus": lambda u: venues[u].orderstatus_body(ids[u]),
            "openposition": lambda u: venues[u].open_position_body(symbols[3], "NSE", "MIS"),
        }
        for name, call in reads.items():
            await measure(name, call, users, calls, clients)
        if day_trades:
            # One busy account: thousands of trades today (reads must not depend on their number).
            busy = users[0]
            for start in range(0, day_trades, 256):
                await asyncio.gather(
                    *(
                        engine.place_order(
                            busy, order(symbols[n % 3], Action(("BUY", "SELL")[n // 3 % 2]), 1)
                        )
                        for n in range(start, min(day_trades, start + 256))
                    )
                )
            for name in ("funds", "positionbook"):
                await measure(
                    f"{name} ({day_trades} trades today)", reads[name], [busy], calls // 4, clients
                )
        await engine.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--day-trades", type=int, default=4000, help="for the busy-account rows")
    args = parser.parse_args()
    print(f"sandbox ledger reads ({pin_to_one_core()}, {load()})")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        print(f"{backend} ({args.symbols} symbols per user):")
        await run(backend, args.calls, args.clients, args.symbols, args.day_trades)


if __name__ == "__main__":
    asyncio.run(main())
