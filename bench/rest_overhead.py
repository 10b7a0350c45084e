"""REST layer overhead: what the gateway's middleware, validation and order journal cost per request.

Each scenario runs one uvicorn worker in its own process and drives it from another process with
keep-alive raw-socket clients (an httpx client would be the bottleneck), then prints throughput
and latency percentiles next to a bare FastAPI ``ping`` measured in the same run:

- ``bare ping``: FastAPI with one POST route, no middleware (the baseline);
- ``gateway ping``: the real app (monitoring, body limit, trailing-slash middleware, error
  handling) with a ``/api/v1/ping``-shaped route;
- ``placeorder (journal)``: the real app, a ``placeorder`` route validating the real request model
  and going through the order guard (order-log intent and outcome, two committed transactions)
  around a venue call that does nothing, on SQLite and on PostgreSQL;
- ``placeorder (journal + key)``: the same with a fresh ``Idempotency-Key`` on every request.

    .venv/bin/python bench/rest_overhead.py [--seconds 5] [--connections 32] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from openalgo.api.v1.endpoints import endpoint
from openalgo.api.v1.order_guard import OrderGuardDep
from openalgo.api.v1.routing import route, v1_router
from openalgo.api.v1.schemas.account import KeyOnlyRequest
from openalgo.api.v1.schemas.orders import OrderResponse, PlaceOrderRequest
from openalgo.api.v1.schemas.system import PingResponse, Pong
from openalgo.app import create_app

ROOT = Path(__file__).resolve().parents[1]
ORDER = {
    "apikey": "k" * 64,
    "strategy": "bench",
    "exchange": "NSE",
    "symbol": "SBIN",
    "action": "BUY",
    "quantity": "1",
    "pricetype": "MARKET",
    "product": "MIS",
}

# --- apps (built by uvicorn --factory in the server process) --------------------------------------


def bare_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "success"}

    return app


def _settings() -> Any:
    from openalgo.settings import Settings

    return Settings(
        _env_file=None,
        env="testing",
        data_dir=Path(os.environ["BENCH_DATA_DIR"]),
        database_url=os.environ["BENCH_DATABASE_URL"],
        secret_key="s" * 64,
        pepper="p" * 64,
        log_level="WARNING",
    )


def gateway_app() -> Any:
    app = create_app(_settings())
    router = v1_router()
    user_id = int(os.environ["BENCH_USER_ID"])
    counter = iter(range(1, 1 << 62))

    @route(router, endpoint("ping"))
    async def ping(body: KeyOnlyRequest) -> PingResponse:  # noqa: ARG001 - validated, unused
        return PingResponse(data=Pong(broker="bench"))

    async def no_op_venue() -> OrderResponse:
        return OrderResponse(orderid=str(next(counter)))

    @route(router, endpoint("placeorder"))
    async def placeorder(body: PlaceOrderRequest, guard: OrderGuardDep) -> Any:
        return await guard.run(
            user_id=user_id, endpoint="placeorder", body=body, venue="bench", call=no_op_venue
        )

    app.include_router(router)
    return app


# --- load generator (runs in its own process) -----------------------------------------------------


async def _client(
    host: str, port: int, request: bytes, deadline: float, latencies: list[float], keyed: bool
) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    n = 0
    try:
        while time.perf_counter() < deadline:
            payload = request
            if keyed:
                n += 1
                marker = f"{id(writer)}-{n}".encode()
                payload = request.replace(b"Idempotency-Key: X", b"Idempotency-Key: " + marker)
            start = time.perf_counter()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
    finally:
        writer.close()
    return errors


async def _load(
    host: str, port: int, path: str, body: bytes, seconds: float, conns: int, keyed: bool
) -> dict[str, float]:
    headers = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if keyed:
        headers.append("Idempotency-Key: X")
    request = ("\r\n".join(headers) + "\r\n\r\n").encode() + body
    # Warm-up, then the measured window.
    await asyncio.gather(
        *(_client(host, port, request, time.perf_counter() + 1.0, [], keyed) for _ in range(conns))
    )
    latencies: list[float] = []
    started = time.perf_counter()
    errors = await asyncio.gather(
        *(_client(host, port, request, started + seconds, latencies, keyed) for _ in range(conns))
    )
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "errors": float(sum(errors)),
    }


# --- orchestration --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def _prepare_database(url: str, data_dir: Path) -> int:
    """Migrate ``url`` and create the bench user; returns its id."""

    async def run() -> int:
        from openalgo.db import migrations
        from openalgo.db.engine import create_engine
        from openalgo.db.models import User
        from openalgo.db.session import create_sessionmaker, transaction

        os.environ["BENCH_DATA_DIR"] = str(data_dir)
        os.environ["BENCH_DATABASE_URL"] = url
        engine = create_engine(_settings(), url)
        try:
            await migrations.upgrade(engine)
            async with transaction(create_sessionmaker(engine)) as session:
                user = User(username=f"bench{time.time_ns()}", password_hash="x")
                session.add(user)
                await session.flush()
                return user.id
        finally:
            await engine.dispose()

    return asyncio.run(run())


def scenario(
    label: str,
    factory: str,
    path: str,
    body: dict[str, Any],
    args: argparse.Namespace,
    env: dict[str, str],
    keyed: bool = False,
) -> dict[str, float]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(port),
         "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait(port, server)
        out = subprocess.run(
            [sys.executable, __file__, "--load", str(port), path, json.dumps(body),
             str(args.seconds), str(args.connections), "1" if keyed else "0"],
            check=True, capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        result: dict[str, float] = json.loads(out.stdout)
    finally:
        server.terminate()
        server.wait(10)
    print(
        f"{label:<42} {result['rps']:>8.0f} req/s   p50 {result['p50_ms']:6.2f} ms   "
        f"p99 {result['p99_ms']:6.2f} ms   non-200 {result['errors']:.0f}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--load", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        port, path, body, seconds, conns, keyed = args.load
        result = asyncio.run(
            _load(
                "127.0.0.1",
                int(port),
                path,
                body.encode(),
                float(seconds),
                int(conns),
                keyed == "1",
            )
        )
        print(json.dumps(result))
        return

    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores, "
          f"{args.connections} connections, {args.seconds:.0f} s per scenario")  # fmt: skip
    baseline = scenario("bare FastAPI ping (baseline)", "bench.rest_overhead:bare_app", "/ping",
                        {}, args, {})  # fmt: skip
    databases: list[tuple[str, str | None]] = [("SQLite", None)]
    if not args.no_postgres:
        databases.append(("PostgreSQL", os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/openalgo_bench")))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in databases:
            data = Path(tmp) / name
            data.mkdir()
            if url is None:
                url = f"sqlite+aiosqlite:///{data / 'bench.db'}"
            else:
                _recreate_postgres(url)
            user_id = _prepare_database(url, data)
            env = {"BENCH_DATA_DIR": str(data), "BENCH_DATABASE_URL": url,
                   "BENCH_USER_ID": str(user_id)}  # fmt: skip
            rows = [
                scenario(f"gateway ping [{name}]", "bench.rest_overhead:gateway_app",
                         "/api/v1/ping", {"apikey": "k" * 64}, args, env),
                scenario(f"placeorder (journal) [{name}]", "bench.rest_overhead:gateway_app",
                         "/api/v1/placeorder", ORDER, args, env),
                scenario(f"placeorder (journal + key) [{name}]",
                         "bench.rest_overhead:gateway_app", "/api/v1/placeorder", ORDER, args,
                         env, keyed=True),
            ]  # fmt: skip
            for row, label in zip(rows, ("ping", "placeorder", "placeorder+key"), strict=True):
                print(f"  {label} / baseline: {row['rps'] / baseline['rps']:.2f}")


def _recreate_postgres(url: str) -> None:
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = target.set(drivername="postgresql", database="test").render_as_string(False)
    name = target.database
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin, "-qc", sql], check=True, capture_output=True)


if __name__ == "__main__":
    main()
