"""Account endpoints through the real app (reference 6): funds, orderbook, tradebook,
positionbook, holdings on the simulator broker's ledger, and the margin calculator.

Orders are placed straight through the ledger's engine (tests/support/ledger.py), so these tests
check the books, not the order routes. Analyzer-mode books are in test_analyzer.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from openalgo.api.errors import MALFORMED_JSON, NOT_AN_OBJECT, WRONG_CONTENT_TYPE
from openalgo.domain.money import paise
from tests.support.ledger import first, ltp, next_day, place, reject, venue_of
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader

__all__ = ["shared_trading_live", "trader"]  # fixtures: one app per module, a user per test

CAPITAL = 10_000_000.0
BOOKS = ["funds", "orderbook", "tradebook", "positionbook", "holdings"]
INVALID_KEY = {"status": "error", "message": "Invalid openalgo apikey"}


def money(value: Decimal) -> float:
    return float(paise(value))


def tick(value: Decimal) -> Decimal:
    """``value`` on SBIN's 0.05 tick grid, rounded down."""
    return (value / Decimal("0.05")).to_integral_value(rounding="ROUND_FLOOR") * Decimal("0.05")


# --- empty account ------------------------------------------------------------------------------


async def test_a_new_account_has_capital_and_empty_books(trader: Trader) -> None:
    funds = await trader.ok("funds")
    assert "mode" not in funds  # the simulator is a broker: no analyzer marker
    assert funds["data"] == {
        "availablecash": CAPITAL,
        "collateral": 0.0,
        "m2mrealized": 0.0,
        "m2munrealized": 0.0,
        "utiliseddebits": 0.0,
        "total_realized_pnl": 0.0,
        "today_realized_pnl": 0.0,
        "grossexposure": 0.0,
        "totalpnl": 0.0,
        "reset_count": 0,
    }
    book = await trader.ok("orderbook")
    assert book["data"]["orders"] == []
    assert set(book["data"]["statistics"].values()) == {0}
    assert (await trader.ok("tradebook"))["data"] == []
    assert (await trader.ok("positionbook"))["data"] == []
    holdings = await trader.ok("holdings")
    assert holdings["data"] == {
        "holdings": [],
        "statistics": {
            "totalholdingvalue": 0.0,
            "totalinvvalue": 0.0,
            "totalprofitandloss": 0.0,
            "totalpnlpercentage": 0.0,
        },
    }


# --- books after fills --------------------------------------------------------------------------


