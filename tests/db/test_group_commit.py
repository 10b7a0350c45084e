"""Group commit: concurrent submits share transactions, each caller still waits for its own
commit, and a failing item fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.engine import create_engine
from openalgo.db.group_commit import LINGER, GroupCommitter
from openalgo.db.session import SessionMaker, create_sessionmaker
from tests.conftest import make_settings
from tests.support.databases import fresh_database


@pytest.fixture
async def sessionmaker(tmp_path: Path) -> AsyncIterator[SessionMaker]:
    engine = create_engine(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE items (value INTEGER NOT NULL)"))
    yield create_sessionmaker(engine)
    await engine.dispose()


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def apply(self, session: AsyncSession, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        for value in items:
            if value < 0:
                raise ValueError(f"bad item {value}")
            await session.execute(text("INSERT INTO items (value) VALUES (:v)"), {"v": value})
        return [value * 10 for value in items]


async def count(sessionmaker: SessionMaker) -> int:
    async with sessionmaker() as session:
        return int((await session.execute(text("SELECT count(*) FROM items"))).scalar_one())


async def test_concurrent_submits_share_commits(sessionmaker: SessionMaker) -> None:
    recorder = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(sessionmaker, recorder.apply, name="t")
    results = await asyncio.gather(*(committer.submit(i) for i in range(50)))
    assert results == [i * 10 for i in range(50)]
    assert await count(sessionmaker) == 50  # committed before any caller returned
    assert len(recorder.batches) < 50
    assert sorted(v for batch in recorder.batches for v in batch) == list(range(50))


async def test_batches_are_bounded(sessionmaker: SessionMaker) -> None:
    recorder = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(
        sessionmaker, recorder.apply, name="t", max_batch=4
    )
    await asyncio.gather(*(committer.submit(i) for i in range(10)))
    assert max(len(b) for b in recorder.batches) <= 4


async def test_a_bad_item_fails_alone(sessionmaker: SessionMaker) -> None:
    recorder = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(sessionmaker, recorder.apply, name="t")
    outcomes = await asyncio.gather(
        *(committer.submit(i) for i in (1, 2, -3, 4)), return_exceptions=True
    )
    assert outcomes[:2] == [10, 20] and outcomes[3] == 40
    assert isinstance(outcomes[2], ValueError)
    assert await count(sessionmaker) == 3  # the failed batch rolled back, then items one by one


async def test_aclose_waits_for_pending_work(sessionmaker: SessionMaker) -> None:
    recorder = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(sessionmaker, recorder.apply, name="t")
    tasks = [asyncio.create_task(committer.submit(i)) for i in range(5)]
    await asyncio.sleep(0)
    await committer.aclose()
    assert await count(sessionmaker) == 5
    assert [t.result() for t in tasks] == [0, 10, 20, 30, 40]
    await committer.aclose()  # idle: returns at once


async def test_one_connection_serves_back_to_back_batches_and_goes_back_when_idle(
    sessionmaker: SessionMaker,
) -> None:
    engine = sessionmaker.kw["bind"]
    checkouts: list[int] = []
    event.listen(engine.sync_engine, "checkout", lambda *_: checkouts.append(1))
    recorder = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(
        sessionmaker, recorder.apply, name="t", max_batch=3
    )
    results = await asyncio.gather(*(committer.submit(i) for i in range(30)))
    assert results == [i * 10 for i in range(30)]
    assert len(recorder.batches) >= 10  # at most three items a batch
    await committer.aclose()
    assert len(checkouts) == 1  # one connection for the whole burst
    assert engine.sync_engine.pool.checkedout() == 0  # and back in the pool once idle
    assert await count(sessionmaker) == 30


async def test_the_connection_is_kept_across_gaps_shorter_than_the_linger(
    sessionmaker: SessionMaker,
) -> None:
    """An order's intent and its outcome come tens of milliseconds apart under load: the writer
    keeps its connection between them (a new checkout is a pre-ping round trip on PostgreSQL)."""
    engine = sessionmaker.kw["bind"]
    checkouts: list[int] = []
    event.listen(engine.sync_engine, "checkout", lambda *_: checkouts.append(1))
    committer: GroupCommitter[int, int] = GroupCommitter(sessionmaker, Recorder().apply, name="t")
    for n in range(5):
        assert await committer.submit(n) == n * 10
        await asyncio.sleep(LINGER / 5)
    assert len(checkouts) == 1
    await asyncio.sleep(LINGER * 2)  # then idle for longer than the linger: given back
    assert engine.sync_engine.pool.checkedout() == 0
    await committer.aclose()


async def test_a_failed_batch_gives_its_connection_back_and_the_rest_still_commit(
    sessionmaker: SessionMaker,
) -> None:
    engine = sessionmaker.kw["bind"]
    recorder = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(sessionmaker, recorder.apply, name="t")
    outcomes = await asyncio.gather(
        *(committer.submit(i) for i in (5, -1, 6)), return_exceptions=True
    )
    assert outcomes[0] == 50 and outcomes[2] == 60 and isinstance(outcomes[1], ValueError)
    await committer.aclose()
    assert engine.sync_engine.pool.checkedout() == 0
    assert await count(sessionmaker) == 2


async def test_an_item_submitted_while_the_writer_lets_go_of_its_connection_is_committed(
    sessionmaker: SessionMaker,
) -> None:
    """The writer returns its connection once the queue has stayed empty for its linger; a submit
    landing while that return is under way must still be committed (a new writer starts or the
    old one sees it), never left waiting. Submits are spaced around the linger (5 ms here, to
    hit that window 150 times in a second) to hit that window."""
    recorder = Recorder()
    linger = 0.005
    committer: GroupCommitter[int, int] = GroupCommitter(
        sessionmaker, recorder.apply, name="t", linger=linger
    )
    spacing = [linger * (0.9 + 0.02 * (n % 15)) for n in range(150)]
    async with asyncio.timeout(30):
        for n, pause in enumerate(spacing):
            assert await committer.submit(n) == n * 10
            await asyncio.sleep(pause)
    await committer.aclose()
    assert await count(sessionmaker) == len(spacing)


async def test_an_autocommit_committer_runs_its_statements_without_a_transaction(
    tmp_path: Path,
) -> None:
    """``autocommit`` (for a one-statement ``apply``, PostgreSQL's key-less intents): each
    statement commits by itself, with no BEGIN or COMMIT around the batch. Shown with an
    ``apply`` that writes and then fails: its row stays, where a transaction would undo it."""
    async with fresh_database("postgresql", tmp_path) as url:
        engine = create_engine(make_settings(tmp_path, url))
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE items (value INTEGER NOT NULL)"))
            sessionmaker = create_sessionmaker(engine)

            async def write_then_fail(session: AsyncSession, items: Sequence[int]) -> list[int]:
                for value in items:
                    await session.execute(
                        text("INSERT INTO items (value) VALUES (:v)"), {"v": value}
                    )
                if any(value < 0 for value in items):
                    raise ValueError("after the write")
                return [value * 10 for value in items]

            plain: GroupCommitter[int, int] = GroupCommitter(
                sessionmaker, write_then_fail, name="plain"
            )
            autocommit: GroupCommitter[int, int] = GroupCommitter(
                sessionmaker, write_then_fail, name="autocommit", autocommit=True
            )
            assert await autocommit.submit(7) == 70  # the ordinary case: committed, answered
            with pytest.raises(ValueError, match="after the write"):
                await plain.submit(-1)
            with pytest.raises(ValueError, match="after the write"):
                await autocommit.submit(-2)
            await plain.aclose()
            await autocommit.aclose()
            async with sessionmaker() as session:
                rows = (await session.execute(text("SELECT value FROM items"))).scalars().all()
            assert sorted(rows) == [-2, 7]  # -1 was rolled back with its transaction
            assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        finally:
            await engine.dispose()
