from __future__ import annotations

from openalgo.db.models.user_settings import UserSettings
from openalgo.db.repository import Repository


class UserSettingsRepository(Repository[UserSettings]):
    model = UserSettings

    async def get(self, user_id: int, *, for_update: bool = False) -> UserSettings | None:
        stmt = self.select().where(UserSettings.user_id == user_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.get_one_or_none(stmt)

    async def get_or_create(self, user_id: int) -> UserSettings:
        """The user's row, created with the defaults on first write."""
        row = await self.get(user_id, for_update=True)
        if row is None:
            row = await self.add(UserSettings(user_id=user_id))
        return row