async def test_books_after_fills_open_pending_and_rejected_orders(trader: Trader) -> None:
    sbin = await ltp(trader, "SBIN", "NSE")
    bought = await place(trader, "SBIN", "NSE", "BUY", 10)
    sold = await place(trader, "SBIN", "NSE", "SELL", 4)
    resting = await place(
        trader,
        "INFY",
        "NSE",
        "BUY",
        5,
        pricetype="LIMIT",
        price=tick(await ltp(trader, "INFY", "NSE") * Decimal("0.9")),
    )
    stop = await place(
        trader,
        "SBIN",
        "NSE",
        "SELL",
        2,
        pricetype="SL-M",
        trigger_price=tick(sbin * Decimal("0.9")),
    )
    refused = await reject(trader, "TCS", "NSE", "SELL", 1, product="CNC")

    book = (await trader.ok("orderbook"))["data"]
    orders = {o["orderid"]: o for o in book["orders"]}
    assert [o["orderid"] for o in book["orders"]] == [bought, sold, resting, stop, refused]
    assert book["statistics"] == {
        "total_buy_orders": 2,
        "total_sell_orders": 3,
        "total_completed_orders": 2,
        "total_open_orders": 1,
        "total_rejected_orders": 1,
        "total_trigger_pending_orders": 1,
    }
    first_fill = orders[bought]
    assert first_fill["order_status"] == "complete"
    assert (first_fill["symbol"], first_fill["exchange"], first_fill["action"]) == (
        "SBIN",
        "NSE",
        "BUY",
    )
    assert (first_fill["quantity"], first_fill["filled_quantity"]) == (10, 10)
    assert first_fill["pending_quantity"] == 0
    assert (first_fill["pricetype"], first_fill["product"], first_fill["price"]) == (
        "MARKET",
        "MIS",
        0.0,
    )
    assert first_fill["average_price"] > 0
    assert first_fill["timestamp"] == "2026-11-30 10:00:00"  # IST, YYYY-MM-DD HH:MM:SS
    assert first_fill["strategy"] == "test"
    assert orders[resting]["order_status"] == "open"
    assert (orders[resting]["filled_quantity"], orders[resting]["pending_quantity"]) == (0, 5)
    assert orders[stop]["order_status"] == "trigger pending"
    assert orders[stop]["trigger_price"] == float(tick(sbin * Decimal("0.9")))
    assert orders[refused]["order_status"] == "rejected"
    assert orders[refused]["rejection_reason"]

    trades = (await trader.ok("tradebook"))["data"]
    assert [(t["orderid"], t["action"], t["quantity"]) for t in trades] == [
        (bought, "BUY", 10),
        (sold, "SELL", 4),
    ]
    buy_price = Decimal(str(trades[0]["average_price"]))
    sell_price = Decimal(str(trades[1]["average_price"]))
    assert buy_price == Decimal(str(first_fill["average_price"]))
    assert trades[0]["trade_value"] == money(buy_price * 10)
    assert trades[1]["trade_value"] == money(sell_price * 4)
    assert trades[0]["tradeid"] != trades[1]["tradeid"]
    assert all(t["product"] == "MIS" and t["exchange"] == "NSE" for t in trades)

    positions = (await trader.ok("positionbook"))["data"]
    assert len(positions) == 1
    line = positions[0]
    assert (line["symbol"], line["exchange"], line["product"], line["quantity"]) == (
        "SBIN",
        "NSE",
        "MIS",
        6,
    )
    assert line["average_price"] == float(buy_price)
    mark = Decimal(str(line["ltp"]))
    realized = (sell_price - buy_price) * 4
    unrealized = (mark - buy_price) * 6
    assert line["today_realized_pnl"] == money(realized)
    assert line["unrealized_pnl"] == money(unrealized)
    assert line["pnl"] == money(realized + unrealized)
    assert line["lot_size"] == 1


async def test_closed_positions_stay_in_the_book_with_their_pnl(trader: Trader) -> None:
    await place(trader, "SBIN", "NSE", "BUY", 3)
    await place(trader, "SBIN", "NSE", "SELL", 3)
    trades = (await trader.ok("tradebook"))["data"]
    realized = (
        Decimal(str(trades[1]["average_price"])) - Decimal(str(trades[0]["average_price"]))
    ) * 3
    body = await trader.ok("positionbook")
    [line] = body["data"]
    assert line["quantity"] == 0
    assert line["average_price"] == 0.0
    assert line["pnl"] == money(realized)
    assert body["total_today_realized_pnl"] == money(realized)
    assert body["total_unrealized_pnl"] == 0.0


# --- funds arithmetic ---------------------------------------------------------------------------


