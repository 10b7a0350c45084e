"""Rate limits per route class, keyed by API key or client address, in memory or Redis.

Limit strings are the ones OpenAlgo (Flask-Limiter) and slowapi read — ``"10 per second"``,
compound ``"5 per minute;25 per hour"`` — parsed by ``limits``, the engine underneath slowapi, and
counted with its moving-window strategy (OpenAlgo's choice too). We drive ``limits``' *async* API
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


class RateLimiter:
    """Moving-window counters over a ``limits`` async storage (memory, or Redis when configured).

    Storage errors (Redis down) fall back to an in-process memory storage with a warning, so an
    outage of the counter store degrades limits to per-process instead of failing every request.
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
        self._fallback: Storage | None = None
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._fallback_strategy: MovingWindowRateLimiter | None = None
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
        for storage in (self._storage, self._fallback):
            # The memory storage runs an expiry task of its own; stop it with the app.
            if isinstance(storage, MemoryStorage) and storage.timer is not None:
                storage.timer.cancel()
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
        strategy = self._strategy
        tightest: LimitState | None = None
        for item in items:
            try:
                allowed = await strategy.hit(item, *identifiers)
                stats = await strategy.get_window_stats(item, *identifiers)
            except Exception as exc:
                strategy = self._use_fallback(exc)
                allowed = await strategy.hit(item, *identifiers)
                stats = await strategy.get_window_stats(item, *identifiers)
            state = LimitState(allowed, item, stats.remaining, stats.reset_time)
            if not allowed:
                return state
            if tightest is None or state.remaining < tightest.remaining:
                tightest = state
        assert tightest is not None
        return tightest

    async def clear(self, items: tuple[RateLimitItem, ...], *identifiers: str) -> None:
        for item in items:
            try:
                await self._strategy.clear(item, *identifiers)
            except Exception as exc:
                await self._use_fallback(exc).clear(item, *identifiers)

    def _use_fallback(self, exc: Exception) -> MovingWindowRateLimiter:
        now = time.monotonic()
        if now - self._last_warning > _WARN_EVERY_SECONDS:
            self._last_warning = now
            log.warning("rate-limit storage failed (%s); counting in memory", type(exc).__name__)
        if self._fallback_strategy is None:
            self._fallback = MemoryStorage()
            self._fallback_strategy = MovingWindowRateLimiter(self._fallback)
        return self._fallback_strategy


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
