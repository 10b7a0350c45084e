"""The order endpoints through the real app with real API keys, on SQLite and PostgreSQL: the
simulator broker's ledger (analyzer mode off) and the sandbox (analyzer mode on).

Orders fill against the simulator's market (always open here); what a call did is checked through
the other endpoints a client would use (orderstatus, openposition) and, for "nothing was written",
the ledger and the order log themselves.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from openalgo.db.models import OrderLog
from tests.support.appfixtures import LiveApp
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader, new_trader

__all__ = ["shared_trading_live", "trader"]  # fixtures: one app per module, a user per test


@pytest.fixture(scope="module")
async def bystander(shared_trading_live: LiveApp) -> Trader:
    """One user for the tests whose requests must change nothing (so they can share it)."""
    return await new_trader(shared_trading_live, "bystander")


SBIN = {"exchange": "NSE", "symbol": "SBIN"}
ORDER = {"strategy": "Test", **SBIN, "action": "BUY", "quantity": 1}
POSITION = {**SBIN, "product": "MIS"}
FAR_BELOW = "100"  # a BUY limit no simulated SBIN price comes near: the order rests


async def place(trader: Trader, **changes: Any) -> str:
    body = await trader.ok("placeorder", **{**ORDER, **changes})
    orderid: str = body["orderid"]
    return orderid


async def status(trader: Trader, orderid: str) -> dict[str, Any]:
    data: dict[str, Any] = (await trader.ok("orderstatus", orderid=orderid))["data"]
    return data


async def position(trader: Trader, **where: Any) -> int | float:
    quantity: int | float = (await trader.ok("openposition", **{**POSITION, **where}))["quantity"]
    return quantity


async def order_count(trader: Trader) -> int:
    """Orders on either ledger of this user, rejected ones included."""
    engines = trader.live.runtime.sandbox
    assert engines is not None
    user = trader.account.user_id
    return len(await engines.simulator.orders(user)) + len(await engines.sandbox.orders(user))


async def log_count(trader: Trader) -> int:
    """This user's rows in the order log."""
    query = select(func.count()).where(OrderLog.user_id == trader.account.user_id)
    async with trader.live.runtime.sessionmaker() as session:
        return int(await session.scalar(query) or 0)


# --- placing and looking up ---------------------------------------------------------------------


async def test_a_market_order_fills_and_shows_in_orderstatus_and_openposition(
    trader: Trader,
) -> None:
    body = await trader.ok(
        "placeorder", **{**ORDER, "quantity": "3"}
    )  # numbers as strings, like the SDK
    assert set(body) == {"status", "orderid"}  # no "mode" outside analyzer mode
    data = await status(trader, body["orderid"])
    assert data["orderid"] == body["orderid"]
    assert (data["symbol"], data["exchange"], data["action"]) == ("SBIN", "NSE", "BUY")
    assert (data["pricetype"], data["product"]) == ("MARKET", "MIS")
    assert data["order_status"] == "complete"
    assert data["quantity"] == data["filled_quantity"] == 3
    assert data["pending_quantity"] == 0
    assert data["average_price"] > 0
    assert data["strategy"] == "Test"
    assert "price_type" not in data
    assert await position(trader) == 3
    assert await position(trader, product="CNC") == 0  # another product is another position