async def test_funds_follow_margin_blocked_released_and_realized(trader: Trader) -> None:
    engine = venue_of(trader).engine
    # Resting orders block value / leverage: equity MIS 5x, CNC 1x, futures 10x.
    await place(trader, "SBIN", "NSE", "BUY", 10, pricetype="LIMIT", price="400")
    cnc = await place(
        trader, "SBIN", "NSE", "BUY", 10, product="CNC", pricetype="LIMIT", price="400"
    )
    future = first(trader, "NFO", "NIFTY", "FUT")
    fut_price = tick(await ltp(trader, future.symbol, "NFO") * Decimal("0.8"))
    await place(
        trader,
        future.symbol,
        "NFO",
        "BUY",
        future.lot_size,
        product="NRML",
        pricetype="LIMIT",
        price=fut_price,
    )
    blocked = Decimal(800) + Decimal(4000) + paise(fut_price * future.lot_size / 10)
    data = (await trader.ok("funds"))["data"]
    assert data["utiliseddebits"] == money(blocked)
    assert data["availablecash"] == money(Decimal(CAPITAL) - blocked)

    await venue_of(trader).cancel_order(cnc)  # releases exactly what it blocked
    blocked -= 4000
    data = (await trader.ok("funds"))["data"]
    assert data["utiliseddebits"] == money(blocked)
    assert data["availablecash"] == money(Decimal(CAPITAL) - blocked)

    # A round trip books its P&L; an open position shows unrealised P&L and exposure.
    await place(trader, "SBIN", "NSE", "BUY", 10)
    await place(trader, "SBIN", "NSE", "SELL", 10)
    await place(trader, "INFY", "NSE", "BUY", 4)
    await engine.drain()
    trades = (await trader.ok("tradebook"))["data"]
    realized = (
        Decimal(str(trades[1]["average_price"])) - Decimal(str(trades[0]["average_price"]))
    ) * 10
    infy_cost = Decimal(str(trades[2]["average_price"])) * 4
    infy_line = next(p for p in (await trader.ok("positionbook"))["data"] if p["symbol"] == "INFY")
    infy_margin = Decimal(str(infy_line["average_price"])) * 4 / 5
    data = (await trader.ok("funds"))["data"]
    assert data["m2mrealized"] == data["today_realized_pnl"] == money(realized)
    assert data["total_realized_pnl"] == money(realized)
    assert data["m2munrealized"] == infy_line["unrealized_pnl"]
    assert data["totalpnl"] == money(realized + Decimal(str(infy_line["unrealized_pnl"])))
    assert data["grossexposure"] == money(Decimal(str(infy_line["ltp"])) * 4)
    assert data["utiliseddebits"] == money(blocked + paise(infy_margin))
    assert data["availablecash"] == money(
        Decimal(CAPITAL) - blocked - paise(infy_margin) + realized
    )
    assert infy_cost > 0


async def test_a_reset_restores_capital_and_says_when(trader: Trader) -> None:
    await place(trader, "SBIN", "NSE", "BUY", 10)
    await place(trader, "INFY", "NSE", "BUY", 5, pricetype="LIMIT", price="100")
    await venue_of(trader).engine.reset(trader.account.user_id)
    data = (await trader.ok("funds"))["data"]
    assert (data["availablecash"], data["utiliseddebits"]) == (CAPITAL, 0.0)
    assert (data["reset_count"], data["last_reset"]) == (1, "2026-11-30 10:00:00")
    assert (await trader.ok("positionbook"))["data"] == []
    statuses = [o["order_status"] for o in (await trader.ok("orderbook"))["data"]["orders"]]
    assert statuses == ["complete", "cancelled"]  # orders stay in the book, open ones cancelled


async def test_cnc_buys_settle_into_holdings_the_next_day(trader: Trader) -> None:
    await place(trader, "SBIN", "NSE", "BUY", 5, product="CNC")
    trades = (await trader.ok("tradebook"))["data"]
    paid = Decimal(str(trades[0]["average_price"]))
    assert (await trader.ok("holdings"))["data"]["holdings"] == []

    async with next_day(trader):
        await _settled_holdings(trader, paid)


async def _settled_holdings(trader: Trader, paid: Decimal) -> None:
    data = (await trader.ok("holdings"))["data"]
    [held] = data["holdings"]
    assert (held["symbol"], held["exchange"], held["product"], held["quantity"]) == (
        "SBIN",
        "NSE",
        "CNC",
        5,
    )
    assert held["average_price"] == float(paid)
    assert held["settlement_date"] == "2026-12-01"
    mark = Decimal(str(held["ltp"]))
    assert held["current_value"] == money(mark * 5)
    assert held["pnl"] == money(mark * 5 - paid * 5)
    assert held["pnlpercent"] == money((mark * 5 - paid * 5) / (paid * 5) * 100)
    stats = data["statistics"]
    assert stats["totalinvvalue"] == money(paid * 5)
    assert stats["totalholdingvalue"] == money(mark * 5)
    assert stats["totalprofitandloss"] == held["pnl"]
    assert stats["totalpnlpercentage"] == held["pnlpercent"]
    # Settled shares left the position book and their margin became holdings.
    assert (await trader.ok("positionbook"))["data"] == []
    assert (await trader.ok("funds"))["data"]["utiliseddebits"] == 0.0


