"""The clock seam: tests move time instead of sleeping."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from openalgo.domain.clock import IST, ManualClock, SystemClock, ist

START = datetime(2026, 12, 14, 10, 0, tzinfo=IST)


def test_manual_clock_needs_an_aware_start_and_reports_utc() -> None:
    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2026, 1, 1))
    clock = ManualClock(START)
    assert clock.now() == START
    assert clock.now().tzinfo == UTC
    assert ist(clock.now()).hour == 10


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(START)
    clock.advance(90)
    assert clock.now() == START + timedelta(seconds=90)
    clock.advance(timedelta(hours=5))
    assert ist(clock.now()).strftime("%H:%M:%S") == "15:01:30"
    clock.set(datetime(2026, 12, 15, 3, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))))
    assert ist(clock.now()).isoformat() == "2026-12-15T03:00:00+05:30"
    with pytest.raises(ValueError, match="aware"):
        clock.set(datetime(2026, 12, 15))


async def test_sleepers_wake_when_time_passes_their_deadline_and_not_before() -> None:
    clock = ManualClock(START)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("short", 5)), asyncio.create_task(sleeper("long", 60))]
    await asyncio.sleep(0)
    clock.advance(4)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(1)
    await asyncio.sleep(0)
    assert woke == ["short"]
    clock.set(START + timedelta(hours=1))
    await asyncio.gather(*tasks)
    assert woke == ["short", "long"]


async def test_zero_sleep_returns_at_once() -> None:
    clock = ManualClock(START)
    await asyncio.wait_for(clock.sleep(0), timeout=1)
    await asyncio.wait_for(clock.sleep(-1), timeout=1)


async def test_system_clock_is_aware_and_sleeps_for_real() -> None:
    clock = SystemClock()
    before = clock.now()
    assert before.tzinfo is not None
    await clock.sleep(0.01)
    assert clock.now() - before >= timedelta(seconds=0.01)