async def test_a_limit_order_rests_until_modified_or_cancelled(trader: Trader) -> None:
    orderid = await place(trader, pricetype="LIMIT", price=FAR_BELOW, quantity=2)
    data = await status(trader, orderid)
    assert data["order_status"] == "open"
    assert (data["price"], data["pending_quantity"], data["filled_quantity"]) == (100, 2, 0)
    assert await position(trader) == 0

    modify = {**ORDER, "orderid": orderid, "pricetype": "LIMIT", "product": "MIS",
              "price": "101.5", "quantity": "4", "trigger_price": "0", "disclosed_quantity": "0"}  # fmt: skip
    body = await trader.ok("modifyorder", **modify)
    assert body == {
        "status": "success",
        "orderid": orderid,
        "message": "Order modified successfully",
    }
    data = await status(trader, orderid)
    assert (data["price"], data["quantity"], data["order_status"]) == (101.5, 4, "open")

    body = await trader.ok("cancelorder", orderid=orderid, strategy="Test")
    assert body == {
        "status": "success",
        "orderid": orderid,
        "message": "Order cancelled successfully",
    }
    assert (await status(trader, orderid))["order_status"] == "cancelled"

    # No longer open: 409 naming the order, for cancel and modify alike.
    for name, fields in (("cancelorder", {"orderid": orderid}), ("modifyorder", modify)):
        r = await trader.post(name, **fields)
        assert r.status_code == 409, r.text
        assert r.json() == {
            "status": "error",
            "message": f"Cannot {name.removesuffix('order')} order in cancelled status",
            "orderid": orderid,
        }


async def test_a_filled_order_cannot_be_cancelled(trader: Trader) -> None:
    orderid = await place(trader)
    r = await trader.post("cancelorder", orderid=orderid)
    assert r.status_code == 409
    assert r.json()["message"] == "Cannot cancel order in complete status"
    assert await position(trader) == 1


async def test_cancelallorder_cancels_open_and_trigger_pending_orders(trader: Trader) -> None:
    filled = await place(trader)
    resting = {
        await place(trader, pricetype="LIMIT", price=FAR_BELOW),
        await place(trader, pricetype="LIMIT", price="99", action="buy"),
        # A stop-loss SELL far below the market waits for its trigger.
        await place(trader, action="SELL", pricetype="SL-M", trigger_price=FAR_BELOW),
    }
    body = await trader.ok("cancelallorder", strategy="Other")  # strategy is only a tag
    assert set(body["canceled_orders"]) == resting
    assert len(body["canceled_orders"]) == 3
    assert body["failed_cancellations"] == []
    assert body["message"] == "Canceled 3 orders. Failed to cancel 0 orders."
    for orderid in resting:
        assert (await status(trader, orderid))["order_status"] == "cancelled"
    assert (await status(trader, filled))["order_status"] == "complete"

    again = await trader.ok("cancelallorder")
    assert again == {
        "status": "success",
        "message": "No open orders to cancel",
        "canceled_orders": [],
        "failed_cancellations": [],
    }


async def test_a_venue_rejection_is_400_with_reason_and_the_recorded_orderid(
    trader: Trader,
) -> None:
    r = await trader.post("placeorder", **{**ORDER, "product": "NRML"})  # NRML is for derivatives
    assert r.status_code == 400
    body = r.json()
    assert body["message"] == (
        "NRML is not allowed on NSE. Use CNC for delivery or MIS for intraday"
    )
    data = await status(trader, body["orderid"])
    assert data["order_status"] == "rejected"
    assert data["rejection_reason"] == body["message"]


async def test_insufficient_funds_is_400_with_reason_and_orderid(trader: Trader) -> None:
    r = await trader.post("placeorder", **{**ORDER, "product": "CNC", "quantity": 1_000_000})
    assert r.status_code == 400
    body = r.json()
    assert "insufficient funds" in body["message"].lower()
    assert (await status(trader, body["orderid"]))["order_status"] == "rejected"
    assert await position(trader, product="CNC") == 0


# --- smart orders -------------------------------------------------------------------------------


async def smart(trader: Trader, target: int, **changes: Any) -> dict[str, Any]:
    fields = {**ORDER, "quantity": 0, "position_size": str(target), **changes}
    return await trader.ok("placesmartorder", **fields)


async def test_smart_orders_move_the_position_to_the_target(trader: Trader) -> None:
    # target, then the order it takes from the position the previous step left
    steps = [(5, "BUY", 5), (2, "SELL", 3), (-4, "SELL", 6), (-1, "BUY", 3), (0, "BUY", 1)]
    for target, action, quantity in steps:
        body = await smart(trader, target, action="SELL")  # the request's action is ignored
        data = await status(trader, body["orderid"])
        assert (data["action"], data["quantity"], data["order_status"]) == (
            action,
            quantity,
            "complete",
        ), target
        assert await position(trader) == target