# --- bad input on the key-only books ------------------------------------------------------------


# One app per test (starting one takes a second): each test walks every book.


async def test_books_refuse_unknown_fields_and_bad_keys(trader: Trader) -> None:
    for name in BOOKS:
        r = await trader.post(name, bogus=1)
        assert r.status_code == 400, name
        assert r.json() == {
            "status": "error",
            "message": "bogus: unknown field",
            "errors": {"bogus": ["unknown field"]},
        }
        for payload in ({"apikey": "0" * 64}, {"apikey": 123}, {}):
            r = await trader.client.post(f"/api/v1/{name}", json=payload)
            assert r.status_code == 403, (name, payload, r.text)
            assert r.json() == INVALID_KEY


async def test_books_take_the_key_in_a_header_and_refuse_unusable_bodies(trader: Trader) -> None:
    for name in BOOKS:
        await _header_key_and_bodies(trader, name)


async def _header_key_and_bodies(trader: Trader, name: str) -> None:
    header = {"X-API-KEY": trader.api_key}
    r = await trader.client.post(f"/api/v1/{name}", headers=header)
    assert r.status_code == 200, r.text
    json = {**header, "content-type": "application/json"}
    for content, headers, message in (
        (b'{"apikey": ', json, MALFORMED_JSON),
        (b"[1, 2]", json, NOT_AN_OBJECT),
        (b'"text"', json, NOT_AN_OBJECT),
        (b"{}", {**header, "content-type": "text/plain"}, WRONG_CONTENT_TYPE),
    ):
        r = await trader.client.post(f"/api/v1/{name}", content=content, headers=headers)
        assert r.status_code == 400, (content, r.text)
        assert r.json()["message"] == message


# --- margin -------------------------------------------------------------------------------------


def leg(symbol: str, exchange: str, action: str, quantity: Any, product: str, **kw: Any) -> Any:
    return {
        "symbol": symbol,
        "exchange": exchange,
        "action": action,
        "quantity": quantity,
        "product": product,
        "pricetype": kw.pop("pricetype", "LIMIT"),
        **kw,
    }


async def margin_of(trader: Trader, *positions: Any) -> dict[str, Any]:
    body = await trader.ok("margin", positions=list(positions))
    assert "mode" not in body
    data: dict[str, Any] = body["data"]
    return data


async def test_margin_of_equity_by_product(trader: Trader) -> None:
    # MIS 5x leverage, CNC 1x; the SDK sends numbers as strings, numbers are accepted too.
    mis = await margin_of(trader, leg("SBIN", "NSE", "BUY", "10", "MIS", price="500"))
    assert mis == {"total_margin_required": 1000.0, "span_margin": 0.0, "exposure_margin": 1000.0}
    cnc = await margin_of(trader, leg("SBIN", "NSE", "BUY", 10, "CNC", price=500))
    assert cnc["total_margin_required"] == cnc["exposure_margin"] == 5000.0
    short = await margin_of(trader, leg("SBIN", "NSE", "SELL", 10, "MIS", price="500"))
    assert short["total_margin_required"] == 1000.0
    # Selling delivery shares blocks nothing.
    sale = await margin_of(trader, leg("SBIN", "NSE", "SELL", 10, "CNC", price="500"))
    assert sale["total_margin_required"] == 0.0
    bse = await margin_of(trader, leg("SBIN", "BSE", "BUY", 2, "MIS", price="500.05"))
    assert bse["total_margin_required"] == 200.02


