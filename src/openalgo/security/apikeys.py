"""API keys: format, hashing, and the verification service every API call goes through.

A key is 64 lowercase hex characters (``secrets.token_hex(32)``, OpenAlgo's format). It is never
stored: the database keeps an HMAC-SHA256 *lookup digest* keyed by the pepper (unique index, so
finding the row is one indexed lookup) and an Argon2 hash of ``key + pepper`` that is checked on a
cache miss. The verified result, an `ApiPrincipal`, is cached under the digest for a short TTL, so a
warm request costs one HMAC and one dict lookup. Revocation and settings changes invalidate the cache
at once in this process; other processes (the CLI, other workers) bump a change counter that every
server polls (`security/runtime.py`), which clears their caches within ``OPENALGO_AUTH_SYNC_INTERVAL``.

Last-used times are recorded in memory and written in batches by the runtime, never one write per
request.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from passlib.hash import argon2
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.repositories.api_keys import ApiKeyRepository, PrincipalRow
from openalgo.db.session import SessionMaker, SessionOpener
from openalgo.domain.clock import Clock
from openalgo.security.digests import hmac_hex

log = logging.getLogger("openalgo.apikeys")

API_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
PREFIX_LENGTH = 8
MAX_ACTIVE_KEYS_PER_USER = 10

# Argon2id, m=8 MiB, t=3, p=1: about 15 ms of CPU. A key carries 256 random bits, so guessing it
# is infeasible however cheap the hash; the hash is a second line of defence (a stolen table plus a
# stolen pepper still does not yield usable keys), not the thing that makes guessing hard. Costs
# are kept low so a cold verification stays far under 50 ms on a busy two-core machine, while
# passwords, which are guessable, keep the library's heavier defaults.
_key_hasher = argon2.using(memory_cost=8192, rounds=3, parallelism=1)  # type: ignore[no-untyped-call]


def generate_api_key() -> str:
    return secrets.token_hex(32)


def is_well_formed(api_key: object) -> bool:
    return isinstance(api_key, str) and API_KEY_PATTERN.fullmatch(api_key) is not None


def key_prefix(api_key: str) -> str:
    return api_key[:PREFIX_LENGTH]


def lookup_digest(api_key: str, pepper: str) -> str:
    return hmac_hex(pepper, api_key)


def hash_api_key(api_key: str, pepper: str) -> str:
    return str(_key_hasher.hash(api_key + pepper))


def check_api_key_hash(api_key: str, pepper: str, key_hash: str) -> bool:
    try:
        return bool(argon2.verify(api_key + pepper, key_hash))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        return False


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """Who an API key speaks for, and the settings every route needs (no secret inside)."""

    user_id: int
    username: str
    broker: str
    analyzer_mode: bool
    api_key_id: int

    @property
    def mode(self) -> str:
        """``"analyze"`` or ``"live"``, the words OpenAlgo's responses use."""
        return "analyze" if self.analyzer_mode else "live"


@dataclass(slots=True)
class _Entry:
    principal: ApiPrincipal | None
    expires: float


DIGEST_MEMO = 4096  # keys whose lookup digests `ApiKeyVerifier.digest` remembers


