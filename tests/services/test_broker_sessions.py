"""Broker sessions and credentials: encrypted at rest, expiring at the daily IST boundary."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.brokers.base import AuthExpired, BrokerConfigError
from openalgo.domain.clock import IST
from openalgo.security.crypto import SecretBox
from openalgo.security.expiry import parse_hhmm
from openalgo.services.broker_sessions import (
    load_broker_credentials,
    require_broker_session,
    revoke_broker_session,
    save_broker_credentials,
    store_broker_session,
)
from openalgo.services.users import create_user
from tests.conftest import TEST_PEPPER, TEST_SECRET

BOX = SecretBox(TEST_SECRET)
THREE = parse_hhmm("03:00")
LOGIN = datetime(2026, 12, 1, 9, 0, tzinfo=IST)


async def _user(session: AsyncSession) -> int:
    user = await create_user(session, username="trader", password="Str0ng!pass", pepper=TEST_PEPPER)
    return user.id


async def test_session_lives_until_the_next_boundary(session: AsyncSession) -> None:
    user_id = await _user(session)
    row = await store_broker_session(
        session,
        BOX,
        user_id=user_id,
        broker="zerodha",
        auth_token="acc-token",
        feed_token="feed-token",
        broker_user_id="AB1234",
        now=LOGIN,
        expiry_time=THREE,
    )
    assert row.expires_at == datetime(2026, 12, 2, 3, 0, tzinfo=IST)
    just_before = datetime(2026, 12, 2, 2, 59, 59, tzinfo=IST)
    tokens = await require_broker_session(
        session, BOX, user_id=user_id, broker="zerodha", now=just_before
    )
    assert tokens is not None
    assert (tokens.auth_token, tokens.feed_token, tokens.broker_user_id) == (
        "acc-token",
        "feed-token",
        "AB1234",
    )
    with pytest.raises(AuthExpired) as expired:
        await require_broker_session(
            session, BOX, user_id=user_id, broker="zerodha", now=just_before + timedelta(seconds=1)
        )
    assert expired.value.status_code == 403
    assert expired.value.message == "Broker session expired, log in again"


async def test_a_custom_boundary(session: AsyncSession) -> None:
    user_id = await _user(session)
    row = await store_broker_session(
        session,
        BOX,
        user_id=user_id,
        broker="dhan",
        auth_token="t",
        now=LOGIN,
        expiry_time=parse_hhmm("15:30"),
    )
    assert row.expires_at == datetime(2026, 12, 1, 15, 30, tzinfo=IST)


async def test_logging_in_again_replaces_and_revives(session: AsyncSession) -> None:
    user_id = await _user(session)
    kwargs = {"user_id": user_id, "broker": "zerodha", "expiry_time": THREE}
    await store_broker_session(session, BOX, auth_token="old", now=LOGIN, **kwargs)  # type: ignore[arg-type]
    assert await revoke_broker_session(session, user_id=user_id, broker="zerodha", now=LOGIN)
    assert not await revoke_broker_session(session, user_id=user_id, broker="zerodha", now=LOGIN)
    with pytest.raises(AuthExpired, match="No zerodha session"):
        await require_broker_session(session, BOX, user_id=user_id, broker="zerodha", now=LOGIN)
    later = LOGIN + timedelta(days=1)
    await store_broker_session(session, BOX, auth_token="new", now=later, **kwargs)  # type: ignore[arg-type]
    tokens = await require_broker_session(
        session, BOX, user_id=user_id, broker="zerodha", now=later
    )
    assert tokens is not None and tokens.auth_token == "new" and tokens.feed_token is None


async def test_simulator_needs_no_session(session: AsyncSession) -> None:
    user_id = await _user(session)
    assert (
        await require_broker_session(session, BOX, user_id=user_id, broker="simulator", now=LOGIN)
        is None
    )
    with pytest.raises(AuthExpired, match="No angel session"):
        await require_broker_session(session, BOX, user_id=user_id, broker="angel", now=LOGIN)


async def test_tokens_are_encrypted_at_rest(session: AsyncSession) -> None:
    user_id = await _user(session)
    await store_broker_session(
        session,
        BOX,
        user_id=user_id,
        broker="zerodha",
        auth_token="plain-access-token",
        feed_token="plain-feed-token",
        now=LOGIN,
        expiry_time=THREE,
    )
    await save_broker_credentials(
        session, BOX, user_id=user_id, broker="zerodha", secrets={"api_secret": "plain-api-secret"}
    )
    raw = list((await session.execute(text("SELECT * FROM broker_sessions"))).all())
    raw += list((await session.execute(text("SELECT * FROM broker_credentials"))).all())
    dump = repr(raw)
    for secret in ("plain-access-token", "plain-feed-token", "plain-api-secret"):
        assert secret not in dump
    # With another application secret the stored session is unreadable: log in again.
    other = SecretBox("x" * 64)
    with pytest.raises(AuthExpired, match="unreadable"):
        await require_broker_session(session, other, user_id=user_id, broker="zerodha", now=LOGIN)


async def test_credentials_round_trip(session: AsyncSession) -> None:
    user_id = await _user(session)
    assert await load_broker_credentials(session, BOX, user_id=user_id, broker="zerodha") is None
    await save_broker_credentials(
        session, BOX, user_id=user_id, broker="zerodha", secrets={"api_key": "k", "api_secret": "s"}
    )
    await save_broker_credentials(
        session,
        BOX,
        user_id=user_id,
        broker="zerodha",
        secrets={"api_key": "k2", "api_secret": "s2"},
    )
    loaded = await load_broker_credentials(session, BOX, user_id=user_id, broker="zerodha")
    assert loaded == {"api_key": "k2", "api_secret": "s2"}
    with pytest.raises(BrokerConfigError, match="enter them again"):
        await load_broker_credentials(
            session, SecretBox("x" * 64), user_id=user_id, broker="zerodha"
        )