async def test_smart_order_with_the_position_already_at_target_places_nothing(
    trader: Trader,
) -> None:
    await smart(trader, 3)
    before = await order_count(trader)
    body = await smart(trader, 3, quantity=7)
    assert body == {"status": "success", "message": "Positions Already Matched. No Action needed."}
    assert await order_count(trader) == before
    assert await position(trader) == 3


async def test_smart_order_without_position_and_target_zero(trader: Trader) -> None:
    body = await smart(trader, 0)
    assert body == {
        "status": "success",
        "message": "No OpenPosition Found. Not placing Exit order.",
    }
    assert await order_count(trader) == 0
    # With a quantity it is a fresh trade in the request's direction (reference 5.2).
    body = await smart(trader, 0, action="SELL", quantity="2")
    assert (await status(trader, body["orderid"]))["action"] == "SELL"
    assert await position(trader) == -2


async def test_smart_orders_act_on_their_own_product_only(trader: Trader) -> None:
    await smart(trader, 4, product="CNC")
    await smart(trader, 1)  # MIS: starts from nothing
    assert await position(trader, product="CNC") == 4
    assert await position(trader) == 1


async def test_smart_order_honours_the_price_type(trader: Trader) -> None:
    body = await smart(trader, 5, pricetype="LIMIT", price=FAR_BELOW)
    data = await status(trader, body["orderid"])
    assert (data["pricetype"], data["price"], data["order_status"]) == ("LIMIT", 100, "open")
    assert await position(trader) == 0


async def test_concurrent_smart_orders_for_one_position_do_not_overshoot(trader: Trader) -> None:
    bodies = await asyncio.gather(*(smart(trader, 5) for _ in range(6)))
    assert sum("orderid" in body for body in bodies) == 1
    assert await position(trader) == 5
    assert await order_count(trader) == 1


# --- baskets ------------------------------------------------------------------------------------


async def test_basket_places_buys_before_sells_and_reports_in_request_order(
    trader: Trader,
) -> None:
    # A CNC sell needs a holding or a CNC position: the BUY listed after it must run first.
    items = [
        {**SBIN, "action": "SELL", "quantity": "2", "product": "CNC"},
        {"exchange": "NSE", "symbol": "INFY", "action": "BUY", "quantity": 1},
        {**SBIN, "action": "BUY", "quantity": "2", "product": "CNC"},
    ]
    body = await trader.ok("basketorder", strategy="Basket", orders=items)
    results = body["results"]
    assert [(r["symbol"], r["action"], r["status"]) for r in results] == [
        ("SBIN", "SELL", "success"),
        ("INFY", "BUY", "success"),
        ("SBIN", "BUY", "success"),
    ]
    assert [(r["exchange"], r["product"]) for r in results] == [
        ("NSE", "CNC"),
        ("NSE", "MIS"),
        ("NSE", "CNC"),
    ]
    sell, infy, buy = (r["orderid"] for r in results)
    assert max(infy, buy) < sell  # order ids increase with placement
    assert await position(trader, product="CNC") == 0
    assert await position(trader, symbol="INFY") == 1
    assert (await status(trader, sell))["strategy"] == "Basket"


async def test_basket_reports_each_failure_and_places_the_rest(trader: Trader) -> None:
    items = [
        {**SBIN, "action": "BUY", "quantity": 1, "pricetype": "LIMIT"},  # no price
        {**SBIN, "action": "BUY", "quantity": 2},
    ]
    results = (await trader.ok("basketorder", strategy="B", orders=items))["results"]
    assert results[0] == {
        "symbol": "SBIN",
        "exchange": "NSE",
        "product": "MIS",
        "action": "BUY",
        "status": "error",
        "message": "LIMIT orders require a price greater than 0",
    }
    assert results[1]["status"] == "success"
    assert await position(trader) == 2


async def test_an_empty_basket_is_accepted(trader: Trader) -> None:
    assert await trader.ok("basketorder", strategy="B", orders=[]) == {
        "status": "success",
        "results": [],
    }