class ApiKeyVerifier:
    """Key -> principal with a TTL cache, single-flight loading and batched last-used tracking."""

    def __init__(
        self,
        *,
        pepper: str,
        read_sessionmaker: SessionMaker,
        clock: Clock,
        ttl: float = 30.0,
        negative_ttl: float = 10.0,
        max_entries: int = 50_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pepper = pepper
        self._read_sessionmaker = read_sessionmaker
        self._clock = clock
        self.ttl = ttl
        self.negative_ttl = min(negative_ttl, ttl)
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._cache: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[ApiPrincipal | None]] = {}
        # Bumped by every invalidation: a load that started before it must not be cached after it.
        self._epoch = 0
        self._last_used: dict[int, datetime] = {}
        self.loads = 0
        self._digests: dict[str, str] = {}  # key -> lookup digest, see `digest`

    def digest(self, api_key: str) -> str:
        """The key's lookup digest. Remembered for the keys seen lately: an HMAC per request
        was the largest single cost of the rate limiter's identity check. Bounded: a stream of
        made-up keys only ever empties it (`DIGEST_MEMO`)."""
        found = self._digests.get(api_key)
        if found is None:
            found = lookup_digest(api_key, self._pepper)
            if len(self._digests) >= DIGEST_MEMO:
                self._digests.clear()
            self._digests[api_key] = found
        return found

    async def verify(
        self,
        api_key: str | None,
        *,
        sessions: SessionOpener | None = None,
        digest: str | None = None,
    ) -> ApiPrincipal | None:
        """The principal for a valid, active key; None for anything else (never raises on input).

        ``sessions`` opens the read session for a cache miss (HTTP passes the request's opener, so
        test transactions apply); by default the verifier uses its own read sessionmaker. A hit
        opens no session at all.
        """
        if not is_well_formed(api_key):
            return None
        assert api_key is not None
        key_digest = digest or self.digest(api_key)
        entry = self._cache.get(key_digest)
        if entry is not None and entry.expires > self._monotonic():
            if entry.principal is not None:
                self._last_used[entry.principal.api_key_id] = self._clock.now()
            return entry.principal
        pending = self._inflight.get(key_digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ApiPrincipal | None] = asyncio.get_running_loop().create_future()
        self._inflight[key_digest] = future
        epoch = self._epoch
        try:
            principal = await self._load(api_key, key_digest, sessions or self._read_sessionmaker)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # waiters get it; nobody else needs to retrieve it
            raise
        else:
            future.set_result(principal)
        finally:
            self._inflight.pop(key_digest, None)
        if epoch == self._epoch:
            self._store(key_digest, principal)
        if principal is not None:
            self._last_used[principal.api_key_id] = self._clock.now()
        return principal

    def known(self, key_digest: str) -> bool:
        """Whether this digest belongs to a key verified recently (a cache hit, no I/O)."""
        entry = self._cache.get(key_digest)
        return (
            entry is not None and entry.principal is not None and entry.expires > self._monotonic()
        )

    async def _load(
        self, api_key: str, key_digest: str, sessions: SessionOpener
    ) -> ApiPrincipal | None:
        self.loads += 1
        async with sessions() as session:
            try:
                row = await ApiKeyRepository(session).principal_row(key_digest)
            finally:
                await session.rollback()
        if row is None or not row.user_active:
            return None
        if not await asyncio.to_thread(check_api_key_hash, api_key, self._pepper, row.key_hash):
            # The HMAC matched but the hash did not: the row was tampered with, or the pepper that
            # hashed it differs from the one that indexed it. Either way, refuse.
            log.warning("API key %s matched its digest but failed the hash check", row.key_id)
            return None
        return _principal(row)

    def _store(self, key_digest: str, principal: ApiPrincipal | None) -> None:
        ttl = self.ttl if principal is not None else self.negative_ttl
        if ttl <= 0:
            return
        if len(self._cache) >= self._max_entries:
            # Drop the oldest tenth; dicts keep insertion order, so this is FIFO eviction.
            for stale in list(self._cache)[: max(1, self._max_entries // 10)]:
                del self._cache[stale]
        self._cache[key_digest] = _Entry(principal, self._monotonic() + ttl)

    # --- invalidation ------------------------------------------------------------------------

    def invalidate_user(self, user_id: int) -> None:
        self._epoch += 1
        for key, entry in list(self._cache.items()):
            if entry.principal is not None and entry.principal.user_id == user_id:
                del self._cache[key]

    def invalidate_key(self, key_id: int) -> None:
        self._epoch += 1
        for key, entry in list(self._cache.items()):
            if entry.principal is not None and entry.principal.api_key_id == key_id:
                del self._cache[key]

    def clear(self) -> None:
        self._epoch += 1
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)

    # --- last used ---------------------------------------------------------------------------

    def take_last_used(self) -> dict[int, datetime]:
        """Hand over the pending last-used times (the caller writes them)."""
        pending, self._last_used = self._last_used, {}
        return pending

    def restore_last_used(self, pending: dict[int, datetime]) -> None:
        """Put back times whose write failed, unless a newer one arrived meanwhile."""
        for key_id, when in pending.items():
            current = self._last_used.get(key_id)
            if current is None or current < when:
                self._last_used[key_id] = when


def _principal(row: PrincipalRow) -> ApiPrincipal:
    return ApiPrincipal(
        user_id=row.user_id,
        username=row.username,
        broker=row.broker,
        analyzer_mode=row.analyzer_mode,
        api_key_id=row.key_id,
    )


class PrincipalCache(Protocol):
    def invalidate_user(self, user_id: int) -> None: ...


def invalidate_after_commit(session: AsyncSession, cache: PrincipalCache, user_id: int) -> None:
    """Drop the user's cached principals now, and again once ``session`` commits, so a request
    that read the old row between the two cannot keep it cached."""
    cache.invalidate_user(user_id)

    def _after_commit(_session: object) -> None:
        cache.invalidate_user(user_id)

    event.listen(session.sync_session, "after_commit", _after_commit, once=True)
