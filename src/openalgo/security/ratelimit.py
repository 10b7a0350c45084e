"""Rate limits per route class, keyed by API key or client address, in memory or Redis.

Limit strings are the ones OpenAlgo (Flask-Limiter) and slowapi read — ``"10 per second"``,
compound ``"5 per minute;25 per hour"`` — parsed by ``limits``, the engine underneath slowapi, and
counted in moving windows (OpenAlgo's choice too): in process by `MemoryWindows`, or with Redis by
``limits``' moving-window strategy. We drive ``limits``' *async* API
directly rather than through slowapi's decorator, for three reasons: slowapi's limiter must exist
when routes are declared (at import time, against our app-factory rule), its key function cannot
await the request body where OpenAlgo clients put the API key, and its storage calls are synchronous,
so with Redis every request would block the event loop on a network round trip.

Buckets are per route class *and* route (exhausting ``/placeorder`` leaves ``/ping`` alone, as in
OpenAlgo) and per identity: the API key's lookup digest when the request carries one, else the client
address resolved through the trusted proxies. The same storage counts failed logins and invalid keys
for the ban logic, so with Redis several workers share one count.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

if TYPE_CHECKING:
    from openalgo.settings import Settings

log = logging.getLogger("openalgo.ratelimit")
_WARN_EVERY_SECONDS = 60.0


class RouteClass(StrEnum):
    """The kinds of route that share one configured limit (``OPENALGO_<CLASS>_RATE_LIMIT``)."""

    LOGIN = "login"
    API = "api"
    ORDER = "order"
    SMART_ORDER = "smart_order"
    WEBHOOK = "webhook"
    GREEKS = "greeks"


def parse_limits(value: str) -> tuple[RateLimitItem, ...]:
    """``"5 per minute;25 per hour"`` -> limit items; a ValueError with the expected format."""
    try:
        items = tuple(parse_many(value))
    except ValueError:
        items = ()
    if not items:
        raise ValueError(
            f"invalid rate limit {value!r}: expected e.g. '10 per second' or "
            "'5 per minute;25 per hour' (units: second, minute, hour, day)"
        )
    return items


def describe(item: RateLimitItem) -> str:
    """``10 per 1 second`` -- the way OpenAlgo's 429 bodies name a limit."""
    return f"{item.amount} per {item.multiples} {item.GRANULARITY.name}"


@dataclass(frozen=True, slots=True)
class LimitState:
    """The outcome of one hit: whether it was allowed and the tightest window's numbers."""

    allowed: bool
    limit: RateLimitItem
    remaining: int
    reset_at: float

    def retry_after(self, now: float | None = None) -> int:
        return max(1, int(self.reset_at - (now if now is not None else time.time()) + 0.999))

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit.amount),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(int(self.reset_at + 0.999)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after())
        return headers

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """`headers` as ASGI header pairs, to append to a response without parsing its headers
        (every request of every route carries them)."""
        return [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self.headers().items()
        ]


