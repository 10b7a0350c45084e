"""Generic repository: every query lives in a repository, never in a router or a service.

Repositories flush but never commit; the transaction belongs to the caller (the request's session
dependency, or a background engine's own short transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.base import Base

M = TypeVar("M", bound=Base)


class Repository(Generic[M]):
    model: ClassVar[type[Any]]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def select(self) -> Select[M]:
        return select(self.model)

    async def get_by_id(self, id_: int, *, for_update: bool = False) -> M | None:
        stmt = self.select().where(self.model.id == id_)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.get_one_or_none(stmt)

    async def get_one_or_none(self, stmt: Select[M]) -> M | None:
        result = await self.session.execute(stmt)
        return result.scalars().unique().one_or_none()

    async def get_all(self, stmt: Select[M]) -> Sequence[M]:
        result = await self.session.execute(stmt)
        return result.scalars().unique().all()

    async def count(self, stmt: Select[M] | None = None) -> int:
        base = stmt if stmt is not None else self.select()
        total = await self.session.scalar(select(func.count()).select_from(base.subquery()))
        return int(total or 0)

    async def add(self, obj: M, *, flush: bool = True) -> M:
        self.session.add(obj)
        if flush:
            await self.session.flush()
        return obj

    async def delete(self, obj: M, *, flush: bool = True) -> None:
        await self.session.delete(obj)
        if flush:
            await self.session.flush()
