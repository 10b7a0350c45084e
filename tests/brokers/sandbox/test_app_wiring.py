"""The real wiring: the app's simulated market ticks, through `TickFanout`, into the app's sandbox
engine, and fill a resting LIMIT order. No fakes: the app, its database (both backends), its
simulator and its engines, with the test moving only the app's clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from openalgo.domain.enums import Action, PriceType, Product
from openalgo.domain.orders import OrderRequest
from tests.support.trading import (
    Trader,
    start_trading_app,
    trader,
    trading_database,
    trading_live,
    trading_template,
)

__all__ = ["start_trading_app", "trader", "trading_database", "trading_live", "trading_template"]

SYMBOL, EXCHANGE = "SBIN", "NSE"
HORIZON = 900  # seconds of the simulated price path looked at


def on_grid(value: float, tick: Decimal, rounding: str) -> Decimal:
    return (Decimal(str(value)) / tick).to_integral_value(rounding) * tick


async def test_simulated_ticks_fill_a_resting_limit_order(trader: Trader) -> None:
    runtime = trader.live.runtime
    clock = trader.live.clock
    assert runtime.sandbox is not None
    engine = runtime.sandbox.sandbox  # the analyzer-mode ledger
    simulator = runtime.simulator
    instrument = runtime.instruments.get(SYMBOL, EXCHANGE)
    assert instrument is not None
    tick = instrument.tick_size

    # The simulator's price path is deterministic: find a limit, one tick beyond today's price,
    # that the path reaches soon, on whichever side it reaches first.
    start = clock.now()
    now = simulator.quote_at(SYMBOL, EXCHANGE, start)
    buy_limit = on_grid(now.ltp, tick, ROUND_FLOOR) - tick
    sell_limit = on_grid(now.ltp, tick, ROUND_CEILING) + tick
    crossing: tuple[int, Action, Decimal] | None = None
    for second in range(1, HORIZON):
        ltp = Decimal(
            str(simulator.quote_at(SYMBOL, EXCHANGE, start + timedelta(seconds=second)).ltp)
        )
        if ltp <= buy_limit:
            crossing = (second, Action.BUY, buy_limit)
            break
        if ltp >= sell_limit:
            crossing = (second, Action.SELL, sell_limit)
            break
    assert crossing is not None, "the simulated price did not move a tick in 15 minutes"
    due, action, limit = crossing

    orderid = await engine.place_order(
        trader.account.user_id,
        OrderRequest(
            symbol=SYMBOL,
            exchange=EXCHANGE,
            action=action,
            quantity=5,
            pricetype=PriceType.LIMIT,
            product=Product.MIS,
            price=limit,
            strategy="wiring",
        ),
    )
    assert (await engine.order(trader.account.user_id, orderid)).status == "open"
    assert orderid in engine.book.orders  # resting, and the engine asked the simulator for ticks

    # Move the app's clock a second at a time (less than the engine's quote age, so its polling
    # fallback never finds the price stale and only ticks can fill the order).
    published = simulator.published
    for _ in range(due + 2):
        before = simulator.published
        clock.advance(1)
        for _ in range(200):
            if simulator.published > before:
                break
            await asyncio.sleep(0.001)
        await engine.drain()
        if orderid not in engine.book.orders:
            break

    filled = await engine.order(trader.account.user_id, orderid)
    assert simulator.published > published
    assert (filled.status, filled.average_price, filled.filled_quantity) == (
        "complete",
        limit,
        Decimal(5),
    )
    [trade] = [t for t in await engine.trades(trader.account.user_id) if t.orderid == orderid]
    assert trade.price == limit
    side = 1 if action == Action.BUY else -1
    [line] = await engine.position_lines(trader.account.user_id)
    assert line.position.quantity == side * 5