async def test_a_basket_with_an_unknown_symbol_places_nothing(trader: Trader) -> None:
    items = [
        {**SBIN, "action": "BUY", "quantity": 1},
        {"exchange": "NSE", "symbol": "NOSUCH", "action": "BUY", "quantity": 1},
    ]
    r = await trader.post("basketorder", strategy="B", orders=items)
    assert r.status_code == 400
    assert r.json() == {
        "status": "error",
        "message": "orders.1.symbol: unknown symbol NOSUCH on NSE",
        "errors": {"orders.1.symbol": ["unknown symbol NOSUCH on NSE"]},
    }
    assert await order_count(trader) == 0
    assert await log_count(trader) == 0


# --- split orders -------------------------------------------------------------------------------


async def test_split_order_cuts_the_quantity_with_a_remainder(trader: Trader) -> None:
    body = await trader.ok("splitorder", **{**ORDER, "quantity": "105", "splitsize": "20"})
    assert (body["total_quantity"], body["split_size"]) == (105, 20)
    results = body["results"]
    assert [(r["order_num"], r["quantity"], r["status"]) for r in results] == [
        (1, 20, "success"),
        (2, 20, "success"),
        (3, 20, "success"),
        (4, 20, "success"),
        (5, 20, "success"),
        (6, 5, "success"),
    ]
    assert len({r["orderid"] for r in results}) == 6
    assert await position(trader) == 105


async def test_split_larger_than_the_quantity_is_one_order(trader: Trader) -> None:
    body = await trader.ok("splitorder", **{**ORDER, "quantity": 7, "splitsize": 50})
    assert (body["total_quantity"], body["split_size"]) == (7, 50)
    assert [(r["order_num"], r["quantity"]) for r in body["results"]] == [(1, 7)]


async def test_split_takes_up_to_100_children_counting_the_remainder(trader: Trader) -> None:
    body = await trader.ok("splitorder", **{**ORDER, "quantity": 199, "splitsize": 2})
    assert [r["quantity"] for r in body["results"]] == [2] * 99 + [1]
    assert all(r["status"] == "success" for r in body["results"])
    assert await position(trader) == 199


@pytest.mark.parametrize(("quantity", "splitsize"), [(101, 1), (201, 2)])
async def test_split_into_more_than_100_children_is_refused_whole(
    bystander: Trader, quantity: int, splitsize: int
) -> None:
    trader = bystander
    r = await trader.post("splitorder", **{**ORDER, "quantity": quantity, "splitsize": splitsize})
    assert r.status_code == 400
    assert r.json()["message"] == "Total number of orders would exceed maximum limit of 100"
    assert list(r.json()["errors"]) == ["splitsize"]
    assert await order_count(trader) == 0
    assert await log_count(trader) == 0


async def test_split_children_failing_on_funds_are_reported_and_the_rest_placed(
    trader: Trader,
) -> None:
    price = Decimal(
        str((await status(trader, await place(trader, product="CNC")))["average_price"])
    )
    engines = trader.live.runtime.sandbox
    assert engines is not None
    cash = (await engines.simulator.funds_view(trader.account.user_id)).to_funds().availablecash
    size = int(cash * Decimal("0.4") / price)  # two children fit in the cash, the third does not
    body = await trader.ok(
        "splitorder", **{**ORDER, "product": "CNC", "quantity": 3 * size, "splitsize": size}
    )
    outcome = [(r["order_num"], r["status"]) for r in body["results"]]
    assert outcome == [(1, "success"), (2, "success"), (3, "error")]
    assert "insufficient funds" in body["results"][2]["message"].lower()
    assert "orderid" not in body["results"][2]
    assert await position(trader, product="CNC") == 1 + 2 * size


# --- closing positions --------------------------------------------------------------------------


