"""The instrument master: ``/symbol``, ``/search``, ``/expiry`` and ``GET /instruments``.

Served from the in-memory master of the user's active broker (`runtime.instruments`); the rows
are shaped by `openalgo.services.instrument_rows`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse, Response

from openalgo.api.auth import ApiUser
from openalgo.api.deps import RuntimeDep
from openalgo.api.v1.endpoints import endpoint
from openalgo.api.v1.routing import error_responses, route, v1_router
from openalgo.api.v1.schemas.market import SymbolRequest
from openalgo.api.v1.schemas.symbols import (
    ExpiryRequest,
    ExpiryResponse,
    InstrumentsQuery,
    SearchRequest,
    SearchResponse,
    SymbolInfo,
    SymbolResponse,
)
from openalgo.domain.clock import IST
from openalgo.services import instrument_rows as rows
from openalgo.services.instruments import search_instruments
from openalgo.services.market_data import instrument_master, require_symbol

router = v1_router()


@route(router, endpoint("symbol"))
async def symbol(body: SymbolRequest, principal: ApiUser, runtime: RuntimeDep) -> SymbolResponse:
    cache = instrument_master(runtime, principal)
    found = require_symbol(cache, body.symbol, body.exchange.value)
    return SymbolResponse(data=SymbolInfo(**rows.symbol_row(found)))


@route(router, endpoint("search"))
async def search(body: SearchRequest, principal: ApiUser, runtime: RuntimeDep) -> SearchResponse:
    cache = instrument_master(runtime, principal)
    async with runtime.read_sessionmaker() as session:  # used only while the cache is cold
        found = await search_instruments(
            session,
            cache.broker,
            body.query,
            exchange=body.exchange.value if body.exchange else None,
            cache=cache,
        )
        await session.rollback()
    message = f"Found {len(found)} matching symbols" if found else "No matching symbols found"
    return SearchResponse(
        message=message, data=[SymbolInfo(**rows.symbol_row(item)) for item in found]
    )


@route(router, endpoint("expiry"))
async def expiry(body: ExpiryRequest, principal: ApiUser, runtime: RuntimeDep) -> ExpiryResponse:
    cache = instrument_master(runtime, principal)
    today = runtime.clock.now().astimezone(IST).date()
    days = rows.expiries(cache, body.symbol, body.exchange, body.instrumenttype, today=today)
    what = f"{body.symbol} {body.instrumenttype} in {body.exchange.value}"
    message = (
        f"Found {len(days)} expiry dates for {what}"
        if days
        else f"No expiry dates found for {what}"
    )
    return ExpiryResponse(message=message, data=[rows.expiry_text(d) for d in days])


_INSTRUMENTS = endpoint("instruments")
_CSV_RESPONSE = {
    "description": "Successful Response: JSON, or with format=csv a CSV file with a header line",
    "content": {
        "text/csv": {
            "schema": {"type": "string"},
            "example": ",".join(rows.ROW_COLUMNS)
            + "\nSBIN,SBIN,State Bank of India,NSE,NSE,779521,,0.0,1,EQ,0.05\n",
        }
    },
}


@route(router, _INSTRUMENTS, responses={200: _CSV_RESPONSE, **error_responses(_INSTRUMENTS)})
async def instruments(
    query: Annotated[InstrumentsQuery, Query()], principal: ApiUser, runtime: RuntimeDep
) -> Response:
    cache = instrument_master(runtime, principal)
    exchange = query.exchange.value if query.exchange else None
    items = cache.instruments(exchange)
    if query.as_csv:
        return Response(
            rows.instruments_csv(items),
            media_type="text/csv",
            headers={
                "Content-Disposition": f"attachment; filename=instruments_{exchange or 'all'}.csv"
            },
        )
    # A real master has 100k+ rows: built as plain dicts rather than validated models (the shape
    # is `InstrumentsResponse`, which the tests check).
    body: dict[str, Any] = {
        "status": "success",
        "message": f"Found {len(items)} instruments",
        "data": [rows.instrument_row(item) for item in items],
    }
    return JSONResponse(body)
