"""Benchmarks for issue 5 (security): what API-key verification and a banned flood cost.

    .venv/bin/python bench/security_auth.py            # everything, ~1 minute
    .venv/bin/python bench/security_auth.py --quick    # fewer iterations

Prints, each against a baseline measured in the same run:

1. warm verification: `ApiKeyVerifier.verify` on a cached key, and the whole-request overhead of
   the `ApiUser` dependency (ASGI calls of the same probe route with and without it, in process);
2. cold verification: cache cleared before every call (indexed lookup + Argon2 on a worker thread);
3. a banned flood: a real `openalgo serve` subprocess receives 1,000 requests/s with invalid keys
   from a separate load process over keep-alive connections; server CPU is read from /proc and
   compared with the same server idle, with a bare uvicorn app that refuses everything (the floor:
   HTTP parsing and writing alone), and with bans switched off.

Targets (issue 5): warm overhead p99 < 0.2 ms, cold < 50 ms, banned flood < 10% of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from openalgo.api.auth import ApiUser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class BenchBody(BaseModel):
    apikey: str | None = None
    symbol: str


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fmt_ms(samples: list[float]) -> str:
    return (
        f"p50 {pct(samples, 0.5) * 1e3:7.3f} ms  p99 {pct(samples, 0.99) * 1e3:7.3f} ms  "
        f"mean {statistics.fmean(samples) * 1e3:7.3f} ms  (n={len(samples)})"
    )


# --- 1 and 2: in process ------------------------------------------------------------------------


def probe_router() -> Any:
    """Two identical routes, one behind `ApiUser`: the difference is the dependency's cost."""
    router = APIRouter()

    @router.post("/bench/open")
    async def open_route(body: BenchBody) -> dict[str, str]:
        return {"symbol": body.symbol}

    @router.post("/bench/auth")
    async def auth_route(body: BenchBody, principal: ApiUser) -> dict[str, str]:
        return {"symbol": body.symbol, "user": principal.username}

    return router


async def asgi_call(app: Any, path: str, body: bytes) -> int:
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 5555),
        "server": ("bench", 80),
        "state": {},
    }
    await app(scope, receive, send)
    return status


