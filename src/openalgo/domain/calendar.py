"""The exchange calendar, in IST: sessions, holidays and derivative expiry rules.

Market rules are written in India Standard Time, so every session here is an aware IST datetime;
callers compare instants, so a UTC `Clock.now()` works unchanged. The holiday list ships with the
package (``openalgo/data/market_holidays.json``); `MarketCalendar.bundled()` reads it once, at start-up.

Two views of the same data:

- the *real* calendar (`exchange_session`, `timings`, `holidays`, expiry rules) answers what the
  exchanges do, for ``/market/timings``, ``/market/holidays`` and contract expiries;
- the *effective* calendar (`session`, `is_open`, `next_open`, ...) is what the simulated market and
  the time-of-day rules obey. With ``always_open`` (``OPENALGO_MARKET_ALWAYS_OPEN=true``) every
  exchange is in session around the clock, every day, and `cutoffs_suspended` tells the MIS cut-off
  and square-off to stand down.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import IntEnum
from importlib import resources
from typing import Literal
from zoneinfo import ZoneInfo

from openalgo.domain.clock import IST
from openalgo.domain.enums import Exchange

TRADING_HOLIDAY = "TRADING_HOLIDAY"
SETTLEMENT_HOLIDAY = "SETTLEMENT_HOLIDAY"
SPECIAL_SESSION = "SPECIAL_SESSION"

_NEW_YORK = ZoneInfo("America/New_York")
_MIDNIGHT = time(0, 0)
_END_OF_DAY = time(23, 59, 59, 999999)  # stands for 24:00 in the tables below


class Weekday(IntEnum):
    MON = 0
    TUE = 1
    WED = 2
    THU = 3
    FRI = 4
    SAT = 5
    SUN = 6


# Exchanges whose sessions `/market/timings` reports (rest-api 7.20).
CALENDAR_EXCHANGES: tuple[Exchange, ...] = (
    Exchange.NSE,
    Exchange.BSE,
    Exchange.NFO,
    Exchange.BFO,
    Exchange.CDS,
    Exchange.BCD,
    Exchange.MCX,
    Exchange.NCO,
    Exchange.CRYPTO,
)
# Index values tick while their parent market trades.
_INDEX_PARENT = {
    Exchange.NSE_INDEX: Exchange.NSE,
    Exchange.BSE_INDEX: Exchange.BSE,
    Exchange.MCX_INDEX: Exchange.MCX,
}
# Regular hours. Equity F&O trades 09:15-15:30 like the cash market (OpenAlgo's default of 15:40
# for NFO/BFO is not the exchange's session). MCX's close depends on US daylight saving.
_REGULAR: dict[Exchange, tuple[time, time]] = {
    Exchange.NSE: (time(9, 15), time(15, 30)),
    Exchange.BSE: (time(9, 15), time(15, 30)),
    Exchange.NFO: (time(9, 15), time(15, 30)),
    Exchange.BFO: (time(9, 15), time(15, 30)),
    Exchange.CDS: (time(9, 0), time(17, 0)),
    Exchange.BCD: (time(9, 0), time(17, 0)),
    Exchange.NCDEX: (time(9, 0), time(17, 0)),
    Exchange.MCX: (time(9, 0), time(23, 55)),
    Exchange.NCO: (time(9, 0), time(23, 55)),
    Exchange.CRYPTO: (_MIDNIGHT, _END_OF_DAY),
    Exchange.GLOBAL_INDEX: (_MIDNIGHT, _END_OF_DAY),
}
_COMMODITY = frozenset({Exchange.MCX, Exchange.NCO})
_COMMODITY_EVENING_START = time(17, 0)
_WINTER_COMMODITY_CLOSE = time(23, 30)
# Closed on every listed holiday (commodities follow the holiday's own rule).
_HOLIDAY_CLOSED = (
    Exchange.NSE,
    Exchange.BSE,
    Exchange.NFO,
    Exchange.BFO,
    Exchange.CDS,
    Exchange.BCD,
    Exchange.NCDEX,
)
_ALWAYS_TRADING = frozenset({Exchange.CRYPTO})
# Time of day at which contracts stop trading on their expiry day (option chain's expiry_ts).
_EXPIRY_CUTOFF: dict[Exchange, time] = {
    Exchange.NFO: time(15, 30),
    Exchange.BFO: time(15, 30),
    Exchange.CDS: time(12, 30),
    Exchange.BCD: time(12, 30),
    Exchange.MCX: time(23, 30),
    Exchange.NCO: time(23, 30),
    Exchange.NCDEX: time(17, 0),
}
# Index derivatives expire on these weekdays since 1 September 2025: NSE on Tuesday, BSE on
# Thursday (the monthly contract on the last such weekday of the month).
INDEX_EXPIRY_WEEKDAY: dict[Exchange, Weekday] = {
    Exchange.NFO: Weekday.TUE,
    Exchange.BFO: Weekday.THU,
}


@dataclass(frozen=True, slots=True)
class Session:
    exchange: str
    start: datetime  # aware, IST
    end: datetime

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def contains(self, when: datetime) -> bool:
        return self.start <= when < self.end


@dataclass(frozen=True, slots=True)
class Holiday:
    """One row of ``/market/holidays``."""

    day: date
    description: str
    holiday_type: str
    closed_exchanges: tuple[str, ...]
    open_exchanges: tuple[Session, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class _HolidayRule:
    day: date
    description: str
    mcx: Literal["evening", "closed"] = "evening"
    sessions: dict[str, tuple[time, time]] | None = None


class CalendarError(ValueError):
    """The bundled holiday file is damaged (a packaging bug, not user input)."""


def _parse_hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def load_holiday_rules(text: str | None = None) -> list[_HolidayRule]:
    raw = text if text is not None else _bundled_text()
    try:
        data = json.loads(raw)
        rules = []
        for item in data["holidays"]:
            sessions = item.get("sessions")
            rules.append(
                _HolidayRule(
                    day=date.fromisoformat(item["date"]),
                    description=str(item["description"]),
                    mcx=item.get("mcx", "evening"),
                    sessions=(
                        {k: (_parse_hhmm(a), _parse_hhmm(b)) for k, (a, b) in sessions.items()}
                        if sessions
                        else None
                    ),
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise CalendarError(f"holiday data is malformed: {exc}") from exc
    return rules


def _bundled_text() -> str:
    return resources.files("openalgo").joinpath("data/market_holidays.json").read_text("utf-8")


def _at(day: date, clock: time) -> datetime:
    if clock == _END_OF_DAY:
        return datetime.combine(day + timedelta(days=1), _MIDNIGHT, IST)
    return datetime.combine(day, clock, IST)


def _us_daylight_saving(day: date) -> bool:
    return bool(datetime.combine(day, time(12), _NEW_YORK).dst())


class MarketCalendar:
    def __init__(self, rules: Iterable[_HolidayRule] = (), *, always_open: bool = False) -> None:
        self._rules = {rule.day: rule for rule in rules}
        self.always_open = always_open
        self.years = sorted({d.year for d in self._rules})

    @classmethod
    def bundled(cls, *, always_open: bool = False) -> MarketCalendar:
        return cls(load_holiday_rules(), always_open=always_open)

    @property
    def cutoffs_suspended(self) -> bool:
        """True when time-of-day rules (MIS cut-off, auto square-off) must not fire."""
        return self.always_open

    # --- the real exchange calendar ------------------------------------------------------------

    def exchange_session(self, exchange: Exchange | str, day: date) -> Session | None:
        """What the exchange itself trades on ``day`` (ignores ``always_open``)."""
        exch = Exchange(exchange)
        name = exch.value
        exch = _INDEX_PARENT.get(exch, exch)
        hours = _REGULAR.get(exch)
        if hours is None:
            return None
        weekend = day.weekday() >= Weekday.SAT
        if exch in _ALWAYS_TRADING:
            return Session(name, _at(day, hours[0]), _at(day, hours[1]))
        rule = self._rules.get(day)
        start, end = hours
        if exch in _COMMODITY and not _us_daylight_saving(day):
            end = _WINTER_COMMODITY_CLOSE
        if rule is not None and rule.sessions is not None:
            special = rule.sessions.get(exch.value)
            if special is None:
                return None
            start, end = special
        elif weekend:
            return None
        elif rule is not None:
            if exch not in _COMMODITY or rule.mcx == "closed":
                return None
            start = _COMMODITY_EVENING_START
        return Session(name, _at(day, start), _at(day, end))

    def is_exchange_day(self, exchange: Exchange | str, day: date) -> bool:
        return self.exchange_session(exchange, day) is not None

    def holidays(self, year: int) -> list[Holiday]:
        """The year's holidays as ``/market/holidays`` lists them (weekends are not listed)."""
        out = []
        for day, rule in sorted(self._rules.items()):
            if day.year != year:
                continue
            sessions = tuple(
                s
                for exch in CALENDAR_EXCHANGES
                if exch not in _ALWAYS_TRADING
                and (s := self.exchange_session(exch, day)) is not None
            )
            open_names = {s.exchange for s in sessions}
            closed = tuple(
                e.value
                for e in CALENDAR_EXCHANGES
                if e not in _ALWAYS_TRADING and e.value not in open_names
            )
            kind = SPECIAL_SESSION if rule.sessions is not None else TRADING_HOLIDAY
            out.append(Holiday(day, rule.description, kind, closed, sessions))
        return out

    def timings(self, day: date) -> list[Session]:
        """Every calendar exchange's session on ``day`` (``/market/timings``); closed ones omitted."""
        return [
            s for exch in CALENDAR_EXCHANGES if (s := self.exchange_session(exch, day)) is not None
        ]

    # --- the effective calendar (honours always_open) -------------------------------------------

    def session(self, exchange: Exchange | str, day: date) -> Session | None:
        if self.always_open:
            return Session(Exchange(exchange).value, _at(day, _MIDNIGHT), _at(day, _END_OF_DAY))
        return self.exchange_session(exchange, day)

    def is_trading_day(self, exchange: Exchange | str, day: date) -> bool:
        return self.session(exchange, day) is not None

    def is_open(self, exchange: Exchange | str, when: datetime) -> bool:
        local = when.astimezone(IST)
        # A session that runs past midnight would belong to the previous day; none does today,
        # but looking back one day keeps that true if one is ever added.
        for day in (local.date(), local.date() - timedelta(days=1)):
            session = self.session(exchange, day)
            if session is not None and session.contains(local):
                return True
        return False

    def current_session(self, exchange: Exchange | str, when: datetime) -> Session | None:
        local = when.astimezone(IST)
        session = self.session(exchange, local.date())
        return session if session is not None and session.contains(local) else None

    def sessions_from(
        self, exchange: Exchange | str, day: date, *, limit_days: int = 370
    ) -> Iterator[Session]:
        for offset in range(limit_days):
            session = self.session(exchange, day + timedelta(days=offset))
            if session is not None:
                yield session

    def next_open(self, exchange: Exchange | str, when: datetime) -> datetime | None:
        """The start of the next session strictly after ``when`` (None if none within a year)."""
        local = when.astimezone(IST)
        for session in self.sessions_from(exchange, local.date()):
            if session.start > local:
                return session.start
        return None

    def next_close(self, exchange: Exchange | str, when: datetime) -> datetime | None:
        """The end of the session in progress, or of the next one."""
        local = when.astimezone(IST)
        for session in self.sessions_from(exchange, local.date()):
            if session.end > local:
                return session.end
        return None

    def last_session(self, exchange: Exchange | str, when: datetime) -> Session | None:
        """The session in progress at ``when``, else the latest one that ended before it."""
        local = when.astimezone(IST)
        day = local.date()
        for offset in range(370):
            session = self.session(exchange, day - timedelta(days=offset))
            if session is not None and session.start <= local:
                return session
        return None

    def previous_trading_day(self, exchange: Exchange | str, day: date) -> date:
        for offset in range(1, 370):
            candidate = day - timedelta(days=offset)
            if self.is_trading_day(exchange, candidate):
                return candidate
        raise CalendarError(f"no trading day for {exchange} in the year before {day}")

    def trading_days(self, exchange: Exchange | str, start: date, end: date) -> list[date]:
        days = []
        day = start
        while day <= end:
            if self.is_trading_day(exchange, day):
                days.append(day)
            day += timedelta(days=1)
        return days

    # --- expiries (always the real calendar) -----------------------------------------------------

    def settle_on_trading_day(self, exchange: Exchange | str, day: date) -> date:
        """An expiry that falls on a holiday or weekend moves to the previous trading day."""
        for offset in range(0, 30):
            candidate = day - timedelta(days=offset)
            if self.is_exchange_day(exchange, candidate):
                return candidate
        raise CalendarError(f"no trading day for {exchange} in the month before {day}")

    def expiries(
        self, exchange: Exchange | str, rule: ExpiryRule, today: date, count: int
    ) -> list[date]:
        """The next ``count`` expiries under ``rule`` on or after ``today``, holiday-adjusted."""
        out: list[date] = []
        if count <= 0:
            return out
        for raw in rule.candidates(today - timedelta(days=10)):
            settled = self._settle(exchange, rule, raw)
            if settled >= today and settled not in out:
                out.append(settled)
                if len(out) == count:
                    break
        return out

    def _settle(self, exchange: Exchange | str, rule: ExpiryRule, raw: date) -> date:
        if rule.kind == "before_month_end":
            last = self.settle_on_trading_day(exchange, _month_end(raw.year, raw.month))
            day = last
            for _ in range(rule.offset):
                day = self.settle_on_trading_day(exchange, day - timedelta(days=1))
            return day
        return self.settle_on_trading_day(exchange, raw)

    def expiry_cutoff(self, exchange: Exchange | str, day: date) -> datetime:
        """When a contract expiring on ``day`` stops trading (IST)."""
        return _at(day, _EXPIRY_CUTOFF.get(Exchange(exchange), time(15, 30)))


