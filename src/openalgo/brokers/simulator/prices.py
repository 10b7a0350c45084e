"""Seeded, deterministic price paths: the same instant always has the same price.

Nothing here keeps state that time moves forward: a price is a pure function of (seed, series,
instant), so live ticks, quotes and candles for any past range agree by construction, and two
processes (or a restart) see the same market.

The path is built top-down:

1. **Daily closes** are a random walk over the series' trading days, anchored at the spec's level
   on the anchor date (walking forwards and backwards from it); each day's step is drawn from a
   generator seeded with (seed, series, day), so any day is reachable without replaying others
   beyond a cached running sum.
2. **Within a session** a Brownian bridge runs from the day's open (previous close plus a small
   gap) to its close, one point per minute boundary.
3. **Within a minute** the path visits the minute's high and low at two seeded instants, so every
   minute has four vertices and the price in between is linear. A candle's high and low are then
   exactly the extremes of its vertices, and every tick lies inside the candle it belongs to.

Outside a session the price stands still at the last close.
"""

from __future__ import annotations

import math
import random
from array import array
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from hashlib import blake2b
from itertools import accumulate

from openalgo.brokers.simulator.spec import Process, SimulatorSpec
from openalgo.domain.calendar import MarketCalendar, Session
from openalgo.domain.clock import IST

DRIFT = 0.06  # annual
GAP_FRACTION = 0.2  # overnight gap, as a fraction of a day's volatility
WICK_FRACTION = 0.8  # a minute's high/low beyond open/close, as a fraction of its volatility
SUMMARY_CACHE_SIZE = 200_000  # sessions (about 60 bytes each): 10 years of 80 series


