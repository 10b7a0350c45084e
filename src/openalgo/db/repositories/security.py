"""Bans, the audit trail and change counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select, update

from openalgo.db.models.security import ChangeCounter, IpBan, SecurityEvent
from openalgo.db.repository import Repository


class IpBanRepository(Repository[IpBan]):
    model = IpBan

    async def get_by_address(self, address: str) -> IpBan | None:
        return await self.get_one_or_none(self.select().where(IpBan.address == address))

    async def active(self, now: datetime) -> Sequence[IpBan]:
        stmt = self.select().where(or_(IpBan.expires_at.is_(None), IpBan.expires_at > now))
        return await self.get_all(stmt.order_by(IpBan.created_at.desc(), IpBan.id.desc()))

    async def remove(self, address: str) -> bool:
        result = await self.session.execute(delete(IpBan).where(IpBan.address == address))
        return bool(getattr(result, "rowcount", 0))


class SecurityEventRepository(Repository[SecurityEvent]):
    model = SecurityEvent

    async def recent(
        self, limit: int = 100, *, event: str | None = None, user_id: int | None = None
    ) -> Sequence[SecurityEvent]:
        stmt = self.select()
        if event is not None:
            stmt = stmt.where(SecurityEvent.event == event)
        if user_id is not None:
            stmt = stmt.where(SecurityEvent.user_id == user_id)
        return await self.get_all(
            stmt.order_by(SecurityEvent.created_at.desc(), SecurityEvent.id.desc()).limit(limit)
        )


class ChangeCounterRepository(Repository[ChangeCounter]):
    model = ChangeCounter

    async def value(self, name: str) -> int:
        found = await self.session.scalar(
            select(ChangeCounter.value).where(ChangeCounter.name == name)
        )
        return int(found or 0)

    async def bump(self, name: str) -> None:
        result = await self.session.execute(
            update(ChangeCounter)
            .where(ChangeCounter.name == name)
            .values(value=ChangeCounter.value + 1)
        )
        if not getattr(result, "rowcount", 0):
            await self.add(ChangeCounter(name=name, value=1))
