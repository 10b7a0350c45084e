# mypy: disable-error-code="comparison-overlap"
"""Bad orders are refused with a reason a trader can act on, recorded, and move no money."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openalgo.brokers.base import OrderNotFound, OrderRejected
from openalgo.brokers.sandbox import SandboxEngine
from openalgo.domain.orders import ModifyRequest, OrderRequest
from openalgo.errors import ValidationFailed
from tests.brokers.sandbox.conftest import Checker, make_user, order
from tests.fakes.market import CollectingSink

D = Decimal
CAPITAL = D("10000000.00")

CASES = [
    ("zero quantity", order("SBIN", quantity=0), "Quantity must be a positive number"),
    ("negative quantity", order("SBIN", quantity=-5), "Quantity must be a positive number"),
    (
        "fractional quantity",
        order("SBIN", quantity=D("1.5")),
        "Fractional quantity (1.5) is not allowed for non-crypto exchanges.",
    ),
    (
        "LIMIT without a price",
        order("SBIN", pricetype="LIMIT"),
        "LIMIT orders require a price greater than 0",
    ),
    (
        "SL without a price",
        order("SBIN", pricetype="SL", trigger_price="790"),
        "SL orders require a price greater than 0",
    ),
    (
        "SL without a trigger",
        order("SBIN", pricetype="SL", price="790"),
        "SL orders require a trigger_price greater than 0",
    ),
    (
        "SL-M without a trigger",
        order("SBIN", pricetype="SL-M"),
        "SL-M orders require a trigger_price greater than 0",
    ),
    (
        "price off the tick grid",
        order("SBIN", pricetype="LIMIT", price="800.03"),
        "Price 800.03 is not a multiple of the tick size 0.05 for SBIN",
    ),
    (
        "trigger off the tick grid",
        order("SBIN", pricetype="SL-M", trigger_price="790.01"),
        "Trigger price 790.01 is not a multiple of the tick size 0.05 for SBIN",
    ),
    (
        "negative price",
        order("SBIN", pricetype="LIMIT", price="-1"),
        "Price must not be negative",
    ),
    (
        "price with five decimals",
        order(
            "USDINR29DEC26FUT", exchange="CDS", quantity=1000, pricetype="LIMIT", price="83.00001"
        ),
        "Price 83.00001 has more than 4 decimals",
    ),
    ("unknown symbol", order("NOSUCH"), "Symbol NOSUCH not found on NSE"),
    ("unknown exchange", order("SBIN", exchange="NASDAQ"), "Invalid exchange 'NASDAQ'"),
    (
        "an index",
        order("NIFTY", exchange="NSE_INDEX"),
        "Index values on NSE_INDEX cannot be traded",
    ),
    (
        "not a lot multiple",
        order("NIFTY29DEC26FUT", exchange="NFO", quantity=30, product="NRML"),
        "Quantity 30 for NIFTY29DEC26FUT must be a multiple of the lot size 75",
    ),
    (
        "NRML on a cash exchange",
        order("SBIN", product="NRML"),
        "NRML is not allowed on NSE. Use CNC for delivery or MIS for intraday",
    ),
    (
        "CNC on a derivative",
        order("NIFTY29DEC26FUT", exchange="NFO", quantity=75, product="CNC"),
        "CNC is not allowed on NFO. Use NRML for carry-forward or MIS for intraday",
    ),
    (
        "stop-loss buy with its trigger above its limit",
        order("SBIN", pricetype="SL", price="800", trigger_price="801"),
        "For a stop-loss BUY the trigger price must not be above the limit price",
    ),
    (
        "insufficient funds",
        order("RELIANCE", quantity=100000, product="CNC"),
        "Insufficient funds. Required: ₹250,000,000.00, Available: ₹10,000,000.00, "
        "Shortage: ₹240,000,000.00",
    ),
]


@pytest.mark.parametrize(("case", "request_", "reason"), CASES, ids=[c[0] for c in CASES])
async def test_bad_order_is_refused_recorded_and_costs_nothing(
    engine: SandboxEngine,
    user: int,
    sink: CollectingSink,
    assert_consistent: Checker,
    case: str,
    request_: OrderRequest,
    reason: str,
) -> None:
    with pytest.raises(OrderRejected) as info:
        await engine.place_order(user, request_)
    assert info.value.message == reason
    assert info.value.status_code == 400
    assert info.value.body()["orderid"] == info.value.orderid
    [recorded] = await engine.orders(user)
    assert (recorded.orderid, recorded.status, recorded.rejection_reason) == (
        info.value.orderid,
        "rejected",
        reason,
    )
    assert [e.kind.value for e in sink.events] == ["rejected"]
    view = await engine.funds_view(user)
    assert (view.funds.available, view.funds.used_margin) == (CAPITAL, 0)
    assert await engine.trades(user) == []
    await assert_consistent(user)


async def test_crypto_accepts_fractional_quantities(
    engine: SandboxEngine, user: int, assert_consistent: Checker
) -> None:
    await engine.place_order(
        user, order("BTCUSDT", exchange="CRYPTO", quantity=D("0.25"), product="NRML")
    )
    [line] = await engine.position_lines(user)
    assert line.position.quantity == D("0.25")
    # 0.25 x 65000.5 at 10x.
    assert (await engine.funds_view(user)).funds.used_margin == D("1625.01")
    await assert_consistent(user)


async def test_market_order_without_any_price_is_refused(
    engine: SandboxEngine, user: int, market: object
) -> None:
    from tests.fakes.market import FakeMarket

    assert isinstance(market, FakeMarket)
    market.down = True
    with pytest.raises(OrderRejected, match="Unable to fetch the current price of SBIN"):
        await engine.place_order(user, order("SBIN"))
    # A limit order needs no price to rest.
    await engine.place_order(user, order("SBIN", pricetype="LIMIT", price="700"))


async def test_modify_and_cancel_refuse_unknown_or_foreign_orders(
    engine: SandboxEngine, user: int, db: object
) -> None:
    from sqlalchemy.ext.asyncio import AsyncEngine

    assert isinstance(db, AsyncEngine)
    other = await make_user(db, "someone-else")
    theirs = await engine.place_order(other, order("SBIN", pricetype="LIMIT", price="700"))
    with pytest.raises(OrderNotFound, match=f"Order {theirs} not found"):
        await engine.cancel_order(user, theirs)
    with pytest.raises(OrderNotFound, match="Order 99 not found"):
        await engine.cancel_order(user, "99")
    with pytest.raises(OrderNotFound, match="Order ID is missing"):
        await engine.cancel_order(user, "")
    with pytest.raises(OrderNotFound):
        await engine.order(user, theirs)
    modify = ModifyRequest(
        orderid=theirs,
        symbol="SBIN",
        exchange="NSE",
        action="BUY",  # type: ignore[arg-type]
        quantity=1,
        pricetype="LIMIT",  # type: ignore[arg-type]
        product="MIS",  # type: ignore[arg-type]
        price=D("710"),
    )
    with pytest.raises(OrderNotFound):
        await engine.modify_order(user, modify)


@pytest.mark.parametrize(
    ("quantity", "price", "reason"),
    [
        (0, "710", "Quantity must be a positive number"),
        (1, "710.01", "Price 710.01 is not a multiple of the tick size 0.05 for SBIN"),
        (1, "0", "LIMIT orders require a price greater than 0"),
        (1, "-5", "Price must be a non-negative number with at most 4 decimals"),
    ],
)
async def test_bad_modifications_leave_the_order_as_it_was(
    engine: SandboxEngine, user: int, quantity: int, price: str, reason: str
) -> None:
    oid = await engine.place_order(user, order("SBIN", pricetype="LIMIT", price="700"))
    with pytest.raises(OrderRejected) as info:
        await engine.modify_order(
            user,
            ModifyRequest(
                orderid=oid,
                symbol="SBIN",
                exchange="NSE",
                action="BUY",  # type: ignore[arg-type]
                quantity=quantity,
                pricetype="LIMIT",  # type: ignore[arg-type]
                product="MIS",  # type: ignore[arg-type]
                price=D(price),
            ),
        )
    assert info.value.message == reason
    unchanged = await engine.order(user, oid)
    assert (unchanged.quantity, unchanged.price, unchanged.status) == (1, 700, "open")


async def test_modify_that_needs_more_money_than_there_is_is_refused(
    engine: SandboxEngine, user: int, assert_consistent: Checker
) -> None:
    from openalgo.brokers.base import InsufficientFunds

    oid = await engine.place_order(user, order("SBIN", pricetype="LIMIT", price="700"))
    with pytest.raises(InsufficientFunds):
        await engine.modify_order(
            user,
            ModifyRequest(
                orderid=oid,
                symbol="SBIN",
                exchange="NSE",
                action="BUY",  # type: ignore[arg-type]
                quantity=1_000_000,
                pricetype="LIMIT",  # type: ignore[arg-type]
                product="MIS",  # type: ignore[arg-type]
                price=D("700"),
            ),
        )
    assert (await engine.order(user, oid)).quantity == 1
    await assert_consistent(user)


GTT_CASES = [
    (
        {"trigger_type": "SINGLE"},
        "A SINGLE GTT needs exactly one of triggerprice_sl or triggerprice_tg",
    ),
    (
        {"trigger_type": "SINGLE", "triggerprice_sl": D("790"), "triggerprice_tg": D("810")},
        "A SINGLE GTT needs exactly one of triggerprice_sl or triggerprice_tg",
    ),
    (
        {"trigger_type": "OCO", "triggerprice_sl": D("790")},
        "An OCO GTT needs both triggerprice_sl and triggerprice_tg",
    ),
    (
        {"trigger_type": "OCO", "triggerprice_sl": D("810"), "triggerprice_tg": D("790")},
        "triggerprice_sl must be below triggerprice_tg",
    ),
    (
        {"trigger_type": "LADDER", "triggerprice_sl": D("790")},
        "Invalid trigger_type 'LADDER': use SINGLE or OCO",
    ),
    (
        {"trigger_type": "SINGLE", "triggerprice_sl": D("790"), "product": "MIS"},
        "GTT product must be CNC or NRML",
    ),
    (
        {"trigger_type": "SINGLE", "triggerprice_sl": D("790.01")},
        "Trigger price 790.01 is not a multiple of the tick size 0.05 for SBIN",
    ),
    (
        {"trigger_type": "SINGLE", "triggerprice_sl": D("790"), "symbol": "NOSUCH"},
        "Symbol NOSUCH not found on NSE",
    ),
    (
        {"trigger_type": "SINGLE", "triggerprice_sl": D("790"), "quantity": 0},
        "Quantity must be a positive number",
    ),
]


@pytest.mark.parametrize(("fields", "reason"), GTT_CASES)
async def test_bad_gtt_is_refused_and_reserves_nothing(
    engine: SandboxEngine, user: int, fields: dict[str, object], reason: str
) -> None:
    request: dict[str, object] = {
        "symbol": "SBIN",
        "exchange": "NSE",
        "action": "BUY",
        "product": "CNC",
        "quantity": 1,
        "price": D("789"),
    }
    request.update(fields)
    with pytest.raises(ValidationFailed) as info:
        await engine.place_gtt(user, **request)  # type: ignore[arg-type]
    assert info.value.message == reason
    assert info.value.status_code == 400
    assert await engine.gtts(user, active_only=False) == []


async def test_gtt_expiry_in_the_past_is_refused(engine: SandboxEngine, user: int) -> None:
    from datetime import timedelta

    with pytest.raises(ValidationFailed, match="expires_at must be in the future"):
        await engine.place_gtt(
            user,
            trigger_type="SINGLE",
            symbol="SBIN",
            exchange="NSE",
            action="BUY",
            product="CNC",
            quantity=1,
            price=D("789"),
            triggerprice_sl=D("790"),
            expires_at=engine.clock.now() - timedelta(minutes=1),
        )
