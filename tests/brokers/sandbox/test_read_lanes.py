"""Reads on held connections ("lanes", `driver_reads.Reads`): what holding must not cost.

Each test runs on SQLite and PostgreSQL against the ledger database: rows equal the session path;
more concurrent reads than lanes all complete, on no more connections than lanes; a failed,
cancelled or stale lane is never lent again, and the next read works; a committed write is in the
next read; closing gives every connection back to the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import Table, bindparam, func, literal, literal_column, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from openalgo.brokers.sandbox import SandboxEngine
from openalgo.brokers.sandbox.driver_reads import PreparedRead, Reads
from openalgo.db.models import User
from openalgo.db.session import SessionMaker
from tests.brokers.sandbox.conftest import EngineFactory, make_user, order

USERS: Table = User.__table__  # type: ignore[assignment]

NAME = PreparedRead(select(USERS.c.id, USERS.c.username).where(USERS.c.id == bindparam("user_id")))
BROKEN = PreparedRead(select(USERS.c.id).where(USERS.c.id == literal_column("no_such_column")))


def _slow(db: AsyncEngine) -> PreparedRead:
    """A read that runs for seconds unless stopped."""
    if db.dialect.name == "postgresql":
        return PreparedRead(select(func.pg_sleep(5).label("slept")))
    numbers = select(literal(1).label("n")).cte("numbers", recursive=True)
    numbers = numbers.union_all(select(numbers.c.n + 1).where(numbers.c.n < 100_000_000))
    return PreparedRead(select(func.count().label("rows")).select_from(numbers))


def checked_out(db: AsyncEngine) -> int:
    return int(db.pool.checkedout())  # type: ignore[attr-defined]


@pytest.fixture
async def lanes(read_sessionmaker: SessionMaker) -> AsyncIterator[Callable[[int], Reads]]:
    """``lanes(n)``: a `Reads` holding at most ``n`` connections, closed after the test."""
    made: list[Reads] = []

    def make(n: int) -> Reads:
        reads = Reads(read_sessionmaker, lanes=n)
        made.append(reads)
        return reads

    yield make
    for reads in made:
        await reads.aclose()


async def _assert_closed(lane: Any) -> None:
    """The lane's driver connection was closed, not returned to the pool for reuse."""
    sqlite = hasattr(lane.driver, "execute_fetchall")
    select_one = lane.driver.execute_fetchall if sqlite else lane.driver.fetch
    with pytest.raises(Exception, match="(?i)closed"):
        await select_one("SELECT 1")


async def _name(reads: Reads, user: int) -> str:
    [row] = await reads.all(NAME, {"user_id": user})
    return str(row.username)


async def _rename(db: AsyncEngine, user: int, name: str) -> None:
    async with db.begin() as conn:
        await conn.execute(update(USERS).where(USERS.c.id == user).values(username=name))


async def test_reads_hold_one_connection_between_reads_and_match_the_session_path(
    lanes: Callable[[int], Reads], read_sessionmaker: SessionMaker, db: AsyncEngine, user: int
) -> None:
    reads = lanes(2)
    reference = Reads(read_sessionmaker, direct=False)
    before = checked_out(db)

    for _ in range(5):
        ours = await reads.all(NAME, {"user_id": user})
        assert [tuple(r) for r in ours] == [(user, "trader")]
        assert ours == await reference.all(NAME, {"user_id": user})
        assert ours[0].username == "trader"

    assert (reads.open_lanes, reads.idle_lanes) == (1, 1)  # sequential reads share one lane
    assert checked_out(db) == before + 1


async def test_more_concurrent_reads_than_lanes_all_complete_on_that_many_connections(
    lanes: Callable[[int], Reads], db: AsyncEngine
) -> None:
    users = [await make_user(db, f"u{n}") for n in range(12)]
    reads = lanes(2)
    before = checked_out(db)
    most = 0

    async def read(user: int) -> Any:
        nonlocal most
        [row] = await reads.all(NAME, {"user_id": user})
        most = max(most, checked_out(db) - before)
        return row

    rows = await asyncio.gather(*(read(u) for u in users * 5))

    assert [(r.id, r.username) for r in rows] == [(u, f"u{n}") for n, u in enumerate(users)] * 5
    assert most <= 2
    assert (reads.open_lanes, reads.idle_lanes) == (2, 2)
    assert checked_out(db) == before + 2


async def test_a_write_committed_before_a_read_is_in_it(
    lanes: Callable[[int], Reads], db: AsyncEngine, user: int
) -> None:
    reads = lanes(1)
    for n in range(3):  # the same held connection each time, never a snapshot of the last read
        await _rename(db, user, f"name-{n}")
        assert await _name(reads, user) == f"name-{n}"
    assert reads.open_lanes == 1


