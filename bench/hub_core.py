"""CPU cost of the fan-out itself: bus decode + hub routing + per-session batching, no sockets.

    .venv/bin/python bench/hub_core.py

100 sessions x 100 symbols (LTP): each tick is decoded from its bus frames and routed; every 100
ticks (one bus batch, one tick per symbol, so nothing conflates) the hub fans them out, encoding
each once, and writes each session once into a transport that only counts bytes. Prints deliveries per second of one core, with OpenAlgo's
per-client ``json.dumps`` of the same message as the baseline.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from openalgo.domain.enums import TickMode
from openalgo.domain.market import Tick
from openalgo.streaming.codec import decode_tick, encode_tick
from openalgo.streaming.hub import Hub
from openalgo.streaming.messages import Message
from openalgo.streaming.session import Session

SESSIONS, SYMBOLS, TICKS = 100, 100, 20_000


class CountingTransport:
    peer = "bench"
    direct = True

    def __init__(self) -> None:
        self.bytes = 0
        self.frames = 0

    async def send(self, messages: list[Message]) -> None:
        self.write_now(messages)

    def write_now(self, messages: list[Message]) -> bool:
        self.frames += len(messages)
        self.bytes += len(b"".join([m.frame for m in messages]))
        return True

    def close(self, code: int, reason: str) -> None:
        pass


class NullFeed:
    feed = "simulator"
    broker = "simulator"
    depth_levels = frozenset({5})
    connected = True

    async def subscribe(self, symbol: str, exchange: str, mode: TickMode, depth: int) -> None:
        pass

    async def unsubscribe(self, symbol: str, exchange: str, mode: TickMode) -> None:
        pass


async def main() -> None:
    hub = Hub()
    feed = NullFeed()
    transports = []
    for _ in range(SESSIONS):
        t = CountingTransport()
        s = Session(t, stall_timeout=10, max_subscriptions=5000)
        s.feed = feed
        s.broker = "simulator"
        hub.add_session(s)
        for i in range(SYMBOLS):
            await hub.subscribe(s, "NSE", f"SYM{i}", 1, 5)
        transports.append(t)
    frames = [
        encode_tick(
            Tick("NSE", f"SYM{i % SYMBOLS}", TickMode.LTP, 100.0 + i, 1_700_000_000_000 + i)
        )
        for i in range(TICKS)
    ]
    started = time.perf_counter()
    for n, (topic, payload) in enumerate(frames, 1):
        hub.on_tick(decode_tick(topic, payload))
        if n % 100 == 0:
            hub._flush_now()
    hub._flush_now()
    ours = time.perf_counter() - started
    delivered = sum(t.frames for t in transports)

    # OpenAlgo's proxy: a dict copy and a json.dumps per client per tick (the send not even counted)
    started = time.perf_counter()
    for i in range(TICKS // 10):
        symbol = f"SYM{i % SYMBOLS}"
        data = {
            "symbol": symbol,
            "exchange": "NSE",
            "ltp": 100.0 + i,
            "ltt": 0,
            "timestamp": 1,
            "mode": "ltp",
        }
        base = {
            "type": "market_data",
            "symbol": symbol,
            "exchange": "NSE",
            "mode": 1,
            "data": data,
            "broker": "x",
        }
        for _ in range(SESSIONS):
            json.dumps(dict(base)).encode()
    baseline = (time.perf_counter() - started) * 10

    print(
        f"hub core: {delivered:,} deliveries in {ours:.3f} s = {delivered / ours:,.0f} per second of one core"
    )
    print(f"baseline (per-client json.dumps only): {TICKS * SESSIONS / baseline:,.0f} per second")


if __name__ == "__main__":
    asyncio.run(main())
