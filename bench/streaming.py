"""Streaming benchmark: tick fan-out throughput, latency, stall isolation and idle memory.

    .venv/bin/python bench/streaming.py            # every scenario, ~2 minutes
    .venv/bin/python bench/streaming.py --quick    # shorter windows

Processes (the machine has 2 cores):
- **server**: our `StreamingService` with its native WebSocket listener, the ZeroMQ bus and an
  in-process feed adapter publishing ticks (as the simulator will); stand-in authenticator.
- **clients**: one separate process of raw asyncio WebSocket clients (a minimal frame parser, so
  the client side costs as little as possible); it reports deliveries and publish-to-receive
  latency. The feed writes ``time.time()`` into ``ltp`` so the client can measure latency.
- **ceiling**: the same client process against a "blaster" that writes pre-built frames as fast as
  it can, with no hub: the most the client process itself can receive on this machine.
- **baseline**: OpenAlgo's fan-out pattern (per tick, ``json.dumps`` and an awaited ``send`` per
  client, gathered) on the `websockets` server, measured with the same client in the same run.

Every figure is measured at the clients, over a window that starts after all sessions have
subscribed and warmed up.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import faulthandler
import functools
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def client_frame(obj: dict[str, Any]) -> bytes:
    """A masked text frame (mask key 0000, so the payload goes out as is)."""
    payload = json.dumps(obj).encode()
    n = len(payload)
    if n < 126:
        header = bytes((0x81, 0x80 | n))
    elif n < 65536:
        header = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + b"\x00\x00\x00\x00" + payload


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def symbols(n: int) -> list[str]:
    return [f"SYM{i}" for i in range(n)]


# --- server ---------------------------------------------------------------------------------------


def run_server(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    import uvloop
    from tests.conftest import make_settings

    from openalgo.domain.enums import TickMode
    from openalgo.domain.market import DepthLevel, Quote, Tick
    from openalgo.streaming.adapter import FeedAdapter
    from openalgo.streaming.codec import encode_tick
    from openalgo.streaming.seams import SharedFeedResolver, StreamingSeams, StreamPrincipal
    from openalgo.streaming.service import StreamingService

    evictions: list[float] = []

    class EvictionLog(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "evicting" in record.getMessage():
                evictions.append(time.time())

    logging.getLogger("openalgo.streaming.session").addHandler(EvictionLog())

    # Collector pauses: every collection of the oldest generation, with its duration (ms).
    import gc

    gc_pauses: list[tuple[int, float]] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif info["generation"] >= 1:
            gc_pauses.append((info["generation"], 1000 * (time.perf_counter() - gc_started[0])))

    gc.callbacks.append(on_gc)
    logging.getLogger("openalgo").setLevel(logging.WARNING)

    class AnyKey:
        async def authenticate(self, api_key: str, address: str = "-") -> StreamPrincipal | None:
            n = int(api_key.rsplit("-", 1)[-1])
            return StreamPrincipal(n, f"user{n}", "simulator")

    class AllInstruments:
        async def resolve(self, symbol: str, exchange: str) -> object:
            return object()

    class BenchFeed(FeedAdapter):
        async def _open(self) -> None:
            pass

        async def _close(self) -> None:
            pass

        async def _read(self) -> None:
            await asyncio.Event().wait()

        async def _send_subscribe(
            self, symbol: str, exchange: str, mode: TickMode, depth: int
        ) -> None:
            pass

        async def _send_unsubscribe(self, symbol: str, exchange: str, mode: TickMode) -> None:
            pass

    async def main() -> None:
        settings = make_settings(
            Path(args.data), ws_stall_timeout=args.stall_timeout, ws_max_subscriptions=5000
        )
        service = StreamingService(settings)
        lags: list[float] = []
        written: list[float] = []
        flush_wall: list[float] = []
        flush_cpu: list[float] = []
        if os.environ.get("BENCH_LAG"):
            # Diagnostics, server side only: how old each tick is when the hub gets it (bus lag)
            # and when the flush that carries it has written every session (publish -> written).
            hub = service.hub
            on_tick = hub.on_tick
            flush_now = hub._flush_now

            def timed(tick: Tick) -> None:
                now = time.time()
                lags.append(now - tick.ltp)
                on_tick(tick)

            def timed_flush() -> None:
                stamps = [p[1].ltp for e in hub._dirty_entries for p in e.pending if p is not None]
                wall, cpu = time.perf_counter(), time.thread_time()
                flush_now()
                end = time.time()
                # a flush whose wall time far exceeds its CPU time was preempted by the OS
                flush_wall.append(time.perf_counter() - wall)
                flush_cpu.append(time.thread_time() - cpu)
                written.extend(end - stamp for stamp in stamps)

            hub.on_tick = timed  # type: ignore[method-assign]
            hub._flush_now = timed_flush  # type: ignore[method-assign]
        await service.start()
        feed = BenchFeed(feed="simulator", broker="simulator", publisher=service.bus.publisher())
        service.wire(StreamingSeams(AnyKey(), AllInstruments(), SharedFeedResolver(feed)))  # type: ignore[arg-type]
        await feed.start()
        await service.listen("127.0.0.1", args.port)

        names = symbols(args.symbols)
        mode = TickMode[args.mode]
        levels = tuple(DepthLevel(100.0 + i, 10 * i, i) for i in range(5))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print("READY", flush=True)

        async def publish() -> None:
            # ``rate`` ticks per second, round robin over the symbols, in 1 ms slices.
            pub = feed.publisher
            sent = 0
            started = time.perf_counter()
            i = 0
            while True:
                due = int((time.perf_counter() - started) * args.rate) - sent
                for _ in range(min(due, 2000)):
                    now = time.time()
                    quote = None
                    if mode is not TickMode.LTP:
                        quote = Quote(now, now, now, now, now, 1000, now, now, 5, now, 1, 2, 3)
                    tick = Tick(
                        "NSE",
                        names[i % len(names)],
                        mode,
                        now,
                        int(now * 1000),
                        quote=quote,
                        bids=levels if mode is TickMode.DEPTH else (),
                        asks=levels if mode is TickMode.DEPTH else (),
                        feed="simulator",
                    )
                    pub.publish_raw(*encode_tick(tick))
                    i += 1
                sent += max(due, 0)
                await asyncio.sleep(0.001)

        task = loop.create_task(publish()) if args.rate > 0 else None
        await stop.wait()
        if task:
            task.cancel()
        stats = service.stats()
        stats["evictions"] = evictions
        stats["gc_pauses_ms"] = gc_pauses
        for name, samples in (
            ("bus_lag_ms", lags),
            ("written_lag_ms", written),
            ("flush_wall_ms", flush_wall),
            ("flush_cpu_ms", flush_cpu),
        ):
            if samples:
                samples.sort()
                stats[name] = {
                    "p50": 1000 * samples[len(samples) // 2],
                    "p99": 1000 * samples[int(len(samples) * 0.99)],
                }
        Path(args.stats).write_text(json.dumps(stats))  # noqa: ASYNC240
        await feed.stop()
        await service.close()

    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        cProfile.runctx("uvloop.run(main())", globals(), locals(), os.environ["BENCH_PROFILE"])
    else:
        uvloop.run(main())


# --- OpenAlgo-pattern baseline server -------------------------------------------------------------


def run_baseline(args: argparse.Namespace) -> None:
    """OpenAlgo's proxy loop: per tick, gather(send(json.dumps(msg)) for each subscriber)."""
    import uvloop
    from websockets.asyncio.server import serve

    subscribers: dict[str, set[Any]] = {}

    async def handler(ws: Any) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("action") == "authenticate":
                await ws.send(json.dumps({"type": "auth", "status": "success"}))
            elif msg.get("action") == "subscribe":
                for item in msg["symbols"]:
                    subscribers.setdefault(item["symbol"], set()).add(ws)
                await ws.send(json.dumps({"type": "subscribe", "status": "success"}))
        for subs in subscribers.values():
            subs.discard(ws)

    async def main() -> None:
        names = symbols(args.symbols)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with serve(handler, "127.0.0.1", args.port, compression=None, max_queue=1024):
            print("READY", flush=True)

            async def publish() -> None:
                sent = 0
                started = time.perf_counter()
                i = 0
                while True:
                    due = int((time.perf_counter() - started) * args.rate) - sent
                    for _ in range(min(due, 2000)):
                        symbol = names[i % len(names)]
                        now = time.time()
                        data = {
                            "symbol": symbol,
                            "exchange": "NSE",
                            "ltp": now,
                            "ltt": 0,
                            "timestamp": int(now * 1000),
                            "mode": 1,
                        }
                        base = {
                            "type": "market_data",
                            "symbol": symbol,
                            "exchange": "NSE",
                            "mode": 1,
                            "data": data,
                            "broker": "simulator",
                        }
                        clients = subscribers.get(symbol, ())
                        await asyncio.gather(
                            *(c.send(json.dumps(dict(base))) for c in list(clients)),
                            return_exceptions=True,
                        )
                        i += 1
                    sent += max(due, 0)
                    await asyncio.sleep(0.001)

            task = asyncio.get_running_loop().create_task(publish())
            await stop.wait()
            task.cancel()
        Path(args.stats).write_text("{}")  # noqa: ASYNC240

    uvloop.run(main())


