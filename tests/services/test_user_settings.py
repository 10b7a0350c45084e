"""Per-user settings: defaults without a row, validated changes, audited, cache told at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.models.security import ChangeCounter, SecurityEvent
from openalgo.errors import ValidationFailed
from openalgo.services.user_settings import get_preferences, set_analyzer_mode, set_broker
from openalgo.services.users import create_user
from tests.conftest import TEST_PEPPER

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


class Spy:
    def __init__(self) -> None:
        self.invalidated: list[int] = []

    def invalidate_user(self, user_id: int) -> None:
        self.invalidated.append(user_id)


async def test_defaults_and_changes(session: AsyncSession) -> None:
    user = await create_user(session, username="user1", password="Str0ng!pass", pepper=TEST_PEPPER)
    prefs = await get_preferences(session, user.id)
    assert (prefs.broker, prefs.analyzer_mode) == ("simulator", False)
    counter = await session.scalar(select(ChangeCounter.value).where(ChangeCounter.name == "auth"))

    spy = Spy()
    on = await set_analyzer_mode(session, user_id=user.id, enabled=True, now=NOW, cache=spy)
    assert on.analyzer_mode is True
    assert spy.invalidated == [user.id]
    again = await set_analyzer_mode(session, user_id=user.id, enabled=True, now=NOW, cache=spy)
    assert again.analyzer_mode is True and spy.invalidated == [user.id]  # no change, no churn
    moved = await set_broker(session, user_id=user.id, broker="zerodha", now=NOW, cache=spy)
    assert (moved.broker, moved.analyzer_mode) == ("zerodha", True)
    assert (await get_preferences(session, user.id)).broker == "zerodha"

    after = await session.scalar(select(ChangeCounter.value).where(ChangeCounter.name == "auth"))
    assert after == (counter or 0) + 2
    details = (await session.execute(select(SecurityEvent.detail))).scalars().all()
    assert details == ["analyzer_mode=on", "broker=zerodha"]


@pytest.mark.parametrize("broker", ["", "Zerodha", "zerodha!", "x", "a" * 40, "1broker"])
async def test_bad_broker_names(session: AsyncSession, broker: str) -> None:
    user = await create_user(session, username="user2", password="Str0ng!pass", pepper=TEST_PEPPER)
    with pytest.raises(ValidationFailed, match="broker must be"):
        await set_broker(session, user_id=user.id, broker=broker, now=NOW)
