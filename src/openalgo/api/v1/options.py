"""The option endpoints of ``/api/v1`` (reference 5.3, 5.4, 7.12-7.16): optionsorder,
optionsmultiorder, optionsymbol, optionchain, optiongreeks, multioptiongreeks, syntheticfuture.

Thin: each route authenticates, builds the resolver over the caller's market data and the
instrument master, and hands the request to a service. The two order endpoints resolve every
contract first (a 400 places nothing and claims no ``Idempotency-Key``), then place inside the
order guard on the venue `trading_venue` picks; in analyzer mode their responses, errors
included, carry ``"mode": "analyze"``. The others are market data and carry no mode.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from openalgo.api.auth import ApiUser
from openalgo.api.deps import RuntimeDep
from openalgo.api.v1.endpoints import endpoint
from openalgo.api.v1.order_guard import OrderGuardDep
from openalgo.api.v1.routing import route, v1_router
from openalgo.api.v1.schemas.options import (
    MultiOptionGreeksRequest,
    MultiOptionGreeksResponse,
    OptionChainRequest,
    OptionChainResponse,
    OptionGreeksRequest,
    OptionGreeksResponse,
    OptionsMultiOrderRequest,
    OptionsOrderRequest,
    OptionSymbolRequest,
    OptionSymbolResponse,
    SyntheticFutureRequest,
    SyntheticFutureResponse,
)
from openalgo.api.v1.venue import TradingVenueDep
from openalgo.domain.enums import InstrumentType
from openalgo.services import option_chain, option_greeks, option_orders
from openalgo.services.option_symbols import OptionSymbols, freeze_quantity
from openalgo.services.venues import market_data

router = v1_router()


async def get_symbols(runtime: RuntimeDep, principal: ApiUser) -> OptionSymbols:
    """Contract resolution over the caller's market data, at this instant."""
    return OptionSymbols(
        runtime.instruments,
        market_data(runtime, principal),
        runtime.calendar,
        runtime.clock.now(),
    )


SymbolsDep = Annotated[OptionSymbols, Depends(get_symbols)]


@route(router, endpoint("optionsorder"))
async def optionsorder(
    body: OptionsOrderRequest,
    principal: ApiUser,
    routed: TradingVenueDep,
    symbols: SymbolsDep,
    guard: OrderGuardDep,
) -> Any:
    plan = await option_orders.plan_order(symbols, body)
    return await guard.run(
        user_id=principal.user_id,
        endpoint="optionsorder",
        body=body,
        mode=principal.mode,
        venue=routed.venue.name,
        call=lambda: option_orders.place_order(routed.venue, plan, body, analyze=routed.analyze),
    )


@route(router, endpoint("optionsmultiorder"))
async def optionsmultiorder(
    body: OptionsMultiOrderRequest,
    principal: ApiUser,
    routed: TradingVenueDep,
    symbols: SymbolsDep,
    guard: OrderGuardDep,
) -> Any:
    plan = await option_orders.plan_multi(symbols, body)
    return await guard.run(
        user_id=principal.user_id,
        endpoint="optionsmultiorder",
        body=body,
        mode=principal.mode,
        venue=routed.venue.name,
        call=lambda: option_orders.place_multi(routed.venue, plan, body, analyze=routed.analyze),
    )


@route(router, endpoint("optionsymbol"))
async def optionsymbol(body: OptionSymbolRequest, symbols: SymbolsDep) -> OptionSymbolResponse:
    ref = symbols.underlying(body.underlying, body.exchange)
    expiry = symbols.expiry(ref, body.expiry_date)
    priced = await symbols.priced(ref)
    kind = InstrumentType(body.option_type.value)
    contract = symbols.pick(priced, expiry, body.offset, kind, body.strike_int)
    return OptionSymbolResponse(
        symbol=contract.symbol,
        exchange=contract.exchange,
        lotsize=contract.lot_size,
        tick_size=float(contract.tick_size),
        freeze_qty=freeze_quantity(contract),
        underlying_ltp=priced.ltp,
    )


@route(router, endpoint("optionchain"))
async def optionchain(body: OptionChainRequest, symbols: SymbolsDep) -> OptionChainResponse:
    return await option_chain.option_chain(symbols, body)


@route(router, endpoint("syntheticfuture"))
async def syntheticfuture(
    body: SyntheticFutureRequest, symbols: SymbolsDep
) -> SyntheticFutureResponse:
    return await option_chain.synthetic_future(symbols, body)


@route(router, endpoint("optiongreeks"))
async def optiongreeks(body: OptionGreeksRequest, symbols: SymbolsDep) -> OptionGreeksResponse:
    found = await option_greeks.one(option_greeks.GreeksDesk(symbols), body)
    return OptionGreeksResponse(**found.model_dump())


@route(router, endpoint("multioptiongreeks"))
async def multioptiongreeks(
    body: MultiOptionGreeksRequest, symbols: SymbolsDep
) -> MultiOptionGreeksResponse:
    return await option_greeks.many(option_greeks.GreeksDesk(symbols), body)