# --- blaster (client ceiling) ---------------------------------------------------------------------


def run_blaster(args: argparse.Namespace) -> None:
    """Writes pre-built market_data frames to every connection as fast as the sockets take them."""
    import uvloop

    sys.path.insert(0, str(ROOT / "src"))
    from openalgo.streaming.messages import text_frame

    frames = []
    for i in range(100):
        now = time.time()
        data = {
            "symbol": f"SYM{i}",
            "exchange": "NSE",
            "mode": 1,
            "ltp": now,
            "ltt": 0,
            "timestamp": int(now * 1000),
        }
        message = {
            "type": "market_data",
            "symbol": f"SYM{i}",
            "exchange": "NSE",
            "mode": 1,
            "data": data,
            "broker": "simulator",
        }
        frames.append(text_frame(json.dumps(message, separators=(",", ":")).encode()))
    batch = b"".join(frames)

    class Blast(asyncio.Protocol):
        def __init__(self, peers: list[asyncio.Transport]) -> None:
            self.peers = peers
            self.buf = b""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            if self.buf is not None:
                self.buf += data
                if b"\r\n\r\n" in self.buf:
                    self.buf = None  # type: ignore[assignment]
                    transport = cast(asyncio.Transport, self.transport)
                    transport.write(
                        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                    )
                    self.peers.append(transport)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        peers: list[asyncio.Transport] = []
        server = await loop.create_server(
            lambda: Blast(peers), "127.0.0.1", args.port, backlog=1024
        )
        print("READY", flush=True)
        while not stop.is_set():
            # one pass over every connection that has room, then a real sleep so accepts happen
            for transport in peers:
                if not transport.is_closing() and transport.get_write_buffer_size() < 1 << 20:
                    transport.write(batch)
            await asyncio.sleep(0.0005)
        server.close()
        Path(args.stats).write_text("{}")  # noqa: ASYNC240

    uvloop.run(main())


