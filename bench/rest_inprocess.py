"""CPU per request of the real gateway, in-process: each request driven straight into the ASGI app.

`bench/rest_api.py` measures throughput over HTTP, where the machine's other load and wrk's share
of the 2 cores move the figures by 10-20% between runs. This drives the same app (same database
preparation, settings and bodies) without a socket: ``--clients`` concurrent callers on one event
loop, and reports the process's CPU time per request (the aiosqlite threads included), the rate,
and p50/p99/max latency. What it shows is the gateway's own cost per request, which is what the
HTTP figures are limited by; HTTP parsing and sending (~100 µs per request here) come on top.

    .venv/bin/python bench/rest_inprocess.py [--backend sqlite|postgresql] [--requests 6000]
        [--clients 32] [--only placeorder,funds] [--profile DIR]

``--profile DIR`` samples each endpoint's measured requests with pyinstrument (install it in the
venv first) and writes ``DIR/<endpoint>.txt`` and ``.pyisession``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1] / "src"),
    str(Path(__file__).resolve().parents[1]),
]

from bench.rest_api import POSTGRES_URL, endpoint_bodies, gateway_env, prepare  # noqa: E402
from bench.rest_overhead import _recreate_postgres  # noqa: E402

ASGIApp = Any


async def call(app: ASGIApp, path: str, body: bytes) -> int:
    """One POST through the whole ASGI stack; returns the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the response is written
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def _save_profile(profiler: Any, directory: Path, name: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.txt").write_text(profiler.output_text(unicode=False))
    profiler.last_session.save(str(directory / f"{name}.pyisession"))


async def measure(
    app: ASGIApp,
    name: str,
    bodies: list[bytes],
    requests: int,
    clients: int,
    profile: Path | None = None,
) -> None:
    path = f"/api/v1/{name}"
    status = await call(app, path, bodies[0])
    if status != 200:
        print(f"  {name:<12} answered {status}: not measured", flush=True)
        return
    for n in range(200):  # warm-up
        await call(app, path, bodies[n % len(bodies)])
    latencies: list[float] = []

    async def client(k: int) -> None:
        for n in range(requests // clients):
            started = time.perf_counter()
            await call(app, path, bodies[(n + k) % len(bodies)])
            latencies.append(time.perf_counter() - started)

    profiler: Any = None
    if profile is not None:
        # pyinstrument is not a project dependency: `pip install pyinstrument` to profile.
        profiler = importlib.import_module("pyinstrument").Profiler(
            interval=0.001, async_mode="disabled"
        )
        profiler.start()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler is not None and profile is not None:
        profiler.stop()
        _save_profile(profiler, profile, name)
    done = len(latencies)
    latencies.sort()
    print(
        f"  {name:<12} {cpu / done * 1e6:7.1f} µs CPU/request  {done / wall:7.0f} req/s  "
        f"p50 {latencies[done // 2] * 1e3:6.2f} ms  p99 {latencies[int(done * 0.99)] * 1e3:6.2f} ms"
        f"  max {latencies[-1] * 1e3:6.2f} ms",
        flush=True,
    )


async def run(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="rest-inprocess-"))
    if args.backend == "sqlite":
        url = f"sqlite+aiosqlite:///{data / 'bench.db'}"
    else:
        url = POSTGRES_URL
        _recreate_postgres(url)
    api_key = await prepare(url, data, False)
    os.environ.update(gateway_env(url, data, 8000))
    from openalgo.app import create_app
    from openalgo.settings import load_settings

    app = create_app(load_settings())
    logging.disable(logging.WARNING)
    print(
        f"{args.backend}: {args.clients} concurrent callers, {args.requests} requests per endpoint"
    )
    async with app.router.lifespan_context(app):
        for name, bodies in endpoint_bodies(api_key).items():
            if args.only and name not in args.only:
                continue
            encoded = [json.dumps(b).encode() for b in bodies]
            await measure(app, name, encoded, args.requests, args.clients, args.profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--only", type=lambda s: set(s.split(",")), default=None)
    parser.add_argument(
        "--profile", type=Path, default=None, help="write a pyinstrument profile per endpoint here"
    )
    args = parser.parse_args()
    import uvloop

    uvloop.run(run(args))


if __name__ == "__main__":
    main()