async def timed(fn: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return samples


async def best_of(fn: Callable[[], Awaitable[Any]], n: int, rounds: int = 5) -> list[float]:
    """The least-disturbed of several rounds (lowest p99): on a shared machine a round's tail is
    mostly other processes preempting this one, which says nothing about the code measured."""
    runs = [await timed(fn, n // rounds) for _ in range(rounds)]
    return min(runs, key=lambda samples: pct(samples, 0.99))


async def in_process(quick: bool) -> dict[str, Any]:
    from tests.support.accounts import committed_account

    from openalgo.app import create_app
    from openalgo.db import migrations
    from openalgo.db.engine import create_engine
    from openalgo.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="openalgo-bench-"))
    url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    settings = Settings(
        _env_file=None,
        env="testing",
        data_dir=tmp,
        database_url=url,
        secret_key="t" * 64,
        pepper="p" * 64,
        rate_limit_enabled=False,
        log_level="WARNING",
    )
    engine = create_engine(settings)
    await migrations.upgrade(engine)
    await engine.dispose()

    app = create_app(settings)
    app.include_router(probe_router())
    results: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        account = await committed_account(runtime.sessionmaker, runtime.clock, "bench")
        verifier = runtime.security.verifier
        body = json.dumps({"apikey": account.api_key, "symbol": "SBIN"}).encode()
        assert await asgi_call(app, "/bench/auth", body) == 200

        n = 5_000 if quick else 20_000
        # Warm verify: the cached path alone.
        await verifier.verify(account.api_key)
        results["verify_warm"] = await best_of(lambda: verifier.verify(account.api_key), n)
        # Baseline for it: the HMAC it must compute anyway.
        results["hmac_only"] = await best_of(
            lambda: asyncio.sleep(0, verifier.digest(account.api_key)), n
        )

        # The dependency function itself, on a fresh Request each time (body read included).
        from starlette.requests import Request

        from openalgo.api.auth import get_api_principal

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        def scope() -> dict[str, Any]:
            return {
                "type": "http",
                "method": "POST",
                "path": "/bench/auth",
                "headers": [(b"content-type", b"application/json")],
                "query_string": b"",
                "client": ("127.0.0.1", 5555),
                "app": app,
            }

        async def dependency() -> None:
            await get_api_principal(Request(scope(), receive))

        results["dependency_warm"] = await best_of(dependency, n)

        # Whole requests, interleaved so drift hits both equally: wall time per request, and CPU
        # time per batch of 100 (CPU time is what other processes on the machine disturb least).
        # Five rounds; the wall-time figures are the least-disturbed round's.
        per_round = (2_000 if quick else 8_000) // 5
        best: tuple[list[float], list[float]] | None = None
        cpu: dict[str, list[float]] = {"/bench/open": [], "/bench/auth": []}
        for _ in range(5):
            open_samples: list[float] = []
            auth_samples: list[float] = []
            for _ in range(per_round // 100):
                for path, bucket in (
                    ("/bench/open", open_samples),
                    ("/bench/auth", auth_samples),
                ):
                    cpu_start = time.process_time()
                    for _ in range(100):
                        start = time.perf_counter()
                        status = await asgi_call(app, path, body)
                        bucket.append(time.perf_counter() - start)
                        assert status == 200, status
                    cpu[path].append((time.process_time() - cpu_start) / 100)
            tail = max(pct(open_samples, 0.99), pct(auth_samples, 0.99))
            if best is None or tail < max(pct(best[0], 0.99), pct(best[1], 0.99)):
                best = (open_samples, auth_samples)
        assert best is not None
        results["request_open"], results["request_auth"] = best
        results["cpu_open"] = cpu["/bench/open"]
        results["cpu_auth"] = cpu["/bench/auth"]

        # Cold: cache cleared before every call.
        async def cold() -> None:
            verifier.clear()
            assert await verifier.verify(account.api_key) is not None

        cold_n = 30 if quick else 100
        await cold()  # the first call also starts the Argon2 worker thread: not what is measured
        cpu_start = time.process_time()
        results["verify_cold"] = await timed(cold, cold_n)
        print("  slowest cold verifies (ms):",
              [round(x * 1000, 1) for x in sorted(results["verify_cold"])[-4:]])  # fmt: skip
        # CPU time of all threads (Argon2 runs on a worker thread): what load cannot inflate.
        results["verify_cold_cpu"] = (time.process_time() - cpu_start) / cold_n
        results["loads"] = verifier.loads
    shutil.rmtree(tmp, ignore_errors=True)
    return results


# --- 3: banned flood, server in a subprocess, load from this process -----------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def start_server(data_dir: Path, port: int, extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENALGO_")}
    env.update(
        {
            "OPENALGO_DATA_DIR": str(data_dir),
            "OPENALGO_LOG_LEVEL": "ERROR",
            "OPENALGO_BAN_EXEMPT": "",
            "OPENALGO_BAN_APIKEY_THRESHOLD": "5",
            "OPENALGO_API_RATE_LIMIT": "100000 per second",
            **extra,
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "openalgo", "serve", "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    import socket

    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


async def paced_load(port: int, rate: int, seconds: float, connections: int = 10) -> dict[str, Any]:
    """Send ``rate`` requests/s of POST /api/v1/ping with invalid keys, keep-alive, for ``seconds``."""
    per_conn = rate / connections
    statuses: dict[int, int] = {}
    latencies: list[float] = []

    async def one(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        start = time.perf_counter()
        sent = 0
        while True:
            due = start + sent / per_conn
            now = time.perf_counter()
            if now - start >= seconds:
                break
            if due > now:
                await asyncio.sleep(due - now)
            body = json.dumps({"apikey": f"{index:02x}{sent:062x}"}).encode()
            request = (
                b"POST /api/v1/ping HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            t0 = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            code = int(status_line.split()[1])
            statuses[code] = statuses.get(code, 0) + 1
            sent += 1
        writer.close()

    t_start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(connections)))
    elapsed = time.perf_counter() - t_start
    total = sum(statuses.values())
    return {
        "requests": total,
        "rate": total / elapsed,
        "statuses": statuses,
        "latencies": latencies,
    }


FLOOR_APP = """
BODY = b'{"status": "error", "message": "Access denied"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 403, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
"""


def floor(seconds: float) -> dict[str, Any]:
    """The same load against a bare uvicorn app that refuses everything: uvicorn's own cost."""
    import socket

    app_dir = Path(tempfile.mkdtemp(prefix="openalgo-bench-floor-"))
    (app_dir / "floor_app.py").write_text(FLOOR_APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(app_dir),
            "floor_app:app",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--no-access-log",
            "--no-proxy-headers",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2.0)
        asyncio.run(paced_load(port, 1000, 1.0))
        before = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        load = asyncio.run(paced_load(port, 1000, seconds))
        used = cpu_seconds(proc.pid) - before
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(app_dir, ignore_errors=True)
    return {"idle_core_pct": 0.0, "load_core_pct": 100 * used / wall, **load}


def flood(label: str, extra: dict[str, str], seconds: float, ban_first: bool) -> dict[str, Any]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data_dir = Path(tempfile.mkdtemp(prefix=f"openalgo-bench-{label}-"))
    proc = start_server(data_dir, port, extra)
    try:
        time.sleep(2.0)  # let start-up work finish
        idle_start = cpu_seconds(proc.pid)
        time.sleep(seconds)
        idle = cpu_seconds(proc.pid) - idle_start
        if ban_first:
            asyncio.run(paced_load(port, 50, 0.2, connections=1))
        # Warm-up second (connection set-up, first requests), then the measured window.
        asyncio.run(paced_load(port, 1000, 1.0))
        before = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        load = asyncio.run(paced_load(port, 1000, seconds))
        wall = time.perf_counter() - t0
        used = cpu_seconds(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "idle_core_pct": 100 * idle / seconds,
        "load_core_pct": 100 * used / wall,
        **load,
    }


LOAD_SCRIPT = """
import asyncio, json, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
async def main():
    deadline = time.time() + 600
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            if time.time() > deadline:
                raise
            await asyncio.sleep(0.5)
    for i in range(n):
        body = json.dumps({"apikey": f"{i:064x}"}).encode()
        writer.write(b"POST /api/v1/ping HTTP/1.1\\r\\nHost: b\\r\\nContent-Type: application/json"
                     + b"\\r\\nContent-Length: " + str(len(body)).encode() + b"\\r\\n\\r\\n" + body)
        await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\\r\\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
    writer.close()
asyncio.run(main())
"""


def instructions(kind: str, requests: int, work: Path) -> int:
    """Instructions (valgrind callgrind) a server process executes for ``requests`` sequential
    banned requests, start-up included; the difference of two counts is the per-request cost,
    which other processes on the machine cannot disturb."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = Path(tempfile.mkdtemp(prefix=f"openalgo-cg-{kind}-", dir=work))
    out = data / "callgrind.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENALGO_")}
    if kind == "uvicorn":
        (data / "floor_app.py").write_text(FLOOR_APP)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(data),
            "floor_app:app",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--no-access-log",
            "--no-proxy-headers",
        ]
    else:
        env.update(
            {
                "OPENALGO_DATA_DIR": str(data),
                "OPENALGO_LOG_LEVEL": "ERROR",
                "OPENALGO_BAN_EXEMPT": "",
                "OPENALGO_BAN_APIKEY_THRESHOLD": "5",
                "OPENALGO_AUTH_SYNC_INTERVAL": "3600",
                "OPENALGO_LAST_USED_FLUSH_INTERVAL": "3600",
            }
        )
        command = [sys.executable, "-m", "openalgo", "serve", "--port", str(port)]
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
        cwd=data,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    load = work / "load.py"
    load.write_text(LOAD_SCRIPT)
    subprocess.run([sys.executable, str(load), str(port), str(requests)], check=True, timeout=900)
    server.terminate()
    server.wait(timeout=300)
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError("no callgrind summary")


def callgrind_report() -> None:
    work = Path(tempfile.mkdtemp(prefix="openalgo-cg-"))
    print("\n== Instructions per banned request (valgrind callgrind, 3000 minus 1000 requests) ==")
    per: dict[str, float] = {}
    for kind in ("uvicorn", "openalgo"):
        low, high = instructions(kind, 1000, work), instructions(kind, 3000, work)
        per[kind] = (high - low) / 2000
        print(f"{kind:8s} {per[kind]:10,.0f} instructions per request")
    print(f"openalgo / bare uvicorn: {per['openalgo'] / per['uvicorn']:.2f}")
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--callgrind", action="store_true", help="also count instructions (needs valgrind; ~2 min)"
    )
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores; re-run if high)")

    r = asyncio.run(in_process(args.quick))
    print("\n== API-key verification (in process, SQLite; warm figures: best of 5 rounds) ==")
    print(f"warm verify()          {fmt_ms(r['verify_warm'])}")
    print(f"  baseline: HMAC only  {fmt_ms(r['hmac_only'])}")
    print(f"ApiUser dependency     {fmt_ms(r['dependency_warm'])} (target p99 < 0.2 ms)")
    print(f"request without ApiUser {fmt_ms(r['request_open'])}")
    print(f"request with ApiUser    {fmt_ms(r['request_auth'])}")
    p50_over = pct(r["request_auth"], 0.5) - pct(r["request_open"], 0.5)
    p99_over = pct(r["request_auth"], 0.99) - pct(r["request_open"], 0.99)
    print(
        f"ApiUser overhead on whole requests: p50 {p50_over * 1e3:+.3f} ms, "
        f"p99 {p99_over * 1e3:+.3f} ms (target p99 < 0.2 ms)"
    )
    cpu_over = statistics.median(r["cpu_auth"]) - statistics.median(r["cpu_open"])
    print(
        f"CPU per request: {statistics.median(r['cpu_open']) * 1e6:.0f} us without, "
        f"{statistics.median(r['cpu_auth']) * 1e6:.0f} us with ApiUser -> {cpu_over * 1e6:.0f} us"
    )
    print(f"cold verify()          {fmt_ms(r['verify_cold'])} (target < 50 ms)")
    print(f"  CPU per cold verify: {r['verify_cold_cpu'] * 1e3:.1f} ms")

    seconds = 5.0 if args.quick else 10.0
    print(f"\n== 1,000 invalid keys/s from one address, {seconds:.0f} s, server in a subprocess ==")
    for label, extra, ban_first in (
        ("uvicorn", None, False),
        ("banned", {}, True),
        ("no-ban", {"OPENALGO_BAN_ENABLED": "false"}, False),
    ):
        f = floor(seconds) if extra is None else flood(label, extra, seconds, ban_first)
        lat = f["latencies"]
        print(
            f"{label:7s} server CPU {f['load_core_pct']:5.1f}% of one core under load "
            f"(idle baseline {f['idle_core_pct']:.1f}%), {f['rate']:.0f} req/s achieved, "
            f"statuses {f['statuses']}, latency p50 {pct(lat, 0.5) * 1e3:.2f} ms "
            f"p99 {pct(lat, 0.99) * 1e3:.2f} ms"
        )
    if args.callgrind:
        callgrind_report()
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
