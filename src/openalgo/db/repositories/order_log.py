"""Queries of the order log and the idempotency keys. Flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update

from openalgo.db.models.order_log import IdempotencyKey, OrderLog
from openalgo.db.repository import Repository


class OrderLogRepository(Repository[OrderLog]):
    model = OrderLog

    async def mark_pending_unknown(self, before: datetime) -> int:
        """Intents older than ``before`` that never completed: their outcome is unknown."""
        result = await self.session.execute(
            update(OrderLog)
            .where(OrderLog.status == "pending", OrderLog.created_at < before)
            .values(status="unknown", error="no outcome recorded (the server stopped?)")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def recent(
        self, *, user_id: int | None = None, status: str | None = None, limit: int = 100
    ) -> Sequence[OrderLog]:
        stmt = select(OrderLog).order_by(OrderLog.created_at.desc(), OrderLog.id.desc())
        if user_id is not None:
            stmt = stmt.where(OrderLog.user_id == user_id)
        if status is not None:
            stmt = stmt.where(OrderLog.status == status)
        return await self.get_all(stmt.limit(limit))


class IdempotencyRepository(Repository[IdempotencyKey]):
    model = IdempotencyKey

    async def get_for(self, user_id: int, key: str) -> IdempotencyKey | None:
        return await self.get_one_or_none(
            self.select().where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        )

    async def get_many(self, wanted: Sequence[tuple[int, str]]) -> Sequence[IdempotencyKey]:
        """The rows of the given (user_id, key) pairs that exist."""
        if not wanted:
            return []
        pairs = set(wanted)
        stmt = self.select().where(
            IdempotencyKey.key.in_({key for _, key in pairs}),
            IdempotencyKey.user_id.in_({user for user, _ in pairs}),
        )
        return [row for row in await self.get_all(stmt) if (row.user_id, row.key) in pairs]

    async def delete_expired(self, now: datetime, *, user_id: int | None = None) -> int:
        stmt = delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
        if user_id is not None:
            stmt = stmt.where(IdempotencyKey.user_id == user_id)
        result = await self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)