async def test_a_held_connection_left_in_a_transaction_is_not_read_from(
    lanes: Callable[[int], Reads], db: AsyncEngine, user: int
) -> None:
    """On SQLite's WAL (or PostgreSQL under REPEATABLE READ) an open transaction would keep
    serving the snapshot of its first read; such a connection is dropped, not used."""
    reads = lanes(1)
    await reads.all(NAME, {"user_id": user})
    [lane] = reads._idle  # what only a bug in our code could do to a held connection
    if reads.sqlite:
        await lane.driver.execute("BEGIN")
        await lane.driver.execute_fetchall("SELECT username FROM users")
    else:
        await lane.driver.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        await lane.driver.fetch("SELECT username FROM users")

    await _rename(db, user, "after")

    assert await _name(reads, user) == "after"
    assert reads.idle_lanes == 1
    assert reads._idle[0] is not lane


async def test_a_failed_read_drops_its_lane_and_the_next_read_works(
    lanes: Callable[[int], Reads], db: AsyncEngine, user: int
) -> None:
    reads = lanes(1)
    before = checked_out(db)
    await reads.all(NAME, {"user_id": user})
    [lane] = reads._idle

    with pytest.raises(DBAPIError):
        await reads.all(BROKEN, {})

    assert (reads.open_lanes, reads.idle_lanes) == (0, 0)
    await _assert_closed(lane)
    assert checked_out(db) == before
    assert await _name(reads, user) == "trader"
    assert (reads.open_lanes, checked_out(db)) == (1, before + 1)


async def test_a_read_cancelled_in_flight_gives_its_lane_back_discarded(
    lanes: Callable[[int], Reads], db: AsyncEngine, user: int
) -> None:
    reads = lanes(1)
    before = checked_out(db)
    await reads.all(NAME, {"user_id": user})
    [lane] = reads._idle
    slow = asyncio.create_task(reads.all(_slow(db), {}))
    await asyncio.sleep(0.2)  # the statement is running
    assert reads.idle_lanes == 0

    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow

    # The only lane's slot is free again once the statement is stopped and its connection
    # closed: well before the statement would have ended.
    assert await asyncio.wait_for(_name(reads, user), 3) == "trader"
    await _assert_closed(lane)
    assert (reads.open_lanes, reads.idle_lanes) == (1, 1)
    assert checked_out(db) == before + 1


async def test_reads_waiting_for_a_lane_can_be_cancelled(
    lanes: Callable[[int], Reads], db: AsyncEngine, user: int
) -> None:
    reads = lanes(1)
    slow = asyncio.create_task(reads.all(_slow(db), {}))
    await asyncio.sleep(0.2)
    waiting = [asyncio.create_task(reads.all(NAME, {"user_id": user})) for _ in range(3)]
    await asyncio.sleep(0.05)
    for task in (*waiting, slow):
        task.cancel()
    await asyncio.gather(*waiting, slow, return_exceptions=True)

    assert await _name(reads, user) == "trader"
    assert (reads.open_lanes, reads.idle_lanes) == (1, 1)


async def test_closing_gives_every_lane_back_and_later_reads_hold_nothing(
    lanes: Callable[[int], Reads], db: AsyncEngine, user: int
) -> None:
    reads = lanes(2)
    before = checked_out(db)
    await asyncio.gather(*(reads.all(NAME, {"user_id": user}) for _ in range(4)))
    assert checked_out(db) == before + 2

    await reads.aclose()

    assert (reads.open_lanes, checked_out(db)) == (0, before)
    assert await _name(reads, user) == "trader"  # still served
    assert (reads.open_lanes, checked_out(db)) == (0, before)


async def test_stopping_the_engine_closes_its_read_lanes(
    make_engine: EngineFactory, user: int, db: AsyncEngine
) -> None:
    before = checked_out(db)
    engine: SandboxEngine = await make_engine()
    await engine.place_order(user, order("SBIN", "BUY", 1))
    await asyncio.gather(*(engine.funds_view(user) for _ in range(8)))
    assert engine.reads.open_lanes >= 1

    await engine.stop()

    assert engine.reads.open_lanes == 0
    assert checked_out(db) == before


async def test_a_dropped_server_connection_costs_at_most_one_failed_read(
    lanes: Callable[[int], Reads], db: AsyncEngine, user: int
) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("a server-side disconnect needs a server")
    reads = lanes(2)
    pid = PreparedRead(select(func.pg_backend_pid().label("pid")))

    async def pids() -> set[int]:
        both = await asyncio.gather(reads.all(pid, {}), reads.all(pid, {}))
        return {rows[0].pid for rows in both}

    held = await pids()
    assert len(held) == 2
    async with db.connect() as conn:  # as a restart does: every other connection goes
        dropped = (
            await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        ).scalar_one()
    assert dropped >= 2

    failed = 0
    for _ in range(4):
        try:
            name = await _name(reads, user)
        except DBAPIError:
            failed += 1
            continue
        assert name == "trader"
    assert failed <= 1
    assert not await pids() & held
