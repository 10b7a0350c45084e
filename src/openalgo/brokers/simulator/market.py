"""`SimulatorMarket`: quotes, depth, candles and ticks from the seeded price model.

Every instrument is valued from its underlying's path: equities and indices are the path itself;
futures add cost of carry to expiry; options are Black-Scholes on the underlying with a volatility
smile, so chains look right (puts and calls agree through parity, premiums decay toward expiry).
A derived instrument's price is linear between the path's vertices, like the underlying's, so its
candles and ticks agree exactly too.

Ticks are published only for subscribed instruments, ``ticks_per_second`` times a second each, and
only while the instrument's exchange is in session (a closed market stands still and says
nothing). Subscriptions are reference-counted per (exchange, symbol, mode): the streaming hub and
the sandbox can both subscribe, and one unsubscribing does not starve the other.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from openalgo.brokers.base import Capabilities, MarketData
from openalgo.brokers.simulator.prices import DayPath, PriceModel, seed_of
from openalgo.brokers.simulator.spec import Process, SimulatorSpec, load_spec
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.clock import IST, Clock
from openalgo.domain.enums import Exchange, InstrumentType, TickMode
from openalgo.domain.instruments import Instrument
from openalgo.domain.market import Candle, Depth, DepthLevel, Quote, Tick, TickSink
from openalgo.domain.options import bs_price
from openalgo.errors import BadRequest, NotFound, OpenAlgoError
from openalgo.services.instrument_cache import InstrumentCache

log = logging.getLogger("openalgo.simulator")

INTERVALS: dict[str, int] = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "10m": 10,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "D": 0,
}
MAX_INTRADAY_DAYS = 366
MAX_DAILY_DAYS = 366 * 10
YEAR_SECONDS = 365.0 * 86400.0
DEPTH_LEVELS = 5
DAILY_CACHE_SIZE = 100_000  # whole-session daily candles kept (about 200 bytes each)
_YIELD_EVERY = 500  # ticks published between yields to the event loop

CAPABILITIES = Capabilities(
    exchanges=frozenset(
        {
            Exchange.NSE,
            Exchange.BSE,
            Exchange.NFO,
            Exchange.BFO,
            Exchange.CDS,
            Exchange.MCX,
            Exchange.NSE_INDEX,
            Exchange.BSE_INDEX,
        }
    ),
    intervals=tuple(INTERVALS),
)


def _round_tick(value: float, tick: float) -> float:
    """On the tick grid, never below one tick (an option is never quoted at zero)."""
    return max(round(round(value / tick) * tick, 4), tick)


_MASK = (1 << 64) - 1


def _orders(lots: int) -> int:
    """How many orders make up a depth level of ``lots`` lots: 1 to 9, never more than lots."""
    return min(lots, 1 + lots % 9)


def _mix(x: int) -> int:
    """SplitMix64's finaliser: a cheap, well-spread hash of an integer (depth noise per second)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@dataclass(slots=True)
class _Day:
    """One instrument's view of one session, kept while its quotes and ticks stay in it.

    What is fixed for the session (open, close, previous close, open interest) is computed once;
    the instrument's prices at the pair of path vertices around "now", and its extremes so far,
    only when the clock crosses a vertex (every 15 s or so), not on every tick. For options that is
    the difference between a few Black-Scholes evaluations per tick and one every few dozen ticks.
    """

    path: DayPath
    open: float
    close: float
    prev_close: float
    oi: int
    open_r: float  # on the tick grid
    prev_close_r: float
    index: int = -1  # the vertex the fields below describe
    t0: float = 0.0
    t1: float = 0.0
    v0: float = 0.0
    v1: float = 0.0
    high: float = 0.0  # extremes of the underlying up to the vertex, valued at the vertex
    low: float = 0.0

    def price(self, when: float) -> float:
        """Linear between the two vertices (call `SimulatorMarket._segment` first)."""
        if when >= self.path.end:
            return self.close
        if self.t1 > self.t0:
            return self.v0 + (self.v1 - self.v0) * (when - self.t0) / (self.t1 - self.t0)
        return self.v0


