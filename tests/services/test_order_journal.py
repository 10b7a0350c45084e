"""The order journal on SQLite and PostgreSQL: intents committed before the venue call,
outcomes after, idempotency keys per user with expiry, races and crashes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from openalgo.db.engine import create_engine
from openalgo.db.models import IdempotencyKey, OrderLog
from openalgo.db.session import SessionMaker, create_sessionmaker
from openalgo.domain.clock import ManualClock
from openalgo.services.order_journal import (
    IdempotencyConflict,
    Intent,
    OrderContext,
    OrderJournal,
    Replay,
)
from tests.conftest import make_settings
from tests.support.databases import add_user, fresh_database

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
PAYLOAD = {"strategy": "s", "exchange": "NSE", "symbol": "SBIN", "action": "BUY", "quantity": "1"}


@dataclass
class Db:
    url: str
    engine: AsyncEngine
    sessionmaker: SessionMaker
    alice: int
    bob: int


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Db]:
    tmp = tmp_path_factory.mktemp("journal")
    async with fresh_database(request.param, tmp) as url:
        engine = create_engine(make_settings(tmp, url))
        alice = await add_user(engine, "alice")
        bob = await add_user(engine, "bob")
        yield Db(url, engine, create_sessionmaker(engine), alice, bob)
        await engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def journal(db: Db, clock: ManualClock) -> OrderJournal:
    return OrderJournal(
        db.sessionmaker, clock=clock, ttl=timedelta(hours=24), lease=timedelta(seconds=120)
    )


def ctx(db: Db, key: str | None = None, user: int | None = None, **payload: str) -> OrderContext:
    return OrderContext(
        user_id=user or db.alice,
        endpoint="placeorder",
        payload={**PAYLOAD, **payload},
        mode="analyze",
        venue="sandbox",
        idempotency_key=key,
    )


async def log_row(db: Db, order_log_id: int) -> OrderLog:
    async with db.sessionmaker() as session:
        row = await session.get(OrderLog, order_log_id)
    assert row is not None
    return row


async def test_intent_is_committed_before_the_venue_call_and_completed_after(
    db: Db, journal: OrderJournal
) -> None:
    intent = await journal.begin(ctx(db))
    assert isinstance(intent, Intent) and intent.idempotency_id is None
    pending = await log_row(db, intent.order_log_id)  # visible to another session: committed
    assert (pending.status, pending.orderid, pending.completed_at) == ("pending", None, None)
    assert pending.request == PAYLOAD and "apikey" not in pending.request
    assert (pending.user_id, pending.endpoint, pending.mode, pending.venue) == (
        db.alice,
        "placeorder",
        "analyze",
        "sandbox",
    )
    assert (pending.symbol, pending.exchange, pending.strategy) == ("SBIN", "NSE", "s")

    body = {"status": "success", "orderid": "26030200000001", "mode": "analyze"}
    await journal.finish(intent, status=200, body=body, venue_ms=1.5)
    done = await log_row(db, intent.order_log_id)
    assert (done.status, done.http_status, done.orderid) == ("success", 200, "26030200000001")
    assert done.response == body and done.venue_ms == 1.5
    assert done.latency_ms is not None and done.latency_ms >= 0
    assert done.completed_at == T0


async def test_failed_orders_are_logged_with_their_message(db: Db, journal: OrderJournal) -> None:
    intent = await journal.begin(ctx(db))
    assert isinstance(intent, Intent)
    await journal.finish(intent, status=400, body={"status": "error", "message": "no funds"})
    row = await log_row(db, intent.order_log_id)
    assert (row.status, row.http_status, row.error, row.orderid) == ("error", 400, "no funds", None)


async def test_a_repeated_key_with_the_same_body_replays_the_first_response(
    db: Db, journal: OrderJournal
) -> None:
    first = await journal.begin(ctx(db, "k-replay"))
    assert isinstance(first, Intent) and first.idempotency_id is not None
    body = {"status": "success", "orderid": "1"}
    await journal.finish(first, status=200, body=body)
    again = await journal.begin(ctx(db, "k-replay"))
    assert again == Replay(status=200, body=body, order_log_id=first.order_log_id)
    async with db.sessionmaker() as session:
        count = len(
            (await session.execute(select(OrderLog).where(OrderLog.idempotency_key == "k-replay")))
            .scalars()
            .all()
        )
    assert count == 1  # the replay placed nothing and logged no second intent


async def test_errors_are_replayed_too(db: Db, journal: OrderJournal) -> None:
    first = await journal.begin(ctx(db, "k-error"))
    assert isinstance(first, Intent)
    await journal.finish(first, status=400, body={"status": "error", "message": "rejected"})
    again = await journal.begin(ctx(db, "k-error"))
    assert isinstance(again, Replay) and again.status == 400


async def test_the_same_key_with_another_body_is_a_409(db: Db, journal: OrderJournal) -> None:
    first = await journal.begin(ctx(db, "k-body"))
    assert isinstance(first, Intent)
    await journal.finish(first, status=200, body={"status": "success", "orderid": "1"})
    with pytest.raises(IdempotencyConflict) as info:
        await journal.begin(ctx(db, "k-body", quantity="2"))
    assert info.value.status_code == 409
    assert "different request" in info.value.message


async def test_keys_are_scoped_per_user(db: Db, journal: OrderJournal) -> None:
    a = await journal.begin(ctx(db, "k-shared"))
    b = await journal.begin(ctx(db, "k-shared", user=db.bob))
    assert isinstance(a, Intent) and isinstance(b, Intent)
    assert a.idempotency_id != b.idempotency_id


async def test_a_key_still_in_progress_is_a_409_then_never_completed_after_the_lease(
    db: Db, journal: OrderJournal, clock: ManualClock
) -> None:
    assert isinstance(await journal.begin(ctx(db, "k-running")), Intent)
    with pytest.raises(IdempotencyConflict) as info:
        await journal.begin(ctx(db, "k-running"))
    assert "still in progress" in info.value.message
    assert info.value.headers == {"Retry-After": "1"}
    clock.advance(timedelta(seconds=121))
    with pytest.raises(IdempotencyConflict) as info:
        await journal.begin(ctx(db, "k-running"))
    assert "never completed" in info.value.message


async def test_keys_expire(db: Db, journal: OrderJournal, clock: ManualClock) -> None:
    first = await journal.begin(ctx(db, "k-expiring"))
    assert isinstance(first, Intent)
    await journal.finish(first, status=200, body={"status": "success", "orderid": "1"})
    clock.advance(timedelta(hours=24, seconds=1))
    second = await journal.begin(ctx(db, "k-expiring", quantity="5"))
    assert isinstance(second, Intent)  # another body, yet no 409: the old key was gone
    await journal.finish(second, status=200, body={"status": "success", "orderid": "2"})
    clock.advance(timedelta(hours=25))
    assert await journal.purge_expired_keys() >= 1
    async with db.sessionmaker() as session:
        keys = await session.execute(
            select(IdempotencyKey).where(IdempotencyKey.key == "k-expiring")
        )
        assert keys.scalars().all() == []


async def test_concurrent_requests_with_one_key_claim_it_once(
    db: Db, journal: OrderJournal
) -> None:
    async def attempt() -> Intent | Replay | IdempotencyConflict:
        try:
            return await journal.begin(ctx(db, "k-race"))
        except IdempotencyConflict as exc:
            return exc

    outcomes = await asyncio.gather(*(attempt() for _ in range(12)))
    intents = [o for o in outcomes if isinstance(o, Intent)]
    conflicts = [o for o in outcomes if isinstance(o, IdempotencyConflict)]
    assert len(intents) == 1
    assert len(conflicts) == 11
    assert all("still in progress" in c.message for c in conflicts)


async def test_concurrent_orders_share_commits_and_each_gets_its_own_row(
    db: Db, journal: OrderJournal
) -> None:
    """One batch holds plain intents, keyed claims and outcomes of earlier orders: every caller
    must get the id of the row holding *its* request, and its outcome must land on that row."""
    earlier = await asyncio.gather(*(journal.begin(ctx(db, quantity=str(n))) for n in range(5)))

    async def place(n: int) -> tuple[int, int]:
        key = f"share-{n}" if n % 3 == 0 else None
        intent = await journal.begin(ctx(db, key, symbol=f"S{n}", quantity=str(n)))
        assert isinstance(intent, Intent)
        await journal.finish(intent, status=200, body={"status": "success", "orderid": f"o{n}"})
        return n, intent.order_log_id

    finishing = [
        journal.finish(i, status=200, body={"status": "success", "orderid": f"e{n}"})
        for n, i in enumerate(earlier)
        if isinstance(i, Intent)
    ]
    placing = asyncio.gather(*(place(n) for n in range(40)))
    await asyncio.gather(placing, *finishing)
    placed = placing.result()
    assert len({order_log_id for _, order_log_id in placed}) == 40
    for n, order_log_id in placed:
        row = await log_row(db, order_log_id)
        assert (row.symbol, row.request["quantity"], row.orderid) == (f"S{n}", str(n), f"o{n}")
        assert row.idempotency_key == (f"share-{n}" if n % 3 == 0 else None)
    for n, intent in enumerate(earlier):
        assert isinstance(intent, Intent)
        row = await log_row(db, intent.order_log_id)
        assert (row.request["quantity"], row.orderid, row.status) == (str(n), f"e{n}", "success")


async def test_outcomes_on_postgresql_commit_without_waiting_for_the_disk_flush(
    db: Db, journal: OrderJournal
) -> None:
    """Intents and claims commit durably; outcomes, on PostgreSQL, in a writer of their own with
    ``synchronous_commit = off`` (the module docstring says why that loses nothing the intent
    does not already cover). Either way a repeated key replays as soon as `finish` returns."""
    seen: list[str] = []

    async def observe(session: AsyncSession) -> None:
        seen.append(str(await session.scalar(text("SHOW synchronous_commit"))))

    if db.url.startswith("postgresql"):
        assert journal._outcomes is not journal._writer
        prepare = journal._outcomes.prepare
        assert prepare is not None

        async def then_observe(session: AsyncSession) -> None:
            await prepare(session)
            await observe(session)

        journal._outcomes.prepare = then_observe
        journal._writer.prepare = observe
    else:
        assert journal._outcomes is journal._writer  # one writer: outcomes share commits
    intent = await journal.begin(ctx(db, "async-outcome"))
    assert isinstance(intent, Intent)
    await journal.finish(intent, status=200, body={"status": "success", "orderid": "a1"})
    replay = await journal.begin(ctx(db, "async-outcome"))
    assert isinstance(replay, Replay) and replay.body["orderid"] == "a1"
    if db.url.startswith("postgresql"):
        assert seen == ["on", "off", "on"]  # the intent, the outcome, the replay's claim
    row = await log_row(db, intent.order_log_id)
    assert (row.status, row.orderid) == ("success", "a1")


async def test_intents_without_an_outcome_become_unknown(
    db: Db, journal: OrderJournal, clock: ManualClock
) -> None:
    stale = await journal.begin(ctx(db))
    clock.advance(timedelta(minutes=10))
    fresh = await journal.begin(ctx(db))
    assert isinstance(stale, Intent) and isinstance(fresh, Intent)
    assert await journal.mark_unknown(timedelta(minutes=5)) >= 1
    assert (await log_row(db, stale.order_log_id)).status == "unknown"
    assert (await log_row(db, fresh.order_log_id)).status == "pending"


async def test_finish_never_raises(db: Db, journal: OrderJournal) -> None:
    intent = await journal.begin(ctx(db))
    assert isinstance(intent, Intent)
    # A body the JSON column cannot store: the failure is logged, the caller carries on.
    await journal.finish(intent, status=200, body={"bad": object()})
    assert (await log_row(db, intent.order_log_id)).status == "pending"


CRASHING_CLIENT = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from openalgo.db.engine import create_engine
    from openalgo.db.session import create_sessionmaker
    from openalgo.services.order_journal import Intent, OrderContext, OrderJournal
    from tests.conftest import make_settings

    async def main() -> None:
        engine = create_engine(make_settings(Path(sys.argv[2]), sys.argv[1]))
        journal = OrderJournal(create_sessionmaker(engine))
        intent = await journal.begin(OrderContext(
            user_id=int(sys.argv[3]), endpoint="placeorder", idempotency_key="k-crash",
            payload={"symbol": "SBIN", "exchange": "NSE", "quantity": "1"}))
        assert isinstance(intent, Intent)
        print(intent.order_log_id, flush=True)
        # The venue has the order now; the process dies before recording the outcome.
        os._exit(9)

    asyncio.run(main())
    """
)


async def test_a_crash_between_intent_and_outcome_loses_nothing(
    db: Db, tmp_path: Path, clock: ManualClock
) -> None:
    root = ROOT
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CRASHING_CLIENT,
        db.url,
        str(tmp_path),
        str(db.alice),
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 9, err.decode()
    order_log_id = int(out.decode().split()[0])

    row = await log_row(db, order_log_id)
    assert (row.status, row.request["symbol"], row.idempotency_key) == (
        "pending",
        "SBIN",
        "k-crash",
    )

    # The client retries with the same key: never placed twice, told to check the order book.
    clock.set(datetime.now(UTC) + timedelta(minutes=10))
    journal = OrderJournal(db.sessionmaker, clock=clock)
    retry = OrderContext(
        user_id=db.alice,
        endpoint="placeorder",
        idempotency_key="k-crash",
        payload={"symbol": "SBIN", "exchange": "NSE", "quantity": "1"},
    )
    with pytest.raises(IdempotencyConflict) as info:
        await journal.begin(retry)
    assert "check the order book" in info.value.message
    # Start-up upkeep marks it for reconciliation.
    assert await journal.mark_unknown(timedelta(minutes=5)) >= 1
    assert (await log_row(db, order_log_id)).status == "unknown"
