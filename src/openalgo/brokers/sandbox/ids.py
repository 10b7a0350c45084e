"""Identifiers in OpenAlgo's shapes.

Order ids are 14-digit strings, ``YYMMDD`` (IST) followed by eight digits. OpenAlgo fills the eight
with six digits of microseconds and two random ones, which collides within a busy day (the space is
10^8 per day and ids repeat every second). Here the eight digits are milliseconds since IST
midnight, bumped by one whenever that would not increase: strictly increasing in a process, so
never colliding there, and still sortable by time. Another worker on the same database could pick
the same id; the unique constraint then fails that batch and it retries with the next id.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime

from openalgo.domain.clock import ist


class OrderIds:
    def __init__(self) -> None:
        self._day: date | None = None
        self._last = -1
        self._seen: datetime | None = None
        self._prefix = ""
        self._millis = 0

    def next(self, now: datetime) -> str:
        if now is not self._seen:  # a batch shares one timestamp: convert it once
            local = ist(now)
            day = local.date()
            if day != self._day:
                self._day, self._last = day, -1
            self._seen = now
            self._prefix = f"{local:%y%m%d}"
            self._millis = (
                local.hour * 3600 + local.minute * 60 + local.second
            ) * 1000 + local.microsecond // 1000
        self._last = max(self._last + 1, self._millis)
        if self._last > 99_999_999:  # pragma: no cover - 13.6 million ids ahead of the clock
            raise RuntimeError("order id space for the day exhausted")
        return f"{self._prefix}{self._last:08d}"


class TradeIds:
    """``TRADE-YYYYMMDD-HHMMSS-<8 hex>`` (OpenAlgo's shape); unique via the random part and the
    (ledger, tradeid) unique key."""

    def __init__(self) -> None:
        self._seen: datetime | None = None
        self._prefix = ""

    def next(self, now: datetime) -> str:
        if now is not self._seen:
            self._seen = now
            self._prefix = f"TRADE-{ist(now):%Y%m%d-%H%M%S}-"
        return self._prefix + secrets.token_hex(4)


def gtt_id(now: datetime) -> str:
    return f"GTT-{ist(now):%y%m%d}-{secrets.token_hex(4)}"