@dataclass(slots=True)
class _Valuer:
    """How one instrument's price follows its series."""

    instrument: Instrument
    process: Process
    tick: float
    kind: Literal["spot", "future", "option"]
    rate: float
    expiry_ts: float = 0.0
    strike: float = 0.0
    vol: float = 0.0
    option: Literal["CE", "PE"] = "CE"
    daily_volume: float = 0.0
    day: _Day | None = None
    noise: int = 0  # seeds the depth book's quantities

    def at(self, spot: float, when: float) -> float:
        if self.kind == "spot":
            return spot
        years = max(self.expiry_ts - when, 0.0) / YEAR_SECONDS
        if self.kind == "future":
            return spot * math.exp(self.rate * years)
        moneyness = math.log(self.strike / spot)
        vol = max(self.vol * (1.0 - 0.6 * moneyness + 4.0 * moneyness * moneyness), 0.05)
        return bs_price(self.option, spot, self.strike, years, self.rate, vol)


@dataclass(slots=True)
class _Subscription:
    valuer: _Valuer
    modes: dict[TickMode, int] = field(default_factory=dict)
    mode: TickMode = TickMode.LTP  # the richest mode subscribed, kept by (un)subscribe

    def update(self) -> None:
        if self.modes:
            self.mode = max(self.modes, key=lambda m: m.level)


