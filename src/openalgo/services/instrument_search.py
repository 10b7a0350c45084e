"""Instrument search from memory: OpenAlgo's ranking over 100k+ instruments in a few milliseconds.

The rules are OpenAlgo's (brokers reference C3), the same as the database fallback in
`openalgo.db.repositories.instruments`: the query is split on whitespace; every term must appear,
case-insensitively, in the symbol, broker symbol, name or token, and a numeric term may instead
equal the strike; results are the exact symbol matches of the first term (by exchange), then
symbols starting with it (by symbol, exchange), then every other match in master order, at most
``limit``.

A broad query such as ``NIFTY`` matches tens of thousands of rows, so nothing here looks at every
match, let alone every row:

- rows are split into parts by (exchange, instrument type), so the filters pick parts rather than
  test rows;
- each part keeps its symbols sorted, so the exact and prefix tiers are a bisect and a slice that
  are already in rank order;
- each part has a trigram index: for a term of three or more characters, the rarest of its trigrams
  lists every row that can contain it. The shortest such list over all terms drives the search;
  when it is shorter than the prefix range, the part's matches are collected from it and sorted;
- candidates are checked lazily with ``compress``/``map`` chains that run in C, and every tier
  stops as soon as the limit is filled.

An index is immutable once built; the cache swaps in a new one on reload.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import compress, islice, repeat, tee
from operator import contains, not_

from openalgo.db.repositories.instruments import (
    SEARCH_LIMIT,
    numeric_term,
    prefix_end,
    search_text,
)
from openalgo.domain.enums import InstrumentType
from openalgo.domain.instruments import Instrument

GRAM = 3
NARROW_ABOVE = 128  # candidates worth an intersection to cut down
NARROW_RATIO = 8  # ...with a list at most this many times longer
NARROW_MAX = 8192  # and no longer than this: a broad query stops early without narrowing


def _canonical(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    # Set when the term is a number written other than the way symbols write strikes
    # (``24000.0``, ``024000``): then a row can match by strike without containing the text, so
    # the term can neither drive the search through the trigram index nor be checked as a
    # substring alone. A canonical number (``24000``) is in every option symbol with that
    # strike, so the substring test already covers the strike.
    strike: Decimal | None = None


def _terms(query: str) -> list[_Term]:
    out = []
    for word in query.upper().split():
        value = numeric_term(word)
        strike = value if value is not None and _canonical(value) != word else None
        out.append(_Term(word, strike))
    return out


@dataclass(slots=True)
class _Part:
    exchange: str
    kind: InstrumentType
    ids: array[int] = field(default_factory=lambda: array("i"))  # master order
    symbols: list[str] = field(default_factory=list)  # sorted
    symbol_ids: array[int] = field(default_factory=lambda: array("i"))  # aligned with symbols
    grams: dict[str, array[int]] = field(default_factory=dict)
    strikes: dict[Decimal, array[int]] = field(default_factory=dict)


class SearchIndex:
    """Ranked substring search over one broker's master."""

    def __init__(self, instruments: Sequence[Instrument]) -> None:
        self._items = list(instruments)
        self._texts = [search_text(i) for i in self._items]
        self._symbols = [i.symbol for i in self._items]
        parts: dict[tuple[str, InstrumentType], _Part] = {}
        grams: dict[tuple[str, InstrumentType], defaultdict[str, list[int]]] = {}
        strikes: dict[tuple[str, InstrumentType], defaultdict[Decimal, list[int]]] = {}
        slices = [slice(k, k + GRAM) for k in range(max(map(len, self._texts), default=0))]
        for i, item in enumerate(self._items):
            key = (item.exchange, item.instrument_type)
            part = parts.get(key)
            if part is None:
                part = parts[key] = _Part(item.exchange, item.instrument_type)
                grams[key] = defaultdict(list)
                strikes[key] = defaultdict(list)
            part.ids.append(i)
            if item.strike is not None:
                strikes[key][item.strike].append(i)
            text = self._texts[i]
            index = grams[key]
            for gram in set(map(text.__getitem__, slices[: len(text) - GRAM + 1])):
                index[gram].append(i)
        for key, part in parts.items():
            order = sorted(part.ids, key=self._symbols.__getitem__)
            part.symbols = [self._symbols[i] for i in order]
            part.symbol_ids = array("i", order)
            part.grams = {gram: array("i", ids) for gram, ids in grams.pop(key).items()}
            part.strikes = {k: array("i", ids) for k, ids in strikes.pop(key).items()}
        self._parts = [parts[key] for key in sorted(parts, key=lambda k: (k[0], k[1].value))]
        self._part_of = array("H", bytes(2 * len(self._items)))
        for number, part in enumerate(self._parts):
            for i in part.ids:
                self._part_of[i] = number

    def __len__(self) -> int:
        return len(self._items)

    def search(
        self,
        query: str,
        *,
        exchange: str | None = None,
        instrument_types: Iterable[InstrumentType] | None = None,
        limit: int = SEARCH_LIMIT,
    ) -> list[Instrument]:
        terms = _terms(query)
        if not terms or limit <= 0:
            return []
        kinds = None if instrument_types is None else frozenset(instrument_types)
        parts = [
            p
            for p in self._parts
            if (exchange is None or p.exchange == exchange) and (kinds is None or p.kind in kinds)
        ]
        first = terms[0].text
        upper = prefix_end(first)
        exact: list[int] = []
        prefixed: list[Iterable[int]] = []
        rest: list[Iterable[int]] = []
        # With no indexable term every row is a candidate. Merging per-part scans in master order
        # would first scan each part up to its first match (all of a part that has none), so
        # unless the filters leave a small share of the master, scan it once in order instead.
        indexable = any(len(t.text) >= GRAM for t in terms)
        scan_all = not indexable and 2 * sum(len(p.ids) for p in parts) >= len(self._items)
        for part in parts:
            driver = self._driver(part, terms)
            if driver is not None and not driver:
                continue  # some term has a trigram this part never contains
            lo = bisect_left(part.symbols, first)
            hi = bisect_left(part.symbols, upper, lo) if upper is not None else len(part.symbols)
            if lo < hi and part.symbols[lo] == first:
                exact.extend(self._matching(part.symbol_ids[lo : lo + 1], terms[1:]))
                lo += 1
            if driver is not None and len(driver) < hi - lo:
                # Collect this part's matches from the short list and sort them.
                matched = list(self._matching(driver, terms))
                starts = list(
                    map(str.startswith, map(self._symbols.__getitem__, matched), repeat(first))
                )
                heads = sorted(
                    (i for i in compress(matched, starts) if self._symbols[i] != first),
                    key=self._symbols.__getitem__,
                )
                prefixed.append(heads)
                rest.append(compress(matched, map(not_, starts)))
                continue
            if lo < hi:
                prefixed.append(self._matching(part.symbol_ids[lo:hi], terms[1:]))
            if not scan_all:
                rest.append(self._not_prefixed(self._matching(driver or part.ids, terms), first))
        if scan_all:
            rest = [self._not_prefixed(self._matching(self._in_parts(parts), terms), first)]
        found = exact
        if len(found) < limit and prefixed:
            found.extend(islice(self._merge(prefixed, key=self._rank_key), limit - len(found)))
        if len(found) < limit and rest:
            found.extend(islice(self._merge(rest, key=None), limit - len(found)))
        return [self._items[i] for i in found[:limit]]

    # --- internals ------------------------------------------------------------------------------

    def _rank_key(self, i: int) -> tuple[str, str]:
        return self._symbols[i], self._items[i].exchange

    @staticmethod
    def _merge(
        streams: list[Iterable[int]], key: Callable[[int], tuple[str, str]] | None
    ) -> Iterator[int]:
        if len(streams) == 1:
            return iter(streams[0])
        return heapq.merge(*streams, key=key)

    def _driver(self, part: _Part, terms: Sequence[_Term]) -> array[int] | None:
        """A short ascending list of rows that can match every term (``None``: no term is
        indexable; empty: no row can match).

        Each indexable term offers the list of its rarest trigram; the shortest is taken, and
        when it is still long, narrowed by intersecting it with another term's (a set
        intersection runs in C, testing texts candidate by candidate does not). Two trigrams of
        one term are not intersected: they mostly list the same rows. Long lists are left alone:
        those queries match plenty and stop early.
        """
        lists: list[array[int]] = []
        for term in terms:
            candidates = self._candidates(part, term)
            if candidates is None:
                continue
            if not candidates:
                return candidates
            lists.append(candidates)
        if not lists:
            return None
        lists.sort(key=len)
        best = lists[0]
        for other in lists[1:3]:
            if (
                len(best) <= NARROW_ABOVE
                or len(other) > NARROW_RATIO * len(best)
                or len(other) > NARROW_MAX
            ):
                break
            best = array("i", sorted(set(best).intersection(other)))
        return best

    @staticmethod
    def _candidates(part: _Part, term: _Term) -> array[int] | None:
        """Every row of ``part`` that can match ``term``, ascending (``None``: no index helps)."""
        text = term.text
        contain: array[int] | None = None
        if len(text) >= GRAM:
            for k in range(len(text) - GRAM + 1):
                postings = part.grams.get(text[k : k + GRAM])
                if postings is None:
                    contain = array("i")
                    break
                if contain is None or len(postings) < len(contain):
                    contain = postings
        if term.strike is None:
            return contain
        if contain is None:
            return None
        by_strike = part.strikes.get(term.strike, array("i"))
        return array("i", sorted({*contain, *by_strike}))

    def _matching(self, ids: Iterable[int], terms: Sequence[_Term]) -> Iterator[int]:
        """Lazily, the ``ids`` whose row matches every term, in the order given."""
        stream: Iterator[int] = iter(ids)
        texts = self._texts
        for term in terms:
            if term.strike is not None:
                stream = filter(self._strike_or_text(term), stream)
                continue
            keep, look = tee(stream)
            stream = compress(keep, map(contains, map(texts.__getitem__, look), repeat(term.text)))
        return stream

    def _in_parts(self, parts: list[_Part]) -> Iterator[int]:
        """Every row of ``parts``, in master order."""
        every = range(len(self._items))
        if len(parts) == len(self._parts):
            return iter(every)
        chosen = {self._parts.index(p) for p in parts}
        keep, look = tee(every)
        return compress(keep, map(chosen.__contains__, map(self._part_of.__getitem__, look)))

    def _strike_or_text(self, term: _Term) -> Callable[[int], bool]:
        def test(i: int) -> bool:
            return term.text in self._texts[i] or self._items[i].strike == term.strike

        return test

    def _not_prefixed(self, ids: Iterator[int], first: str) -> Iterator[int]:
        keep, look = tee(ids)
        starts = map(str.startswith, map(self._symbols.__getitem__, look), repeat(first))
        return compress(keep, map(not_, starts))


__all__ = ["SEARCH_LIMIT", "SearchIndex"]
