"""One user's account on a ledger, behind the `TradingVenue` Protocol.

The REST layer (analyze mode) and the simulator broker talk to this object; besides the Protocol's
normalized rows it offers the exact analyze-mode bodies (``*_body``) OpenAlgo's sandbox returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from openalgo.brokers.base import CancelAllResult, Capabilities
from openalgo.brokers.sandbox import views
from openalgo.brokers.sandbox.engine import SandboxEngine
from openalgo.brokers.sandbox.rules import smart_order_delta
from openalgo.domain.enums import INDEX_EXCHANGES, Exchange
from openalgo.domain.orders import (
    Funds,
    HoldingRow,
    ModifyRequest,
    OrderRequest,
    OrderRow,
    PositionRow,
    TradeRow,
)

SANDBOX_CAPABILITIES = Capabilities(
    exchanges=frozenset(e for e in Exchange if e not in INDEX_EXCHANGES),
    supports_gtt=True,
    supports_margin=False,
)


class SandboxVenue:
    capabilities = SANDBOX_CAPABILITIES

    def __init__(self, engine: SandboxEngine, user_id: int) -> None:
        self.engine = engine
        self.user_id = user_id
        self.name = engine.ledger

    # --- TradingVenue ---------------------------------------------------------------------------

    async def place_order(self, order: OrderRequest) -> str:
        return await self.engine.place_order(self.user_id, order)

    async def modify_order(self, request: ModifyRequest) -> str:
        return await self.engine.modify_order(self.user_id, request)

    async def cancel_order(self, orderid: str) -> str:
        return await self.engine.cancel_order(self.user_id, orderid)

    async def cancel_all_orders(self) -> CancelAllResult:
        result = await self.engine.cancel_all_orders(self.user_id)
        return CancelAllResult(cancelled=result.cancelled, failed=result.failed)

    async def order_book(self) -> Sequence[OrderRow]:
        return [o.to_row() for o in await self.engine.orders(self.user_id)]

    async def order_status(self, orderid: str) -> OrderRow:
        return (await self.engine.order(self.user_id, orderid)).to_row()

    async def trade_book(self) -> Sequence[TradeRow]:
        return [t.to_row() for t in await self.engine.trades(self.user_id)]

    async def positions(self) -> Sequence[PositionRow]:
        return [line.to_row() for line in await self.engine.position_lines(self.user_id)]

    async def holdings(self) -> Sequence[HoldingRow]:
        return [line.to_row() for line in await self.engine.holding_lines(self.user_id)]

    async def funds(self) -> Funds:
        return (await self.engine.funds_view(self.user_id)).to_funds()

    # --- analyze-mode bodies (rest-api 5.x, 6.x) ------------------------------------------------

    @property
    def mode(self) -> str:
        return self.engine.mode

    async def orderbook_body(self) -> dict[str, Any]:
        return views.orderbook_body(await self.engine.orders(self.user_id), self.mode)

    async def orderstatus_body(self, orderid: str) -> dict[str, Any]:
        return views.orderstatus_body(await self.engine.order(self.user_id, orderid), self.mode)

    async def tradebook_body(self) -> dict[str, Any]:
        return views.tradebook_body(await self.engine.trades(self.user_id), self.mode)

    async def positionbook_body(self) -> dict[str, Any]:
        return views.positionbook_body(await self.engine.position_lines(self.user_id), self.mode)

    async def holdings_body(self) -> dict[str, Any]:
        return views.holdings_body(await self.engine.holding_lines(self.user_id), self.mode)

    async def funds_body(self) -> dict[str, Any]:
        return views.funds_body(await self.engine.funds_view(self.user_id), self.mode)

    async def cancel_all_body(self) -> dict[str, Any]:
        return views.cancel_all_body(await self.engine.cancel_all_orders(self.user_id), self.mode)

    async def close_all_body(self, strategy: str = "Squareoff") -> dict[str, Any]:
        return views.close_all_body(
            await self.engine.close_all_positions(self.user_id, strategy), self.mode
        )

    async def open_position_body(self, symbol: str, exchange: str, product: str) -> dict[str, Any]:
        qty = await self.engine.open_quantity(self.user_id, symbol, exchange, product)
        return {"status": "success", "quantity": int(qty), "mode": self.mode}

    async def smart_order_body(self, order: OrderRequest, position_size: Decimal) -> dict[str, Any]:
        """`/placesmartorder`: move the position to ``position_size`` with one order (or none)."""
        current = await self.engine.open_quantity(
            self.user_id, order.symbol, str(order.exchange), str(order.product)
        )
        delta = smart_order_delta(
            target=position_size,
            current=current,
            action=str(order.action),
            quantity=Decimal(order.quantity),
        )
        if delta is None:
            message = (
                "No OpenPosition Found. Not placing Exit order."
                if position_size == 0 and current == 0
                else "Positions Already Matched. No Action needed."
            )
            return {"status": "success", "message": message, "mode": self.mode}
        action, qty = delta
        request = OrderRequest(
            symbol=order.symbol,
            exchange=order.exchange,
            action=action,
            quantity=int(qty) if qty == qty.to_integral_value() else qty,  # type: ignore[arg-type]
            pricetype=order.pricetype,
            product=order.product,
            price=order.price,
            trigger_price=order.trigger_price,
            strategy=order.strategy,
        )
        orderid = await self.engine.place_order(self.user_id, request)
        return {"status": "success", "orderid": orderid, "mode": self.mode}
