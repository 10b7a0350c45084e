"""The daily session boundary.

Indian brokers invalidate their access tokens once a day, early in the morning; OpenAlgo models this
as ``SESSION_EXPIRY_TIME`` (default 03:00 IST). A session created at any moment lives until the next
occurrence of that wall-clock time in IST, so a login at 02:59 lasts one minute and a login at 03:01
lasts almost a day. Admin cookies and broker sessions share the boundary, which is why it lives here.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from openalgo.domain.clock import IST


def parse_hhmm(value: str) -> time:
    """``"03:00"`` -> ``time(3, 0)``; a ValueError naming the expected format otherwise."""
    text = value.strip()
    hours, sep, minutes = text.partition(":")
    if (
        not sep
        or not (hours.isdigit() and minutes.isdigit())
        or len(minutes) != 2
        or not 1 <= len(hours) <= 2
    ):
        raise ValueError(f"expected a time as HH:MM (24-hour, IST), got {value!r}")
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ValueError(f"expected a time as HH:MM (24-hour, IST), got {value!r}")
    return time(h, m)


def next_expiry(now: datetime, boundary: time) -> datetime:
    """The first instant strictly after ``now`` whose IST wall clock reads ``boundary``."""
    if now.tzinfo is None:
        raise ValueError("aware datetime required")
    local = now.astimezone(IST)
    candidate = local.replace(hour=boundary.hour, minute=boundary.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate
