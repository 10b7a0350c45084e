"""The simulated market: deterministic, consistent across ticks and candles, closed when closed."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, datetime, timedelta

import pytest

from openalgo.brokers.base import MarketData
from openalgo.domain.clock import IST
from openalgo.domain.enums import InstrumentType, TickMode
from openalgo.domain.market import Quote
from openalgo.domain.symbols import option_symbol
from openalgo.errors import BadRequest, NotFound
from tests.support.market import MONDAY_11, build_market

MARKET, CLOCK, SINK = build_market()


def test_implements_the_market_data_protocol() -> None:
    assert isinstance(MARKET, MarketData)


def test_master_is_relative_to_today_and_complete() -> None:
    cache = MARKET.instruments
    counts = cache.counts()
    assert counts["NSE"] == 54 and counts["BSE"] == 50
    assert {"NFO", "BFO", "MCX", "CDS", "NSE_INDEX", "BSE_INDEX"} <= set(counts)
    derivatives = [i for i in cache.instruments() if i.expiry is not None]
    assert min(i.expiry for i in derivatives if i.expiry) >= date(2026, 11, 30)
    futures = [f.expiry for f in cache.futures("NIFTY", "NFO")]
    assert futures == [date(2026, 12, 29), date(2027, 1, 25), date(2027, 2, 23)]
    weekly = cache.option_expiries("NIFTY", "NFO")
    assert weekly[:4] == [
        date(2026, 12, 1),
        date(2026, 12, 8),
        date(2026, 12, 15),
        date(2026, 12, 22),
    ]
    assert all(
        d.weekday() == 3 or d == date(2026, 12, 24) for d in cache.option_expiries("SENSEX", "BFO")
    )
    sbin = cache.get("SBIN", "NSE")
    assert sbin is not None and str(sbin.tick_size) == "0.05"


async def test_deterministic_and_shared_between_listings() -> None:
    again, _, _ = build_market()
    for symbol, exchange in [("SBIN", "NSE"), ("NIFTY", "NSE_INDEX"), ("NIFTY29DEC26FUT", "NFO")]:
        assert await MARKET.quote(symbol, exchange) == await again.quote(symbol, exchange)
    assert MARKET.price("SBIN", "NSE") == MARKET.price("SBIN", "BSE")


async def test_answers_do_not_depend_on_the_order_of_questions() -> None:
    """Quotes and depth keep per-session state to go fast; it must never show through."""
    import random

    symbols = [
        ("SBIN", "NSE"),
        ("NIFTY29DEC26FUT", "NFO"),
        (option_symbol("NIFTY", date(2026, 12, 29), 28000, "CE"), "NFO"),
        (option_symbol("NIFTY", date(2026, 12, 29), 29500, "PE"), "NFO"),
    ]
    instants = [
        MONDAY_11 + timedelta(seconds=s)
        for s in (-86400 * 3, -3600, -7, 0, 0.5, 1, 19, 600, 86400, 86400 * 7 + 60)
    ]
    forward, _, _ = build_market()
    shuffled, _, _ = build_market()
    expected = {
        (sym, ex, when): (
            forward.quote_at(sym, ex, when),
            forward.make_tick(sym, ex, TickMode.DEPTH, when),
        )
        for sym, ex in symbols
        for when in instants
    }
    keys = list(expected)
    random.Random(4).shuffle(keys)
    for sym, ex, when in keys:
        quote = shuffled.quote_at(sym, ex, when)
        tick = shuffled.make_tick(sym, ex, TickMode.DEPTH, when)
        assert (quote, tick) == expected[(sym, ex, when)]
        assert quote.low <= quote.ltp <= quote.high
        assert shuffled.price(sym, ex, when) == quote.ltp == tick.ltp


async def test_quote_shape_and_grid() -> None:
    quote = await MARKET.quote("RELIANCE", "NSE")
    assert quote.low <= quote.ltp <= quote.high
    assert quote.bid < quote.ask
    assert quote.volume > 0 and quote.prev_close > 0
    for value in (quote.ltp, quote.bid, quote.ask, quote.open):
        assert round(value / 0.05, 6) == round(value / 0.05)
    index = await MARKET.quote("NIFTY", "NSE_INDEX")
    assert index.volume == 0


async def test_futures_and_options_follow_the_underlying() -> None:
    spot = MARKET.price("NIFTY", "NSE_INDEX")
    fut = MARKET.price("NIFTY29DEC26FUT", "NFO")
    assert spot < fut < spot * 1.01  # a month of carry
    strikes = MARKET.instruments.strikes("NIFTY", "NFO", date(2026, 12, 29), InstrumentType.CE)
    atm = min(strikes, key=lambda k: abs(float(k) - spot))
    ce = MARKET.price(option_symbol("NIFTY", date(2026, 12, 29), atm, "CE"), "NFO")
    pe = MARKET.price(option_symbol("NIFTY", date(2026, 12, 29), atm, "PE"), "NFO")
    # Put-call parity against the future, within a few ticks of rounding.
    assert ce - pe == pytest.approx(fut - float(atm), abs=2.0)
    assert 0.01 * spot < ce < 0.05 * spot


async def test_depth_has_five_levels_each_side() -> None:
    depth = await MARKET.depth("SBIN", "NSE")
    assert len(depth.bids) == 5 and len(depth.asks) == 5
    assert depth.bids[0].price == depth.quote.bid and depth.asks[0].price == depth.quote.ask
    assert [b.price for b in depth.bids] == sorted((b.price for b in depth.bids), reverse=True)
    assert all(level.quantity > 0 for level in depth.bids + depth.asks)


async def test_depth_levels_never_have_more_orders_than_quantity() -> None:
    """Each order at a level is at least one share (one lot on derivatives)."""
    try:
        for minute in range(0, 240, 7):
            when = MONDAY_11 + timedelta(minutes=minute, seconds=minute)
            for symbol, exchange in [("SBIN", "NSE"), ("NIFTY29DEC26FUT", "NFO")]:
                lot = MARKET.valuer(symbol, exchange).instrument.lot_size
                CLOCK.set(when)
                depth = await MARKET.depth(symbol, exchange)
                for level in depth.bids + depth.asks:
                    assert 1 <= level.orders <= level.quantity // lot, (symbol, when, level)
    finally:
        CLOCK.set(MONDAY_11)


async def test_unknown_symbol_is_not_found() -> None:
    with pytest.raises(NotFound, match="NOPE"):
        await MARKET.quote("NOPE", "NSE")
    results = await MARKET.quotes([("SBIN", "NSE"), ("NOPE", "NSE")])
    assert isinstance(results[0], Quote) and isinstance(results[1], NotFound)


@pytest.mark.parametrize("symbol", ["SBIN", "NIFTY29DEC26FUT"])
async def test_ticks_lie_inside_their_candles(symbol: str) -> None:
    exchange = "NSE" if symbol == "SBIN" else "NFO"
    start = MONDAY_11 - timedelta(hours=1)
    candles = await MARKET.history(symbol, exchange, "1m", start, MONDAY_11)
    assert len(candles) == 61  # 10:00 .. 11:00, the last one just begun
    by_start = {c.timestamp: c for c in candles}
    when = start
    while when < MONDAY_11:
        candle = by_start[int(when.timestamp()) // 60 * 60]
        price = MARKET.price(symbol, exchange, when)
        assert candle.low <= price <= candle.high, (when, price, candle)
        when += timedelta(seconds=7)
    # Each candle opens where the previous one closed.
    for a, b in zip(candles, candles[1:], strict=False):
        assert b.open == a.close


async def test_coarser_candles_aggregate_finer_ones() -> None:
    day = datetime(2026, 11, 27, tzinfo=IST)
    end = day + timedelta(days=1)
    minute = await MARKET.history("INFY", "NSE", "1m", day, end)
    assert len(minute) == 375
    assert datetime.fromtimestamp(minute[0].timestamp, IST).time().isoformat() == "09:15:00"
    for interval, size in (("5m", 5), ("15m", 15), ("1h", 60)):
        bars = await MARKET.history("INFY", "NSE", interval, day, end)
        assert len(bars) == -(-375 // size)
        for i, bar in enumerate(bars):
            chunk = minute[i * size : (i + 1) * size]
            assert bar.open == chunk[0].open and bar.close == chunk[-1].close
            assert bar.high == max(c.high for c in chunk) and bar.low == min(c.low for c in chunk)
    (daily,) = await MARKET.history("INFY", "NSE", "D", day, day + timedelta(hours=23))
    assert daily.high == max(c.high for c in minute) and daily.close == minute[-1].close
    quote = MARKET.quote_at("INFY", "NSE", day + timedelta(hours=20))
    assert (quote.ltp, quote.high, quote.low) == (daily.close, daily.high, daily.low)


@pytest.mark.parametrize(("symbol", "exchange"), [("SBIN", "NSE"), ("NIFTY29DEC26FUT", "NFO")])
async def test_long_daily_history_is_cached_and_agrees_with_minutes(
    symbol: str, exchange: str
) -> None:
    market, _, _ = build_market()
    start = MONDAY_11 - timedelta(days=3 * 365)
    daily = await market.history(symbol, exchange, "D", start, MONDAY_11)
    assert len(daily) > 700
    assert len(market._daily) == len(daily) - 1  # every whole session; today is in progress
    assert await market.history(symbol, exchange, "D", start, MONDAY_11) == daily
    # A market that has cached nothing, asked minute by minute, agrees on sampled days.
    fresh, _, _ = build_market()
    for bar in daily[:: len(daily) // 6]:
        opened = datetime.fromtimestamp(bar.timestamp, IST)
        minutes = await fresh.history(symbol, exchange, "1m", opened, opened + timedelta(hours=8))
        assert (bar.open, bar.close) == (minutes[0].open, minutes[-1].close)
        assert bar.high == max(c.high for c in minutes) and bar.low == min(c.low for c in minutes)
        assert abs(bar.volume - sum(c.volume for c in minutes)) <= len(minutes)
    # ...and so does a daily request that covers only part of the range.
    part = await fresh.history(symbol, exchange, "D", start + timedelta(days=400), MONDAY_11)
    assert part == daily[-len(part) :]


async def test_daily_history_skips_weekends_and_holidays() -> None:
    bars = await MARKET.history("SBIN", "NSE", "D", datetime(2026, 11, 20, tzinfo=IST), MONDAY_11)
    days = [datetime.fromtimestamp(b.timestamp, IST).date() for b in bars]
    assert date(2026, 11, 24) not in days  # Guru Nanak Jayanti
    assert all(d.weekday() < 5 for d in days)
    assert days[-1] == date(2026, 11, 30)
    for prev, bar in zip(bars, bars[1:], strict=False):
        assert abs(bar.open / prev.close - 1) < 0.05  # only a small overnight gap


@pytest.mark.parametrize(
    ("interval", "start", "end", "fragment"),
    [
        ("2m", MONDAY_11 - timedelta(days=1), MONDAY_11, "'2m' is not supported"),
        ("1m", MONDAY_11, MONDAY_11 - timedelta(days=1), "must not be before"),
        ("1m", MONDAY_11 - timedelta(days=400), MONDAY_11, "at most 366 days"),
        ("1m", datetime(2026, 11, 1), MONDAY_11, "time zone"),
    ],
)
async def test_history_bad_input(
    interval: str, start: datetime, end: datetime, fragment: str
) -> None:
    with pytest.raises(BadRequest, match=fragment):
        await MARKET.history("SBIN", "NSE", interval, start, end)


async def test_closed_market_stands_still() -> None:
    saturday = datetime(2026, 11, 28, 12, tzinfo=IST)
    friday_close = datetime(2026, 11, 27, 15, 30, tzinfo=IST)
    a = MARKET.quote_at("SBIN", "NSE", saturday)
    b = MARKET.quote_at("SBIN", "NSE", saturday + timedelta(hours=30))
    assert a.ltp == b.ltp == MARKET.price("SBIN", "NSE", friday_close)
    assert a.volume == b.volume


async def test_ticks_only_for_subscribed_instruments_while_open() -> None:
    market, clock, sink = build_market()
    market.subscribe("SBIN", "NSE", TickMode.LTP)
    market.subscribe("SBIN", "NSE", TickMode.DEPTH)
    market.subscribe("NIFTY", "NSE_INDEX", TickMode.QUOTE)
    task = asyncio.create_task(market.run())
    try:
        for _ in range(4):  # two seconds at 2 ticks/s
            await asyncio.sleep(0)
            clock.advance(0.5)
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(sink.ticks) == 8
        sbin = [t for t in sink.ticks if t.symbol == "SBIN"]
        assert {t.mode for t in sbin} == {TickMode.DEPTH} and len(sbin[0].bids) == 5
        nifty = [t for t in sink.ticks if t.symbol == "NIFTY"]
        assert all(t.quote is not None and t.mode is TickMode.QUOTE for t in nifty)
        assert sbin[-1].ltp == market.price("SBIN", "NSE")
        # Reference-counted: one DEPTH unsubscribe leaves the LTP subscriber ticking.
        market.unsubscribe("SBIN", "NSE", TickMode.DEPTH)
        market.unsubscribe("NIFTY", "NSE_INDEX", TickMode.QUOTE)
        assert market.subscriptions == {("NSE", "SBIN"): TickMode.LTP}
        sink.ticks.clear()
        clock.set(datetime(2026, 11, 30, 16, tzinfo=IST))  # after the close
        for _ in range(3):
            await asyncio.sleep(0)
            clock.advance(0.5)
            await asyncio.sleep(0)
        assert sink.ticks == []
    finally:
        task.cancel()
    with pytest.raises(NotFound):
        market.subscribe("NOPE", "NSE", TickMode.LTP)


async def test_always_open_keeps_the_market_in_session() -> None:
    sunday = datetime(2026, 11, 29, 3, tzinfo=IST)
    market, _, sink = build_market(sunday, always_open=True, today=date(2026, 11, 30))
    market.subscribe("SBIN", "NSE", TickMode.LTP)
    assert await market.publish_due(sunday) == 1
    later = market.price("SBIN", "NSE", sunday + timedelta(minutes=30))
    assert (
        later != sink.ticks[0].ltp
        or market.price("SBIN", "NSE", sunday + timedelta(hours=2)) != later
    )
    assert market.calendar.cutoffs_suspended


async def test_first_ticks_of_many_symbols_let_other_tasks_run() -> None:
    """Building a symbol's day path takes milliseconds; a round that builds many yields between
    them instead of holding the event loop for the whole burst."""
    market, _clock, sink = build_market()
    symbols = [i.symbol for i in market.instruments.instruments("NSE")][:30]
    for symbol in symbols:
        market.subscribe(symbol, "NSE", TickMode.LTP)
    turns = 0
    done = False

    async def bystander() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(bystander())
    await asyncio.sleep(0)
    sent = await market.publish_due(MONDAY_11)
    done = True
    await other
    assert sent == len(symbols) == len(sink.ticks)
    assert turns >= len(symbols)


async def test_rounds_keep_their_schedule() -> None:
    """Round n starts n intervals after the loop did, whatever time the rounds took."""
    market, clock, sink = build_market()
    market.subscribe("SBIN", "NSE", TickMode.LTP)
    task = asyncio.create_task(market.run())
    try:
        await asyncio.sleep(0)
        for _ in range(4):
            clock.advance(0.3)  # 1.2 s in all: rounds due at 0.5 and 1.0
            for _ in range(5):
                await asyncio.sleep(0)
        assert len(sink.ticks) == 2
        clock.advance(0.3)  # 1.5 s: the third round
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(sink.ticks) == 3
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
