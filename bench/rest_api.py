"""REST API throughput of the real gateway (issue 6): one uvicorn worker, 32 keep-alive clients.

The server is ``openalgo serve`` itself, in its own process, on a freshly migrated database with
the simulator's instrument master and a user holding an API key (made through the real services);
the market is always open and the rate limits are raised far above the offered load (the limiter
still runs and counts every request). The load comes from ``wrk`` in another process. Measured in
the same run, one after the other:

- ``bare ASGI app``: a 20-line ASGI callable under the same uvicorn: the ceiling of the load
  client plus the HTTP server on this machine; nothing below can exceed it;
- ``bare FastAPI ping``: FastAPI with one POST route and no middleware: the baseline every
  gateway figure is divided by (the gateway's own overhead, whatever the machine's speed);
- the gateway's ``/api/v1/ping``, ``placeorder`` (MARKET, alternating BUY and SELL so the
  position stays flat, through the order guard and journal into the sandbox engine), ``quotes``
  and ``funds``: on SQLite and on PostgreSQL (127.0.0.1:5432, trust auth, when reachable).

An endpoint that answers 404 (not routed yet) is reported as "not available".

    .venv/bin/python bench/rest_api.py [--seconds 10] [--connections 32] [--no-postgres]
        [--analyzer] [--only placeorder,quotes] [--profile DIR] [--stages]

``--stages`` prints where the measured placeorders spent their time, from the server's own stage
timings (the ``order_latency`` table the monitoring writes): arrival to the order guard, the
intent's commit, the venue call, venue to response, and the server's total.

``--profile DIR`` runs the gateway under pyinstrument when it is installed (a sampling profiler:
``DIR/<backend>.pyisession``; ``pyinstrument --load DIR/sqlite.pyisession`` renders it), else cProfile (``DIR/<backend>.prof``); either sees the event loop's
thread only. The figures are then slower; the shares are what matters.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# This checkout's code, whichever checkout the virtualenv's editable install points at.
sys.path[:0] = [
    str(Path(__file__).resolve().parents[1] / "src"),
    str(Path(__file__).resolve().parents[1]),
]

from bench.rest_overhead import _free_port, _recreate_postgres, _wait  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WRK = shutil.which("wrk") or "/usr/bin/wrk"
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/openalgo_bench_rest"
)
SECRET_KEY = secrets.token_hex(32)
PEPPER = secrets.token_hex(32)
PASSWORD = "Bench!pass1"
HUGE_LIMIT = "1000000 per second"

# --- the two baselines (built by uvicorn --factory in the server process) -------------------------


def bare_asgi_app() -> Any:
    """The least an HTTP server can do: answer every request with the same 20 bytes."""
    body = b'{"status":"success"}'
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"20")],
    }
    done = {"type": "http.response.body", "body": body}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send(start)
        await send(done)

    return app


def bare_fastapi_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "success"}

    return app


# --- wrk ------------------------------------------------------------------------------------------

_LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def wrk_script(bodies: list[dict[str, Any]]) -> str:
    """POST each body in turn (one body: wrk builds the request once, the cheapest case)."""
    head = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    encoded = [json.dumps(b, separators=(",", ":")) for b in bodies]
    if len(encoded) == 1:
        return head + f"wrk.body = {_lua_string(encoded[0])}\n" + _LUA_DONE
    table = ", ".join(_lua_string(b) for b in encoded)
    return (
        head
        + f"local bodies = {{{table}}}\nlocal n = 0\n"
        + "request = function()\n  n = n + 1\n"
        + "  return wrk.format(nil, nil, nil, bodies[n % #bodies + 1])\nend\n"
        + _LUA_DONE
    )


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int


def run_wrk(
    url: str, bodies: list[dict[str, Any]], seconds: float, args: argparse.Namespace
) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(bodies))
    try:
        command = [WRK, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s",
                   "--timeout", "10s", "-s", script.name, url]  # fmt: skip
        out = subprocess.run(command, check=True, capture_output=True, text=True)
    finally:
        os.unlink(script.name)
    line = [x for x in out.stdout.splitlines() if x.startswith('{"requests"')][-1]
    raw = json.loads(line)
    return Result(
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=raw["non2xx"] + raw["socket_errors"],
    )


def report(label: str, result: Result | None, baseline: float | None, note: str = "") -> None:
    if result is None:
        print(f"  {label:<34} not available{(' (' + note + ')') if note else ''}", flush=True)
        return
    ratio = f"{result.rps / baseline:5.2f}x" if baseline else "  -  "
    print(
        f"  {label:<34} {result.rps:>8.0f} req/s  {ratio}  p50 {result.p50_ms:6.2f} ms  "
        f"p99 {result.p99_ms:6.2f} ms  max {result.max_ms:7.2f} ms  errors {result.errors}"
        f"{('  ' + note) if note else ''}",
        flush=True,
    )


# --- servers --------------------------------------------------------------------------------------


class Server:
    """A server process on a free port; terminated (SIGINT: a clean uvicorn shutdown) on exit."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, port: int) -> None:
        self.port = port
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def __enter__(self) -> Server:
        try:
            _wait(self.port, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def baseline_server(factory: str, cwd: Path) -> Server:
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(port),
               "--no-access-log", "--log-level", "warning"]  # fmt: skip
    return Server(command, {}, cwd, port)


