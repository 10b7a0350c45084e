"""The API-key verifier: one indexed lookup and one hash check on a miss, a dict lookup on a hit,
single-flight loading, TTL, invalidation, refusal of tampered rows, and batched last-used times."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from openalgo.db.models.api_key import ApiKey
from openalgo.db.models.user import User
from openalgo.db.session import transaction
from openalgo.security.apikeys import DIGEST_MEMO, ApiKeyVerifier, hash_api_key, lookup_digest
from openalgo.services.apikeys import create_api_key
from tests.conftest import TEST_PEPPER
from tests.support.accounts import committed_account, committed_user
from tests.support.appfixtures import LiveApp, StartApp


def _verifier(live: LiveApp, **kwargs: object) -> ApiKeyVerifier:
    return ApiKeyVerifier(
        pepper=TEST_PEPPER,
        read_sessionmaker=live.runtime.read_sessionmaker,
        clock=live.clock,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_valid_key_resolves_and_is_cached(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    verifier = _verifier(live)
    principal = await verifier.verify(account.api_key)
    assert principal is not None
    assert (principal.user_id, principal.username, principal.api_key_id) == (
        account.user_id,
        "alice",
        account.api_key_id,
    )
    for _ in range(10):
        assert await verifier.verify(account.api_key) == principal
    assert verifier.loads == 1


async def test_unknown_and_malformed_keys(live: LiveApp) -> None:
    await committed_account(live.runtime.sessionmaker, live.clock)
    verifier = _verifier(live)
    for bad in (None, "", "abc", "G" * 64, "0" * 63, "0" * 65):
        assert await verifier.verify(bad) is None
    assert verifier.loads == 0  # malformed keys never reach the database
    unknown = "0" * 64
    assert await verifier.verify(unknown) is None
    assert await verifier.verify(unknown) is None
    assert verifier.loads == 1  # a short negative cache


async def test_entries_expire_after_the_ttl(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    now = [1000.0]
    verifier = _verifier(live, ttl=30.0, monotonic=lambda: now[0])
    await verifier.verify(account.api_key)
    now[0] += 29.9
    await verifier.verify(account.api_key)
    assert verifier.loads == 1
    now[0] += 0.2
    await verifier.verify(account.api_key)
    assert verifier.loads == 2


async def test_concurrent_misses_load_once(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    verifier = _verifier(live)
    results = await asyncio.gather(*(verifier.verify(account.api_key) for _ in range(20)))
    assert all(r is not None and r.user_id == account.user_id for r in results)
    assert verifier.loads == 1


async def test_invalidation_drops_only_that_user(live: LiveApp) -> None:
    alice = await committed_account(live.runtime.sessionmaker, live.clock, "alice")
    bob = await committed_account(live.runtime.sessionmaker, live.clock, "bob")
    verifier = _verifier(live)
    await verifier.verify(alice.api_key)
    await verifier.verify(bob.api_key)
    verifier.invalidate_user(alice.user_id)
    assert len(verifier) == 1
    verifier.invalidate_key(bob.api_key_id)
    assert len(verifier) == 0


async def test_a_revoked_key_or_disabled_user_is_refused(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    verifier = _verifier(live, ttl=0)
    async with transaction(live.runtime.sessionmaker) as session:
        await session.execute(update(User).values(is_active=False))
    assert await verifier.verify(account.api_key) is None
    async with transaction(live.runtime.sessionmaker) as session:
        await session.execute(update(User).values(is_active=True))
    assert await verifier.verify(account.api_key) is not None
    async with transaction(live.runtime.sessionmaker) as session:
        await session.execute(update(ApiKey).values(revoked_at=live.clock.now()))
    assert await verifier.verify(account.api_key) is None


async def test_a_row_whose_hash_does_not_match_is_refused(
    live: LiveApp, caplog: pytest.LogCaptureFixture
) -> None:
    """The digest index finds the row, but the Argon2 hash belongs to another key: refuse."""
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    async with transaction(live.runtime.sessionmaker) as session:
        forged = hash_api_key("f" * 64, TEST_PEPPER)
        await session.execute(update(ApiKey).values(key_hash=forged))
    with caplog.at_level(logging.WARNING, logger="openalgo.apikeys"):
        assert await _verifier(live).verify(account.api_key) is None
    assert "failed the hash check" in caplog.text
    assert account.api_key not in caplog.text


async def test_last_used_is_written_in_batches(live: LiveApp) -> None:
    account = await committed_account(live.runtime.sessionmaker, live.clock)
    security = live.security
    for _ in range(50):
        assert (
            await live.client.post("/api/v1/ping", json={"apikey": account.api_key})
        ).status_code == 200
    first_use = live.clock.now()
    async with live.runtime.read_sessionmaker() as session:
        assert (await session.scalar(select(ApiKey.last_used_at))) is None  # no write per request
    assert await security.flush_last_used() == 1
    assert await security.flush_last_used() == 0  # nothing new
    async with live.runtime.read_sessionmaker() as session:
        assert await session.scalar(select(ApiKey.last_used_at)) == first_use
    # A later use moves it forward; an older pending time never moves it back.
    live.clock.advance(timedelta(minutes=5))
    await live.client.post("/api/v1/ping", json={"apikey": account.api_key})
    await security.flush_last_used()
    security.verifier.restore_last_used({account.api_key_id: first_use})
    await security.flush_last_used()
    async with live.runtime.read_sessionmaker() as session:
        assert await session.scalar(select(ApiKey.last_used_at)) == live.clock.now()


async def test_last_used_is_flushed_at_shutdown(start_app: StartApp) -> None:
    async with start_app() as live:
        account = await committed_account(live.runtime.sessionmaker, live.clock)
        await live.client.post("/api/v1/ping", json={"apikey": account.api_key})
        used_at = live.clock.now()
    async with start_app() as again, again.runtime.read_sessionmaker() as session:
        assert await session.scalar(select(ApiKey.last_used_at)) == used_at


async def test_at_most_ten_active_keys(live: LiveApp) -> None:
    from openalgo.errors import Conflict

    user = await committed_user(live.runtime.sessionmaker, "many")
    async with transaction(live.runtime.sessionmaker) as session:
        for _ in range(10):
            await create_api_key(session, user_id=user.id, pepper=TEST_PEPPER, now=live.clock.now())
        with pytest.raises(Conflict, match="at most 10 active API keys"):
            await create_api_key(session, user_id=user.id, pepper=TEST_PEPPER, now=live.clock.now())


async def test_digests_are_remembered_within_a_bound(live: LiveApp) -> None:
    verifier = _verifier(live)
    key = "ab" * 32
    assert verifier.digest(key) == lookup_digest(key, TEST_PEPPER)
    assert verifier.digest(key) == lookup_digest(key, TEST_PEPPER)  # from the memo
    assert verifier.digest("cd" * 32) != verifier.digest(key)
    for n in range(DIGEST_MEMO + 10):  # a stream of made-up keys
        made_up = f"{n:064x}"
        assert verifier.digest(made_up) == lookup_digest(made_up, TEST_PEPPER)
    assert len(verifier._digests) <= DIGEST_MEMO
    assert verifier.digest(key) == lookup_digest(key, TEST_PEPPER)
