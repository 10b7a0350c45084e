"""Market data: ``/quotes``, ``/multiquotes``, ``/depth``, ``/history``, ``/intervals`` and
``GET /ticker/{EXCHANGE}:{SYMBOL}``.

Always from the user's active broker, in analyzer mode too, so responses never carry ``mode``.
The work is in `openalgo.services.market_data`; these routes translate to and from the wire.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from fastapi.responses import PlainTextResponse

from openalgo.api.auth import ApiUser, BrokerSessionDep
from openalgo.api.deps import RuntimeDep
from openalgo.api.v1.endpoints import endpoint
from openalgo.api.v1.routing import error_responses, route, v1_router
from openalgo.api.v1.schemas.account import KeyOnlyRequest
from openalgo.api.v1.schemas.market import (
    Candle,
    Depth,
    DepthLevel,
    DepthResponse,
    HistoryRequest,
    HistoryResponse,
    Intervals,
    IntervalsResponse,
    MultiQuoteResult,
    MultiQuotesRequest,
    MultiQuotesResponse,
    Quote,
    QuotesResponse,
    SymbolRequest,
    TickerQuery,
)
from openalgo.domain import market as domain
from openalgo.services import market_data as service
from openalgo.services.venues import market_data

router = v1_router()


def _quote(q: domain.Quote) -> Quote:
    return Quote(
        open=q.open,
        high=q.high,
        low=q.low,
        ltp=q.ltp,
        ask=q.ask,
        bid=q.bid,
        prev_close=q.prev_close,
        volume=q.volume,
        oi=q.oi,
    )


def _levels(levels: tuple[domain.DepthLevel, ...]) -> list[DepthLevel]:
    return [DepthLevel(price=level.price, quantity=level.quantity) for level in levels]


def _candles(candles: list[domain.Candle]) -> list[Candle]:
    return [
        Candle(
            timestamp=c.timestamp,
            open=c.open,
            high=c.high,
            low=c.low,
            close=c.close,
            volume=c.volume,
            oi=c.oi,
        )
        for c in candles
    ]


@route(router, endpoint("quotes"))
async def quotes(
    body: SymbolRequest, principal: ApiUser, broker_session: BrokerSessionDep, runtime: RuntimeDep
) -> QuotesResponse:
    del broker_session  # checked by the dependency: market data needs a live broker session
    found = await service.quote(
        market_data(runtime, principal),
        service.instrument_master(runtime, principal),
        body.symbol,
        body.exchange.value,
    )
    return QuotesResponse(data=_quote(found))


@route(router, endpoint("multiquotes"))
async def multiquotes(
    body: MultiQuotesRequest,
    principal: ApiUser,
    broker_session: BrokerSessionDep,
    runtime: RuntimeDep,
) -> MultiQuotesResponse:
    del broker_session
    results = await service.quotes(
        market_data(runtime, principal),
        service.instrument_master(runtime, principal),
        [(ref.symbol, ref.exchange.value) for ref in body.symbols],
    )
    return MultiQuotesResponse(
        results=[
            MultiQuoteResult(
                symbol=r.symbol,
                exchange=r.exchange,
                data=_quote(r.quote) if r.quote is not None else None,
                error=r.error,
            )
            for r in results
        ]
    )


@route(router, endpoint("depth"))
async def depth(
    body: SymbolRequest, principal: ApiUser, broker_session: BrokerSessionDep, runtime: RuntimeDep
) -> DepthResponse:
    del broker_session
    book = await service.depth(
        market_data(runtime, principal),
        service.instrument_master(runtime, principal),
        body.symbol,
        body.exchange.value,
    )
    q = book.quote
    return DepthResponse(
        data=Depth(
            open=q.open,
            high=q.high,
            low=q.low,
            ltp=q.ltp,
            ltq=q.last_quantity,
            prev_close=q.prev_close,
            volume=q.volume,
            oi=q.oi,
            totalbuyqty=book.total_buy,
            totalsellqty=book.total_sell,
            asks=_levels(book.asks),
            bids=_levels(book.bids),
        )
    )


@route(router, endpoint("history"))
async def history(
    body: HistoryRequest,
    principal: ApiUser,
    broker_session: BrokerSessionDep,
    runtime: RuntimeDep,
) -> HistoryResponse:
    del broker_session
    candles = await service.history(
        market_data(runtime, principal),
        service.instrument_master(runtime, principal),
        symbol=body.symbol,
        exchange=body.exchange.value,
        interval=body.interval,
        start=body.start_date,
        end=body.end_date,
        source=body.source,
    )
    return HistoryResponse(data=_candles(candles))


@route(router, endpoint("intervals"))
async def intervals(
    principal: ApiUser,
    broker_session: BrokerSessionDep,
    runtime: RuntimeDep,
    body: KeyOnlyRequest | None = None,
) -> IntervalsResponse:
    del body, broker_session
    venue = market_data(runtime, principal)
    return IntervalsResponse(
        data=Intervals(**service.interval_buckets(venue.capabilities.intervals))
    )


_TICKER = endpoint("ticker")
_TEXT_RESPONSE = {
    "description": "Successful Response: JSON as /history, or with format=txt one line per candle",
    "content": {
        "text/plain": {
            "schema": {"type": "string"},
            "example": "NSE:SBIN,2026-11-27,812.0,818.4,809.15,816.3,5234109\n",
        }
    },
}


@route(router, _TICKER, responses={200: _TEXT_RESPONSE, **error_responses(_TICKER)})
async def ticker(
    ticker: Annotated[
        str,
        Path(
            description="EXCHANGE:SYMBOL, like NSE:SBIN",
            examples=["NSE:SBIN"],
            max_length=96,
        ),
    ],
    query: Annotated[TickerQuery, Query()],
    principal: ApiUser,
    broker_session: BrokerSessionDep,
    runtime: RuntimeDep,
) -> HistoryResponse | PlainTextResponse:
    del broker_session
    symbol, exchange = service.parse_ticker(ticker)
    candles = await service.history(
        market_data(runtime, principal),
        service.instrument_master(runtime, principal),
        symbol=symbol,
        exchange=exchange,
        interval=query.interval,
        start=service.ticker_start(query.interval, query.start, query.to),
        end=query.to,
        symbol_field="ticker",
        range_field="to",
    )
    if query.format == "txt":
        text = service.candles_as_text(
            candles, exchange=exchange, symbol=symbol, interval=query.interval
        )
        return PlainTextResponse(text)
    return HistoryResponse(data=_candles(candles))
