"""Building users and API keys for tests through the real services (never by hand-made rows)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.models.user import User
from openalgo.db.session import SessionMaker, transaction
from openalgo.domain.clock import Clock
from openalgo.services.apikeys import create_api_key
from openalgo.services.users import create_user
from tests.conftest import TEST_PEPPER

PASSWORD = "Str0ng!pass"


@dataclass(frozen=True)
class Account:
    user_id: int
    username: str
    api_key: str
    api_key_id: int


async def make_account(
    session: AsyncSession, clock: Clock, username: str = "alice", *, name: str = ""
) -> Account:
    user = await create_user(session, username=username, password=PASSWORD, pepper=TEST_PEPPER)
    key = await create_api_key(
        session, user_id=user.id, pepper=TEST_PEPPER, now=clock.now(), name=name
    )
    return Account(user.id, username, key.plaintext, key.row.id)


async def committed_account(
    sessionmaker: SessionMaker, clock: Clock, username: str = "alice"
) -> Account:
    async with transaction(sessionmaker) as session:
        return await make_account(session, clock, username)


async def committed_user(sessionmaker: SessionMaker, username: str) -> User:
    async with transaction(sessionmaker) as session:
        return await create_user(session, username=username, password=PASSWORD, pepper=TEST_PEPPER)