# --- clients --------------------------------------------------------------------------------------


@dataclass
class Counters:
    frames: int = 0
    latencies: list[float] = field(default_factory=list)
    subscribed: int = 0
    auth_failed: int = 0
    closed: int = 0
    close_codes: list[int] = field(default_factory=list)


STAMP = b'"ltp":'
STAMP_SCALE = 1.0


class BenchClient(asyncio.Protocol):
    def __init__(
        self,
        counters: Counters,
        key: str,
        names: list[tuple[str, str]],
        mode: int,
        sample: int,
        stall: bool,
        timed: bool,
    ) -> None:
        self.c = counters
        self.key = key
        self.names = names
        self.mode = mode
        self.sample = sample
        self.stall = stall
        self.timed = timed
        self.buf = bytearray()
        self.open = False
        self.transport: asyncio.Transport | None = None
        self.seen = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(HANDSHAKE)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            del buf[: end + 4]
            self.open = True
            assert self.transport is not None
            self.transport.write(client_frame({"action": "authenticate", "api_key": self.key}))
            if self.names:
                self.transport.write(
                    client_frame(
                        {
                            "action": "subscribe",
                            "mode": self.mode,
                            "symbols": [{"symbol": s, "exchange": e} for e, s in self.names],
                        }
                    )
                )
            if self.stall:
                self.transport.pause_reading()
        pos = 0
        size = len(buf)
        c = self.c
        sample = self.sample
        while size - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + n
            if end > size:
                break
            if b0 == 0x88:
                c.close_codes.append(int.from_bytes(buf[pos + head : pos + head + 2], "big"))
            elif b0 == 0x81:
                self.seen += 1
                if self.seen == 1 and b'"status":"success"' not in buf[pos + head : end]:
                    c.auth_failed += 1
                if self.seen <= 2:  # auth and subscribe acks
                    if self.seen == 2 or not self.names:
                        c.subscribed += 1
                else:
                    c.frames += 1
                    if self.timed and c.frames % sample == 0:
                        # the bench feed puts its publish time (s) in ltp; the real server's
                        # ticks carry the simulator's round time (ms) in timestamp. Found
                        # without a full JSON parse.
                        at = buf.find(STAMP, pos + head, end) + len(STAMP)
                        stop = at
                        while buf[stop] not in b",}":
                            stop += 1
                        c.latencies.append(time.time() - float(buf[at:stop]) / STAMP_SCALE)
            pos = end
        if pos:
            del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.c.closed += 1