class SimulatorMarket(MarketData):
    name = "simulator"
    capabilities = CAPABILITIES

    def __init__(
        self,
        instruments: InstrumentCache,
        calendar: MarketCalendar,
        clock: Clock,
        *,
        sink: TickSink | None = None,
        ticks_per_second: float = 2.0,
        seed: int = 0,
        spec: SimulatorSpec | None = None,
        model: PriceModel | None = None,
    ) -> None:
        if ticks_per_second <= 0:
            raise ValueError("ticks_per_second must be positive")
        self.instruments = instruments
        self.calendar = calendar
        self.clock = clock
        self.sink = sink
        self.ticks_per_second = ticks_per_second
        self.spec = spec or (model.spec if model else load_spec())
        self.model = model or PriceModel(self.spec, calendar, seed=seed)
        self._valuers: dict[tuple[str, str], _Valuer] = {}
        self._subscriptions: dict[tuple[str, str], _Subscription] = {}
        self._daily: OrderedDict[tuple[str, str, date], Candle] = OrderedDict()
        self.published = 0

    # --- valuation ------------------------------------------------------------------------------

    def _instrument(self, symbol: str, exchange: str) -> Instrument:
        instrument = self.instruments.get(symbol, exchange)
        if instrument is None:
            raise NotFound(
                f"Symbol '{symbol}' not found for exchange '{exchange}'. Please verify the "
                "symbol name and ensure master contracts are downloaded."
            )
        return instrument

    def valuer(self, symbol: str, exchange: str) -> _Valuer:
        key = (exchange, symbol)
        found = self._valuers.get(key)
        if found is not None:
            return found
        instrument = self._instrument(symbol, exchange)
        found = self._make_valuer(instrument)
        found.noise = seed_of(self.model.seed, instrument.exchange, instrument.symbol)
        self._valuers[key] = found
        return found

    def forget_delisted(self) -> int:
        """Drop valuation state of instruments the reloaded master no longer lists.

        Subscribed ones stay: their subscribers are told by whoever owns the subscription.
        Returns how many were dropped.
        """
        gone = [
            key
            for key, valuer in self._valuers.items()
            if key not in self._subscriptions
            and self.instruments.get(valuer.instrument.symbol, valuer.instrument.exchange) is None
        ]
        for key in gone:
            del self._valuers[key]
        return len(gone)

    def _make_valuer(self, instrument: Instrument) -> _Valuer:
        derivative = instrument.instrument_type in (
            InstrumentType.FUT,
            InstrumentType.CE,
            InstrumentType.PE,
        )
        key = instrument.name if derivative else instrument.symbol
        process = self.model.process(key)
        if process is None:
            calendar = {"NFO": "NSE", "BFO": "BSE", "NSE_INDEX": "NSE", "BSE_INDEX": "BSE"}.get(
                instrument.exchange, instrument.exchange
            )
            if calendar not in {e.value for e in Exchange}:
                calendar = "NSE"
            level = float(instrument.strike) if instrument.strike else 100.0 + seed_of(key) % 1900
            process = self.model.adhoc(key, level, calendar)
        tick = float(instrument.tick_size) or 0.05
        rate = self.spec.rate
        if not derivative:
            volume = (
                float(process.daily_volume)
                if instrument.instrument_type is not InstrumentType.INDEX
                else 0.0
            )
            return _Valuer(instrument, process, tick, "spot", rate, daily_volume=volume)
        assert instrument.expiry is not None
        expiry_ts = self.calendar.expiry_cutoff(instrument.exchange, instrument.expiry).timestamp()
        lots = float(max(instrument.lot_size, 1))
        if instrument.instrument_type is InstrumentType.FUT:
            return _Valuer(
                instrument, process, tick, "future", rate, expiry_ts, daily_volume=lots * 4000
            )
        strike = float(instrument.strike or 0)
        distance = abs(math.log(strike / process.price)) if strike > 0 else 1.0
        volume = lots * 20000 * math.exp(-((distance / 0.05) ** 2))
        return _Valuer(
            instrument,
            process,
            tick,
            "option",
            rate,
            expiry_ts,
            strike=strike,
            vol=process.vol,
            option="CE" if instrument.instrument_type is InstrumentType.CE else "PE",
            daily_volume=max(volume, lots),
        )

    def _path(self, valuer: _Valuer, when: datetime) -> DayPath | None:
        return self.model.last_path(valuer.process, when)

    def price(self, symbol: str, exchange: str, when: datetime | None = None) -> float:
        """The last traded price at ``when`` (default: now), on the tick grid."""
        valuer = self.valuer(symbol, exchange)
        when = when or self.clock.now()
        return self._ltp(valuer, self._path(valuer, when), when.timestamp())

    def _ltp(self, valuer: _Valuer, path: DayPath | None, now: float) -> float:
        if path is None:
            return _round_tick(valuer.at(valuer.process.price, now), valuer.tick)
        day = self._day(valuer, path)
        self._segment(valuer, day, path.index_at(now))
        return _round_tick(day.price(now), valuer.tick)

    def _day(self, valuer: _Valuer, path: DayPath) -> _Day:
        day = valuer.day
        if day is not None and day.path.day == path.day:
            return day
        if valuer.kind == "spot":
            open_, close = path.open, path.close
            oi = 0
        else:
            open_, close = valuer.at(path.open, path.start), valuer.at(path.close, path.end)
            share = seed_of(valuer.instrument.symbol, path.day) % 400
            oi = int(valuer.daily_volume * (0.8 + share / 1000))
        previous = self.model.previous_path(valuer.process, path)
        prev_close = valuer.at(previous.close, previous.end) if previous else open_
        tick = valuer.tick
        day = _Day(
            path,
            open_,
            close,
            prev_close,
            oi,
            _round_tick(open_, tick),
            _round_tick(prev_close, tick),
        )
        valuer.day = day
        return day

    def _segment(self, valuer: _Valuer, day: _Day, i: int) -> None:
        """Point ``day`` at vertex ``i``: prices at it and the next one, extremes up to it."""
        if day.index == i:
            return
        path = day.path
        t0 = path.times[i]
        last = i + 1 >= len(path.times)
        t1 = t0 if last else path.times[i + 1]
        if valuer.kind == "spot":
            v0 = path.values[i]
            v1 = v0 if last else path.values[i + 1]
            high, low = path.prefix_high[i], path.prefix_low[i]
        else:
            v0 = valuer.at(path.values[i], t0)
            v1 = v0 if last else valuer.at(path.values[i + 1], t1)
            # Derived prices are monotone in the underlying: its extremes so far bound them.
            a = valuer.at(path.prefix_high[i], t0)
            b = valuer.at(path.prefix_low[i], t0)
            high, low = (a, b) if a >= b else (b, a)
        day.index, day.t0, day.t1, day.v0, day.v1 = i, t0, t1, v0, v1
        day.high, day.low = high, low

    def _value(self, valuer: _Valuer, path: DayPath, when: float) -> float:
        if valuer.kind == "spot":
            return path.value_at(when)
        if when >= path.end:
            return valuer.at(path.close, path.end)
        i = path.index_at(when)
        t0, t1 = path.times[i], path.times[i + 1]
        v0 = valuer.at(path.values[i], t0)
        v1 = valuer.at(path.values[i + 1], t1)
        return v0 + (v1 - v0) * (when - t0) / (t1 - t0) if t1 > t0 else v0

    def _vertex_values(self, valuer: _Valuer, path: DayPath) -> list[float]:
        if valuer.kind == "spot":
            return list(path.values)
        return [valuer.at(v, t) for v, t in zip(path.values, path.times, strict=True)]

    # --- quotes and depth -----------------------------------------------------------------------

    def quote_at(self, symbol: str, exchange: str, when: datetime) -> Quote:
        valuer = self.valuer(symbol, exchange)
        return self._quote(valuer, self._path(valuer, when), when.timestamp())

    def _quote(self, valuer: _Valuer, path: DayPath | None, now: float) -> Quote:
        tick = valuer.tick
        if path is None:
            price = _round_tick(valuer.at(valuer.process.price, now), tick)
            return Quote(
                price, price, price, price, price, 0, price, price, timestamp_ms=int(now * 1000)
            )
        day = self._day(valuer, path)
        at = min(now, path.end)
        self._segment(valuer, day, path.index_at(at))
        ltp = day.price(at)
        if valuer.kind == "spot":
            high = day.high if day.high > ltp else ltp
            low = day.low if day.low < ltp else ltp
        else:
            high, low = max(day.high, ltp, day.open), min(day.low, ltp, day.open)
        volume = int(valuer.daily_volume * path.volume_fraction(at))
        ltp_r = _round_tick(ltp, tick)
        spread = tick if valuer.kind != "option" or ltp_r > 20 * tick else 2 * tick
        bid = max(_round_tick(ltp_r - spread / 2 - tick / 2, tick), tick)
        ask = _round_tick(bid + spread, tick)
        return Quote(
            ltp=ltp_r,
            open=day.open_r,
            high=_round_tick(high, tick),
            low=_round_tick(low, tick),
            prev_close=day.prev_close_r,
            volume=volume,
            bid=bid,
            ask=ask,
            oi=day.oi,
            average_price=round((day.open + high + low + ltp) / 4.0, 2),
            last_quantity=max(valuer.instrument.lot_size, 1) * (1 + int(now) % 5),
            total_buy_quantity=volume // 7,
            total_sell_quantity=volume // 8,
            timestamp_ms=int(now * 1000),
        )

    def _depth(
        self, valuer: _Valuer, quote: Quote, now: float
    ) -> tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]]:
        tick = valuer.tick
        lot = max(valuer.instrument.lot_size, 1)
        noise = _mix(valuer.noise + int(now))
        bids = []
        asks = []
        for level in range(DEPTH_LEVELS):
            q_bid = lot * (1 + (noise >> (level * 6)) % 40)
            q_ask = lot * (1 + (noise >> (level * 6 + 30)) % 40)
            below = quote.bid - level * tick
            if below >= tick / 2:  # no bids under one tick (`_round_tick` would lift them to it)
                bids.append(DepthLevel(_round_tick(below, tick), q_bid, _orders(q_bid // lot)))
            asks.append(
                DepthLevel(
                    _round_tick(quote.ask + level * tick, tick), q_ask, _orders(q_ask // lot)
                )
            )
        return tuple(bids), tuple(asks)

    async def quote(self, symbol: str, exchange: str) -> Quote:
        return self.quote_at(symbol, exchange, self.clock.now())

    async def quotes(self, items: Sequence[tuple[str, str]]) -> list[Quote | OpenAlgoError]:
        now = self.clock.now()
        out: list[Quote | OpenAlgoError] = []
        for symbol, exchange in items:
            try:
                out.append(self.quote_at(symbol, exchange, now))
            except OpenAlgoError as exc:
                out.append(exc)
        return out

    async def depth(self, symbol: str, exchange: str) -> Depth:
        when = self.clock.now()
        valuer = self.valuer(symbol, exchange)
        now = when.timestamp()
        quote = self._quote(valuer, self._path(valuer, when), now)
        bids, asks = self._depth(valuer, quote, now)
        return Depth(quote=quote, bids=bids, asks=asks)

    # --- history ------------------------------------------------------------------------------

    async def history(
        self, symbol: str, exchange: str, interval: str, start: datetime, end: datetime
    ) -> list[Candle]:
        """Candles whose start lies in [start, end], up to now; a candle in progress is partial.

        Intraday candles are aligned to the session open (09:15, 09:20, ... for 5m); a daily
        candle is stamped with its session's open instant, which reads as the right date in both
        UTC and IST.
        """
        minutes = INTERVALS.get(interval)
        if minutes is None:
            raise BadRequest(
                f"Interval {interval!r} is not supported; use one of {', '.join(INTERVALS)}"
            )
        if start.tzinfo is None or end.tzinfo is None:
            raise BadRequest("start and end must carry a time zone")
        if end < start:
            raise BadRequest("end date must not be before start date")
        limit = MAX_DAILY_DAYS if minutes == 0 else MAX_INTRADAY_DAYS
        if (end - start).days > limit:
            raise BadRequest(f"History for {interval} spans at most {limit} days per request")
        valuer = self.valuer(symbol, exchange)
        now = self.clock.now()
        stop = min(end, now)
        candles: list[Candle] = []
        day = start.astimezone(IST).date()
        last = stop.astimezone(IST).date()
        count = 0
        lo_ts, hi_ts = start.timestamp(), stop.timestamp()
        while day <= last:
            count += 1
            if count % 20 == 0:
                await asyncio.sleep(0)  # long ranges: let other requests in between days
            if minutes == 0:
                # A whole past session: its daily candle never changes, so it is cached.
                session = self.calendar.session(valuer.process.calendar, day)
                if (
                    session is not None
                    and lo_ts <= session.start.timestamp()
                    and session.end.timestamp() <= hi_ts
                ):
                    candles.append(self._daily_candle(valuer, day))
                    day += timedelta(days=1)
                    continue
            path = self.model.day_path(valuer.process, day)
            day += timedelta(days=1)
            if path is None or path.start > hi_ts:
                continue
            candles.extend(self._day_candles(valuer, path, minutes, start, stop))
        return candles

    def _daily_candle(self, valuer: _Valuer, day: date) -> Candle:
        """The candle of a whole past session (the day's session must have ended)."""
        inst = valuer.instrument
        key = (inst.exchange, inst.symbol, day)
        found = self._daily.get(key)
        if found is not None:
            self._daily.move_to_end(key)
            return found
        if valuer.kind == "spot":
            # The path's own numbers, from its summary: no path is built.
            summary = self.model.day_summary(valuer.process, day)
            session = self.calendar.session(valuer.process.calendar, day)
            assert summary is not None and session is not None
            tick = valuer.tick
            found = Candle(
                timestamp=int(session.start.timestamp()),
                open=_round_tick(summary.open, tick),
                high=_round_tick(summary.high, tick),
                low=_round_tick(summary.low, tick),
                close=_round_tick(summary.close, tick),
                volume=int(valuer.daily_volume),
            )
        else:
            path = self.model.day_path(valuer.process, day)
            assert path is not None
            whole = datetime.fromtimestamp(path.start, IST), datetime.fromtimestamp(path.end, IST)
            (found,) = self._day_candles(valuer, path, 0, *whole)
        self._daily[key] = found
        if len(self._daily) > DAILY_CACHE_SIZE:
            self._daily.popitem(last=False)
        return found

    def _day_candles(
        self, valuer: _Valuer, path: DayPath, minutes: int, start: datetime, stop: datetime
    ) -> list[Candle]:
        values = self._vertex_values(valuer, path)
        tick = valuer.tick
        lo_ts, hi_ts = start.timestamp(), stop.timestamp()
        bucket = minutes * 60 if minutes else path.end - path.start
        out: list[Candle] = []
        edge = path.start
        while edge < path.end and edge <= hi_ts:
            upper = min(edge + bucket, path.end)
            if edge >= lo_ts:
                cutoff = min(upper, hi_ts)
                first = path.index_at(edge)
                last = path.index_at(cutoff)
                window = values[first : last + 1]
                if path.times[last] < cutoff:
                    closing = self._value(valuer, path, cutoff)
                    window.append(closing)
                else:
                    closing = values[last]
                volume = valuer.daily_volume * (
                    path.volume_fraction(cutoff) - path.volume_fraction(edge)
                )
                out.append(
                    Candle(
                        timestamp=int(edge),
                        open=_round_tick(values[first], tick),
                        high=_round_tick(max(window), tick),
                        low=_round_tick(min(window), tick),
                        close=_round_tick(closing, tick),
                        volume=int(volume),
                    )
                )
            edge = upper
        return out

    # --- ticks ----------------------------------------------------------------------------------

    def subscribe(self, symbol: str, exchange: str, mode: TickMode = TickMode.LTP) -> None:
        """Start ticking ``symbol``; raises NotFound for an unknown instrument."""
        valuer = self.valuer(symbol, exchange)
        sub = self._subscriptions.setdefault((exchange, symbol), _Subscription(valuer))
        sub.modes[mode] = sub.modes.get(mode, 0) + 1
        sub.update()

    def unsubscribe(self, symbol: str, exchange: str, mode: TickMode = TickMode.LTP) -> None:
        sub = self._subscriptions.get((exchange, symbol))
        if sub is None or mode not in sub.modes:
            return
        sub.modes[mode] -= 1
        if sub.modes[mode] <= 0:
            del sub.modes[mode]
        if not sub.modes:
            del self._subscriptions[(exchange, symbol)]
        else:
            sub.update()

    @property
    def subscriptions(self) -> dict[tuple[str, str], TickMode]:
        return {key: sub.mode for key, sub in self._subscriptions.items()}

    def make_tick(self, symbol: str, exchange: str, mode: TickMode, when: datetime) -> Tick:
        valuer = self.valuer(symbol, exchange)
        return self._tick(valuer, mode, self._path(valuer, when), when.timestamp())

    def _tick(self, valuer: _Valuer, mode: TickMode, path: DayPath | None, now: float) -> Tick:
        inst = valuer.instrument
        ms = int(now * 1000)
        if mode is TickMode.LTP:
            return Tick(inst.exchange, inst.symbol, mode, self._ltp(valuer, path, now), ms, ms)
        quote = self._quote(valuer, path, now)
        if mode is TickMode.QUOTE:
            return Tick(inst.exchange, inst.symbol, mode, quote.ltp, ms, ms, quote=quote)
        bids, asks = self._depth(valuer, quote, now)
        return Tick(inst.exchange, inst.symbol, mode, quote.ltp, ms, ms, quote, bids, asks)

    async def publish_due(self, when: datetime) -> int:
        """One round: a tick for every subscribed instrument whose market is open."""
        sink = self.sink
        if sink is None:
            return 0
        sent = 0
        now = when.timestamp()
        is_open: dict[str, bool] = {}
        # The session each price series is in, looked up once per series and round.
        sessions: dict[Exchange, date | None] = {}
        for sub in list(self._subscriptions.values()):
            valuer = sub.valuer
            exchange = valuer.instrument.exchange
            open_now = is_open.get(exchange)
            if open_now is None:
                open_now = is_open[exchange] = self.calendar.is_open(exchange, when)
            if not open_now or not sub.modes:
                continue
            process = valuer.process
            if process.calendar in sessions:
                day = sessions[process.calendar]
            else:
                session = self.calendar.last_session(process.calendar, when)
                day = sessions[process.calendar] = (
                    session.start.astimezone(IST).date() if session is not None else None
                )
            path: DayPath | None = None
            built = False
            if day is not None:
                cached = valuer.day
                if cached is not None and cached.path.day == day:
                    path = cached.path
                else:
                    # A session's path costs milliseconds to build (first tick of a symbol, or of
                    # a new day): yield after each, so a burst of new subscriptions does not hold
                    # every other task (WebSocket senders, HTTP requests) for the whole round.
                    path = self.model.day_path(process, day)
                    built = True
            sink.publish(self._tick(valuer, sub.mode, path, now))
            sent += 1
            if built or sent % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        self.published += sent
        return sent

    async def run(self) -> None:
        """The tick loop; the lifespan runs it as a task and cancels it on shutdown."""
        interval = 1.0 / self.ticks_per_second
        # Rounds keep to a fixed schedule (sleeping a whole interval after each round would lose
        # the round's own time every time: 100 rounds/s came out near 75). A round that falls more
        # than an interval behind restarts the schedule instead of bursting to catch up.
        due = self.clock.now().timestamp() + interval
        while True:
            delay = due - self.clock.now().timestamp()
            if delay < -interval:
                due = self.clock.now().timestamp()
                delay = 0.0
            await self.clock.sleep(max(delay, 0.0))
            due += interval
            try:
                await self.publish_due(self.clock.now())
            except Exception:  # a bad instrument must not stop the market
                log.exception("simulator tick round failed")
