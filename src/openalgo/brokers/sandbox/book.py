"""The in-memory index of resting orders and GTT legs, per symbol, sorted by the price that wakes them.

A tick costs a look at the top of six heaps; only orders whose price is crossed are touched, so
matching stays flat as the book grows (OpenAlgo's polling engine scanned every pending order each
cycle and slept between batches, issue #1768). The index is a cache of the database: entries are
removed lazily (``alive = False``) and the engine re-reads open orders from the database at start
and on every resync, so a lost entry delays a fill but never invents one. Whether a fill happens is
decided by a conditional update in the database, not here.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

SymbolKey = tuple[str, str]  # (exchange, symbol)


class Resting:
    """One open order as the matcher sees it."""

    __slots__ = (
        "alive",
        "buy",
        "key",
        "orderid",
        "price",
        "price_f",
        "snapshot",
        "stamp",
        "stop_market",
        "trigger",
        "trigger_f",
        "triggered",
        "user_id",
        "version",
    )

    def __init__(
        self,
        *,
        orderid: str,
        user_id: int,
        version: int,
        key: SymbolKey,
        buy: bool,
        price: Decimal,
        trigger: Decimal,
        stop: bool,
        stop_market: bool,
        triggered: bool,
    ) -> None:
        self.orderid = orderid
        self.user_id = user_id
        self.version = version
        self.key = key
        self.buy = buy
        self.price = price
        self.trigger = trigger
        self.price_f = float(price)
        self.trigger_f = float(trigger)
        self.stop_market = stop_market
        # An SL/SL-M order waits for its trigger; a plain LIMIT (or a triggered SL) for its price.
        self.triggered = triggered or not stop
        self.alive = True
        self.stamp = 0  # when it was indexed (see SandboxEngine.resync)
        self.snapshot: object = None  # the engine's copy of the order row


class GttLeg:
    __slots__ = (
        "above",
        "alive",
        "gtt_id",
        "key",
        "leg",
        "stamp",
        "trigger",
        "trigger_f",
        "user_id",
        "version",
    )

    def __init__(
        self,
        *,
        gtt_id: str,
        user_id: int,
        version: int,
        key: SymbolKey,
        leg: int,
        above: bool,
        trigger: Decimal,
    ) -> None:
        self.gtt_id = gtt_id
        self.user_id = user_id
        self.version = version
        self.key = key
        self.leg = leg
        self.above = above
        self.trigger = trigger
        self.trigger_f = float(trigger)
        self.alive = True
        self.stamp = 0


@dataclass(slots=True)
class Crossing:
    """Something a price woke up.

    kind: ``fill`` (at ``price``, or at the market when ``price`` is None), ``trigger`` (an SL whose
    limit is not yet reachable becomes an open limit order) or ``gtt``.
    """

    kind: str
    order: Resting | None = None
    gtt: GttLeg | None = None
    price: Decimal | None = None


@dataclass(slots=True)
class SymbolBook:
    buy_limit: list[tuple[float, int, Resting]] = field(default_factory=list)  # -price
    sell_limit: list[tuple[float, int, Resting]] = field(default_factory=list)  # price
    buy_stop: list[tuple[float, int, Resting]] = field(default_factory=list)  # trigger
    sell_stop: list[tuple[float, int, Resting]] = field(default_factory=list)  # -trigger
    gtt_above: list[tuple[float, int, GttLeg]] = field(default_factory=list)  # trigger
    gtt_below: list[tuple[float, int, GttLeg]] = field(default_factory=list)  # -trigger
    live: int = 0
    dead: int = 0


class RestingBook:
    def __init__(self) -> None:
        self.books: dict[SymbolKey, SymbolBook] = {}
        self.orders: dict[str, Resting] = {}
        self.gtts: dict[str, list[GttLeg]] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self.orders) + sum(len(legs) for legs in self.gtts.values())

    def symbols(self) -> list[SymbolKey]:
        return [key for key, book in self.books.items() if book.live > 0]

    # --- orders ---------------------------------------------------------------------------------

    def add_order(self, entry: Resting) -> bool:
        """Index an order (replacing an older version). True if its symbol had nothing before."""
        self.remove_order(entry.orderid)
        book = self.books.setdefault(entry.key, SymbolBook())
        seq = next(self._seq)
        if entry.triggered:
            if entry.buy:
                heapq.heappush(book.buy_limit, (-entry.price_f, seq, entry))
            else:
                heapq.heappush(book.sell_limit, (entry.price_f, seq, entry))
        elif entry.buy:
            heapq.heappush(book.buy_stop, (entry.trigger_f, seq, entry))
        else:
            heapq.heappush(book.sell_stop, (-entry.trigger_f, seq, entry))
        self.orders[entry.orderid] = entry
        book.live += 1
        return book.live == 1

    def remove_order(self, orderid: str) -> SymbolKey | None:
        """Forget an order. Returns its symbol if that symbol now has nothing resting."""
        entry = self.orders.pop(orderid, None)
        if entry is None:
            return None
        return self._kill(entry.key, entry)

    def _kill(self, key: SymbolKey, entry: Resting | GttLeg) -> SymbolKey | None:
        if not entry.alive:
            return None
        entry.alive = False
        book = self.books[key]
        book.live -= 1
        book.dead += 1
        if book.dead > 64 and book.dead > book.live:
            self._compact(book)
        return key if book.live == 0 else None

    # --- GTT ------------------------------------------------------------------------------------

    def add_gtt(self, legs: list[GttLeg]) -> bool:
        if not legs:
            return False
        self.remove_gtt(legs[0].gtt_id)
        key = legs[0].key
        book = self.books.setdefault(key, SymbolBook())
        was_empty = book.live == 0
        for leg in legs:
            seq = next(self._seq)
            if leg.above:
                heapq.heappush(book.gtt_above, (leg.trigger_f, seq, leg))
            else:
                heapq.heappush(book.gtt_below, (-leg.trigger_f, seq, leg))
            book.live += 1
        self.gtts[legs[0].gtt_id] = legs
        return was_empty

    def remove_gtt(self, gtt_id: str) -> SymbolKey | None:
        legs = self.gtts.pop(gtt_id, None)
        emptied = None
        for leg in legs or ():
            emptied = self._kill(leg.key, leg) or emptied
        return emptied

    # --- matching -------------------------------------------------------------------------------

    def cross(self, key: SymbolKey, ltp: float) -> list[Crossing]:
        """Pop everything ``ltp`` wakes on ``key``; the caller turns them into database work."""
        book = self.books.get(key)
        if book is None or book.live == 0 or ltp <= 0:
            return []
        out: list[Crossing] = []
        heap = book.buy_limit  # BUY LIMIT fills when LTP <= limit, at the limit price
        while heap and (not heap[0][2].alive or -heap[0][0] >= ltp):
            entry = heapq.heappop(heap)[2]
            if entry.alive:
                self._take(book, entry)
                out.append(Crossing("fill", order=entry, price=entry.price))
            else:
                book.dead -= 1
        heap = book.sell_limit  # SELL LIMIT fills when LTP >= limit
        while heap and (not heap[0][2].alive or heap[0][0] <= ltp):
            entry = heapq.heappop(heap)[2]
            if entry.alive:
                self._take(book, entry)
                out.append(Crossing("fill", order=entry, price=entry.price))
            else:
                book.dead -= 1
        heap = book.buy_stop  # BUY SL triggers when LTP >= trigger
        while heap and (not heap[0][2].alive or heap[0][0] <= ltp):
            entry = heapq.heappop(heap)[2]
            if entry.alive:
                self._take(book, entry)
                out.append(self._triggered(entry, ltp))
            else:
                book.dead -= 1
        heap = book.sell_stop  # SELL SL triggers when LTP <= trigger
        while heap and (not heap[0][2].alive or -heap[0][0] >= ltp):
            entry = heapq.heappop(heap)[2]
            if entry.alive:
                self._take(book, entry)
                out.append(self._triggered(entry, ltp))
            else:
                book.dead -= 1
        gheap = book.gtt_above  # an "above" leg fires when LTP >= trigger
        while gheap and (not gheap[0][2].alive or gheap[0][0] <= ltp):
            leg = heapq.heappop(gheap)[2]
            if leg.alive:
                self._take_gtt(book, leg)
                out.append(Crossing("gtt", gtt=leg))
            else:
                book.dead -= 1
        gheap = book.gtt_below  # a "below" leg fires when LTP <= trigger
        while gheap and (not gheap[0][2].alive or -gheap[0][0] >= ltp):
            leg = heapq.heappop(gheap)[2]
            if leg.alive:
                self._take_gtt(book, leg)
                out.append(Crossing("gtt", gtt=leg))
            else:
                book.dead -= 1
        return out

    @staticmethod
    def _triggered(entry: Resting, ltp: float) -> Crossing:
        if entry.stop_market:
            return Crossing("fill", order=entry, price=None)
        limit_ok = ltp <= entry.price_f if entry.buy else ltp >= entry.price_f
        return Crossing("fill" if limit_ok else "trigger", order=entry, price=None)

    def _take(self, book: SymbolBook, entry: Resting) -> None:
        entry.alive = False
        book.live -= 1
        if self.orders.get(entry.orderid) is entry:
            del self.orders[entry.orderid]

    def _take_gtt(self, book: SymbolBook, leg: GttLeg) -> None:
        # Both legs of an OCO leave the book: the database decides which one (if any) fires.
        for other in self.gtts.pop(leg.gtt_id, [leg]):
            if other.alive:
                other.alive = False
                book.live -= 1
                if other is not leg:
                    book.dead += 1

    @staticmethod
    def _compact(book: SymbolBook) -> None:
        book.buy_limit = [e for e in book.buy_limit if e[2].alive]
        book.sell_limit = [e for e in book.sell_limit if e[2].alive]
        book.buy_stop = [e for e in book.buy_stop if e[2].alive]
        book.sell_stop = [e for e in book.sell_stop if e[2].alive]
        book.gtt_above = [e for e in book.gtt_above if e[2].alive]
        book.gtt_below = [e for e in book.gtt_below if e[2].alive]
        for heap in (book.buy_limit, book.sell_limit, book.buy_stop, book.sell_stop):
            heapq.heapify(heap)
        for gheap in (book.gtt_above, book.gtt_below):
            heapq.heapify(gheap)
        book.dead = 0