def run_clients(args: argparse.Namespace) -> None:
    global STAMP, STAMP_SCALE
    if args.key:  # the real server: a real API key, ticks stamped by the simulator in ms
        STAMP, STAMP_SCALE = b'"timestamp":', 1000.0

    async def main() -> None:
        loop = asyncio.get_running_loop()
        counters = Counters()
        names: list[tuple[str, str]] = (
            [(p.split(":", 1)[0], p.split(":", 1)[1]) for p in args.pairs.split(",")]
            if args.pairs
            else [("NSE", s) for s in symbols(args.symbols)]
        )
        conns: list[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]] = []
        print("clients: connecting", file=sys.stderr, flush=True)

        def factory(i: int) -> BenchClient:
            names_i = names if not args.idle else []
            key = args.key or f"bench-{i % 50}"
            return BenchClient(counters, key, names_i, 1, args.sample, False, not args.no_latency)

        for start in range(0, args.sessions, 50):  # concurrently, 50 at a time
            conns += await asyncio.gather(
                *(
                    loop.create_connection(functools.partial(factory, i), "127.0.0.1", args.port)
                    for i in range(start, min(start + 50, args.sessions))
                )
            )
        stalled = None
        if args.stall:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", args.port))
            stalled = await loop.create_connection(
                lambda: BenchClient(Counters(), "bench-999", names, 3, 1, True, False), sock=sock
            )
        deadline = time.monotonic() + 60
        while (  # noqa: ASYNC110
            counters.subscribed < args.sessions and time.monotonic() < deadline and not args.blaster
        ):
            await asyncio.sleep(0.05)
        subscribed_at = time.time()
        print(
            f"clients: {counters.subscribed} subscribed, {counters.frames} frames",
            file=sys.stderr,
            flush=True,
        )
        await asyncio.sleep(args.warmup)
        f0, l0 = counters.frames, len(counters.latencies)
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        print(json.dumps({"phase": "window-start", "t": time.time()}), flush=True)
        await asyncio.sleep(args.duration)
        elapsed = time.perf_counter() - t0
        frames = counters.frames - f0
        lat = sorted(counters.latencies[l0:])
        result = {
            "sessions": args.sessions,
            "subscribed": counters.subscribed,
            "auth_failed": counters.auth_failed,
            "subscribed_at": subscribed_at,
            "deliveries_per_s": frames / elapsed,
            "frames": frames,
            "client_cpu": (time.process_time() - cpu0) / elapsed,
            "closed": counters.closed,
            "latency_samples": len(lat),
            "p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
            "p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else None,
            "mean_ms": 1000 * statistics.fmean(lat) if lat else None,
        }
        if args.hold:
            print(json.dumps({"phase": "holding"}), flush=True)
            await asyncio.sleep(args.hold)
        for transport, _ in conns:
            transport.close()
        if stalled:
            stalled[0].abort()
        print(json.dumps(result), flush=True)

    if args.uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())  # under a read flood (throughput runs) uvloop starved our timers


# --- orchestration --------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spawn(role: str, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, role, *extra],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", f"{role} failed to start: {line!r}"
    return proc


