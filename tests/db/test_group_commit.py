"""Group commit: concurrent submits share transactions, each caller still waits for its own
commit, and a failing item fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.engine import create_engine
from openalgo.db.group_commit import GroupCommitter
from openalgo.db.session import SessionMaker, create_sessionmaker
from tests.conftest import make_settings


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