async def test_closeposition_squares_off_every_position(trader: Trader) -> None:
    await place(trader, quantity=3)
    await place(trader, symbol="INFY", action="SELL", quantity=2)
    await place(trader, product="CNC", quantity=1)
    resting = await place(trader, pricetype="LIMIT", price=FAR_BELOW)
    body = await trader.ok("closeposition", strategy="Mine")
    assert body == {
        "status": "success",
        "message": "Closed 3 positions",
        "closed_positions": 3,
        "failed_closures": 0,
    }
    assert await position(trader) == 0
    assert await position(trader, symbol="INFY") == 0
    assert await position(trader, product="CNC") == 0
    assert (await status(trader, resting))["order_status"] == "open"  # orders are left alone

    again = await trader.ok("closeposition")
    assert again == {
        "status": "success",
        "message": "No open positions to close",
        "closed_positions": 0,
        "failed_closures": 0,
    }


# --- idempotency --------------------------------------------------------------------------------


async def post_keyed(trader: Trader, name: str, key: str, **fields: Any) -> Any:
    return await trader.client.post(
        f"/api/v1/{name}",
        json={"apikey": trader.api_key, **fields},
        headers={"Idempotency-Key": key},
    )


@pytest.mark.parametrize(
    ("name", "fields", "other"),
    [
        ("placeorder", ORDER, {**ORDER, "quantity": 2}),
        ("placesmartorder", {**ORDER, "position_size": 4}, {**ORDER, "position_size": 5}),
        (
            "basketorder",
            {"strategy": "B", "orders": [{**SBIN, "action": "BUY", "quantity": 4}]},
            {"strategy": "B", "orders": [{**SBIN, "action": "SELL", "quantity": 4}]},
        ),
        ("splitorder", {**ORDER, "quantity": 4, "splitsize": 2}, {**ORDER, "quantity": 4, "splitsize": 1}),
    ],
)  # fmt: skip
async def test_a_repeated_idempotency_key_replays_without_placing_again(
    trader: Trader, name: str, fields: dict[str, Any], other: dict[str, Any]
) -> None:
    first = await post_keyed(trader, name, "k-1", **fields)
    assert first.status_code == 200, first.text
    placed = await order_count(trader)
    assert placed >= 1
    again = await post_keyed(trader, name, "k-1", **fields)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await order_count(trader) == placed

    conflict = await post_keyed(trader, name, "k-1", **other)
    assert conflict.status_code == 409
    assert "different request" in conflict.json()["message"]
    assert await order_count(trader) == placed


async def test_closeposition_replays_its_first_answer(trader: Trader) -> None:
    await place(trader, quantity=2)
    first = await post_keyed(trader, "closeposition", "close-1", strategy="S")
    assert first.json()["closed_positions"] == 1
    await place(trader, quantity=2)
    again = await post_keyed(trader, "closeposition", "close-1", strategy="S")
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await position(trader) == 2  # the replay closed nothing


async def test_a_rejected_order_is_replayed_with_its_error(trader: Trader) -> None:
    first = await post_keyed(trader, "placeorder", "rej-1", **{**ORDER, "product": "NRML"})
    assert first.status_code == 400
    again = await post_keyed(trader, "placeorder", "rej-1", **{**ORDER, "product": "NRML"})
    assert (again.status_code, again.json()) == (400, first.json())
    assert await order_count(trader) == 1


# --- bad input ----------------------------------------------------------------------------------


def without(fields: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k != name}


MODIFY = {**ORDER, "orderid": "1", "pricetype": "LIMIT", "product": "MIS", "price": 100,
          "trigger_price": 0, "disclosed_quantity": 0}  # fmt: skip
