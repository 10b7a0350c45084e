"""Time as a dependency: production reads the system clock, tests move a manual one.

Everything that depends on the time of day (market hours, MIS cut-off, square-off, T+1 settlement,
daily session expiry) takes a `Clock`, so tests jump to 15:16 IST instead of sleeping.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait; a manual clock returns as soon as time is moved past the deadline."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to. `sleep` returns once `advance` passes its deadline."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("aware datetime required")
        self._now = when.astimezone(UTC)
        self._wake()

    def advance(self, delta: timedelta | float) -> None:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        self._wake()

    def _wake(self) -> None:
        waiting: list[tuple[datetime, asyncio.Future[None]]] = []
        for deadline, future in self._sleepers:
            if self._now >= deadline:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((deadline, future))
        self._sleepers = waiting

    async def sleep(self, seconds: float) -> None:
        deadline = self._now + timedelta(seconds=seconds)
        if self._now >= deadline:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((deadline, future))
        await future


def ist(dt: datetime) -> datetime:
    """The same instant in India Standard Time (market rules are written in IST)."""
    return dt.astimezone(IST)