async def test_margin_of_futures_and_options(trader: Trader) -> None:
    future = first(trader, "NFO", "NIFTY", "FUT")
    lots = 2 * future.lot_size
    fut = await margin_of(trader, leg(future.symbol, "NFO", "BUY", lots, "NRML", price="24000"))
    expected = money(Decimal(24000) * lots / 10)
    assert fut == {
        "total_margin_required": expected,
        "span_margin": expected,
        "exposure_margin": 0.0,
    }
    fut_mis = await margin_of(trader, leg(future.symbol, "NFO", "SELL", lots, "MIS", price="24000"))
    assert fut_mis["total_margin_required"] == expected  # futures: 10x whatever the product

    call = first(trader, "NFO", "NIFTY", "CE")
    qty = call.lot_size
    bought = await margin_of(trader, leg(call.symbol, "NFO", "BUY", qty, "NRML", price="120.5"))
    premium = money(Decimal("120.5") * qty)
    assert bought == {"total_margin_required": premium, "span_margin": 0.0, "exposure_margin": 0.0}
    written = await margin_of(trader, leg(call.symbol, "NFO", "SELL", qty, "MIS", price="120.5"))
    assert written == {
        "total_margin_required": premium,
        "span_margin": premium,
        "exposure_margin": 0.0,
    }

    basket = await margin_of(
        trader,
        leg(future.symbol, "NFO", "BUY", lots, "NRML", price="24000"),
        leg(call.symbol, "NFO", "BUY", qty, "NRML", price="120.5"),
        leg(call.symbol, "NFO", "SELL", qty, "NRML", price="120.5"),
        leg("SBIN", "NSE", "BUY", "10", "MIS", price="500"),
    )
    assert basket == {
        "total_margin_required": money(Decimal(str(expected)) + 2 * Decimal(str(premium)) + 1000),
        "span_margin": money(Decimal(str(expected)) + Decimal(str(premium))),
        "exposure_margin": 1000.0,
    }


async def test_margin_basis_is_the_order_type_price(trader: Trader) -> None:
    stop = await margin_of(
        trader,
        leg("SBIN", "NSE", "BUY", 10, "MIS", pricetype="SL", price="510", trigger_price="505"),
        leg("SBIN", "NSE", "BUY", 10, "MIS", pricetype="SL-M", trigger_price="505"),
    )
    assert stop["total_margin_required"] == 2020.0  # 2 x 505 x 10 / 5: the trigger price
    # MARKET: the last price, exactly what the ledger then blocks for the same order.
    quoted = await margin_of(trader, leg("INFY", "NSE", "BUY", 7, "MIS", pricetype="MARKET"))
    await place(trader, "INFY", "NSE", "BUY", 7)
    used = (await trader.ok("funds"))["data"]["utiliseddebits"]
    assert quoted["total_margin_required"] == used > 0


async def test_margin_follows_the_users_ledger_configuration(trader: Trader) -> None:
    await venue_of(trader).engine.set_config(trader.account.user_id, "equity_mis_leverage", "4")
    data = await margin_of(trader, leg("SBIN", "NSE", "BUY", 10, "MIS", price="500"))
    assert data["total_margin_required"] == 1250.0


async def test_margin_is_not_sandboxed(trader: Trader) -> None:
    await trader.analyzer(True)
    data = await margin_of(trader, leg("SBIN", "NSE", "BUY", 10, "MIS", price="500"))
    assert data["total_margin_required"] == 1000.0
    r = await trader.post("margin", positions=[])
    assert "mode" not in r.json()


GOOD = leg("SBIN", "NSE", "BUY", "10", "MIS", price="500")


BAD_FIELDS: list[tuple[dict[str, Any], str, str | None]] = [
    ({"quantity": "abc"}, "positions.0.quantity", "must be a number or a numeric string"),
    ({"quantity": 0}, "positions.0.quantity", "must be greater than 0"),
    ({"quantity": "-5"}, "positions.0.quantity", "must be greater than 0"),
    (
        {"quantity": 2.5},
        "positions.0.quantity",
        "Fractional quantity (2.5) is not allowed for non-crypto exchanges.",
    ),
    ({"price": "-1"}, "positions.0.price", "must be at least 0"),
    ({"exchange": "nse"}, "positions.0.exchange", None),
    ({"action": "Buy"}, "positions.0.action", None),
    ({"product": "BO"}, "positions.0.product", None),
    ({"pricetype": "STOP"}, "positions.0.pricetype", None),
    ({"symbol": ""}, "positions.0.symbol", "must not be empty"),
    ({"symbol": 5}, "positions.0.symbol", "must be a string"),
    ({"bogus": 1}, "positions.0.bogus", "unknown field"),
    ({"symbol": None}, "positions.0.symbol", "must be a string"),
]
BAD_BASKETS: list[tuple[Any, str, str]] = [
    ([], "positions", "must not be empty"),
    ([GOOD] * 51, "positions", "must have at most 50 items"),
    ({"a": 1}, "positions", "must be a list"),
    (["SBIN"], "positions.0", "must be a JSON object"),
    (None, "positions", "must be a list"),
]


