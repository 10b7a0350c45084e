"""Rate limits: limit strings, the moving-window counters in memory and in Redis, and the 429s
that routes answer (envelope, Retry-After, X-RateLimit-*), keyed by API key or client address."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator

import pytest
from limits import RateLimitItem

from openalgo.security.ratelimit import (
    MemoryWindows,
    RateLimiter,
    RouteClass,
    describe,
    parse_limits,
)
from openalgo.settings import Settings
from tests.support.accounts import committed_account
from tests.support.appfixtures import StartApp
from tests.support.services import require_redis


def _label() -> str:
    """A client address no earlier run used (Redis keeps counters between runs)."""
    return f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10 per second", ["10 per 1 second"]),
        ("5 per minute;25 per hour", ["5 per 1 minute", "25 per 1 hour"]),
        ("100/minute", ["100 per 1 minute"]),
        ("3 per 10 seconds", ["3 per 10 second"]),
    ],
)
def test_parse_limits(text: str, expected: list[str]) -> None:
    assert [describe(item) for item in parse_limits(text)] == expected


@pytest.mark.parametrize("text", ["", "ten per second", "10 per fortnight", "per second", "10"])
def test_bad_limit_strings_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid rate limit"):
        parse_limits(text)


def test_settings_refuse_a_bad_limit_with_its_name() -> None:
    with pytest.raises(ValueError, match="order_rate_limit") as info:
        Settings(_env_file=None, order_rate_limit="lots")
    assert "expected e.g. '10 per second'" in str(info.value)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    redis_url = await require_redis() if request.param == "redis" else None
    made = RateLimiter(
        {RouteClass.API: parse_limits("3 per minute")},
        redis_url=redis_url,
        key_prefix=f"openalgo-test-{secrets.token_hex(6)}",
    )
    await made.start()
    yield made
    await made.close()


async def test_moving_window_counts_and_refuses(limiter: RateLimiter) -> None:
    states = [await limiter.hit_class(RouteClass.API, "/r", "ip:a") for _ in range(4)]
    assert all(s is not None for s in states)
    assert [s.allowed for s in states if s] == [True, True, True, False]
    assert [s.remaining for s in states if s][:3] == [2, 1, 0]
    refused = states[3]
    assert refused is not None
    headers = refused.headers()
    assert headers["X-RateLimit-Limit"] == "3"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(headers["Retry-After"]) <= 60


async def test_buckets_are_per_identity_and_route(limiter: RateLimiter) -> None:
    for _ in range(3):
        await limiter.hit_class(RouteClass.API, "/r", "ip:a")
    other_identity = await limiter.hit_class(RouteClass.API, "/r", "ip:b")
    other_route = await limiter.hit_class(RouteClass.API, "/s", "ip:a")
    assert other_identity is not None and other_identity.allowed
    assert other_route is not None and other_route.allowed


async def test_compound_limits_apply_the_tightest() -> None:
    made = RateLimiter({RouteClass.LOGIN: parse_limits("2 per minute;3 per hour")})
    await made.start()
    try:
        allowed = [(await made.hit_class(RouteClass.LOGIN, "/login", "ip:x")) for _ in range(3)]
        assert [s.allowed for s in allowed if s] == [True, True, False]
        refused = allowed[2]
        assert refused is not None and describe(refused.limit) == "2 per 1 minute"
    finally:
        await made.close()


async def test_redis_counts_are_shared_between_workers() -> None:
    url = await require_redis()
    prefix = f"openalgo-test-{secrets.token_hex(6)}"
    workers = [
        RateLimiter(
            {RouteClass.ORDER: parse_limits("4 per minute")}, redis_url=url, key_prefix=prefix
        )
        for _ in range(2)
    ]
    for worker in workers:
        await worker.start()
    try:
        results = []
        for i in range(6):
            state = await workers[i % 2].hit_class(RouteClass.ORDER, "/placeorder", "key:k")
            assert state is not None
            results.append(state.allowed)
        assert results == [True, True, True, True, False, False]
    finally:
        for worker in workers:
            await worker.close()


async def test_unreachable_redis_falls_back_to_memory(caplog: pytest.LogCaptureFixture) -> None:
    made = RateLimiter(
        {RouteClass.API: parse_limits("2 per minute")}, redis_url="redis://127.0.0.1:1/0"
    )
    with caplog.at_level(logging.WARNING, logger="openalgo.ratelimit"):
        await made.start()
        states = [await made.hit_class(RouteClass.API, "/r", "ip:z") for _ in range(3)]
    await made.close()
    assert [s.allowed for s in states if s] == [True, True, False]
    assert "unreachable" in caplog.text or "counting in memory" in caplog.text


def test_memory_window_slides_and_forgets_idle_buckets() -> None:
    now = [1000.0]
    windows = MemoryWindows(clock=lambda: now[0])
    (item,) = parse_limits("2 per 10 seconds")
    assert windows.hit(item, ("a",)) == (True, 1, 1010.0)
    now[0] = 1004.0
    assert windows.hit(item, ("a",)) == (True, 0, 1010.0)
    assert windows.hit(item, ("a",))[0] is False  # two hits in the last 10 s
    assert windows.hit(item, ("b",))[0] is True  # another bucket
    now[0] = 1010.5  # the first hit has left the window, the second has not
    assert windows.hit(item, ("a",)) == (True, 0, 1014.0)
    assert windows.hit(item, ("a",))[0] is False
    now[0] = 1030.0  # both buckets idle for a whole window: the next sweep drops them
    windows.hit(item, ("c",))
    assert len(windows) == 1
    windows.clear(item, ("c",))
    assert len(windows) == 0


async def test_disabled_limiter_counts_nothing() -> None:
    made = RateLimiter({RouteClass.API: parse_limits("1 per minute")}, enabled=False)
    assert await made.hit_class(RouteClass.API, "/r", "ip:a") is None


async def test_bad_redis_url_is_a_clear_error() -> None:
    made = RateLimiter({}, redis_url="http://127.0.0.1:6379")
    with pytest.raises(ValueError, match="OPENALGO_REDIS_URL must be redis://"):
        await made.start()
    with pytest.raises(ValueError, match="OPENALGO_REDIS_URL must be redis://"):
        Settings(_env_file=None, redis_url="http://127.0.0.1:6379")


# --- through HTTP ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_ping_is_limited_per_api_key(start_app: StartApp, backend: str) -> None:
    redis_url = await require_redis() if backend == "redis" else None
    async with start_app(api_rate_limit="3 per minute", redis_url=redis_url) as live:
        first = await committed_account(live.runtime.sessionmaker, live.clock, "alice")
        second = await committed_account(live.runtime.sessionmaker, live.clock, "bob")
        # Verified keys get their own bucket (an earlier request would have done this).
        for account in (first, second):
            assert await live.security.verifier.verify(account.api_key) is not None
        responses = [
            await live.client.post("/api/v1/ping", json={"apikey": first.api_key}) for _ in range(4)
        ]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert [r.headers["x-ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0"]
        assert all(r.headers["x-ratelimit-limit"] == "3" for r in responses)
        refused = responses[3]
        assert refused.json() == {
            "status": "error",
            "message": "Rate limit exceeded. Please slow down your requests.",
            "limit": "3 per 1 minute",
            "retry_after": int(refused.headers["retry-after"]),
        }
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert int(refused.headers["x-ratelimit-reset"]) > 0
        # Another key has its own bucket.
        other = await live.client.post("/api/v1/ping", json={"apikey": second.api_key})
        assert other.status_code == 200


async def test_fresh_random_keys_do_not_escape_the_address_limit(start_app: StartApp) -> None:
    """Unknown keys are counted against the address, or a flood of random keys would never meet
    a limit (and would cost a database lookup each)."""
    async with start_app(api_rate_limit="3 per minute") as live:
        codes = [
            (await live.client.post("/api/v1/ping", json={"apikey": f"{i:064x}"})).status_code
            for i in range(5)
        ]
        assert codes == [403, 403, 403, 429, 429]
        assert live.security.verifier.loads == 3  # refused requests never reached the database


async def test_requests_without_a_key_are_limited_per_address(start_app: StartApp) -> None:
    async with start_app(api_rate_limit="2 per minute") as live:
        codes = [(await live.client.post("/api/v1/ping", json={})).status_code for _ in range(3)]
        assert codes == [403, 403, 429]
        async with live.client_for(_label()) as elsewhere:
            assert (await elsewhere.post("/api/v1/ping", json={})).status_code == 403


async def test_forwarded_for_is_honoured_only_from_trusted_proxies(start_app: StartApp) -> None:
    a, b = _label(), _label()
    async with start_app(api_rate_limit="1 per minute", trusted_proxies="127.0.0.1") as live:
        # Two clients behind our proxy: separate buckets.
        for client in (a, b):
            r = await live.client.post("/api/v1/ping", json={}, headers={"X-Forwarded-For": client})
            assert r.status_code == 403
    async with start_app(api_rate_limit="1 per minute", trusted_proxies="") as live:
        # No trusted proxy: the header is the client's own claim and is ignored.
        r1 = await live.client.post("/api/v1/ping", json={}, headers={"X-Forwarded-For": a})
        r2 = await live.client.post("/api/v1/ping", json={}, headers={"X-Forwarded-For": b})
        assert (r1.status_code, r2.status_code) == (403, 429)


async def test_switching_limits_off(start_app: StartApp) -> None:
    async with start_app(api_rate_limit="1 per minute", rate_limit_enabled=False) as live:
        account = await committed_account(live.runtime.sessionmaker, live.clock)
        for _ in range(3):
            r = await live.client.post("/api/v1/ping", json={"apikey": account.api_key})
            assert r.status_code == 200
            assert "x-ratelimit-limit" not in r.headers


def test_every_route_class_has_a_configured_limit() -> None:
    limiter = RateLimiter.from_settings(Settings(_env_file=None))
    assert set(limiter.limits_by_class) == set(RouteClass)
    defaults: dict[RouteClass, list[RateLimitItem]] = {
        k: list(v) for k, v in limiter.limits_by_class.items()
    }
    assert [describe(i) for i in defaults[RouteClass.ORDER]] == ["10 per 1 second"]
    assert [describe(i) for i in defaults[RouteClass.SMART_ORDER]] == ["10 per 1 second"]
    assert [describe(i) for i in defaults[RouteClass.API]] == ["50 per 1 second"]
    assert [describe(i) for i in defaults[RouteClass.WEBHOOK]] == ["100 per 1 minute"]
    assert [describe(i) for i in defaults[RouteClass.LOGIN]] == ["5 per 1 minute", "25 per 1 hour"]
