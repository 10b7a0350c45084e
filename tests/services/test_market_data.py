"""`openalgo.services.market_data` with a venue unlike the simulator: a broker whose book shows
fewer than five levels, offers second and weekly intervals, stamps daily candles at its session
open, and fails some quotes of a batch. The simulator never does these things, so the API tests
cannot reach these paths."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import pytest

from openalgo.brokers.base import Capabilities, MarketData
from openalgo.domain.clock import IST
from openalgo.domain.enums import Exchange, InstrumentType
from openalgo.domain.instruments import Instrument
from openalgo.domain.market import Candle, Depth, DepthLevel, Quote
from openalgo.errors import OpenAlgoError, ServiceUnavailable, ValidationFailed
from openalgo.services import market_data as svc
from openalgo.services.instrument_cache import InstrumentCache

SBIN = Instrument("SBIN", "NSE", "State Bank", InstrumentType.EQ, "1", "SBIN-EQ", "NSE")
TCS = Instrument("TCS", "NSE", "TCS", InstrumentType.EQ, "2", "TCS-EQ", "NSE")
CACHE = InstrumentCache("thinbroker", [SBIN, TCS])
QUOTE = Quote(
    ltp=100.0, open=99.0, high=101.0, low=98.0, prev_close=99.5, volume=1000, bid=99.95,
    ask=100.05, total_buy_quantity=3, total_sell_quantity=0,
)  # fmt: skip


class ThinBroker(MarketData):
    """Two bids, one ask; TCS quotes fail; daily candles stamped at 09:15 IST."""

    name = "thinbroker"
    capabilities = Capabilities(
        exchanges=frozenset({Exchange.NSE}), intervals=("30s", "1s", "15m", "1m", "W", "D", "1h")
    )

    async def quote(self, symbol: str, exchange: str) -> Quote:
        return QUOTE

    async def quotes(self, items: Sequence[tuple[str, str]]) -> list[Quote | OpenAlgoError]:
        return [
            ServiceUnavailable("feed down for TCS") if symbol == "TCS" else QUOTE
            for symbol, _ in items
        ]

    async def depth(self, symbol: str, exchange: str) -> Depth:
        bids = (DepthLevel(99.95, 5), DepthLevel(99.9, 7))
        return Depth(quote=QUOTE, bids=bids, asks=(DepthLevel(100.05, 4),))

    async def history(
        self, symbol: str, exchange: str, interval: str, start: datetime, end: datetime
    ) -> list[Candle]:
        opening = datetime.combine(start.astimezone(IST).date(), time(9, 15), IST)
        return [Candle(int(opening.timestamp()), 1.0, 2.0, 0.5, 1.5, 10)]


async def test_a_thin_book_is_padded_to_five_levels_with_its_totals() -> None:
    book = await svc.depth(ThinBroker(), CACHE, "SBIN", "NSE")
    assert [(level.price, level.quantity) for level in book.bids] == [
        (99.95, 5), (99.9, 7), (0.0, 0), (0.0, 0), (0.0, 0),
    ]  # fmt: skip
    assert [(level.price, level.quantity) for level in book.asks] == [(100.05, 4)] + [(0.0, 0)] * 4
    # The venue's totals are too small for what it shows: the shown levels are a lower bound.
    assert (book.total_buy, book.total_sell) == (12, 4)


async def test_failed_quotes_of_a_batch_are_reported_per_item() -> None:
    results = await svc.quotes(ThinBroker(), CACHE, [("TCS", "NSE"), ("SBIN", "NSE"), ("X", "NSE")])
    assert [(r.symbol, r.quote is not None, r.error) for r in results] == [
        ("TCS", False, "feed down for TCS"),
        ("SBIN", True, None),
        ("X", False, "unknown symbol X on NSE"),
    ]


async def test_daily_candles_are_restamped_to_utc_midnight_of_their_ist_date() -> None:
    day = date(2026, 11, 27)
    (daily,) = await svc.history(
        ThinBroker(), CACHE, symbol="SBIN", exchange="NSE", interval="D", start=day, end=day
    )
    assert daily.timestamp == int(datetime.combine(day, time(0), UTC).timestamp())
    (weekly,) = await svc.history(
        ThinBroker(), CACHE, symbol="SBIN", exchange="NSE", interval="W", start=day, end=day
    )
    assert weekly.timestamp == daily.timestamp
    (intraday,) = await svc.history(
        ThinBroker(), CACHE, symbol="SBIN", exchange="NSE", interval="15m", start=day, end=day
    )
    assert intraday.timestamp == int(datetime.combine(day, time(9, 15), IST).timestamp())


def test_interval_buckets_sort_numerically_within_units() -> None:
    assert svc.interval_buckets(ThinBroker.capabilities.intervals) == {
        "seconds": ["1s", "30s"],
        "minutes": ["1m", "15m"],
        "hours": ["1h"],
        "days": ["D"],
        "weeks": ["W"],
        "months": [],
    }


def test_text_candles() -> None:
    stamp = int(datetime(2026, 11, 27, 9, 15, tzinfo=IST).timestamp())
    candles = [Candle(stamp, 812.0, 818.4, 809.15, 816.3, 5234109)]
    assert svc.candles_as_text(candles, exchange="NSE", symbol="M&M", interval="5m") == (
        "NSE:M&M,2026-11-27,09:15:00,812.0,818.4,809.15,816.3,5234109\n"
    )
    assert svc.candles_as_text(candles, exchange="NSE", symbol="M&M", interval="D") == (
        "NSE:M&M,2026-11-27,812.0,818.4,809.15,816.3,5234109\n"
    )
    assert svc.candles_as_text([], exchange="NSE", symbol="SBIN", interval="D") == ""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "must be EXCHANGE:SYMBOL, like NSE:SBIN"),
        (":SBIN", "must be EXCHANGE:SYMBOL, like NSE:SBIN"),
        ("NSE:", "must be EXCHANGE:SYMBOL, like NSE:SBIN"),
        ("NSE:A:B", "must be EXCHANGE:SYMBOL, like NSE:SBIN"),
        ("LSE:VOD", "unknown exchange LSE; use one of: NSE, BSE, NFO"),
    ],
)
def test_malformed_tickers(text: str, problem: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        svc.parse_ticker(text)
    assert caught.value.errors["ticker"][0].startswith(problem)


def test_tickers() -> None:
    assert svc.parse_ticker("NSE_INDEX:NIFTY") == ("NIFTY", "NSE_INDEX")
    assert svc.parse_ticker("BSE:BSEOIL&GAS") == ("BSEOIL&GAS", "BSE")


def test_ticker_ranges_are_clamped_as_openalgos() -> None:
    end = date(2026, 11, 30)
    assert svc.ticker_start("5m", date(2020, 1, 1), end) == date(2026, 10, 31)
    # OpenAlgo's ten years, narrowed to what one /history request may span.
    assert svc.ticker_start("D", date(2000, 1, 1), end) == end - timedelta(days=2000)
    assert svc.ticker_start("D", date(2024, 1, 1), end) == date(2024, 1, 1)
    assert svc.ticker_start("1h", date(2026, 11, 20), end) == date(2026, 11, 20)
