from __future__ import annotations

from openalgo.db.models.user import User
from openalgo.db.repository import Repository


class UserRepository(Repository[User]):
    model = User

    async def get_by_username(self, username: str) -> User | None:
        return await self.get_one_or_none(self.select().where(User.username == username))

    async def any_admin(self) -> bool:
        return await self.count(self.select().where(User.is_admin.is_(True))) > 0
