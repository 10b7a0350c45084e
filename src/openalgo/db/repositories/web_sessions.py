from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update

from openalgo.db.models.web_session import WebSession
from openalgo.db.repository import Repository


class WebSessionRepository(Repository[WebSession]):
    model = WebSession

    async def by_digest(self, digest: str) -> WebSession | None:
        return await self.get_one_or_none(self.select().where(WebSession.session_digest == digest))

    async def active_for_user(self, user_id: int, now: datetime) -> Sequence[WebSession]:
        stmt = self.select().where(
            WebSession.user_id == user_id,
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now,
        )
        return await self.get_all(stmt.order_by(WebSession.created_at, WebSession.id))

    async def revoke_all(self, user_id: int, now: datetime, *, keep_id: int | None = None) -> int:
        stmt = (
            update(WebSession)
            .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if keep_id is not None:
            stmt = stmt.where(WebSession.id != keep_id)
        result = await self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)
