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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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

    @property
    def mode(self) -> TickMode:
        return max(self.modes, key=lambda m: m.level)


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
        self._valuers[key] = found
        return found

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
        path = self._path(valuer, when)
        if path is None:
            return _round_tick(valuer.at(valuer.process.price, when.timestamp()), valuer.tick)
        return _round_tick(self._value(valuer, path, when.timestamp()), valuer.tick)

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
        return self._quote(valuer, when)

    def _quote(self, valuer: _Valuer, when: datetime) -> Quote:
        tick = valuer.tick
        now = when.timestamp()
        path = self._path(valuer, when)
        if path is None:
            price = _round_tick(valuer.at(valuer.process.price, now), tick)
            return Quote(
                price, price, price, price, price, 0, price, price, timestamp_ms=int(now * 1000)
            )
        at = min(now, path.end)
        ltp = self._value(valuer, path, at)
        i = path.index_at(at)
        if valuer.kind == "spot":
            high, low = max(path.prefix_high[i], ltp), min(path.prefix_low[i], ltp)
            open_ = path.open
        else:
            # Derived prices are monotone in the underlying: its extremes so far bound them.
            a = valuer.at(path.prefix_high[i], at)
            b = valuer.at(path.prefix_low[i], at)
            open_ = valuer.at(path.open, path.start)
            high, low = max(a, b, ltp, open_), min(a, b, ltp, open_)
        previous = self.model.previous_path(valuer.process, path)
        prev_close = valuer.at(previous.close, previous.end) if previous else open_
        volume = int(valuer.daily_volume * path.volume_fraction(at))
        ltp_r = _round_tick(ltp, tick)
        spread = tick if valuer.kind != "option" or ltp_r > 20 * tick else 2 * tick
        bid = max(_round_tick(ltp_r - spread / 2 - tick / 2, tick), tick)
        ask = _round_tick(bid + spread, tick)
        oi = 0
        if valuer.kind != "spot":
            oi = int(
                valuer.daily_volume
                * (0.8 + (seed_of(valuer.instrument.symbol, path.day) % 400) / 1000)
            )
        avg = (open_ + high + low + ltp) / 4.0
        return Quote(
            ltp=ltp_r,
            open=_round_tick(open_, tick),
            high=_round_tick(high, tick),
            low=_round_tick(low, tick),
            prev_close=_round_tick(prev_close, tick),
            volume=volume,
            bid=bid,
            ask=ask,
            oi=oi,
            average_price=round(avg, 2),
            last_quantity=max(valuer.instrument.lot_size, 1) * (1 + int(now) % 5),
            total_buy_quantity=volume // 7,
            total_sell_quantity=volume // 8,
            timestamp_ms=int(now * 1000),
        )

    def _depth(
        self, valuer: _Valuer, quote: Quote, when: datetime
    ) -> tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]]:
        tick = valuer.tick
        lot = max(valuer.instrument.lot_size, 1)
        noise = seed_of(valuer.instrument.symbol, int(when.timestamp()))
        bids = []
        asks = []
        for level in range(DEPTH_LEVELS):
            q_bid = lot * (1 + (noise >> (level * 6)) % 40)
            q_ask = lot * (1 + (noise >> (level * 6 + 30)) % 40)
            bid = _round_tick(quote.bid - level * tick, tick)
            if bid > 0:
                bids.append(DepthLevel(bid, q_bid, 1 + q_bid // lot % 9))
            asks.append(
                DepthLevel(_round_tick(quote.ask + level * tick, tick), q_ask, 1 + q_ask // lot % 9)
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
        now = self.clock.now()
        valuer = self.valuer(symbol, exchange)
        quote = self._quote(valuer, now)
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
        while day <= last:
            path = self.model.day_path(valuer.process, day)
            day += timedelta(days=1)
            if path is None or path.start > stop.timestamp():
                continue
            candles.extend(self._day_candles(valuer, path, minutes, start, stop))
            count += 1
            if count % 20 == 0:
                await asyncio.sleep(0)  # long ranges: let other requests in between days
        return candles

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

    def unsubscribe(self, symbol: str, exchange: str, mode: TickMode = TickMode.LTP) -> None:
        sub = self._subscriptions.get((exchange, symbol))
        if sub is None or mode not in sub.modes:
            return
        sub.modes[mode] -= 1
        if sub.modes[mode] <= 0:
            del sub.modes[mode]
        if not sub.modes:
            del self._subscriptions[(exchange, symbol)]

    @property
    def subscriptions(self) -> dict[tuple[str, str], TickMode]:
        return {key: sub.mode for key, sub in self._subscriptions.items()}

    def make_tick(self, symbol: str, exchange: str, mode: TickMode, when: datetime) -> Tick:
        return self._tick(self.valuer(symbol, exchange), mode, when)

    def _tick(self, valuer: _Valuer, mode: TickMode, when: datetime) -> Tick:
        inst = valuer.instrument
        ms = int(when.timestamp() * 1000)
        if mode is TickMode.LTP:
            return Tick(
                inst.exchange,
                inst.symbol,
                mode,
                self.price(inst.symbol, inst.exchange, when),
                ms,
                ms,
            )
        quote = self._quote(valuer, when)
        if mode is TickMode.QUOTE:
            return Tick(inst.exchange, inst.symbol, mode, quote.ltp, ms, ms, quote=quote)
        bids, asks = self._depth(valuer, quote, when)
        return Tick(inst.exchange, inst.symbol, mode, quote.ltp, ms, ms, quote, bids, asks)

    async def publish_due(self, when: datetime) -> int:
        """One round: a tick for every subscribed instrument whose market is open."""
        sink = self.sink
        if sink is None:
            return 0
        sent = 0
        open_cache: dict[str, bool] = {}
        for sub in list(self._subscriptions.values()):
            exchange = sub.valuer.instrument.exchange
            is_open = open_cache.get(exchange)
            if is_open is None:
                is_open = open_cache[exchange] = self.calendar.is_open(exchange, when)
            if not is_open or not sub.modes:
                continue
            sink.publish(self._tick(sub.valuer, sub.mode, when))
            sent += 1
            if sent % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        self.published += sent
        return sent

    async def run(self) -> None:
        """The tick loop; the lifespan runs it as a task and cancels it on shutdown."""
        interval = 1.0 / self.ticks_per_second
        while True:
            await self.clock.sleep(interval)
            try:
                await self.publish_due(self.clock.now())
            except Exception:  # a bad instrument must not stop the market
                log.exception("simulator tick round failed")
