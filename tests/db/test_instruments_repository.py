"""The instrument master repository on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.repositories.instruments import InstrumentRepository
from openalgo.domain.enums import InstrumentType
from tests.support.instruments import chain, equity, future, option

TODAY = date(2026, 11, 28)
DEC = date(2026, 12, 29)
JAN = date(2027, 1, 25)


def sample() -> list:  # type: ignore[type-arg]
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
    ]


@pytest.fixture
async def repo(session: AsyncSession) -> InstrumentRepository:
    repository = InstrumentRepository(session, "simulator")
    await repository.replace(sample(), as_of=TODAY, source="test")
    return repository


async def test_resolve_exact_and_case_sensitive(repo: InstrumentRepository) -> None:
    sbin = await repo.resolve("SBIN", "NSE")
    assert sbin is not None
    assert (sbin.exchange, sbin.instrument_type, sbin.token) == (
        "NSE",
        InstrumentType.EQ,
        "NSE-SBIN",
    )
    assert await repo.resolve("sbin", "NSE") is None
    assert await repo.resolve("SBIN", "NFO") is None
    opt = await repo.resolve("VEDL29DEC26292.5CE", "NFO")
    assert opt is not None
    assert opt.strike == Decimal("292.5")
    assert opt.expiry == DEC
    assert opt.lot_size == 1150
    assert opt.tick_size == Decimal("0.05")


async def test_rows_are_scoped_per_broker(
    repo: InstrumentRepository, session: AsyncSession
) -> None:
    other = InstrumentRepository(session, "zerodha")
    assert await other.resolve("SBIN", "NSE") is None
    await other.replace([equity("SBIN", token="779521")], as_of=TODAY, source="t")
    found = await other.resolve("SBIN", "NSE")
    assert found is not None and found.token == "779521"
    assert (await repo.resolve("SBIN", "NSE")) is not None


async def test_by_token(repo: InstrumentRepository) -> None:
    (row,) = await repo.by_token("NSE-SBIN")
    assert row.symbol == "SBIN"
    assert await repo.by_token("NSE-SBIN", "BSE") == []


async def test_search_ranks_exact_then_prefix_then_contains(repo: InstrumentRepository) -> None:
    rows = await repo.search("sbi")
    assert [r.symbol for r in rows] == ["SBICARD", "SBIN", "SBIN"]
    rows = await repo.search("SBIN")
    assert [(r.symbol, r.exchange) for r in rows] == [("SBIN", "BSE"), ("SBIN", "NSE")]
    rows = await repo.search("NIFTY")
    assert [r.symbol for r in rows[:1]] == ["NIFTY"]
    assert rows[1].symbol.startswith("NIFTY")
    assert len(rows) == 1 + 1 + 3 + 9 * 2 + 3 * 2


async def test_search_contains_name_and_and_of_terms(repo: InstrumentRepository) -> None:
    rows = await repo.search("industries")
    assert [r.symbol for r in rows] == ["RELIANCE"]
    rows = await repo.search("NIFTY 25000 ce")
    assert sorted(r.symbol for r in rows) == ["NIFTY25JAN2725000CE", "NIFTY29DEC2625000CE"]
    rows = await repo.search("nifty 25000 jan")
    assert sorted(r.symbol for r in rows) == ["NIFTY25JAN2725000CE", "NIFTY25JAN2725000PE"]
    assert await repo.search("NOPE") == []
    assert await repo.search("   ") == []


async def test_search_filters(repo: InstrumentRepository) -> None:
    rows = await repo.search("NIFTY", exchange="NSE_INDEX")
    assert [r.symbol for r in rows] == ["NIFTY", "NIFTYNXT50"]
    rows = await repo.search("NIFTY", instrument_types=[InstrumentType.FUT])
    assert [r.symbol for r in rows] == [
        "NIFTY25JAN27FUT",
        "NIFTY29DEC26FUT",
        "NIFTYNXT5029DEC26FUT",
    ]
    assert len(await repo.search("NIFTY", limit=5)) == 5


async def test_search_escapes_wildcards(repo: InstrumentRepository) -> None:
    assert await repo.search("%") == []
    assert await repo.search('"') == []
    assert await repo.search("S_IN") == []


async def test_expiries_and_strikes(repo: InstrumentRepository) -> None:
    assert await repo.expiries("NIFTY", "NFO") == [DEC, JAN]
    assert await repo.expiries("NIFTY", "NFO", on_or_after=date(2027, 1, 1)) == [JAN]
    assert await repo.expiries("NIFTYNXT50", "NFO", instrument_types=[InstrumentType.CE]) == []
    strikes = await repo.strikes("NIFTY", "NFO", JAN, InstrumentType.PE)
    assert strikes == [Decimal(24000), Decimal(25000), Decimal(26000)]
    assert await repo.strikes("VEDL", "NFO", DEC, InstrumentType.CE) == [Decimal("292.5")]


async def test_replace_is_idempotent_and_per_exchange(repo: InstrumentRepository) -> None:
    before = await repo.count_by_exchange()
    assert before == {"BSE": 1, "NFO": 3 + 9 * 2 + 3 * 2 + 1, "NSE": 3, "NSE_INDEX": 2}
    counts = await repo.replace(sample(), as_of=TODAY, source="again")
    assert await repo.count_by_exchange() == before
    assert counts == before
    # Replacing NSE alone leaves the other exchanges untouched.
    assert await repo.replace([equity("TCS")], as_of=TODAY, source="nse") == {"NSE": 1}
    after = await repo.count_by_exchange()
    assert after == {**before, "NSE": 1}
    assert await repo.resolve("SBIN", "NSE") is None
    assert await repo.resolve("SBIN", "BSE") is not None
    # Search sees the new rows and not the old ones.
    assert [r.symbol for r in await repo.search("TCS")] == ["TCS"]
    assert [r.exchange for r in await repo.search("SBIN")] == ["BSE"]
    master = await repo.master()
    assert master is not None
    assert (master.rows, master.source, master.as_of) == (sum(after.values()), "nse", TODAY)


async def test_replace_with_an_empty_exchange_clears_it(repo: InstrumentRepository) -> None:
    assert await repo.replace([], exchanges=["BSE"], as_of=TODAY, source="x") == {"BSE": 0}
    assert await repo.resolve("SBIN", "BSE") is None
    with pytest.raises(ValueError, match="outside"):
        await repo.replace([equity("X")], exchanges=["BSE"], as_of=TODAY, source="x")


async def test_all_and_delete(repo: InstrumentRepository) -> None:
    assert len(await repo.all("NSE")) == 3
    assert await repo.delete_all() == len(sample())
    assert await repo.all() == []
    assert await repo.master() is None


async def test_replace_applies_changes_and_keeps_unchanged_rows(
    repo: InstrumentRepository, session: AsyncSession
) -> None:
    from dataclasses import replace as changed

    from sqlalchemy import select

    from openalgo.db.models.instrument import InstrumentRecord as T

    async def row_id(symbol: str, exchange: str) -> int | None:
        found = await session.scalar(
            select(T.id).where(T.broker == "simulator", T.symbol == symbol, T.exchange == exchange)
        )
        return int(found) if found is not None else None

    rows = sample()
    kept = await row_id("SBIN", "NSE")
    relisted = [
        changed(r, lot_size=65) if r.symbol == "NIFTY29DEC26FUT" else r
        for r in rows
        if r.symbol != "SBICARD"
    ] + [equity("TCS"), future("TCS", DEC, lot=175)]
    counts = await repo.replace(relisted, as_of=TODAY, source="day 2")
    assert counts == {"BSE": 1, "NFO": 3 + 9 * 2 + 3 * 2 + 1 + 1, "NSE": 3, "NSE_INDEX": 2}
    assert await repo.resolve("SBICARD", "NSE") is None
    fut = await repo.resolve("NIFTY29DEC26FUT", "NFO")
    assert fut is not None and fut.lot_size == 65
    tcs = await repo.resolve("TCS29DEC26FUT", "NFO")
    assert tcs is not None and tcs.lot_size == 175
    assert sorted(await repo.all(), key=lambda i: (i.exchange, i.symbol)) == sorted(
        relisted, key=lambda i: (i.exchange, i.symbol)
    )
    assert [r.symbol for r in await repo.search("TCS")] == ["TCS", "TCS29DEC26FUT"]
    if session.get_bind().dialect.name == "postgresql":
        assert await row_id("SBIN", "NSE") == kept  # untouched rows are not rewritten
    # Replacing with the very same rows again changes nothing.
    assert await repo.replace(relisted, as_of=TODAY, source="again") == counts
    assert len(await repo.all()) == len(relisted)
