from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.errors import Conflict, ValidationFailed
from openalgo.security.passwords import hash_password, password_problems, verify_password
from openalgo.services.users import create_user

PEPPER = "p" * 64
GOOD = "Str0ng!pass"


async def test_first_user_is_admin_and_later_ones_are_not(session: AsyncSession) -> None:
    first = await create_user(session, username="admin", password=GOOD, pepper=PEPPER)
    second = await create_user(session, username="trader", password=GOOD, pepper=PEPPER)
    assert first.is_admin and not second.is_admin
    assert verify_password(GOOD, PEPPER, first.password_hash)
    assert GOOD not in first.password_hash


async def test_existing_name_conflicts_and_writes_nothing(session: AsyncSession) -> None:
    await create_user(session, username="admin", password=GOOD, pepper=PEPPER)
    with pytest.raises(Conflict, match="already exists"):
        await create_user(session, username="admin", password=GOOD, pepper=PEPPER)


@pytest.mark.parametrize(
    "password", ["Sh0rt!", "alllowercase1!", "ALLUPPER1!", "NoDigits!!", "NoSpecial12"]
)
async def test_weak_passwords_are_refused(session: AsyncSession, password: str) -> None:
    with pytest.raises(ValidationFailed, match="password too weak"):
        await create_user(session, username="weak", password=password, pepper=PEPPER)


@pytest.mark.parametrize("username", ["ab", "-lead", "has space", "x" * 81, "semi;colon"])
async def test_bad_usernames_are_refused(session: AsyncSession, username: str) -> None:
    with pytest.raises(ValidationFailed, match="username"):
        await create_user(session, username=username, password=GOOD, pepper=PEPPER)


def test_pepper_matters() -> None:
    h = hash_password(GOOD, PEPPER)
    assert verify_password(GOOD, PEPPER, h)
    assert not verify_password(GOOD, "other" * 10, h)
    assert not verify_password("wrong", PEPPER, h)
    assert not verify_password(GOOD, PEPPER, "not-a-hash")


def test_password_problems_lists_each_missing_rule() -> None:
    assert password_problems(GOOD) == []
    assert set(password_problems("abc")) >= {
        "at least 8 characters",
        "an upper-case letter",
        "a digit",
    }