class MemoryWindows:
    """Moving windows in this process: per bucket, the times of the hits still inside its window.

    The same counting as ``limits``' moving window over its memory storage (a hit is refused once
    ``amount`` hits fall within the last ``expiry`` seconds; the window resets when its oldest hit
    leaves it), without its per-call costs: an asyncio lock, an expiry task, and an insert at the
    front of a list that grows with the limit. Every request of every route counts one hit, so
    this sits on the hot path (it was a fifth of a cached-key ``/ping``). Buckets nobody has hit
    for a whole window are dropped by a sweep at most every ``SWEEP_SECONDS``.
    """

    SWEEP_SECONDS = 10.0

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, ...], tuple[float, deque[float]]] = {}
        self._next_sweep = clock() + self.SWEEP_SECONDS

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> tuple[bool, int, float]:
        """Count one hit; (allowed, remaining, reset time as a UNIX timestamp)."""
        now = self._clock()
        expiry = float(item.get_expiry())
        key = (item.key_for(), *identifiers)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = (expiry, deque())
        hits = bucket[1]
        cutoff = now - expiry
        while hits and hits[0] < cutoff:
            hits.popleft()
        allowed = len(hits) < item.amount
        if allowed:
            hits.append(now)
        if now >= self._next_sweep:
            self._sweep(now)
        return allowed, item.amount - len(hits), (hits[0] if hits else now) + expiry

    def clear(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> None:
        self._buckets.pop((item.key_for(), *identifiers), None)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.SWEEP_SECONDS
        idle = [k for k, (exp, hits) in self._buckets.items() if not hits or hits[-1] < now - exp]
        for key in idle:
            del self._buckets[key]


class RateLimiter:
    """Moving-window counters: in this process (`MemoryWindows`), or over ``limits``' Redis
    storage when configured.

    Storage errors (Redis down) fall back to in-process counting with a warning, so an outage of
    the counter store degrades limits to per-process instead of failing every request.
    """

    def __init__(
        self,
        limits_by_class: dict[RouteClass, tuple[RateLimitItem, ...]],
        *,
        enabled: bool = True,
        redis_url: str | None = None,
        key_prefix: str = "openalgo",
    ) -> None:
        self.limits_by_class = limits_by_class
        self.enabled = enabled
        self.redis_url = redis_url
        self._prefix = key_prefix
        self._storage: Storage = MemoryStorage()
        self._strategy = MovingWindowRateLimiter(self._storage)
        # Counting in memory: until `start` connects Redis, and after a Redis failure.
        self._memory: MemoryWindows | None = MemoryWindows()
        self._fallback: MemoryWindows | None = None
        self._last_warning = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        limits_by_class = {
            RouteClass.LOGIN: parse_limits(settings.login_rate_limit),
            RouteClass.API: parse_limits(settings.api_rate_limit),
            RouteClass.ORDER: parse_limits(settings.order_rate_limit),
            RouteClass.SMART_ORDER: parse_limits(settings.smart_order_rate_limit),
            RouteClass.WEBHOOK: parse_limits(settings.webhook_rate_limit),
            RouteClass.GREEKS: parse_limits(settings.greeks_rate_limit),
        }
        return cls(
            limits_by_class, enabled=settings.rate_limit_enabled, redis_url=settings.redis_url
        )

    @property
    def backend(self) -> str:
        return "redis" if self.redis_url else "memory"

    async def start(self) -> None:
        """Connect the storage (Redis is checked once so a wrong URL is reported at start-up)."""
        if self.redis_url:
            uri = async_redis_uri(self.redis_url)
            storage = storage_from_string(uri, implementation="redispy", key_prefix=self._prefix)
            assert isinstance(storage, Storage)
            self._storage = storage
            self._strategy = MovingWindowRateLimiter(storage)
            self._memory = None
            try:
                healthy = await storage.check()
            except Exception:
                healthy = False
            if not healthy:
                log.warning(
                    "rate-limit storage %s unreachable; counting in memory until it is back",
                    _safe(self.redis_url),
                )

    async def close(self) -> None:
        memory = self._storage
        # limits' memory storage (never used for counting here) may run an expiry task.
        if isinstance(memory, MemoryStorage) and memory.timer is not None:
            memory.timer.cancel()
        if self.redis_url:
            bridge = getattr(self._storage, "bridge", None)
            storage = getattr(bridge, "storage", None)
            closer = getattr(storage, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:  # closing a dead connection must not fail shutdown
                    log.debug("closing the rate-limit storage failed", exc_info=True)

    async def hit_class(
        self, route_class: RouteClass, scope: str, identity: str
    ) -> LimitState | None:
        """Count one request; None when limits are switched off."""
        if not self.enabled:
            return None
        return await self.hit(self.limits_by_class[route_class], route_class.value, scope, identity)

    async def hit(self, items: tuple[RateLimitItem, ...], *identifiers: str) -> LimitState:
        """Count one event against every item; the first exhausted item denies it."""
        tightest: LimitState | None = None
        for item in items:
            memory = self._memory
            if memory is not None:
                allowed, remaining, reset_at = memory.hit(item, identifiers)
            else:
                try:
                    allowed = await self._strategy.hit(item, *identifiers)
                    stats = await self._strategy.get_window_stats(item, *identifiers)
                    remaining, reset_at = stats.remaining, stats.reset_time
                except Exception as exc:
                    allowed, remaining, reset_at = self._use_fallback(exc).hit(item, identifiers)
            state = LimitState(allowed, item, remaining, reset_at)
            if not allowed:
                return state
            if tightest is None or state.remaining < tightest.remaining:
                tightest = state
        assert tightest is not None
        return tightest

    async def clear(self, items: tuple[RateLimitItem, ...], *identifiers: str) -> None:
        for item in items:
            if self._memory is not None:
                self._memory.clear(item, identifiers)
                continue
            try:
                await self._strategy.clear(item, *identifiers)
            except Exception as exc:
                self._use_fallback(exc).clear(item, identifiers)

    def _use_fallback(self, exc: Exception) -> MemoryWindows:
        now = time.monotonic()
        if now - self._last_warning > _WARN_EVERY_SECONDS:
            self._last_warning = now
            log.warning("rate-limit storage failed (%s); counting in memory", type(exc).__name__)
        if self._fallback is None:
            self._fallback = MemoryWindows()
        return self._fallback


def async_redis_uri(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("redis", "rediss", "unix", "redis+unix"):
        raise ValueError(f"OPENALGO_REDIS_URL must be redis://host:port[/db], got {_safe(url)!r}")
    if scheme in ("unix", "redis+unix"):
        return f"async+redis+unix://{rest}"
    return f"async+{scheme}://{rest}"


def _safe(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