BAD: list[tuple[str, dict[str, Any], str, str]] = [
    # endpoint, body, field named, problem
    ("placeorder", without(ORDER, "symbol"), "symbol", "field required"),
    ("placeorder", without(ORDER, "quantity"), "quantity", "field required"),
    ("placeorder", {**ORDER, "quantity": "ten"}, "quantity", "must be a number or a numeric string"),
    ("placeorder", {**ORDER, "quantity": 0}, "quantity", "must be greater than 0"),
    ("placeorder", {**ORDER, "quantity": "-5"}, "quantity", "must be greater than 0"),
    ("placeorder", {**ORDER, "symbol": 123}, "symbol", "must be a string"),
    ("placeorder", {**ORDER, "exchange": "nse"}, "exchange", "must be one of"),
    ("placeorder", {**ORDER, "action": "Buy"}, "action", "must be one of"),
    ("placeorder", {**ORDER, "pricetype": "STOP"}, "pricetype", "must be one of"),
    ("placeorder", {**ORDER, "product": "BO"}, "product", "must be one of"),
    ("placeorder", {**ORDER, "symbol": "NOSUCH"}, "symbol", "unknown symbol NOSUCH on NSE"),
    ("placeorder", {**ORDER, "exchange": "BSE", "symbol": "NIFTY"}, "symbol", "unknown symbol"),
    ("placesmartorder", {**ORDER}, "position_size", "field required"),
    ("placesmartorder", {**ORDER, "position_size": "x"}, "position_size", "must be a number"),
    ("placesmartorder", {**ORDER, "quantity": -1, "position_size": 1}, "quantity", "must be at least 0"),
    ("placesmartorder", {**ORDER, "symbol": "NOSUCH", "position_size": 1}, "symbol", "unknown symbol"),
    ("basketorder", {"strategy": "B"}, "orders", "field required"),
    ("basketorder", {"strategy": "B", "orders": {}}, "orders", "must be a list"),
    ("basketorder", {"strategy": "B", "orders": [without(ORDER, "strategy") | {"quantity": 0}]},
     "orders.0.quantity", "must be greater than 0"),
    ("basketorder", {"strategy": "B", "orders": [ORDER]}, "orders.0.strategy", "unknown field"),
    ("splitorder", {**ORDER, "splitsize": 0}, "splitsize", "must be at least 1"),
    ("splitorder", {**ORDER, "splitsize": "2.5"}, "splitsize", "must be an integer"),
    ("splitorder", ORDER, "splitsize", "field required"),
    ("splitorder", {**ORDER, "symbol": "NOSUCH", "splitsize": 1}, "symbol", "unknown symbol"),
    ("modifyorder", without(MODIFY, "price"), "price", "field required"),
    ("modifyorder", {**MODIFY, "quantity": 0}, "quantity", "must be greater than 0"),
    ("modifyorder", {**MODIFY, "symbol": "NOSUCH"}, "symbol", "unknown symbol"),
    ("cancelorder", {}, "orderid", "field required"),
    ("cancelorder", {"orderid": ""}, "orderid", "must not be empty"),
    ("cancelorder", {"orderid": 5}, "orderid", "must be a string"),
    ("orderstatus", {}, "orderid", "field required"),
    ("openposition", without(POSITION, "product"), "product", "field required"),
    ("openposition", {**POSITION, "exchange": "XYZ"}, "exchange", "must be one of"),
    ("openposition", {**POSITION, "symbol": "NOSUCH"}, "symbol", "unknown symbol"),
    ("cancelallorder", {"symbol": "SBIN"}, "symbol", "unknown field"),
    ("closeposition", {"symbol": "SBIN"}, "symbol", "unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "fields", "field", "problem"),
    BAD,
    ids=[f"{b[0]}-{b[2]}-{i}" for i, b in enumerate(BAD)],
)
async def test_bad_input_is_400_naming_the_field_and_writes_nothing(
    bystander: Trader, name: str, fields: dict[str, Any], field: str, problem: str
) -> None:
    trader = bystander
    r = await trader.post(name, **fields)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == "error"
    assert list(body["errors"]) == [field]
    assert body["errors"][field][0].startswith(problem), body
    assert body["message"].startswith(f"{field}: ")
    assert "mode" not in body
    assert await order_count(trader) == 0
    assert await log_count(trader) == 0


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("orderstatus", {"orderid": "99999999999999"}),
        ("cancelorder", {"orderid": "99999999999999"}),
        ("modifyorder", {**MODIFY, "orderid": "99999999999999"}),
    ],
)
async def test_an_unknown_orderid_is_404(
    bystander: Trader, name: str, fields: dict[str, Any]
) -> None:
    r = await bystander.post(name, **fields)
    assert r.status_code == 404
    assert r.json() == {"status": "error", "message": "Order 99999999999999 not found"}


