"""The trading session: when it starts, and the day it is known by.

Why one module: "today" in the ledger is the session, not the calendar day. It starts at
``EngineTiming.session_start`` (OpenAlgo's SESSION_EXPIRY_TIME, 03:00 IST), so a trade at 01:00 IST
belongs to the previous day's session. The reads select "today" from the session's start
(orders, trades, positions closed this session) and the writer files each fill's realised P&L
under the session's day on the position row (`PositionState.book`); both take it from here, so
the two cannot disagree about which day a fill belongs to.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from openalgo.domain.clock import ist


def session_start(now: datetime, at: time) -> datetime:
    """Start (UTC) of the session ``now`` falls in: the last ``at`` IST at or before ``now``."""
    local = ist(now)
    start = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if local < start:
        start -= timedelta(days=1)
    return start.astimezone(UTC)


def session_day(start: datetime) -> date:
    """The day a session is known by: the IST date it starts on (``start`` from `session_start`).

    Taken from the start rather than from "now", so that a read given a session's start and the
    writer filing a fill agree by construction."""
    return ist(start).date()