@dataclass
class RealServer:
    """A data directory for `openalgo serve`: migrated, a user, a real API key (made by the CLI),
    the simulator master (loaded by ``serve`` itself on first start)."""

    data: Path
    key: str
    pairs: list[str]  # EXCHANGE:SYMBOL of 100 simulator equities

    @classmethod
    def prepare(cls) -> RealServer:
        data = Path(tempfile.mkdtemp(prefix="openalgo-bench-real-"))
        env = cls.environment(data)

        def cli(*args: str) -> str:
            run = subprocess.run(
                [sys.executable, "-m", "openalgo", *args],
                env=env,
                cwd=data,
                capture_output=True,
                text=True,
                check=True,
            )
            return run.stdout.strip()

        cli("db", "upgrade")
        cli("user", "create", "--username", "bench", "--password", "Bench!pass-2026")
        key = cli("apikey", "create", "--username", "bench").splitlines()[-1]
        sys.path.insert(0, str(ROOT / "src"))
        from datetime import date

        from openalgo.domain.calendar import MarketCalendar
        from openalgo.services.instrument_loading import simulator_master

        rows = simulator_master(MarketCalendar.bundled(), date.today())
        equities = [f"{r.exchange}:{r.symbol}" for r in rows if r.exchange in ("NSE", "BSE")]
        return cls(data, key, equities[:100])

    @staticmethod
    def environment(data: Path, rounds: int = 2) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENALGO_")}
        env.update(
            OPENALGO_DATA_DIR=str(data),
            OPENALGO_LOG_LEVEL="WARNING",
            OPENALGO_MARKET_ALWAYS_OPEN="true",  # the simulator ticks whatever the hour
            # one round ticks every subscribed symbol: 100 symbols x 2 rounds/s, or 2 symbols x
            # 100 rounds/s, to 100 sessions = 20,000 deliveries/s
            OPENALGO_SIM_TICKS_PER_SECOND=str(rounds),
            OPENALGO_ACCESS_LOG="false",
        )
        return env

    def spawn(self, ws_port: int, rounds: int) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openalgo",
                "serve",
                "--port",
                str(free_port()),
                "--ws-port",
                str(ws_port),
            ],
            env=self.environment(self.data, rounds),
            cwd=self.data,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, "openalgo serve exited"
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", ws_port)) == 0:
                    time.sleep(2)  # let the start settle before the RSS baseline
                    return proc
            time.sleep(0.2)
        proc.kill()
        raise RuntimeError("openalgo serve did not start")


