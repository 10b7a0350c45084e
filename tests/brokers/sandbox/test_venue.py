"""One user's account as the REST layer sees it: the TradingVenue Protocol and the analyze-mode
bodies (rest-api 5.x and 6.x), which must be plain JSON with OpenAlgo's keys."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from openalgo.brokers.base import TradingVenue
from openalgo.brokers.sandbox import SandboxEngine, SandboxVenue
from openalgo.brokers.sandbox.rules import smart_order_delta
from openalgo.domain.clock import ManualClock
from openalgo.domain.enums import Action, OrderStatus
from openalgo.domain.orders import Funds, OrderRow
from tests.brokers.sandbox.conftest import order
from tests.fakes.market import tick

D = Decimal

ORDER_KEYS = {
    "orderid",
    "symbol",
    "exchange",
    "action",
    "quantity",
    "price",
    "trigger_price",
    "pricetype",
    "product",
    "order_status",
    "average_price",
    "filled_quantity",
    "pending_quantity",
    "rejection_reason",
    "timestamp",
    "strategy",
}


@pytest.fixture
def venue(engine: SandboxEngine, user: int) -> SandboxVenue:
    return SandboxVenue(engine, user)


def plain(body: dict[str, Any]) -> dict[str, Any]:
    """The body survives JSON (no Decimal, no datetime) and reads back the same."""
    loaded: dict[str, Any] = json.loads(json.dumps(body))
    assert loaded == body
    return loaded


async def test_it_is_a_trading_venue(venue: SandboxVenue) -> None:
    assert isinstance(venue, TradingVenue)
    assert venue.name == "sandbox" and venue.capabilities.supports_gtt


async def test_protocol_rows(venue: SandboxVenue, clock: ManualClock) -> None:
    oid = await venue.place_order(order("SBIN", "BUY", 10, product="CNC"))
    [row] = await venue.order_book()
    assert isinstance(row, OrderRow)
    assert (row.orderid, row.status, row.action, row.quantity) == (
        oid,
        OrderStatus.COMPLETE,
        Action.BUY,
        10,
    )
    assert (await venue.order_status(oid)).average_price == 800
    [trade] = await venue.trade_book()
    assert trade.trade_value == D("8000")
    [position] = await venue.positions()
    assert (position.quantity, position.average_price, position.ltp) == (10, D("800.00"), D(800))
    funds = await venue.funds()
    assert isinstance(funds, Funds) and funds.utiliseddebits == D("8000.00")
    assert set(funds.extra) == {
        "total_realized_pnl",
        "today_realized_pnl",
        "grossexposure",
        "totalpnl",
        "last_reset",
        "reset_count",
    }
    clock.advance(timedelta(days=1))
    [holding] = await venue.holdings()
    assert (holding.quantity, holding.average_price) == (10, D("800.00"))
    cancelled = await venue.cancel_all_orders()
    assert cancelled.cancelled == [] and cancelled.failed == []


async def test_orderbook_and_orderstatus_bodies(venue: SandboxVenue, engine: SandboxEngine) -> None:
    done = await venue.place_order(order("SBIN", "BUY", 10))
    resting = await venue.place_order(order("SBIN", "SELL", 5, pricetype="LIMIT", price="810.5"))
    await venue.place_order(order("INFY", "SELL", 1, pricetype="SL-M", trigger_price="1400"))
    with pytest.raises(Exception, match="no holdings"):
        await venue.place_order(order("SBIN", "SELL", 1, product="CNC"))
    body = plain(await venue.orderbook_body())
    assert body["status"] == "success" and body["mode"] == "analyze"
    orders = body["data"]["orders"]
    assert all(set(o) == ORDER_KEYS for o in orders)
    assert body["data"]["statistics"] == {
        "total_buy_orders": 1,
        "total_sell_orders": 3,
        "total_completed_orders": 1,
        "total_open_orders": 1,
        "total_rejected_orders": 1,
        "total_trigger_pending_orders": 1,
    }
    first = next(o for o in orders if o["orderid"] == done)
    assert first["quantity"] == 10 and isinstance(first["quantity"], int)
    assert (first["price"], first["average_price"], first["pending_quantity"]) == (0.0, 800.0, 0)
    assert first["timestamp"] == "2026-12-14 10:00:00"
    open_one = next(o for o in orders if o["orderid"] == resting)
    assert (open_one["price"], open_one["pending_quantity"]) == (810.5, 5)

    status = plain(await venue.orderstatus_body(resting))
    assert status["data"]["price_type"] == "LIMIT" and status["data"]["order_status"] == "open"
    assert len(done) == 14 and done.isdigit() and done.startswith("261214")


async def test_tradebook_positionbook_and_funds_bodies(
    venue: SandboxVenue, engine: SandboxEngine
) -> None:
    await venue.place_order(order("SBIN", "BUY", 10))
    engine.on_tick(tick("SBIN", "NSE", 810.0))
    await venue.place_order(order("SBIN", "SELL", 4))
    await venue.place_order(order("INFY", "SELL", 2))
    engine.on_tick(tick("INFY", "NSE", 1490.0))

    trades = plain(await venue.tradebook_body())["data"]
    assert set(trades[0]) == {
        "symbol",
        "exchange",
        "product",
        "action",
        "quantity",
        "average_price",
        "price",
        "trade_value",
        "orderid",
        "tradeid",
        "strategy",
        "timestamp",
    }
    assert [t["trade_value"] for t in trades] == [8000.0, 3240.0, 3000.0]

    book = plain(await venue.positionbook_body())
    sbin = next(p for p in book["data"] if p["symbol"] == "SBIN")
    assert sbin == {
        "symbol": "SBIN",
        "exchange": "NSE",
        "product": "MIS",
        "quantity": 6,
        "average_price": 800.0,
        "ltp": 810.0,
        "pnl": 100.0,
        "pnlpercent": 1.25,
        "unrealized_pnl": 60.0,
        "today_realized_pnl": 40.0,
        "total_pnl_today": 100.0,
        "lot_size": 1,
    }
    assert (book["total_unrealized_pnl"], book["total_today_realized_pnl"]) == (80.0, 40.0)
    assert book["total_pnl"] == book["total_pnl_today"] == 120.0

    funds = plain(await venue.funds_body())["data"]
    assert funds == {
        "availablecash": 10_000_000 - 960 - 600 + 40,
        "collateral": 0.0,
        "m2munrealized": 80.0,
        "m2mrealized": 40.0,
        "utiliseddebits": 1560.0,
        "total_realized_pnl": 40.0,
        "today_realized_pnl": 40.0,
        "grossexposure": 6 * 810.0 + 2 * 1490.0,
        "totalpnl": 120.0,
        "last_reset": None,
        "reset_count": 0,
    }


async def test_holdings_body(
    venue: SandboxVenue, engine: SandboxEngine, clock: ManualClock
) -> None:
    await venue.place_order(order("SBIN", "BUY", 10, product="CNC"))
    clock.advance(timedelta(days=1))
    engine.on_tick(tick("SBIN", "NSE", 880.0))
    body = plain(await venue.holdings_body())["data"]
    assert body["holdings"] == [
        {
            "symbol": "SBIN",
            "exchange": "NSE",
            "product": "CNC",
            "quantity": 10,
            "average_price": 800.0,
            "ltp": 880.0,
            "pnl": 800.0,
            "pnlpercent": 10.0,
            "current_value": 8800.0,
            "settlement_date": "2026-12-15",
        }
    ]
    assert body["statistics"] == {
        "totalholdingvalue": 8800.0,
        "totalinvvalue": 8000.0,
        "totalprofitandloss": 800.0,
        "totalpnlpercentage": 10.0,
    }


async def test_cancel_all_and_close_all_bodies(venue: SandboxVenue) -> None:
    assert plain(await venue.cancel_all_body())["message"] == "No open orders to cancel"
    a = await venue.place_order(order("SBIN", "BUY", 1, pricetype="LIMIT", price="700"))
    b = await venue.place_order(order("SBIN", "BUY", 1, pricetype="LIMIT", price="710"))
    body = plain(await venue.cancel_all_body())
    assert body == {
        "status": "success",
        "message": "Canceled 2 orders. Failed to cancel 0 orders.",
        "canceled_orders": [a, b],
        "failed_cancellations": [],
        "mode": "analyze",
    }
    assert plain(await venue.close_all_body())["message"] == "No open positions to close"
    await venue.place_order(order("SBIN", "BUY", 1))
    await venue.place_order(order("INFY", "SELL", 1))
    assert plain(await venue.close_all_body()) == {
        "status": "success",
        "message": "Closed 2 positions",
        "closed_positions": 2,
        "failed_closures": 0,
        "mode": "analyze",
    }
    strategies = {t.strategy for t in await venue.engine.trades(venue.user_id)}
    assert "Squareoff" in strategies


async def test_open_position_and_smart_orders(venue: SandboxVenue) -> None:
    assert plain(await venue.open_position_body("SBIN", "NSE", "MIS"))["quantity"] == 0
    nothing = await venue.smart_order_body(order("SBIN", "BUY", 0), D(0))
    assert nothing["message"] == "No OpenPosition Found. Not placing Exit order."
    await venue.smart_order_body(order("SBIN", "BUY", 5), D(0))  # fresh trade: action and qty
    assert (await venue.open_position_body("SBIN", "NSE", "MIS"))["quantity"] == 5
    await venue.smart_order_body(order("SBIN", "BUY", 1), D(-3))
    assert (await venue.open_position_body("SBIN", "NSE", "MIS"))["quantity"] == -3
    matched = await venue.smart_order_body(order("SBIN", "BUY", 1), D(-3))
    assert matched["message"] == "Positions Already Matched. No Action needed."
    flat = await venue.smart_order_body(order("SBIN", "SELL", 1), D(0))
    assert flat["mode"] == "analyze" and len(flat["orderid"]) == 14
    assert (await venue.open_position_body("SBIN", "NSE", "MIS"))["quantity"] == 0


@pytest.mark.parametrize(
    ("target", "current", "action", "quantity", "expected"),
    [
        (0, 0, "BUY", 10, ("BUY", 10)),
        (0, 0, "SELL", 0, None),
        (0, 50, "BUY", 10, ("SELL", 50)),
        (0, -50, "SELL", 10, ("BUY", 50)),
        (20, 0, "SELL", 1, ("BUY", 20)),
        (-20, 0, "BUY", 1, ("SELL", 20)),
        (30, 10, "SELL", 1, ("BUY", 20)),
        (-10, 30, "BUY", 1, ("SELL", 40)),
        (10, 10, "BUY", 5, None),
    ],
)
def test_smart_order_delta_matches_openalgo(
    target: int, current: int, action: str, quantity: int, expected: tuple[str, int] | None
) -> None:
    got = smart_order_delta(
        target=D(target), current=D(current), action=action, quantity=D(quantity)
    )
    assert (None if got is None else (got[0].value, int(got[1]))) == expected