def seed_of(*parts: object) -> int:
    digest = blake2b("|".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(slots=True)
class DayPath:
    """One session of one series: vertices (epoch seconds, price) and the volume profile."""

    day: date
    start: float
    end: float
    times: array[float]
    values: array[float]
    cum_volume: array[float]  # fraction of the day's volume traded by each minute boundary
    prefix_high: array[float]
    prefix_low: array[float]

    @property
    def open(self) -> float:
        return self.values[0]

    @property
    def close(self) -> float:
        return self.values[-1]

    def index_at(self, when: float) -> int:
        """Index of the last vertex at or before ``when`` (clamped to the session)."""
        if when <= self.start:
            return 0
        return min(bisect_right(self.times, when), len(self.times)) - 1

    def value_at(self, when: float) -> float:
        if when >= self.end:
            return self.values[-1]
        i = self.index_at(when)
        t0, t1 = self.times[i], self.times[i + 1]
        v0, v1 = self.values[i], self.values[i + 1]
        return v0 + (v1 - v0) * (when - t0) / (t1 - t0) if t1 > t0 else v0

    def volume_fraction(self, when: float) -> float:
        if when >= self.end:
            return 1.0
        if when <= self.start:
            return 0.0
        minute = int((when - self.start) // 60)
        span = min(60.0, self.end - (self.start + minute * 60))
        frac = (when - self.start - minute * 60) / span if span > 0 else 1.0
        lo, hi = self.cum_volume[minute], self.cum_volume[minute + 1]
        return lo + (hi - lo) * frac


@dataclass(frozen=True, slots=True)
class DaySummary:
    """A whole session of one series: what a daily candle needs."""

    open: float
    high: float
    low: float
    close: float


class PriceModel:
    def __init__(
        self,
        spec: SimulatorSpec,
        calendar: MarketCalendar,
        *,
        seed: int = 0,
        cache_size: int = 512,
    ) -> None:
        self.spec = spec
        self.calendar = calendar
        self.seed = seed
        self._year = 365.0 if calendar.always_open else 252.0
        self._paths: OrderedDict[tuple[str, date], DayPath | None] = OrderedDict()
        self._summaries: OrderedDict[tuple[str, date], DaySummary] = OrderedDict()
        self._cache_size = cache_size
        # per series: trading day -> log close, plus the walked frontier
        self._closes: dict[str, dict[date, float]] = {}
        self._frontier: dict[str, tuple[date, date]] = {}

    def process(self, key: str) -> Process | None:
        return self.spec.processes.get(key)

    def adhoc(self, key: str, price: float, calendar_exchange: str) -> Process:
        """A series for an instrument the spec does not name (for masters loaded from files)."""
        from openalgo.domain.enums import Exchange

        process = self.spec.processes.get(key)
        if process is None:
            process = Process(key, price, 0.3, Exchange(calendar_exchange), 100_000)
            self.spec.processes[key] = process
        return process

    # --- daily walk ---------------------------------------------------------------------------

    def _step(self, process: Process, day: date) -> float:
        z = random.Random(seed_of(self.seed, process.key, day.isoformat(), "d")).gauss(0.0, 1.0)  # noqa: S311
        vol = process.vol
        return (DRIFT - 0.5 * vol * vol) / self._year + vol / math.sqrt(self._year) * z

    def _anchor(self, process: Process) -> date:
        day = self.spec.anchor
        while not self.calendar.is_trading_day(process.calendar, day):
            day += timedelta(days=1)
        return day

    def log_close(self, process: Process, day: date) -> float:
        """Log of the close on trading day ``day``."""
        closes = self._closes.get(process.key)
        if closes is None:
            anchor = self._anchor(process)
            closes = self._closes[process.key] = {anchor: math.log(process.price)}
            self._frontier[process.key] = (anchor, anchor)
        found = closes.get(day)
        if found is not None:
            return found
        low, high = self._frontier[process.key]
        if day > high:
            current, value = high, closes[high]
            while current < day:
                current += timedelta(days=1)
                if self.calendar.is_trading_day(process.calendar, current):
                    value += self._step(process, current)
                    closes[current] = value
            self._frontier[process.key] = (low, max(high, current))
        elif day < low:
            current, value = low, closes[low]
            while current > day:
                value -= self._step(process, current)  # back out the step into ``current``
                current -= timedelta(days=1)
                while not self.calendar.is_trading_day(process.calendar, current):
                    current -= timedelta(days=1)
                closes[current] = value
            self._frontier[process.key] = (min(low, current), high)
        found = closes.get(day)
        if found is None:
            raise ValueError(f"{day} is not a trading day for {process.key}")
        return found

    def close(self, process: Process, day: date) -> float:
        """The close on trading day ``day`` (what its session path ends at, without building it)."""
        return math.exp(self.log_close(process, day))

    # --- sessions -------------------------------------------------------------------------------

    def day_path(self, process: Process, day: date) -> DayPath | None:
        key = (process.key, day)
        if key in self._paths:
            self._paths.move_to_end(key)
            return self._paths[key]
        session = self.calendar.session(process.calendar, day)
        path = self._build(process, session) if session is not None else None
        self._paths[key] = path
        if len(self._paths) > self._cache_size:
            self._paths.popitem(last=False)
        return path

    def day_summary(self, process: Process, day: date) -> DaySummary | None:
        """Open, high, low and close of a session, exactly those of its path, without building
        the path when it is not cached (a long daily history would otherwise build thousands)."""
        key = (process.key, day)
        found = self._summaries.get(key)
        if found is not None:
            self._summaries.move_to_end(key)
            return found
        cached = self._paths.get(key)
        if cached is not None:
            found = DaySummary(
                cached.open, cached.prefix_high[-1], cached.prefix_low[-1], cached.close
            )
        else:
            session = self.calendar.session(process.calendar, day)
            if session is None:
                return None
            found = self._summarize(process, session)
        self._summaries[key] = found
        if len(self._summaries) > SUMMARY_CACHE_SIZE:
            self._summaries.popitem(last=False)
        return found

    def _bridge(
        self, process: Process, session: Session
    ) -> tuple[list[float], random.Random, float]:
        """The minute-boundary points of a session and the generator that draws its minutes.

        `_build` and `_summarize` both start here and then draw the same bits per minute, so a
        summary is exactly the extremes of the path.
        """
        day = session.start.astimezone(IST).date()
        close = self.log_close(process, day)
        step = self._step(process, day)
        rng = random.Random(seed_of(self.seed, process.key, day.isoformat(), "i"))  # noqa: S311
        vol_day = process.vol / math.sqrt(self._year)
        open_ = close - step + GAP_FRACTION * vol_day * rng.gauss(0.0, 1.0)
        minutes = max(1, math.ceil(session.seconds / 60))
        sig = vol_day / math.sqrt(minutes)
        gauss = rng.gauss
        walk = list(accumulate((gauss(0.0, 1.0) for _ in range(minutes)), initial=0.0))
        total = walk[-1]
        drift = close - open_
        exp = math.exp
        points = [
            exp(open_ + drift * i / minutes + sig * (walk[i] - total * i / minutes))
            for i in range(minutes + 1)
        ]
        return points, rng, WICK_FRACTION * sig

    def _summarize(self, process: Process, session: Session) -> DaySummary:
        points, rng, wick = self._bridge(process, session)
        getrandbits = rng.getrandbits
        high, low = -math.inf, math.inf
        # The path's extremes are its minutes' wicks: each minute's high is above its open and
        # close, so the last close cannot exceed the last high either.
        for m in range(len(points) - 1):
            o, c = points[m], points[m + 1]
            bits = getrandbits(64)
            up = (o if o >= c else c) * (1.0 + wick * (bits & 0xFFFF) / 65536.0)
            down = (o if o <= c else c) * (1.0 - wick * ((bits >> 16) & 0xFFFF) / 65536.0)
            if up > high:
                high = up
            if down < low:
                low = down
        return DaySummary(points[0], high, low, points[-1])

    def _build(self, process: Process, session: Session) -> DayPath:
        day = session.start.astimezone(IST).date()
        points, rng, wick = self._bridge(process, session)
        seconds = session.seconds
        minutes = len(points) - 1
        start = session.start.timestamp()
        times = array("d")
        values = array("d")
        weights = array("d", [0.0])
        getrandbits = rng.getrandbits
        weight = 0.0
        # One pass per minute; this loop is most of what a day of history costs.
        for m in range(minutes):
            o, c = points[m], points[m + 1]
            bits = getrandbits(64)
            high = (o if o >= c else c) * (1.0 + wick * (bits & 0xFFFF) / 65536.0)
            low = (o if o <= c else c) * (1.0 - wick * ((bits >> 16) & 0xFFFF) / 65536.0)
            first = start + 60.0 * m
            span = 60.0 if seconds - 60.0 * m >= 60.0 else seconds - 60.0 * m
            u1 = 0.10 + 0.35 * ((bits >> 32) & 0xFFF) / 4096.0
            u2 = 0.55 + 0.35 * ((bits >> 44) & 0xFFF) / 4096.0
            times.extend((first, first + u1 * span, first + u2 * span))
            if bits >> 63:
                values.extend((o, high, low))
            else:
                values.extend((o, low, high))
            x = (m + 0.5) / minutes
            shape = 1.0 + 3.0 * (2.0 * x - 1.0) ** 2  # busier at the open and the close
            weight = weight + shape * (0.5 + ((bits >> 56) & 0x7F) / 127.0) * span
            weights.append(weight)
        times.append(start + seconds)
        values.append(points[-1])
        total_weight = weights[-1] or 1.0
        cum = array("d", [w / total_weight for w in weights])
        prefix_high = array("d", accumulate(values, max))
        prefix_low = array("d", accumulate(values, min))
        return DayPath(day, start, start + seconds, times, values, cum, prefix_high, prefix_low)

    def last_path(self, process: Process, when: datetime) -> DayPath | None:
        """The session in progress at ``when``, else the last one that began before it."""
        session = self.calendar.last_session(process.calendar, when)
        if session is None:
            return None
        return self.day_path(process, session.start.astimezone(IST).date())

    def previous_path(self, process: Process, path: DayPath) -> DayPath | None:
        day = self.calendar.previous_trading_day(process.calendar, path.day)
        return self.day_path(process, day)