async def test_another_users_order_is_not_found(trader: Trader, bystander: Trader) -> None:
    orderid = await place(trader, pricetype="LIMIT", price=FAR_BELOW)
    for name in ("orderstatus", "cancelorder"):
        r = await bystander.post(name, orderid=orderid)
        assert r.status_code == 404, name
    assert (await status(trader, orderid))["order_status"] == "open"


async def test_a_bad_api_key_is_403_before_anything_else(bystander: Trader) -> None:
    r = await bystander.client.post("/api/v1/placeorder", json={**ORDER, "apikey": "f" * 64})
    assert r.status_code == 403
    assert r.json() == {"status": "error", "message": "Invalid openalgo apikey"}
    assert await order_count(bystander) == 0


# --- analyzer mode ------------------------------------------------------------------------------


async def test_analyzer_mode_trades_on_the_sandbox_and_says_so(trader: Trader) -> None:
    live_order = await place(trader, quantity=2)
    await trader.analyzer(True)
    analyze = {"mode": "analyze"}

    placed = await trader.ok("placeorder", **{**ORDER, "quantity": 5})
    assert placed["mode"] == "analyze"
    data = await trader.ok("orderstatus", orderid=placed["orderid"])
    assert data["mode"] == "analyze" and data["data"]["order_status"] == "complete"
    assert await trader.ok("openposition", **POSITION) == {
        "status": "success",
        "quantity": 5,
        **analyze,
    }

    smart = await trader.ok("placesmartorder", **{**ORDER, "position_size": 7})
    assert smart["mode"] == "analyze"
    matched = await trader.ok("placesmartorder", **{**ORDER, "position_size": 7})
    assert matched["mode"] == "analyze" and "orderid" not in matched
    basket = await trader.ok(
        "basketorder", strategy="B", orders=[{**SBIN, "action": "BUY", "quantity": 1}]
    )
    assert basket["mode"] == "analyze"
    split = await trader.ok("splitorder", **{**ORDER, "quantity": 3, "splitsize": 2})
    assert split["mode"] == "analyze" and len(split["results"]) == 2
    assert (await trader.ok("openposition", **POSITION))["quantity"] == 11

    resting = await place(trader, pricetype="LIMIT", price=FAR_BELOW)
    modify = {**MODIFY, "orderid": resting, "quantity": 2}
    assert (await trader.ok("modifyorder", **modify))["mode"] == "analyze"
    assert (await trader.ok("cancelorder", orderid=resting))["mode"] == "analyze"
    await place(trader, pricetype="LIMIT", price=FAR_BELOW)
    cancelled = await trader.ok("cancelallorder")
    assert cancelled["mode"] == "analyze" and len(cancelled["canceled_orders"]) == 1
    closed = await trader.ok("closeposition")
    assert closed == {"status": "success", "message": "Closed 1 positions", "closed_positions": 1,
                      "failed_closures": 0, **analyze}  # fmt: skip

    # Errors carry the mode too: validation, unknown symbol, unknown order, rejection.
    errors: list[tuple[str, dict[str, Any], int]] = [
        ("placeorder", {**ORDER, "quantity": 0}, 400),
        ("placeorder", {**ORDER, "symbol": "NOSUCH"}, 400),
        ("orderstatus", {"orderid": "99999999999999"}, 404),
        ("placeorder", {**ORDER, "product": "NRML"}, 400),
        ("cancelorder", {"orderid": placed["orderid"]}, 409),
    ]
    for name, fields, code in errors:
        r = await trader.post(name, **fields)
        assert (r.status_code, r.json().get("mode")) == (code, "analyze"), (name, r.text)

    # The simulator ledger never saw any of it.
    await trader.analyzer(False)
    assert await position(trader) == 2
    assert (await status(trader, live_order))["quantity"] == 2
