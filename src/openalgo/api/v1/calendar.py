"""The exchange calendar: ``/market/holidays`` and ``/market/timings``.

Both read the real exchange calendar (`runtime.calendar`, `domain.calendar`), never the
simulator's "always open" view, and default to the current year or day in IST.
"""

from __future__ import annotations

from openalgo.api.auth import ApiUser
from openalgo.api.deps import RuntimeDep
from openalgo.api.v1.endpoints import endpoint
from openalgo.api.v1.routing import route, v1_router
from openalgo.api.v1.schemas.calendar import (
    ExchangeSession,
    Holiday,
    HolidaysRequest,
    HolidaysResponse,
    TimingsRequest,
    TimingsResponse,
)
from openalgo.domain.calendar import Session
from openalgo.domain.clock import IST
from openalgo.errors import NotFound

router = v1_router()


def _session(s: Session) -> ExchangeSession:
    return ExchangeSession(exchange=s.exchange, start_time=s.start_ms, end_time=s.end_ms)


@route(router, endpoint("market/holidays"))
async def holidays(
    principal: ApiUser, runtime: RuntimeDep, body: HolidaysRequest | None = None
) -> HolidaysResponse:
    del principal  # the key is checked (OpenAlgo accepts any string here)
    calendar = runtime.calendar
    year = body.year if body is not None and body.year is not None else None
    if year is None:
        year = runtime.clock.now().astimezone(IST).year
    if year not in calendar.years:
        # An empty list would claim the year has no holidays; we only do not know them.
        known = ", ".join(str(y) for y in calendar.years)
        raise NotFound(f"No holiday calendar for {year}; calendars are available for {known}")
    return HolidaysResponse(
        year=year,
        data=[
            Holiday(
                date=h.day.isoformat(),
                description=h.description,
                holiday_type=h.holiday_type,
                closed_exchanges=list(h.closed_exchanges),
                open_exchanges=[_session(s) for s in h.open_exchanges],
            )
            for h in calendar.holidays(year)
        ],
    )


@route(router, endpoint("market/timings"))
async def timings(
    principal: ApiUser, runtime: RuntimeDep, body: TimingsRequest | None = None
) -> TimingsResponse:
    del principal
    day = body.date if body is not None and body.date is not None else None
    if day is None:
        day = runtime.clock.now().astimezone(IST).date()
    return TimingsResponse(data=[_session(s) for s in runtime.calendar.timings(day)])
