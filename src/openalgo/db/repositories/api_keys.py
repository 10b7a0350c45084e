from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from openalgo.db.models.api_key import ApiKey
from openalgo.db.models.user import User
from openalgo.db.models.user_settings import DEFAULT_BROKER, UserSettings
from openalgo.db.repository import Repository


@dataclass(frozen=True, slots=True)
class PrincipalRow:
    """What verification needs from one indexed lookup: the key's hash, its user and settings."""

    key_id: int
    key_hash: str
    user_id: int
    username: str
    user_active: bool
    broker: str
    analyzer_mode: bool


class ApiKeyRepository(Repository[ApiKey]):
    model = ApiKey

    async def principal_row(self, lookup_digest: str) -> PrincipalRow | None:
        stmt = (
            select(
                ApiKey.id,
                ApiKey.key_hash,
                User.id,
                User.username,
                User.is_active,
                UserSettings.broker,
                UserSettings.analyzer_mode,
            )
            .join(User, User.id == ApiKey.user_id)
            .outerjoin(UserSettings, UserSettings.user_id == ApiKey.user_id)
            .where(ApiKey.lookup_digest == lookup_digest, ApiKey.revoked_at.is_(None))
        )
        row = (await self.session.execute(stmt)).one_or_none()
        if row is None:
            return None
        key_id, key_hash, user_id, username, active, broker, analyzer = row
        return PrincipalRow(
            key_id=key_id,
            key_hash=key_hash,
            user_id=user_id,
            username=username,
            user_active=bool(active),
            broker=broker or DEFAULT_BROKER,
            analyzer_mode=bool(analyzer),
        )

    async def for_user(self, user_id: int, *, include_revoked: bool = True) -> Sequence[ApiKey]:
        stmt = self.select().where(ApiKey.user_id == user_id)
        if not include_revoked:
            stmt = stmt.where(ApiKey.revoked_at.is_(None))
        return await self.get_all(stmt.order_by(ApiKey.created_at.desc(), ApiKey.id.desc()))

    async def get_for_user(self, user_id: int, key_id: int) -> ApiKey | None:
        return await self.get_one_or_none(
            self.select().where(ApiKey.id == key_id, ApiKey.user_id == user_id)
        )

    async def active_by_prefix(self, user_id: int, prefix: str) -> Sequence[ApiKey]:
        return await self.get_all(
            self.select().where(
                ApiKey.user_id == user_id,
                ApiKey.revoked_at.is_(None),
                ApiKey.prefix == prefix,
            )
        )

    async def count_active(self, user_id: int) -> int:
        stmt = select(func.count()).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        return int(await self.session.scalar(stmt) or 0)

    async def all_with_users(self) -> Sequence[tuple[ApiKey, str]]:
        stmt = (
            select(ApiKey, User.username)
            .join(User, User.id == ApiKey.user_id)
            .order_by(User.username, ApiKey.created_at.desc(), ApiKey.id.desc())
        )
        return [(key, name) for key, name in (await self.session.execute(stmt)).all()]

    async def record_last_used(self, times: Mapping[int, datetime]) -> None:
        """Write batched last-used times; an older time never overwrites a newer one."""
        for key_id, when in times.items():
            await self.session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == key_id,
                    (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < when),
                )
                .values(last_used_at=when)
            )
