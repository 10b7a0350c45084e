"""In-memory instrument search: OpenAlgo's rules, the same answers as the database, any query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.repositories.instruments import (
    InstrumentRepository,
    numeric_term,
    prefix_end,
    search_text,
)
from openalgo.domain.calendar import MarketCalendar
from openalgo.domain.enums import InstrumentType
from openalgo.domain.instruments import Instrument
from openalgo.errors import BadRequest
from openalgo.services.instrument_cache import InstrumentCache
from openalgo.services.instrument_loading import simulator_master
from openalgo.services.instrument_search import SearchIndex
from openalgo.services.instruments import search_instruments
from tests.support.instruments import chain, equity, future, option

TODAY = date(2026, 11, 28)
DEC = date(2026, 12, 29)
JAN = date(2027, 1, 25)


def reference(
    rows: Sequence[Instrument],
    query: str,
    *,
    exchange: str | None = None,
    instrument_types: Sequence[InstrumentType] | None = None,
    limit: int = 500,
) -> list[Instrument]:
    """The rules written as plainly as possible: filter every row, then sort by tier."""
    terms = query.upper().split()
    if not terms or limit <= 0:
        return []

    def matches(row: Instrument) -> bool:
        text = search_text(row)
        for term in terms:
            strike = numeric_term(term)
            if term not in text and (strike is None or row.strike != strike):
                return False
        return True

    hits = [
        (position, row)
        for position, row in enumerate(rows)
        if (exchange is None or row.exchange == exchange)
        and (instrument_types is None or row.instrument_type in instrument_types)
        and matches(row)
    ]
    first = terms[0]
    exact = sorted((r for _, r in hits if r.symbol == first), key=lambda r: r.exchange)
    prefix = sorted(
        (r for _, r in hits if r.symbol.startswith(first) and r.symbol != first),
        key=lambda r: (r.symbol, r.exchange),
    )
    rest = [r for _, r in hits if not r.symbol.startswith(first)]
    return (exact + prefix + rest)[:limit]


def sample() -> list[Instrument]:
    return [
        equity("SBIN"),
        equity("SBIN", "BSE"),
        equity("SBICARD"),
        equity("RELIANCE", name="RELIANCE INDUSTRIES LTD"),
        equity("NIFTY", "NSE_INDEX"),
        equity("NIFTYNXT50", "NSE_INDEX"),
        future("NIFTY", DEC),
        future("NIFTY", JAN),
        future("NIFTYNXT50", DEC, lot=25),
        *chain("NIFTY", DEC, range(23000, 27001, 500)),
        *chain("NIFTY", JAN, range(24000, 26001, 1000)),
        option("VEDL", DEC, "292.5", "CE", lot=1150),
        equity("TATA", token="2500"),  # a token that contains a strike's digits
    ]


@cache
def simulator_rows() -> tuple[Instrument, ...]:
    return tuple(simulator_master(MarketCalendar.bundled(), TODAY))


QUERIES = [
    "sbi",
    "SBIN",
    "NIFTY",
    "nifty 25000 ce",
    "NIFTY 25000.0",
    "25000.00 PE",
    "292.50",
    "0292.5",
    "industries",
    "NIFTY FUT",
    "IFTY",
    "CE",
    "E",
    "50",
    "2500",
    "NOPE",
    "%",
    '"',
    "S_IN",
    "NIFTY ZZZ",
    "JAN27",
    "\U0010ffff",
    "S\U0010ffff\U0010ffff",
    "straße",
    "é",
]


@pytest.mark.parametrize("query", QUERIES)
def test_matches_the_reference_on_a_small_master(query: str) -> None:
    rows = sample()
    index = SearchIndex(rows)
    assert index.search(query) == reference(rows, query)
    for exchange in ("NSE", "NFO", "NSE_INDEX", "BSE", "MCX"):
        assert index.search(query, exchange=exchange) == reference(rows, query, exchange=exchange)
    for kinds in ([InstrumentType.FUT], [InstrumentType.CE, InstrumentType.EQ]):
        assert index.search(query, instrument_types=kinds) == reference(
            rows, query, instrument_types=kinds
        )
    for limit in (0, 1, 3, 7):
        assert index.search(query, limit=limit) == reference(rows, query, limit=limit)


def test_ranking_and_strike_terms() -> None:
    index = SearchIndex(sample())
    assert [r.symbol for r in index.search("sbi")] == ["SBICARD", "SBIN", "SBIN"]
    assert [(r.symbol, r.exchange) for r in index.search("SBIN")] == [
        ("SBIN", "BSE"),
        ("SBIN", "NSE"),
    ]
    assert [r.symbol for r in index.search("NIFTY")][:3] == [
        "NIFTY",
        "NIFTY25JAN2724000CE",
        "NIFTY25JAN2724000PE",
    ]
    # A number written differently from the symbols still finds the strike.
    assert [r.symbol for r in index.search("nifty 26000.00 ce")] == [
        "NIFTY25JAN2726000CE",
        "NIFTY29DEC2626000CE",
    ]
    assert [r.symbol for r in index.search("292.50")] == ["VEDL29DEC26292.5CE"]
    # ...and a canonical number still matches as text (the token 2500 of TATA).
    assert [r.symbol for r in index.search("2500")][-1:] == ["TATA"]
    assert index.search("   ") == []


@pytest.mark.parametrize(
    "query", ["NIFTY", "BANKNIFTY 50000", "sbin", "RELIANCE FUT", "USDINR", "CE", "ZZZ", "26"]
)
def test_matches_the_reference_on_the_simulator_master(query: str) -> None:
    rows = simulator_rows()
    index = SearchIndex(rows)
    assert index.search(query) == reference(rows, query)
    assert index.search(query, exchange="NFO", limit=50) == reference(
        rows, query, exchange="NFO", limit=50
    )
    kinds = [InstrumentType.PE]
    assert index.search(query, instrument_types=kinds) == reference(
        rows, query, instrument_types=kinds
    )


@st.composite
def queries(draw: st.DrawFn) -> str:
    rows = simulator_rows()
    words = []
    for _ in range(draw(st.integers(1, 3))):
        row = rows[draw(st.integers(0, len(rows) - 1))]
        text = draw(st.sampled_from([row.symbol, row.name, row.token]))
        start = draw(st.integers(0, max(len(text) - 1, 0)))
        end = draw(st.integers(start + 1, len(text)))
        word = text[start:end].strip() or "X"
        words.append(draw(st.sampled_from([word, word.lower(), word + "0", "9" + word])))
    return " ".join(words)


@settings(max_examples=150, deadline=None)
@given(
    query=queries(),
    exchange=st.sampled_from([None, "NFO", "NSE", "BFO", "MCX"]),
    kinds=st.sampled_from(
        [None, [InstrumentType.CE], [InstrumentType.FUT, InstrumentType.EQ], [InstrumentType.PE]]
    ),
    limit=st.sampled_from([1, 20, 500]),
)
def test_any_query_matches_the_reference(
    query: str, exchange: str | None, kinds: list[InstrumentType] | None, limit: int
) -> None:
    rows = simulator_rows()
    assert _index(rows).search(
        query, exchange=exchange, instrument_types=kinds, limit=limit
    ) == reference(rows, query, exchange=exchange, instrument_types=kinds, limit=limit)


@cache
def _index(rows: tuple[Instrument, ...]) -> SearchIndex:
    return SearchIndex(rows)


# --- the service: the cache when warm, the database otherwise ---------------------------------


async def test_service_answers_from_the_cache_and_the_database_alike(session: AsyncSession) -> None:
    rows = sample()
    await InstrumentRepository(session, "simulator").replace(rows, as_of=TODAY, source="t")
    warm = InstrumentCache("simulator", rows)
    for query in QUERIES:
        for exchange in (None, "NFO", "NSE"):
            from_db = await search_instruments(session, "simulator", query, exchange=exchange)
            from_cache = await search_instruments(
                session, "simulator", query, exchange=exchange, cache=warm
            )
            assert from_cache == from_db, (query, exchange)
            assert from_db == reference(rows, query, exchange=exchange)
    kinds = [InstrumentType.CE]
    assert await search_instruments(
        session, "simulator", "NIFTY", instrument_types=kinds, limit=3
    ) == await search_instruments(
        session, "simulator", "NIFTY", instrument_types=kinds, limit=3, cache=warm
    )


async def test_service_uses_the_cache_only_for_its_broker_and_when_warm(
    session: AsyncSession,
) -> None:
    await InstrumentRepository(session, "simulator").replace(
        [equity("SBIN")], as_of=TODAY, source="t"
    )
    # The cache's master differs from the database's: which one answered is visible.
    warm = InstrumentCache("simulator", [equity("SBIN", token="FROM-CACHE")])
    (hit,) = await search_instruments(session, "simulator", "sbin", cache=warm)
    assert hit.token == "FROM-CACHE"
    cold = InstrumentCache("simulator")
    (hit,) = await search_instruments(session, "simulator", "sbin", cache=cold)
    assert hit.token == "NSE-SBIN"
    other = InstrumentCache("zerodha", [equity("SBIN", token="ZERODHA")])
    (hit,) = await search_instruments(session, "simulator", "sbin", cache=other)
    assert hit.token == "NSE-SBIN"


async def test_service_rejects_bad_input(session: AsyncSession) -> None:
    warm = InstrumentCache("simulator", sample())
    with pytest.raises(BadRequest, match="cannot be empty"):
        await search_instruments(session, "simulator", "  ", cache=warm)
    with pytest.raises(BadRequest, match="exchange"):
        await search_instruments(session, "simulator", "SBIN", exchange="NASDAQ", cache=warm)
    for maybe in (warm, None):
        with pytest.raises(BadRequest, match="NUL"):
            await search_instruments(session, "simulator", "SB\x00IN", cache=maybe)
    assert len(await search_instruments(session, "simulator", "E", cache=warm, limit=10_000)) <= 500


def test_prefix_end() -> None:
    assert prefix_end("SBI") == "SBJ"
    assert prefix_end("A\U0010ffff") == "B"
    assert prefix_end("\U0010ffff") is None


def test_strike_of_numeric_terms() -> None:
    assert numeric_term("24000") == Decimal(24000)
    assert numeric_term("292.50") == Decimal("292.5")
    assert numeric_term(".5") == Decimal("0.5")
    for word in ("", "24000CE", "1e5", "²", "٣", "1.2.3", "-5"):
        assert numeric_term(word) is None
