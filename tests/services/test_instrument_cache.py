"""The in-memory master: lookups, option indexes, swap on reload."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from openalgo.domain.enums import InstrumentType
from openalgo.services.instrument_cache import InstrumentCache
from tests.support.instruments import chain, equity, future

DEC = date(2026, 12, 29)


async def test_lookups_and_indexes() -> None:
    cache = InstrumentCache(
        "simulator",
        [equity("SBIN"), future("NIFTY", DEC), *chain("NIFTY", DEC, range(26100, 25900, -100))],
    )
    assert len(cache) == 1 + 1 + 4
    found = await cache.resolve("SBIN", "NSE")
    assert found is not None and found.symbol == "SBIN"
    assert await cache.resolve("SBIN", "BSE") is None
    assert cache.by_token("NSE-SBIN", "NSE") == found
    assert cache.strikes("NIFTY", "NFO", DEC, InstrumentType.CE) == [Decimal(26000), Decimal(26100)]
    assert cache.option_expiries("NIFTY", "NFO") == [DEC]
    assert cache.option_expiries("NIFTY", "NFO", on_or_after=date(2027, 1, 1)) == []
    assert [f.symbol for f in cache.futures("NIFTY", "NFO")] == ["NIFTY29DEC26FUT"]
    assert cache.nearest_strikes("NIFTY", "NFO", DEC, InstrumentType.CE, Decimal(26050)) == [
        Decimal(26000),
        Decimal(26100),
    ]
    assert cache.counts() == {"NFO": 5, "NSE": 1}
    cache.replace_all([equity("TCS")])
    assert cache.get("SBIN", "NSE") is None
    assert cache.get("TCS", "NSE") is not None
