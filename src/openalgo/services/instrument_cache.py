"""The whole instrument master of one broker, in memory.

Every order, quote and subscription resolves a symbol, so resolution must not touch the database:
the cache answers `resolve` from a dict (well under a microsecond warm) and serves the option
machinery (expiries per underlying, sorted strikes per expiry and side) from indexes built once per
load, and answers search from `openalgo.services.instrument_search`. A reload builds new indexes
(in a worker thread: a 100k master takes about a second of CPU) and swaps them in one assignment, so
readers never see half a master and no lock is needed.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from openalgo.db.repositories.instruments import SEARCH_LIMIT, InstrumentRepository
from openalgo.db.session import SessionMaker
from openalgo.domain.enums import InstrumentType
from openalgo.domain.instruments import Instrument
from openalgo.services.instrument_search import SearchIndex


@dataclass(frozen=True)
class _Indexes:
    by_key: dict[tuple[str, str], Instrument] = field(default_factory=dict)
    by_token: dict[tuple[str, str], Instrument] = field(default_factory=dict)
    # (exchange, underlying) -> expiry -> type -> sorted strikes
    options: dict[tuple[str, str], dict[date, dict[InstrumentType, list[Decimal]]]] = field(
        default_factory=dict
    )
    futures: dict[tuple[str, str], list[Instrument]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    search: SearchIndex = field(default_factory=lambda: SearchIndex(()))


def _build(instruments: Iterable[Instrument]) -> _Indexes:
    instruments = list(instruments)
    by_key: dict[tuple[str, str], Instrument] = {}
    by_token: dict[tuple[str, str], Instrument] = {}
    options: defaultdict[tuple[str, str], dict[date, dict[InstrumentType, list[Decimal]]]] = (
        defaultdict(dict)
    )
    futures: defaultdict[tuple[str, str], list[Instrument]] = defaultdict(list)
    counts: defaultdict[str, int] = defaultdict(int)
    for item in instruments:
        by_key[(item.exchange, item.symbol)] = item
        by_token[(item.exchange, item.token)] = item
        counts[item.exchange] += 1
        if item.instrument_type.is_option and item.expiry is not None and item.strike is not None:
            sides = options[(item.exchange, item.name)].setdefault(item.expiry, {})
            sides.setdefault(item.instrument_type, []).append(item.strike)
        elif item.instrument_type is InstrumentType.FUT and item.expiry is not None:
            futures[(item.exchange, item.name)].append(item)
    for chain in options.values():
        for sides in chain.values():
            for strikes in sides.values():
                strikes.sort()
    for series in futures.values():
        series.sort(key=lambda f: f.expiry or date.max)
    return _Indexes(
        by_key, by_token, dict(options), dict(futures), dict(counts), SearchIndex(instruments)
    )


class InstrumentCache:
    """Implements `openalgo.domain.instruments.InstrumentLookup` for one broker's master.

    ``warm`` says whether a master has been put in (by the constructor, `replace_all` or `load`);
    until then callers that can fall back to the database (search) should.
    """

    def __init__(self, broker: str, instruments: Iterable[Instrument] | None = None) -> None:
        self.broker = broker
        self.warm = instruments is not None
        self.as_of: date | None = None  # the trading day of the master `load` read
        self._ix = _build(instruments or ())

    def __len__(self) -> int:
        return len(self._ix.by_key)

    def replace_all(self, instruments: Iterable[Instrument]) -> None:
        self._ix = _build(instruments)
        self.warm = True

    async def load(self, sessionmaker: SessionMaker) -> int:
        """Read the broker's master from the database and swap it in; returns the row count."""
        async with sessionmaker() as session:
            repository = InstrumentRepository(session, self.broker)
            master = await repository.master()
            as_of = master.as_of if master is not None else None
            rows = await repository.all()
            await session.rollback()
        self._ix = await asyncio.to_thread(_build, rows)
        self.as_of = as_of
        self.warm = True
        return len(rows)

    # --- lookups --------------------------------------------------------------------------------

    def get(self, symbol: str, exchange: str) -> Instrument | None:
        return self._ix.by_key.get((exchange, symbol))

    async def resolve(self, symbol: str, exchange: str) -> Instrument | None:
        return self._ix.by_key.get((exchange, symbol))

    def by_token(self, token: str, exchange: str) -> Instrument | None:
        return self._ix.by_token.get((exchange, token))

    def search(
        self,
        query: str,
        *,
        exchange: str | None = None,
        instrument_types: Sequence[InstrumentType] | None = None,
        limit: int = SEARCH_LIMIT,
    ) -> list[Instrument]:
        return self._ix.search.search(
            query, exchange=exchange, instrument_types=instrument_types, limit=limit
        )

    def counts(self) -> dict[str, int]:
        return dict(sorted(self._ix.counts.items()))

    def instruments(self, exchange: str | None = None) -> list[Instrument]:
        return [i for i in self._ix.by_key.values() if exchange is None or i.exchange == exchange]

    def option_expiries(
        self, underlying: str, exchange: str, *, on_or_after: date | None = None
    ) -> list[date]:
        chain = self._ix.options.get((exchange, underlying), {})
        return sorted(d for d in chain if on_or_after is None or d >= on_or_after)

    def futures(
        self, underlying: str, exchange: str, *, on_or_after: date | None = None
    ) -> list[Instrument]:
        series = self._ix.futures.get((exchange, underlying), [])
        return [f for f in series if on_or_after is None or (f.expiry and f.expiry >= on_or_after)]

    def strikes(
        self, underlying: str, exchange: str, expiry: date, option_type: InstrumentType
    ) -> list[Decimal]:
        sides = self._ix.options.get((exchange, underlying), {}).get(expiry, {})
        return list(sides.get(option_type, ()))

    def nearest_strikes(
        self,
        underlying: str,
        exchange: str,
        expiry: date,
        option_type: InstrumentType,
        strike: Decimal,
    ) -> list[Decimal]:
        """The listed strikes either side of ``strike`` (for "not on the grid" errors)."""
        strikes = self.strikes(underlying, exchange, expiry, option_type)
        at = bisect_left(strikes, strike)
        return strikes[max(at - 1, 0) : at + 1]