def scenario(
    name: str,
    *,
    server_role: str = "server",
    real: RealServer | None = None,
    rounds: int = 2,
    sessions: int,
    symbols_n: int,
    rate: int,
    duration: float,
    warmup: float = 2.0,
    sample: int = 1,
    stall: bool = False,
    idle: bool = False,
    hold: float = 0.0,
    stall_timeout: float = 10.0,
    no_latency: bool = False,
    uvloop: bool = False,
    mode: str = "LTP",
) -> dict[str, Any]:
    port = free_port()
    stats_file = Path(f"/tmp/openalgo-bench-{os.getpid()}-{port}.json")
    data = Path(f"/tmp/openalgo-bench-data-{os.getpid()}")
    data.mkdir(exist_ok=True)
    server = (
        real.spawn(port, rounds)
        if real
        else spawn(
            server_role,
            "--port",
            str(port),
            "--symbols",
            str(symbols_n),
            "--rate",
            str(rate),
            "--mode",
            mode,
            "--stats",
            str(stats_file),
            "--data",
            str(data),
            "--stall-timeout",
            str(stall_timeout),
        )
    )
    rss_before = rss_mb(server.pid)
    client_args = [
        "clients",
        "--port",
        str(port),
        "--sessions",
        str(sessions),
        "--symbols",
        str(symbols_n),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
        "--sample",
        str(sample),
    ]
    if stall:
        client_args.append("--stall")
    if idle:
        client_args += ["--idle", "--hold", "3"]
    elif hold:
        client_args += ["--hold", str(hold)]
    if no_latency:
        client_args.append("--no-latency")
    if uvloop:
        client_args.append("--uvloop")
    if server_role == "blaster":
        client_args.append("--blaster")
    if real:
        client_args += ["--key", real.key, "--pairs", ",".join(real.pairs[:symbols_n])]
    clients = subprocess.Popen(
        [sys.executable, __file__, *client_args], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert clients.stdout is not None
    cpu_start = wall_start = 0.0
    rss_held = 0.0
    result: dict[str, Any] = {}
    for line in clients.stdout:
        msg = json.loads(line)
        if msg.get("phase") == "window-start":
            cpu_start, wall_start = cpu_seconds(server.pid), time.perf_counter()
        elif msg.get("phase") == "holding":
            rss_held = rss_mb(server.pid)
        else:
            result = msg
    clients.wait()
    server_cpu = (cpu_seconds(server.pid) - cpu_start) / max(time.perf_counter() - wall_start, 1e-9)
    rss_after = rss_held or rss_mb(server.pid)
    server.send_signal(signal.SIGTERM)
    server.wait(30)
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    stats_file.unlink(missing_ok=True)
    result.update(
        name=name,
        offered_per_s=rate * sessions if not idle else 0,
        server_cpu=server_cpu,
        server_rss_before_mb=rss_before,
        server_rss_mb=rss_after,
        stats=stats,
    )
    if stall and stats.get("evictions"):
        result["evicted_after_s"] = stats["evictions"][0] - result["subscribed_at"]
    return result


def calm_run(duration: float) -> dict[str, Any]:
    return scenario(
        "ours: latency at 20k/s (100x100 LTP)",
        sessions=100,
        symbols_n=100,
        rate=200,
        duration=duration,
        uvloop=True,
        mode="DEPTH",
    )


def stall_run() -> dict[str, Any]:
    """The calm run plus a session that never reads. The window (2-10 s after subscribing) lies
    wholly inside the stall (its buffers fill in ~1.3 s, eviction comes at ~11.3 s); the clients
    then hold on so the eviction is seen."""
    return scenario(
        "ours: 20k/s + 1 stalled session",
        sessions=100,
        symbols_n=100,
        rate=200,
        duration=8,
        hold=6,
        stall=True,
        stall_timeout=10,
        uvloop=True,
        mode="DEPTH",
    )


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", nargs="?", default="all")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--mode", default="LTP")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--sample", type=int, default=1)
    parser.add_argument("--stall", action="store_true")
    parser.add_argument("--idle", action="store_true")
    parser.add_argument("--hold", type=float, default=0)
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--blaster", action="store_true")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--stats", default="/dev/null")
    parser.add_argument("--data", default="/tmp")
    parser.add_argument("--stall-timeout", type=float, default=10)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("all", "synthetic", "real", "stall"), default="all")
    parser.add_argument("--repeat", type=int, default=3, help="calm/stall pairs for --only stall")
    parser.add_argument("--key", default="", help="clients: one API key for every session")
    parser.add_argument("--pairs", default="", help="clients: EXCHANGE:SYMBOL,... to subscribe")
    args = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # dump stacks of a stuck role: kill -USR1 <pid>
    roles = {
        "server": run_server,
        "baseline": run_baseline,
        "blaster": run_blaster,
        "clients": run_clients,
    }
    if args.role in roles:
        roles[args.role](args)
        return

    d = 5.0 if args.quick else 10.0
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine)", flush=True)
    runs: list[dict[str, Any]] = []
    if args.only == "stall":  # alternate calm and stalled runs, to see the spread under load
        print(
            f"{'pair':5} {'calm p50/p99 ms':>18} {'stall p50/p99 ms':>18} {'rate':>7} {'evicted':>8}"
        )
        for i in range(args.repeat):
            calm, stall = calm_run(d), stall_run()
            change = 100 * (stall["deliveries_per_s"] / calm["deliveries_per_s"] - 1)
            print(
                f"{i + 1:<5} {fmt(calm['p50_ms'], 2):>8} / {fmt(calm['p99_ms'], 2):>7} "
                f"{fmt(stall['p50_ms'], 2):>8} / {fmt(stall['p99_ms'], 2):>7} {change:>+6.1f}% "
                f"{fmt(stall.get('evicted_after_s'), 1):>7}s   load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            for run in (calm, stall):
                server_side = run["stats"].get("written_lag_ms")
                if server_side:
                    st = run["stats"]
                    print(
                        f"      server side ({run['name'][6:]}): publish -> written p50 "
                        f"{server_side['p50']:.2f} ms, p99 {server_side['p99']:.2f} ms; bus lag "
                        f"p99 {st['bus_lag_ms']['p99']:.2f} ms; one flush p99 "
                        f"{st['flush_wall_ms']['p99']:.2f} ms wall, "
                        f"{st['flush_cpu_ms']['p99']:.2f} ms CPU",
                        flush=True,
                    )
        return
    if args.only in ("all", "synthetic"):
        runs += [
            scenario(
                "client ceiling (blaster, no hub)",
                server_role="blaster",
                sessions=100,
                symbols_n=100,
                rate=0,
                duration=d,
                sample=64,
                no_latency=True,
            ),
            scenario(
                "baseline: OpenAlgo pattern, 100x100 LTP",
                server_role="baseline",
                sessions=100,
                symbols_n=100,
                rate=5000,
                duration=d,
                sample=16,
            ),
            scenario(
                "ours: throughput 100x100 LTP",
                sessions=100,
                symbols_n=100,
                rate=5000,
                duration=d,
                sample=16,
            ),
            scenario(
                "baseline: latency at 20k/s (100x100 LTP)",
                server_role="baseline",
                sessions=100,
                symbols_n=100,
                rate=200,
                duration=d,
                uvloop=True,
            ),
            calm_run(d),
            stall_run(),
            scenario(
                "ours: 1,000 idle authenticated sessions",
                sessions=1000,
                symbols_n=0,
                rate=0,
                duration=1,
                idle=True,
                no_latency=True,
            ),
        ]
    if args.only in ("all", "real"):
        real = RealServer.prepare()
        atexit.register(shutil.rmtree, real.data, ignore_errors=True)
        runs += [
            scenario(
                "real app: 1,000 idle sessions, real API key",
                real=real,
                sessions=1000,
                symbols_n=0,
                rate=0,
                duration=1,
                idle=True,
                no_latency=True,
            ),
            scenario(
                "real app: 100 symbols x 100 LTP, 2 rounds/s",
                real=real,
                warmup=4.0,  # the first round builds each symbol's day path
                sessions=100,
                symbols_n=100,
                rate=200,
                duration=d,
                uvloop=True,
            ),
            scenario(
                "real app: 2 symbols x 100 LTP, 100 rounds/s",
                real=real,
                warmup=4.0,  # the first round builds each symbol's day path
                rounds=100,
                sessions=100,
                symbols_n=2,
                rate=200,
                duration=d,
                uvloop=True,
            ),
        ]
    print()
    header = f"{'scenario':46} {'offered/s':>10} {'delivered/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'srv cpu':>8} {'cli cpu':>8} {'srv MB':>7}"
    print(header)
    print("-" * len(header))
    for r in runs:
        print(
            f"{r['name']:46} {fmt(r['offered_per_s']):>10} {fmt(r.get('deliveries_per_s'), 0):>12} "
            f"{fmt(r.get('p50_ms'), 2):>8} {fmt(r.get('p99_ms'), 2):>8} {fmt(r['server_cpu'], 2):>8} "
            f"{fmt(r.get('client_cpu'), 2):>8} {fmt(r['server_rss_mb'], 0):>7}"
        )
    by_name = {r["name"]: r for r in runs}
    print()
    for name in (
        "ours: 1,000 idle authenticated sessions",
        "real app: 1,000 idle sessions, real API key",
    ):
        idle = by_name.get(name)
        if idle:
            print(
                f"{name}: server RSS {idle['server_rss_before_mb']:.0f} MB before, "
                f"{idle['server_rss_mb']:.0f} MB with {idle['subscribed'] - idle['auth_failed']} "
                f"authenticated sessions ({idle['auth_failed']} refused) "
                f"({(idle['server_rss_mb'] - idle['server_rss_before_mb']) * 1024 / max(idle['subscribed'], 1):.1f} KB each)"
            )
    stalled = by_name.get("ours: 20k/s + 1 stalled session")
    calm_ = by_name.get("ours: latency at 20k/s (100x100 LTP)")
    if stalled and calm_:
        stall, calm = stalled, calm_
        print(
            f"stall: evicted after {fmt(stall.get('evicted_after_s'), 1)} s (timeout 10 s); healthy rate "
            f"{100 * (stall['deliveries_per_s'] / calm['deliveries_per_s'] - 1):+.1f}%, p99 "
            f"{fmt(calm.get('p99_ms'), 2)} -> {fmt(stall.get('p99_ms'), 2)} ms"
        )
    for r in runs:
        server_side = r["stats"].get("written_lag_ms")
        if server_side:
            print(
                f"{r['name']}: server side, publish -> written to every session: p50 "
                f"{server_side['p50']:.2f} ms, p99 {server_side['p99']:.2f} ms (BENCH_LAG)"
            )
    pauses = [ms for r in runs for gen, ms in r["stats"].get("gc_pauses_ms", []) if gen == 2]
    print(
        f"collector: {len(pauses)} full collections in our servers' runs"
        + (f", longest {max(pauses):.1f} ms" if pauses else "")
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    out = Path(tempfile.gettempdir()) / "openalgo-bench-streaming.json"
    out.write_text(json.dumps(runs, indent=1, default=str))
    print(f"raw results: {out}")


if __name__ == "__main__":
    main()
