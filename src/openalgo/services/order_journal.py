"""The order journal: idempotency keys and the order log, around every order-creating call.

    intent = await journal.begin(ctx)            # committed before the venue is called
    if isinstance(intent, Replay): ...           # a repeated Idempotency-Key: answer as before
    outcome = await venue.place(...)             # the only call that can reach a broker
    await journal.finish(intent, status=200, body=...)   # committed after

`begin` claims the key (if any) and writes the order-log intent in a short transaction of its own,
committed before it returns, so a concurrent request with the same key sees the claim, and a crash
after the venue call still leaves the intent on disk. `finish` records the outcome and the
response to replay. Concurrent callers share those transactions (group commit, `db/group_commit`):
each still waits for its own commit, but 30 orders arriving together cost one commit, not 30.
On SQLite, intents, key claims and outcomes go through *one* writer, so the outcomes of one round
of orders and the intents of the next share a commit (commits there wait for no disk flush, and
writers queue for one lock); within a batch outcomes are applied first, so a repeated key in the
same batch already sees its first request's response. On PostgreSQL, where every durable commit
waits for a disk flush (milliseconds, tens of them at the tail on a busy disk), outcomes have a
writer of their own that commits with ``synchronous_commit = off``: visible to every other
transaction at once, on disk within a fraction of a second. Intents and claims still wait for the
flush, and they are what the guarantee rests on: an intent is on disk before the venue is called.
A crash in the instant after an outcome's commit leaves its intent ``pending``, exactly as a crash
during the venue call does (`mark_unknown` flags it for reconciliation; its key answers 409). A
repeated key still sees the first response once that response has been sent: `finish` returns
only after the outcome's commit. The rows are written with Core statements (one
multi-row INSERT ... RETURNING, one executemany UPDATE): the ORM's unit of work cost more than
the commit itself.

Concurrency: the claim is a unique (user, key) row. Of two concurrent requests with one key, one
inserts it; the other reads it and gets a 409 "still in progress" (as the IETF Idempotency-Key
draft prescribes) -- it never places. A key whose request never finished (the server stopped
mid-call) also answers 409, telling the client to check the order book: replaying it could place
the order twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, text, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.driver_statements import DriverStatement, executemany, insert_returning
from openalgo.db.group_commit import GroupCommitter
from openalgo.db.models.order_log import IdempotencyKey, OrderLog
from openalgo.db.repositories.order_log import IdempotencyRepository, OrderLogRepository
from openalgo.db.session import SessionMaker, bind_of, transaction
from openalgo.domain.clock import Clock, SystemClock
from openalgo.errors import Conflict

log = logging.getLogger("openalgo.orders.journal")

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
DEFAULT_TTL = timedelta(hours=24)
# After this long an unfinished claim is presumed dead (its server stopped), not merely slow.
DEFAULT_LEASE = timedelta(seconds=120)


class IdempotencyConflict(Conflict):
    """409: the key belongs to another request, or its first request has not finished."""


@dataclass(frozen=True, slots=True)
class OrderContext:
    """Who asked for what: the payload never contains the API key."""

    user_id: int
    endpoint: str
    payload: dict[str, Any]
    mode: str = "live"
    venue: str = "unknown"
    idempotency_key: str | None = None

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(
            {"endpoint": self.endpoint, "body": self.payload},
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Intent:
    order_log_id: int
    idempotency_id: int | None
    started: float  # time.perf_counter() when the intent was recorded


@dataclass(frozen=True, slots=True)
class _Outcome:
    order_log_id: int
    idempotency_id: int | None
    status: int
    body: dict[str, Any]
    error: str | None
    venue_ms: float | None
    latency_ms: float
    at: datetime


@dataclass(frozen=True, slots=True)
class _NewIntent:
    ctx: OrderContext
    started: float


@dataclass(frozen=True, slots=True)
class _Claim:
    ctx: OrderContext
    started: float


@dataclass(frozen=True, slots=True)
class Replay:
    """The stored response of an earlier request with the same key and body."""

    status: int
    body: dict[str, Any]
    order_log_id: int | None


_Op = _NewIntent | _Claim | _Outcome
_Answer = int | Intent | Replay | IdempotencyConflict | None

ORDER_LOG: Table = OrderLog.__table__  # type: ignore[assignment]
IDEMPOTENCY_KEYS: Table = IdempotencyKey.__table__  # type: ignore[assignment]
_INSERT_INTENTS = insert(ORDER_LOG).returning(ORDER_LOG.c.id, sort_by_parameter_order=True)
# SQLite numbers the rows of one INSERT in VALUES order (each gets the largest rowid + 1), so the
# returned ids, sorted, are in parameter order. SQLAlchemy cannot know that, and asked for
# ordered ids on SQLite it sends one INSERT per row.
# Every column but the id, as `OrderJournal._entry` gives them.
_INSERT_INTENTS_SQLITE = (
    insert(ORDER_LOG)
    .values({c.name: bindparam(c.name) for c in ORDER_LOG.c if c.name != "id"})
    .returning(ORDER_LOG.c.id)
)
_UPDATE_OUTCOMES = (
    update(ORDER_LOG)
    .where(ORDER_LOG.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        http_status=bindparam("b_http_status"),
        orderid=bindparam("b_orderid"),
        response=bindparam("b_response"),
        error=bindparam("b_error"),
        venue_ms=bindparam("b_venue_ms"),
        latency_ms=bindparam("b_latency_ms"),
        completed_at=bindparam("b_completed_at"),
    )
)
_SQLITE_STATEMENTS = {"intents": _INSERT_INTENTS_SQLITE, "outcomes": _UPDATE_OUTCOMES}
_compiled: dict[tuple[str, str], DriverStatement] = {}


def _sqlite_statement(name: str, dialect: Dialect) -> DriverStatement:
    """The intents insert or the outcomes update, compiled for the driver (once)."""
    key = (name, dialect.name)
    found = _compiled.get(key)
    if found is None:
        found = _compiled[key] = DriverStatement.compile(_SQLITE_STATEMENTS[name], dialect)
    return found


_COMPLETE_CLAIMS = (
    update(IDEMPOTENCY_KEYS)
    .where(IDEMPOTENCY_KEYS.c.id == bindparam("b_id"))
    .values(
        status=COMPLETED,
        response_status=bindparam("b_response_status"),
        response_body=bindparam("b_response_body"),
        order_log_id=bindparam("b_order_log_id"),
        completed_at=bindparam("b_completed_at"),
    )
)


def _short(text: str | None, limit: int = 500) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def _orderid(body: dict[str, Any]) -> str | None:
    for key in ("orderid", "trigger_id"):
        value = body.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return _short(str(value), 64)
    return None


class OrderJournal:
    def __init__(
        self,
        sessionmaker: SessionMaker,
        *,
        clock: Clock | None = None,
        ttl: timedelta = DEFAULT_TTL,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock or SystemClock()
        self.ttl = ttl
        self.lease = lease
        # Concurrent orders share commits (see db/group_commit and the module docstring).
        self._writer: GroupCommitter[_Op, _Answer] = GroupCommitter(
            sessionmaker, self._write, name="order-journal"
        )
        self._outcomes = self._writer
        self._intents = self._writer  # key-less intents
        bind = bind_of(sessionmaker)
        if getattr(getattr(bind, "dialect", None), "name", None) == "postgresql":
            self._outcomes = GroupCommitter(
                sessionmaker,
                self._write,
                name="order-journal-outcomes",
                prepare=_commit_without_flush,
            )
            # A batch of key-less intents is one INSERT: in autocommit it is one round trip
            # (no BEGIN, no COMMIT), each a wait for the event loop under load. The commit still
            # waits for the write-ahead log, as the intent's guarantee needs.
            self._intents = GroupCommitter(
                sessionmaker, self._write, name="order-journal-intents", autocommit=True
            )

    async def begin(self, ctx: OrderContext) -> Intent | Replay:
        """Claim the key and record the intent; or the replay; or raise `IdempotencyConflict`."""
        started = time.perf_counter()
        if ctx.idempotency_key is None:
            # No key to check: the intent joins the next group commit.
            order_log_id = await self._intents.submit(_NewIntent(ctx, started))
            assert isinstance(order_log_id, int)
            return Intent(order_log_id=order_log_id, idempotency_id=None, started=started)
        try:
            answer = await self._writer.submit(_Claim(ctx, started))
        except IntegrityError:
            # Another process inserted the same (user, key) between our read and our insert;
            # a second look finds its claim.
            log.info("idempotency key race for user %s on %s", ctx.user_id, ctx.endpoint)
            answer = await self._writer.submit(_Claim(ctx, started))
        if isinstance(answer, IdempotencyConflict):
            raise answer
        assert isinstance(answer, Intent | Replay)
        return answer

    @staticmethod
    def _entry(ctx: OrderContext, now: datetime) -> dict[str, Any]:
        """The order-log row of an intent (every column, so one executemany takes them all)."""
        return {
            "user_id": ctx.user_id,
            "endpoint": ctx.endpoint,
            "mode": ctx.mode,
            "venue": ctx.venue,
            "strategy": str(ctx.payload.get("strategy") or "")[:255],
            "symbol": _short(
                _str_or_none(ctx.payload.get("symbol") or ctx.payload.get("underlying")), 64
            ),
            "exchange": _short(_str_or_none(ctx.payload.get("exchange")), 16),
            "request": ctx.payload,
            "idempotency_key": ctx.idempotency_key,
            "status": "pending",
            "http_status": None,
            "orderid": None,
            "response": None,
            "error": None,
            "venue_ms": None,
            "latency_ms": None,
            "created_at": now,
            "completed_at": None,
        }

    async def _write(self, session: AsyncSession, ops: Sequence[_Op]) -> list[_Answer]:
        """One batch: outcomes first, then key claims (which may read those outcomes), then
        plain intents. The answers are in the order of ``ops``."""
        answers: list[_Answer] = [None] * len(ops)
        outcomes = [op for op in ops if isinstance(op, _Outcome)]
        if outcomes:
            await self._write_outcomes(session, outcomes)
        claims = [(i, op) for i, op in enumerate(ops) if isinstance(op, _Claim)]
        if claims:
            decided = await self._write_claims(session, [(op.ctx, op.started) for _, op in claims])
            for (index, _), answer in zip(claims, decided, strict=True):
                answers[index] = answer
        intents = [(i, op) for i, op in enumerate(ops) if isinstance(op, _NewIntent)]
        if intents:
            now = self.clock.now()
            ids = await self._insert_intents(
                session, [self._entry(op.ctx, now) for _, op in intents]
            )
            for (index, _), order_log_id in zip(intents, ids, strict=True):
                answers[index] = order_log_id
        return answers

    @staticmethod
    async def _insert_intents(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
        dialect = session.get_bind().dialect
        if dialect.name == "sqlite":
            statement = _sqlite_statement("intents", dialect)
            ids = sorted(int(r[0]) for r in await insert_returning(session, statement, rows))
        else:
            result = await session.execute(_INSERT_INTENTS, rows)
            ids = [int(i) for i in result.scalars()]
        if len(ids) != len(rows):  # pragma: no cover - a driver without multi-row RETURNING
            raise RuntimeError(f"order log: {len(rows)} intents inserted, {len(ids)} ids returned")
        return ids

    async def _write_claims(
        self, session: AsyncSession, items: Sequence[tuple[OrderContext, float]]
    ) -> list[Intent | Replay | IdempotencyConflict]:
        """Claim each key (or answer from its row) and record the intents, in one transaction.

        One query reads every key of the batch; items are then decided in arrival order, so two
        requests with one key in the same batch see each other exactly as if they had come one
        after the other.
        """
        now = self.clock.now()
        keys = IdempotencyRepository(session)
        wanted = [(ctx.user_id, str(ctx.idempotency_key)) for ctx, _ in items]
        rows = {(r.user_id, r.key): r for r in await keys.get_many(wanted)}
        expired = [r for r in rows.values() if r.expires_at <= now]
        if expired:
            for row in expired:
                await session.delete(row)
                del rows[(row.user_id, row.key)]
            await session.flush()  # before the new claims reuse those keys
        answers: list[Intent | Replay | IdempotencyConflict | None] = []
        created: list[tuple[int, IdempotencyKey, OrderContext, float]] = []
        for index, ((ctx, started), wanted_key) in enumerate(zip(items, wanted, strict=True)):
            existing = rows.get(wanted_key)
            if existing is not None:
                try:
                    answers.append(self._answer_existing(ctx, existing, now))
                except IdempotencyConflict as conflict:
                    answers.append(conflict)
                continue
            claim = IdempotencyKey(
                user_id=ctx.user_id,
                key=ctx.idempotency_key,
                endpoint=ctx.endpoint,
                fingerprint=ctx.fingerprint,
                status=IN_PROGRESS,
                created_at=now,
                expires_at=now + self.ttl,
            )
            rows[wanted_key] = claim
            created.append((index, claim, ctx, started))
            answers.append(None)
        if created:
            session.add_all([claim for _, claim, _, _ in created])
            await session.flush()
            ids = await self._insert_intents(
                session, [self._entry(ctx, now) for _, _, ctx, _ in created]
            )
            for (index, claim, _, started), order_log_id in zip(created, ids, strict=True):
                answers[index] = Intent(
                    order_log_id=order_log_id, idempotency_id=claim.id, started=started
                )
        return [a for a in answers if a is not None]

    def _answer_existing(self, ctx: OrderContext, row: IdempotencyKey, now: datetime) -> Replay:
        if row.fingerprint != ctx.fingerprint:
            raise IdempotencyConflict(
                "Idempotency-Key was already used with a different request; "
                "use a new key for a new order",
                extra={"idempotency_key": ctx.idempotency_key},
            )
        if row.status == COMPLETED and row.response_status is not None:
            return Replay(
                status=row.response_status,
                body=dict(row.response_body or {}),
                order_log_id=row.order_log_id,
            )
        if now - row.created_at < self.lease:
            raise IdempotencyConflict(
                "A request with this Idempotency-Key is still in progress; retry shortly",
                extra={"idempotency_key": ctx.idempotency_key},
                headers={"Retry-After": "1"},
            )
        raise IdempotencyConflict(
            "The request with this Idempotency-Key never completed (the server stopped while "
            "placing it): check the order book before placing again with a new key",
            extra={"idempotency_key": ctx.idempotency_key},
        )

    async def finish(
        self,
        intent: Intent,
        *,
        status: int,
        body: dict[str, Any],
        venue_ms: float | None = None,
    ) -> None:
        """Record the outcome (and the response a repeated key will get). Never raises: the
        order has already happened, and the response must still reach the client."""
        outcome = self._outcome(intent, status, body, venue_ms)
        try:
            await self._outcomes.submit(outcome)
        except Exception:
            log.exception("could not record the outcome of order log entry %s", intent.order_log_id)

    def finish_soon(
        self,
        intent: Intent,
        *,
        status: int,
        body: dict[str, Any],
        venue_ms: float | None = None,
    ) -> None:
        """`finish` without waiting for the commit, for a request without an idempotency key.

        Why: waiting for the outcome's batch was a third of a ``placeorder``'s time under load,
        and only a repeated key reads an outcome back. What it gives up: a crash in the few
        milliseconds between the response and that commit leaves the intent ``pending`` (then
        ``unknown``), exactly as a crash during the venue call does; the intent, written before
        the venue was called, still records the order. `settled` waits for these writes
        (shutdown does, through `aclose`).
        """
        outcome = self._outcome(intent, status, body, venue_ms)
        try:
            future = self._outcomes.enqueue(outcome)
        except Exception:  # pragma: no cover - no running loop
            log.exception("could not record the outcome of order log entry %s", intent.order_log_id)
            return
        future.add_done_callback(_log_lost_outcome(intent.order_log_id))

    async def settled(self) -> None:
        """Wait until the outcomes recorded so far (`finish_soon` included) are committed."""
        await self._outcomes.settled()

    def _outcome(
        self, intent: Intent, status: int, body: dict[str, Any], venue_ms: float | None
    ) -> _Outcome:
        ok = 200 <= status < 300
        message = body.get("message") if not ok else None
        return _Outcome(
            order_log_id=intent.order_log_id,
            idempotency_id=intent.idempotency_id,
            status=status,
            body=body,
            error=_short(str(message)) if message is not None else None,
            venue_ms=venue_ms,
            latency_ms=(time.perf_counter() - intent.started) * 1000,
            at=self.clock.now(),
        )

    @staticmethod
    async def _write_outcomes(session: AsyncSession, outcomes: Sequence[_Outcome]) -> None:
        rows = [
            {
                "b_id": o.order_log_id,
                "b_status": "success" if 200 <= o.status < 300 else "error",
                "b_http_status": o.status,
                "b_orderid": _orderid(o.body),
                "b_response": o.body,
                "b_error": o.error,
                "b_venue_ms": o.venue_ms,
                "b_latency_ms": o.latency_ms,
                "b_completed_at": o.at,
            }
            for o in outcomes
        ]
        dialect = session.get_bind().dialect
        if dialect.name == "sqlite":
            await executemany(session, _sqlite_statement("outcomes", dialect), rows)
        else:
            await session.execute(_UPDATE_OUTCOMES, rows)
        claims = [
            {
                "b_id": o.idempotency_id,
                "b_response_status": o.status,
                "b_response_body": o.body,
                "b_order_log_id": o.order_log_id,
                "b_completed_at": o.at,
            }
            for o in outcomes
            if o.idempotency_id is not None
        ]
        if claims:
            await session.execute(_COMPLETE_CLAIMS, claims)

    async def aclose(self) -> None:
        """Wait for the intents and outcomes already submitted to be committed."""
        await self._writer.aclose()
        await self._intents.aclose()
        await self._outcomes.aclose()

    async def mark_unknown(self, older_than: timedelta = timedelta(minutes=5)) -> int:
        """Intents still pending after ``older_than``: a server stopped between intent and
        outcome. They become ``unknown`` (to reconcile with the broker's order book)."""
        async with transaction(self.sessionmaker) as session:
            count = await OrderLogRepository(session).mark_pending_unknown(
                self.clock.now() - older_than
            )
        if count:
            log.warning("%d order(s) have no recorded outcome; marked unknown", count)
        return count

    async def purge_expired_keys(self) -> int:
        async with transaction(self.sessionmaker) as session:
            return await IdempotencyRepository(session).delete_expired(self.clock.now())


async def _commit_without_flush(session: AsyncSession) -> None:
    await session.execute(text("SET LOCAL synchronous_commit = off"))


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _log_lost_outcome(order_log_id: int) -> Callable[[asyncio.Future[Any]], None]:
    """A done-callback for `finish_soon`: the failure nobody awaits is logged, not lost."""

    def done(future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            log.error(
                "the outcome of order log entry %s was not recorded (cancelled)", order_log_id
            )
            return
        exc = future.exception()
        if exc is not None:
            log.error(
                "could not record the outcome of order log entry %s",
                order_log_id,
                exc_info=exc,
            )

    return done
