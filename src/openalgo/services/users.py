"""Creating users. The first user of an installation becomes its admin."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.models.user import User
from openalgo.db.repositories.users import UserRepository
from openalgo.errors import Conflict, ValidationFailed
from openalgo.security.passwords import hash_password, require_strong_password

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,79}$")


def validate_username(username: str) -> str:
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValidationFailed(
            "username must be 3-80 characters: letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
            errors={"username": ["invalid username"]},
        )
    return username


async def create_user(session: AsyncSession, *, username: str, password: str, pepper: str) -> User:
    """Create a user; the first one is the admin. Raises ValidationFailed or Conflict."""
    validate_username(username)
    require_strong_password(password)
    users = UserRepository(session)
    if await users.get_by_username(username) is not None:
        raise Conflict(f"user {username!r} already exists")
    is_first = await users.count() == 0
    user = User(
        username=username,
        password_hash=hash_password(password, pepper),
        is_admin=is_first,
    )
    try:
        async with session.begin_nested():
            await users.add(user)
    except IntegrityError as exc:  # a concurrent create won the race for the unique name
        raise Conflict(f"user {username!r} already exists") from exc
    return user