@dataclass(frozen=True, slots=True)
class ExpiryRule:
    """How a contract series picks its expiry days.

    - ``weekly``: every ``weekday``;
    - ``monthly``: the last ``weekday`` of each month;
    - ``day_of_month``: day ``day`` of each month (MCX style);
    - ``before_month_end``: ``offset`` trading days before the month's last trading day (CDS).
    """

    kind: Literal["weekly", "monthly", "day_of_month", "before_month_end"]
    weekday: Weekday = Weekday.TUE
    day: int = 1
    offset: int = 0

    def candidates(self, start: date) -> Iterator[date]:
        """Unadjusted expiry days from ``start`` onwards, in order."""
        if self.kind == "weekly":
            day = start + timedelta(days=(self.weekday - start.weekday()) % 7)
            while True:
                yield day
                day += timedelta(days=7)
        year, month = start.year, start.month
        while True:
            if self.kind == "monthly":
                yield last_weekday(year, month, self.weekday)
            elif self.kind == "day_of_month":
                yield date(year, month, min(self.day, _month_end(year, month).day))
            else:
                yield _month_end(year, month)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _month_end(year: int, month: int) -> date:
    first_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first_next - timedelta(days=1)


def last_weekday(year: int, month: int, weekday: int) -> date:
    end = _month_end(year, month)
    return end - timedelta(days=(end.weekday() - weekday) % 7)