def gateway_env(url: str, data_dir: Path, port: int) -> dict[str, str]:
    return {
        "OPENALGO_ENV": "production",
        "OPENALGO_DATA_DIR": str(data_dir),
        "OPENALGO_DATABASE_URL": url,
        "OPENALGO_SECRET_KEY": SECRET_KEY,
        "OPENALGO_PEPPER": PEPPER,
        "OPENALGO_HOST": "127.0.0.1",
        "OPENALGO_PORT": str(port),
        "OPENALGO_WS_PORT": str(_free_port()),
        "OPENALGO_LOG_LEVEL": "WARNING",
        "OPENALGO_MARKET_ALWAYS_OPEN": "true",
        "OPENALGO_API_RATE_LIMIT": HUGE_LIMIT,
        "OPENALGO_ORDER_RATE_LIMIT": HUGE_LIMIT,
        "OPENALGO_SMART_ORDER_RATE_LIMIT": HUGE_LIMIT,
    }


def serve_counting_gc() -> None:
    """``openalgo serve`` in this process, printing the collector's work to stderr at exit."""
    import atexit
    import gc

    from openalgo.cli import main as openalgo_main

    counts = [0, 0, 0]
    seconds = [0.0, 0.0, 0.0]
    started = [0.0]
    born = time.perf_counter()
    full: list[tuple[float, float]] = []  # (seconds since start, duration) of each full pass

    def observe(phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            started[0] = now
            return
        generation = info["generation"]
        counts[generation] += 1
        seconds[generation] += now - started[0]
        if generation == 2:
            full.append((round(started[0] - born, 2), round(now - started[0], 3)))

    def report() -> None:
        stats = {"counts": counts, "seconds": [round(x, 3) for x in seconds], "full": full,
                 "objects": len(gc.get_objects()), "frozen": gc.get_freeze_count()}  # fmt: skip
        print(f"GC_STATS {json.dumps(stats)}", file=sys.stderr)

    gc.callbacks.append(observe)
    atexit.register(report)
    sys.exit(openalgo_main(["serve"]))


def gateway_server(url: str, data_dir: Path, profile: Path | None, gc_stats: bool) -> Server:
    port = _free_port()
    command = [sys.executable]
    if gc_stats:
        return Server(command + [__file__, "--serve-counting-gc"],
                      gateway_env(url, data_dir, port), data_dir, port)  # fmt: skip
    if profile is not None:
        if importlib.util.find_spec("pyinstrument") is not None:
            # A sampling profiler: shares as they are without instrumentation's per-call cost.
            command += ["-m", "pyinstrument", "-r", "pyisession", "-i", "0.001",
                        "-o", str(profile.with_suffix(".pyisession"))]  # fmt: skip
        else:
            command += ["-m", "cProfile", "-o", str(profile)]
    command += ["-m", "openalgo", "serve"]
    # cwd is the data dir: no stray .env from the checkout reaches the server.
    return Server(command, gateway_env(url, data_dir, port), data_dir, port)


# --- the database ---------------------------------------------------------------------------------


async def prepare(url: str, data_dir: Path, analyzer: bool) -> str:
    """Migrate, load today's simulator master, create a user and an API key; returns the key."""
    from openalgo.db import migrations
    from openalgo.db.engine import create_engine
    from openalgo.db.session import create_sessionmaker, transaction
    from openalgo.domain.calendar import MarketCalendar
    from openalgo.domain.clock import SystemClock
    from openalgo.services.apikeys import create_api_key
    from openalgo.services.instrument_loading import ensure_simulator_master, today_ist
    from openalgo.services.user_settings import set_analyzer_mode
    from openalgo.services.users import create_user
    from openalgo.settings import Settings

    settings = Settings(
        _env_file=None,
        env="production",
        data_dir=data_dir,
        database_url=url,
        secret_key=SECRET_KEY,
        pepper=PEPPER,
    )
    engine = create_engine(settings, url)
    try:
        await migrations.upgrade(engine)
        sessionmaker = create_sessionmaker(engine)
        await ensure_simulator_master(sessionmaker, MarketCalendar.bundled(), today_ist())
        now = SystemClock().now()
        async with transaction(sessionmaker) as session:
            user = await create_user(session, username="bench", password=PASSWORD, pepper=PEPPER)
            key = await create_api_key(session, user_id=user.id, pepper=PEPPER, now=now)
            if analyzer:
                await set_analyzer_mode(session, user_id=user.id, enabled=True, now=now)
        return key.plaintext
    finally:
        await engine.dispose()


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


# --- scenarios ------------------------------------------------------------------------------------


def endpoint_bodies(api_key: str) -> dict[str, list[dict[str, Any]]]:
    order = {"apikey": api_key, "strategy": "bench", "exchange": "NSE", "symbol": "SBIN",
             "quantity": "1", "pricetype": "MARKET", "product": "MIS"}  # fmt: skip
    return {
        "ping": [{"apikey": api_key}],
        "quotes": [{"apikey": api_key, "symbol": "SBIN", "exchange": "NSE"}],
        "funds": [{"apikey": api_key}],
        "placeorder": [{**order, "action": "BUY"}, {**order, "action": "SELL"}],
    }


def probe(url: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def run_gateway(
    name: str, url: str, data_dir: Path, args: argparse.Namespace, baseline: float
) -> dict[str, Result | None]:
    api_key = asyncio.run(prepare(url, data_dir, args.analyzer))
    profile = args.profile / f"{name.lower()}.prof" if args.profile else None
    results: dict[str, Result | None] = {}
    orders_from: datetime | None = None
    orders_to: datetime | None = None
    print(f"{name}:", flush=True)
    server = gateway_server(url, data_dir, profile, args.gc_stats)
    with server:
        base = f"http://127.0.0.1:{server.port}/api/v1/"
        for endpoint, bodies in endpoint_bodies(api_key).items():
            if args.only and endpoint not in args.only and endpoint != "ping":
                continue
            status, text = probe(base + endpoint, bodies[0])
            if status == 404:
                results[endpoint] = None
                report(endpoint, None, baseline, "404: not routed in this build")
                continue
            if status != 200:
                results[endpoint] = None
                report(endpoint, None, baseline, f"probe answered {status}: {text[:200]}")
                continue
            run_wrk(base + endpoint, bodies, args.warmup, args)
            if endpoint == "placeorder":
                orders_from = datetime.now(UTC)
            result = run_wrk(base + endpoint, bodies, args.seconds, args)
            if endpoint == "placeorder":
                orders_to = datetime.now(UTC)
            results[endpoint] = result
            report(f"{endpoint}", result, baseline)
        if results.get("placeorder") and results.get("funds"):
            # The same account again, now holding every order and trade placed above.
            funds = endpoint_bodies(api_key)["funds"]
            result = run_wrk(base + "funds", funds, args.seconds, args)
            results["funds after orders"] = result
            report("funds (after the orders above)", result, baseline)
    if args.stages and orders_from is not None and orders_to is not None:
        # The server has stopped, so the monitoring has written every record.
        asyncio.run(report_stages(url, data_dir, orders_from, orders_to))
    if args.gc_stats and server.proc.stderr is not None:
        for line in server.proc.stderr.read().decode().splitlines():
            if line.startswith("GC_STATS "):
                print(f"  garbage collector: {line[9:]}")
    return results


async def report_stages(url: str, data_dir: Path, since: datetime, until: datetime) -> None:
    """Where the measured placeorders spent their time, from the server's own stage timings
    (the ``order_latency`` table): mean and percentiles per stage. The intent's commit is what
    remains of the total once the other stages are taken out."""
    from sqlalchemy import select

    from openalgo.db.engine import create_engine
    from openalgo.db.models import OrderLatency
    from openalgo.settings import Settings

    settings = Settings(_env_file=None, data_dir=data_dir, database_url=url)
    engine = create_engine(settings, url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        OrderLatency.validation_ms,
                        OrderLatency.venue_ms,
                        OrderLatency.response_ms,
                        OrderLatency.total_ms,
                    ).where(OrderLatency.created_at >= since, OrderLatency.created_at <= until)
                )
            ).all()
    finally:
        await engine.dispose()
    if not rows:
        print("  stages: no order timings recorded")
        return
    stages = {
        "arrival to guard": [r[0] for r in rows],
        "intent committed": [r[3] - r[0] - r[1] - r[2] for r in rows],
        "venue": [r[1] for r in rows],
        "venue to response": [r[2] for r in rows],
        "total (server)": [r[3] for r in rows],
    }
    print(f"  placeorder stages over {len(rows)} orders (ms):")
    for label, values in stages.items():
        values.sort()
        n = len(values)
        print(
            f"    {label:<18} mean {sum(values) / n:6.2f}  p50 {values[n // 2]:6.2f}  "
            f"p90 {values[int(n * 0.9)]:6.2f}  p99 {values[int(n * 0.99)]:6.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--analyzer", action="store_true", help="user in analyzer mode")
    parser.add_argument("--only", type=lambda s: set(s.split(",")), default=None)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--gc-stats", action="store_true", help="report the collector's work")
    parser.add_argument(
        "--stages", action="store_true", help="placeorder's stage timings, from the server's table"
    )
    parser.add_argument("--serve-counting-gc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_counting_gc:
        serve_counting_gc()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    if not Path(WRK).exists():
        # `make bench` runs every script: say why this one measured nothing, and go on.
        print("bench/rest_api.py skipped: wrk is not installed (apt-get install -y wrk)")
        return

    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"{uptime}\n{os.cpu_count()} cores; wrk -t{args.threads} -c{args.connections}, "
          f"{args.seconds:g} s per endpoint after {args.warmup:g} s warm-up; "
          f"{'analyzer mode (sandbox ledger)' if args.analyzer else 'simulator ledger'}",
          flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with baseline_server("bench.rest_api:bare_asgi_app", work) as server:
            url = f"http://127.0.0.1:{server.port}/ping"
            run_wrk(url, [{}], args.warmup, args)
            ceiling = run_wrk(url, [{}], args.seconds, args)
        with baseline_server("bench.rest_api:bare_fastapi_app", work) as server:
            url = f"http://127.0.0.1:{server.port}/ping"
            run_wrk(url, [{}], args.warmup, args)
            bare = run_wrk(url, [{}], args.seconds, args)
        print("baselines:")
        report("bare ASGI app (client ceiling)", ceiling, bare.rps)
        report("bare FastAPI ping (1.00x)", bare, bare.rps)
        backends: list[tuple[str, str | None]] = []
        if not args.no_sqlite:
            backends.append(("SQLite", None))
        if not args.no_postgres:
            if postgres_reachable():
                backends.append(("PostgreSQL", POSTGRES_URL))
            else:
                print("PostgreSQL: not reachable on 127.0.0.1:5432, skipped")
        for name, postgres in backends:
            data_dir = work / name.lower()
            data_dir.mkdir()
            if postgres is None:
                url = f"sqlite+aiosqlite:///{data_dir / 'openalgo.db'}"
            else:
                url = postgres
                _recreate_postgres(url)
            run_gateway(name, url, data_dir, args, bare.rps)
    print(f"after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