async def test_margin_refuses_bad_fields_and_baskets(trader: Trader) -> None:
    for change, field, problem in BAD_FIELDS:
        r = await trader.post("margin", positions=[{**GOOD, **change}])
        assert r.status_code == 400, (change, r.text)
        errors = r.json()["errors"]
        assert list(errors) == [field], change
        if problem is not None:
            assert errors[field] == [problem], change
        else:
            assert errors[field][0].startswith("must be one of"), change
    for positions, field, problem in BAD_BASKETS:
        r = await trader.post("margin", positions=positions)
        assert r.status_code == 400, positions
        assert r.json()["errors"] == {field: [problem]}, positions


async def test_margin_needs_positions(trader: Trader) -> None:
    r = await trader.post("margin")
    assert r.status_code == 400
    assert r.json()["message"] == "positions: field required"
    for missing in ("symbol", "exchange", "action", "quantity", "product", "pricetype"):
        position = {k: v for k, v in GOOD.items() if k != missing}
        r = await trader.post("margin", positions=[position])
        assert r.json()["errors"] == {f"positions.0.{missing}": ["field required"]}, missing


REFUSED_BY_THE_LEDGER: list[tuple[Any, str, str]] = [
    (
        leg("NOPE", "NSE", "BUY", 1, "MIS", price="10"),
        "positions.1.symbol",
        "unknown symbol NOPE on NSE",
    ),
    (
        leg("SBIN", "NSE", "BUY", 1, "NRML", price="10"),
        "positions.1.product",
        "NRML is not allowed on NSE. Use CNC for delivery or MIS for intraday",
    ),
    (
        leg("SBIN", "NSE", "BUY", 1, "MIS", price="0"),
        "positions.1.price",
        "LIMIT orders require a price greater than 0",
    ),
    (
        leg("SBIN", "NSE", "BUY", 1, "MIS", price="500.03"),
        "positions.1.price",
        "Price 500.03 is not a multiple of the tick size 0.05 for SBIN",
    ),
    (
        leg("SBIN", "NSE", "BUY", 1, "MIS", pricetype="SL-M"),
        "positions.1.trigger_price",
        "SL-M orders require a trigger_price greater than 0",
    ),
    (
        leg("NIFTY", "NSE_INDEX", "BUY", 1, "MIS", price="10"),
        "positions.1.exchange",
        "Index values on NSE_INDEX cannot be traded",
    ),
]


async def test_margin_refuses_what_the_ledger_would_refuse(trader: Trader) -> None:
    for position, field, problem in REFUSED_BY_THE_LEDGER:
        r = await trader.post("margin", positions=[GOOD, position])
        assert r.status_code == 400, r.text
        assert r.json() == {
            "status": "error",
            "message": f"{field}: {problem}",
            "errors": {field: [problem]},
        }


async def test_margin_refuses_quantities_off_the_lot_size(trader: Trader) -> None:
    future = first(trader, "NFO", "NIFTY", "FUT")
    r = await trader.post(
        "margin",
        positions=[leg(future.symbol, "NFO", "BUY", future.lot_size + 1, "NRML", price="24000")],
    )
    assert r.status_code == 400
    assert r.json()["errors"] == {
        "positions.0.quantity": [
            f"Quantity {future.lot_size + 1} for {future.symbol} must be a multiple of the lot "
            f"size {future.lot_size}"
        ]
    }


async def test_margin_refuses_a_bad_key_before_anything(trader: Trader) -> None:
    r = await trader.client.post("/api/v1/margin", json={"apikey": "0" * 64, "positions": []})
    assert r.status_code == 403
    assert r.json() == INVALID_KEY
