"""Orders and positions for account tests, placed straight through the paper-trading engines.

The account endpoints only read the ledgers, so their tests build state with the engine the
order endpoints use (`SandboxVenue.place_order`), not through `/placeorder`: the books are then
tested independently of the order routes. ``ledger`` picks the account: `SIMULATOR` (the
simulator broker, analyzer mode off) or `SANDBOX` (analyzer mode).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal

import pytest

from openalgo.brokers.base import OrderRejected
from openalgo.brokers.sandbox.engine import SandboxEngine
from openalgo.brokers.sandbox.lifecycle import SANDBOX, SIMULATOR
from openalgo.brokers.sandbox.venue import SandboxVenue
from openalgo.domain.enums import Action, PriceType, Product
from openalgo.domain.instruments import Instrument
from openalgo.domain.orders import OrderRequest
from tests.support.trading import Trader

__all__ = [
    "SANDBOX",
    "SIMULATOR",
    "engine_of",
    "first",
    "instrument",
    "ltp",
    "next_day",
    "place",
    "reject",
    "venue_of",
]


def venue_of(trader: Trader, ledger: str = SIMULATOR) -> SandboxVenue:
    engines = trader.live.runtime.sandbox
    assert engines is not None
    return engines.venue(ledger, trader.account.user_id)


def engine_of(trader: Trader, ledger: str = SIMULATOR) -> SandboxEngine:
    return venue_of(trader, ledger).engine


def _request(
    symbol: str,
    exchange: str,
    action: str,
    quantity: int,
    *,
    product: str,
    pricetype: str,
    price: Decimal | str | int,
    trigger_price: Decimal | str | int,
    strategy: str,
) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        exchange=exchange,
        action=Action(action),
        quantity=quantity,
        pricetype=PriceType(pricetype),
        product=Product(product),
        price=Decimal(price),
        trigger_price=Decimal(trigger_price),
        strategy=strategy,
    )


async def place(
    trader: Trader,
    symbol: str,
    exchange: str,
    action: str,
    quantity: int,
    *,
    ledger: str = SIMULATOR,
    product: str = "MIS",
    pricetype: str = "MARKET",
    price: Decimal | str | int = 0,
    trigger_price: Decimal | str | int = 0,
    strategy: str = "test",
) -> str:
    """Place one order on ``ledger`` (a MARKET order fills before this returns); its id."""
    order = _request(
        symbol,
        exchange,
        action,
        quantity,
        product=product,
        pricetype=pricetype,
        price=price,
        trigger_price=trigger_price,
        strategy=strategy,
    )
    return await venue_of(trader, ledger).place_order(order)


async def reject(
    trader: Trader, symbol: str, exchange: str, action: str, quantity: int, **kw: str
) -> str:
    """Place an order the ledger refuses but records (a CNC sell without shares); its id."""
    with pytest.raises(OrderRejected) as refused:
        await place(trader, symbol, exchange, action, quantity, **kw)
    orderid = refused.value.orderid
    assert orderid, refused.value
    return orderid


async def ltp(trader: Trader, symbol: str, exchange: str) -> Decimal:
    """The simulator's last price now, as the ledgers read it."""
    quote = await trader.live.runtime.simulator.quote(symbol, exchange)
    return Decimal(str(quote.ltp))


def instrument(trader: Trader, symbol: str, exchange: str) -> Instrument:
    found = trader.live.runtime.instruments.get(symbol, exchange)
    assert found is not None, (symbol, exchange)
    return found


def first(trader: Trader, exchange: str, name: str, kind: str) -> Instrument:
    """The nearest-expiry instrument of ``name`` of ``kind`` (FUT, CE, PE) on ``exchange``."""
    rows = [
        i
        for i in trader.live.runtime.instruments.instruments(exchange)
        if i.name == name and i.instrument_type.value == kind
    ]
    assert rows, (exchange, name, kind)
    return min(rows, key=lambda i: (i.expiry, i.strike or 0))


@asynccontextmanager
async def next_day(trader: Trader) -> AsyncIterator[None]:
    """Run the block a day later (T+1 settlement), then put the app's clock back: the app may be
    shared by the module's other tests, which expect its start time."""
    clock = trader.live.clock
    before = clock.now()
    clock.advance(timedelta(days=1))
    try:
        yield
    finally:
        clock.set(before)
