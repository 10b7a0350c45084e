"""The funds and position rows as this engine last committed them, so a batch can skip reading them.

Why: a batch of fills otherwise starts with two reads (funds, then positions) before it writes
anything, and on a busy machine every statement is a round trip to wait for (a hand-off to
aiosqlite's thread, or to the PostgreSQL server). The writer is the only one writing these rows in
normal operation, so what it committed last is what the database holds.

Why it cannot be wrong about money: a copy taken from here is always written back with the
compare-and-set on ``version`` (`LedgerTx` marks it dirty when it hands it out). If anything else
changed the row (another engine or worker, an operator), the compare-and-set matches nothing, the
batch is rolled back and retried reading the rows from the database, and the cache is emptied.

Only rows that have an id are kept (a position inserted by a batch comes back without one; its
(user, symbol) pair is forgotten and read again next time). Positions are kept per (user, symbol)
pair, complete: every exchange and product of the pair, as `LedgerTx.preload_positions` reads them,
so "no row in the cache" means "no row" for a pair the cache knows.
"""

from __future__ import annotations

from dataclasses import replace

from openalgo.brokers.sandbox.state import FundsState, PositionKey, PositionState

Pair = tuple[int, str]  # (user, symbol)


class RowCache:
    __slots__ = ("funds", "hits", "pairs")

    def __init__(self) -> None:
        self.funds: dict[int, FundsState] = {}
        self.pairs: dict[Pair, dict[PositionKey, PositionState]] = {}
        self.hits = 0

    def take_funds(self, user_id: int) -> FundsState | None:
        """A private copy of the user's funds row, or None if unknown."""
        found = self.funds.get(user_id)
        if found is None:
            return None
        self.hits += 1
        return replace(found)

    def take_pair(self, pair: Pair) -> list[PositionState] | None:
        """Private copies of every position of ``pair`` (possibly none), or None if unknown."""
        found = self.pairs.get(pair)
        if found is None:
            return None
        self.hits += 1
        return [replace(p) for p in found.values()]

    def remember(
        self,
        funds: list[FundsState],
        pairs: dict[Pair, list[PositionState]],
    ) -> None:
        """After a commit: keep copies of the committed rows (versions as written)."""
        for state in funds:
            self.funds[state.user_id] = replace(state, dirty=False)
        for pair, positions in pairs.items():
            if any(p.id is None and not p.deleted for p in positions):
                self.pairs.pop(pair, None)
                continue
            self.pairs[pair] = {p.key: replace(p, dirty=False) for p in positions if not p.deleted}

    def forget_users(self, user_ids: set[int]) -> None:
        for user_id in user_ids:
            self.funds.pop(user_id, None)
        for pair in [p for p in self.pairs if p[0] in user_ids]:
            del self.pairs[pair]

    def clear(self) -> None:
        self.funds.clear()
        self.pairs.clear()
