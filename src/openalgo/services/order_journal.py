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

Concurrency: the claim is a unique (user, key) row. Of two concurrent requests with one key, one
inserts it; the other reads it and gets a 409 "still in progress" (as the IETF Idempotency-Key
draft prescribes) -- it never places. A key whose request never finished (the server stopped
mid-call) also answers 409, telling the client to check the order book: replaying it could place
the order twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.group_commit import GroupCommitter
from openalgo.db.models.order_log import IdempotencyKey, OrderLog
from openalgo.db.repositories.order_log import IdempotencyRepository, OrderLogRepository
from openalgo.db.session import SessionMaker, transaction
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
class Replay:
    """The stored response of an earlier request with the same key and body."""

    status: int
    body: dict[str, Any]
    order_log_id: int | None


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
        # Concurrent orders share commits (see db/group_commit): intents, key claims, outcomes.
        self._intents: GroupCommitter[OrderLog, int] = GroupCommitter(
            sessionmaker, self._write_intents, name="order-intents"
        )
        self._claims: GroupCommitter[
            tuple[OrderContext, float], Intent | Replay | IdempotencyConflict
        ] = GroupCommitter(sessionmaker, self._write_claims, name="idempotency-claims")
        self._outcomes: GroupCommitter[_Outcome, None] = GroupCommitter(
            sessionmaker, self._write_outcomes, name="order-outcomes"
        )

    async def begin(self, ctx: OrderContext) -> Intent | Replay:
        """Claim the key and record the intent; or the replay; or raise `IdempotencyConflict`."""
        started = time.perf_counter()
        if ctx.idempotency_key is None:
            # No key to check: the intent joins the next group commit.
            order_log_id = await self._intents.submit(self._entry(ctx, self.clock.now()))
            return Intent(order_log_id=order_log_id, idempotency_id=None, started=started)
        try:
            answer = await self._claims.submit((ctx, started))
        except IntegrityError:
            # Another process inserted the same (user, key) between our read and our insert;
            # a second look finds its claim.
            log.info("idempotency key race for user %s on %s", ctx.user_id, ctx.endpoint)
            answer = await self._claims.submit((ctx, started))
        if isinstance(answer, IdempotencyConflict):
            raise answer
        return answer

    @staticmethod
    def _entry(ctx: OrderContext, now: datetime) -> OrderLog:
        return OrderLog(
            user_id=ctx.user_id,
            endpoint=ctx.endpoint,
            mode=ctx.mode,
            venue=ctx.venue,
            strategy=str(ctx.payload.get("strategy") or "")[:255],
            symbol=_short(
                _str_or_none(ctx.payload.get("symbol") or ctx.payload.get("underlying")), 64
            ),
            exchange=_short(_str_or_none(ctx.payload.get("exchange")), 16),
            request=ctx.payload,
            idempotency_key=ctx.idempotency_key,
            status="pending",
            created_at=now,
        )

    @staticmethod
    async def _write_intents(session: AsyncSession, entries: Sequence[OrderLog]) -> list[int]:
        session.add_all(entries)
        await session.flush()
        return [entry.id for entry in entries]

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
        created: list[tuple[int, IdempotencyKey, OrderLog, float]] = []
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
            created.append((index, claim, self._entry(ctx, now), started))
            answers.append(None)
        if created:
            session.add_all([obj for _, claim, entry, _ in created for obj in (claim, entry)])
            await session.flush()
            for index, claim, entry, started in created:
                answers[index] = Intent(
                    order_log_id=entry.id, idempotency_id=claim.id, started=started
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
        ok = 200 <= status < 300
        message = body.get("message") if not ok else None
        outcome = _Outcome(
            order_log_id=intent.order_log_id,
            idempotency_id=intent.idempotency_id,
            status=status,
            body=body,
            error=_short(str(message)) if message is not None else None,
            venue_ms=venue_ms,
            latency_ms=(time.perf_counter() - intent.started) * 1000,
            at=self.clock.now(),
        )
        try:
            await self._outcomes.submit(outcome)
        except Exception:
            log.exception("could not record the outcome of order log entry %s", intent.order_log_id)

    @staticmethod
    async def _write_outcomes(session: AsyncSession, outcomes: Sequence[_Outcome]) -> list[None]:
        await session.execute(
            update(OrderLog),
            [
                {
                    "id": o.order_log_id,
                    "status": "success" if 200 <= o.status < 300 else "error",
                    "http_status": o.status,
                    "orderid": _orderid(o.body),
                    "response": o.body,
                    "error": o.error,
                    "venue_ms": o.venue_ms,
                    "latency_ms": o.latency_ms,
                    "completed_at": o.at,
                }
                for o in outcomes
            ],
        )
        claims = [
            {
                "id": o.idempotency_id,
                "status": COMPLETED,
                "response_status": o.status,
                "response_body": o.body,
                "order_log_id": o.order_log_id,
                "completed_at": o.at,
            }
            for o in outcomes
            if o.idempotency_id is not None
        ]
        if claims:
            await session.execute(update(IdempotencyKey), claims)
        return [None] * len(outcomes)

    async def aclose(self) -> None:
        """Wait for the intents and outcomes already submitted to be committed."""
        await self._intents.aclose()
        await self._claims.aclose()
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


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
