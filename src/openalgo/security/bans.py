"""Temporary bans for addresses that keep presenting invalid API keys or passwords.

Failures are counted per address in the rate-limit storage (moving window, so with Redis several
workers share one count). Reaching the threshold inside the window bans the address for the
configured duration: the ban is written to ``ip_bans`` (it survives a restart and reaches other
processes through the change counter) and put in this process's `BanList` at once. The ban check
itself is one dict lookup in an outer ASGI middleware, before routing, body reading or any database
work, so a banned flood costs almost nothing. Exempt addresses (loopback by default, where a local
reverse proxy would otherwise get everyone banned) are counted by nobody.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from limits import RateLimitItemPerSecond
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from openalgo.db.models.security import IpBan
from openalgo.db.repositories.security import IpBanRepository
from openalgo.db.session import SessionMaker, transaction
from openalgo.domain.clock import Clock
from openalgo.security.audit import AuditEvent, bump_auth_counter, record_event
from openalgo.security.clientaddr import AddressSet, normalize
from openalgo.security.ratelimit import RateLimiter

log = logging.getLogger("openalgo.bans")


class FailureKind(StrEnum):
    API_KEY = "apikey"
    LOGIN = "login"


class BanList:
    """The active bans of this process: address -> expiry (None = until lifted)."""

    def __init__(self) -> None:
        self._bans: dict[str, datetime | None] = {}
        # Bans added here whose transaction has not committed yet: a reload that reads the
        # database in that window must not drop them.
        self._pending: dict[str, datetime | None] = {}

    def __len__(self) -> int:
        return len(self._bans)

    def is_banned(self, address: str, now: datetime) -> bool:
        if address not in self._bans:
            return False
        expires = self._bans[address]
        if expires is not None and expires <= now:
            del self._bans[address]
            return False
        return True

    def check(self, address: str, clock: Clock) -> bool:
        """`is_banned` that reads the clock only for a listed address (the per-request path)."""
        return address in self._bans and self.is_banned(address, clock.now())

    def expires_at(self, address: str) -> datetime | None:
        return self._bans.get(address)

    def add(self, address: str, expires_at: datetime | None, *, pending: bool = False) -> None:
        self._bans[address] = expires_at
        if pending:
            self._pending[address] = expires_at

    def settled(self, address: str) -> None:
        """The transaction that writes ``address``'s ban has ended (committed or not)."""
        self._pending.pop(address, None)

    def remove(self, address: str) -> None:
        self._bans.pop(address, None)
        self._pending.pop(address, None)

    def replace(self, bans: Iterable[tuple[str, datetime | None]]) -> None:
        """The database's bans, plus those whose write has not committed yet."""
        fresh = dict(bans)
        for address, expires in self._pending.items():
            fresh.setdefault(address, expires)
        self._bans = fresh


async def ban_address(
    session: AsyncSession,
    address: str,
    *,
    reason: str,
    now: datetime,
    duration: timedelta | None,
    user_id: int | None = None,
) -> IpBan:
    """Insert or extend a ban in the caller's transaction, with its audit event."""
    address = normalize(address)
    repo = IpBanRepository(session)
    expires_at = now + duration if duration is not None else None
    row = await repo.get_by_address(address)
    if row is None:
        row = await repo.add(IpBan(address=address, reason=reason[:200], expires_at=expires_at))
    else:
        row.reason = reason[:200]
        row.expires_at = expires_at
        row.ban_count += 1
        await session.flush()
    await record_event(
        session,
        AuditEvent.ADDRESS_BANNED,
        at=now,
        user_id=user_id,
        address=address,
        detail=f"{reason}; until {expires_at.isoformat() if expires_at else 'lifted'}",
    )
    await bump_auth_counter(session)
    return row


async def lift_ban(
    session: AsyncSession, address: str, *, now: datetime, user_id: int | None = None
) -> bool:
    address = normalize(address)
    removed = await IpBanRepository(session).remove(address)
    if removed:
        await record_event(session, AuditEvent.BAN_LIFTED, at=now, user_id=user_id, address=address)
        await bump_auth_counter(session)
    return removed


class AbuseMonitor:
    """Counts failures per address and bans the address when a threshold is reached."""

    def __init__(
        self,
        *,
        limiter: RateLimiter,
        bans: BanList,
        sessionmaker: SessionMaker,
        read_sessionmaker: SessionMaker,
        clock: Clock,
        enabled: bool,
        thresholds: dict[FailureKind, int],
        window_seconds: int,
        duration_seconds: int,
        exempt: AddressSet,
    ) -> None:
        self._limiter = limiter
        self.bans = bans
        self._sessionmaker = sessionmaker
        self._read_sessionmaker = read_sessionmaker
        self._clock = clock
        self.enabled = enabled
        self._items = {
            kind: RateLimitItemPerSecond(threshold, window_seconds)
            for kind, threshold in thresholds.items()
        }
        self.thresholds = dict(thresholds)
        self.window_seconds = window_seconds
        self.duration = timedelta(seconds=duration_seconds)
        self.exempt = exempt

    async def failure(
        self, kind: FailureKind, address: str, *, session: AsyncSession | None = None
    ) -> bool:
        """Count one failure from ``address``; True if this failure got it banned.

        A request that holds a write transaction passes it as ``session`` (the ban is then written
        with the request's commit); otherwise the ban gets a short transaction of its own. On SQLite
        the two must not be mixed: a second writer would wait for the request's own write lock.
        """
        if not self.enabled or address in self.exempt or not address:
            return False
        state = await self._limiter.hit((self._items[kind],), "failures", kind.value, address)
        if state.allowed and state.remaining > 0:
            return False
        if self.bans.is_banned(address, self._clock.now()):
            return False
        reason = (
            f"{self.thresholds[kind]} invalid {'API keys' if kind is FailureKind.API_KEY else 'logins'}"
            f" within {self.window_seconds} s"
        )
        await self.ban(address, reason=reason, duration=self.duration, session=session)
        await self._limiter.clear((self._items[kind],), "failures", kind.value, address)
        return True

    async def ban(
        self,
        address: str,
        *,
        reason: str,
        duration: timedelta | None,
        session: AsyncSession | None = None,
    ) -> None:
        now = self._clock.now()
        address = normalize(address)
        # In memory first: the refusal must not wait for the database.
        expires = now + duration if duration is not None else None
        self.bans.add(address, expires, pending=session is not None)
        log.warning("banned %s: %s", address, reason)
        if session is not None:
            # Written with the request's own commit; until then a reload must keep it.
            def settled(*_args: object) -> None:
                self.bans.settled(address)

            sync_session = session.sync_session
            event.listen(sync_session, "after_commit", settled, once=True)
            event.listen(sync_session, "after_rollback", settled, once=True)
            await ban_address(session, address, reason=reason, now=now, duration=duration)
            return
        try:
            async with transaction(self._sessionmaker) as session:
                await ban_address(session, address, reason=reason, now=now, duration=duration)
        except Exception:
            # The ban still holds in this process; it is lost on restart, which the log says.
            log.exception("could not store the ban of %s", address)

    async def reload(self) -> None:
        """Replace the in-memory list with the database's active bans."""
        now = self._clock.now()
        async with self._read_sessionmaker() as session:
            try:
                rows = await IpBanRepository(session).active(now)
                self.bans.replace((row.address, row.expires_at) for row in rows)
            finally:
                await session.rollback()
