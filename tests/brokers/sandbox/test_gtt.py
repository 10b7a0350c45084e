"""GTT orders: single and OCO, place / modify / cancel / list, fired exactly once."""

# mypy: disable-error-code="comparison-overlap"
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from openalgo.brokers.base import OrderNotFound
from openalgo.brokers.sandbox import SandboxConfig, SandboxEngine
from openalgo.brokers.sandbox.gtt import GttStateError, build_legs
from openalgo.domain.clock import ManualClock
from openalgo.errors import ValidationFailed
from tests.brokers.sandbox.conftest import Checker, EngineFactory, order
from tests.fakes.market import tick

D = Decimal


def gtt(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "trigger_type": "SINGLE",
        "symbol": "SBIN",
        "exchange": "NSE",
        "action": "BUY",
        "product": "CNC",
        "quantity": 10,
        "price": D("781"),
    }
    base.update(fields)
    return base


async def used(engine: SandboxEngine, user: int) -> Decimal:
    return (await engine.funds_view(user)).funds.used_margin


async def test_buy_on_a_dip_fires_when_the_price_falls_to_the_trigger(
    engine: SandboxEngine, user: int, assert_consistent: Checker
) -> None:
    gtt_id = await engine.place_gtt(user, **gtt(triggerprice_sl=D("782")))
    assert gtt_id.startswith("GTT-")
    assert await used(engine, user) == D("7810.00")  # reserved at the limit price, CNC 1x
    engine.on_tick(tick("SBIN", "NSE", 790.0))
    await engine.drain()
    assert [g.status for g in await engine.gtts(user)] == ["active"]

    engine.on_tick(tick("SBIN", "NSE", 782.0))  # inclusive
    await engine.drain()
    [fired] = await engine.gtts(user, active_only=False)
    assert (fired.status, fired.fired_leg) == ("triggered", 1)
    child = await engine.order(user, fired.orderid or "")
    assert (child.pricetype, child.price, child.status, child.gtt_id) == (
        "LIMIT",
        781,
        "open",
        gtt_id,
    )
    assert child.strategy == "GTT"
    assert await used(engine, user) == D("7810.00")  # moved from the GTT to its order
    assert await engine.gtts(user) == []  # the book lists active GTTs only
    await assert_consistent(user)


async def test_oco_target_fires_and_the_stop_loss_dies_with_it(
    engine: SandboxEngine, user: int, clock: ManualClock, assert_consistent: Checker
) -> None:
    await engine.place_order(user, order("SBIN", "BUY", 10, product="CNC"))
    clock.advance(timedelta(days=1))
    gtt_id = await engine.place_gtt(
        user,
        **gtt(
            trigger_type="OCO",
            action="SELL",
            price=D("0"),
            triggerprice_sl=D("780"),
            stoploss=D("779"),
            triggerprice_tg=D("820"),
            target=D("819"),
        ),
    )
    assert await used(engine, user) == 0  # a CNC sell reserves no margin
    engine.on_tick(tick("SBIN", "NSE", 821.0))
    await engine.drain()
    engine.on_tick(tick("SBIN", "NSE", 700.0))  # the stop-loss leg must not fire now
    await engine.drain()
    [fired] = await engine.gtts(user, active_only=False)
    assert (fired.gtt_id, fired.status, fired.fired_leg) == (gtt_id, "triggered", 2)
    child = await engine.order(user, fired.orderid or "")
    assert (child.action, child.status, child.average_price) == ("SELL", "complete", 821)
    assert len([o for o in await engine.orders(user) if o.gtt_id]) == 1
    await assert_consistent(user)


async def test_oco_reserves_the_larger_leg_or_both_by_config(
    make_engine: EngineFactory, user: int
) -> None:
    fields = gtt(
        trigger_type="OCO",
        price=D("0"),
        triggerprice_sl=D("790"),
        stoploss=D("791"),
        triggerprice_tg=D("810"),
        target=D("811"),
    )
    engine = await make_engine()
    await engine.place_gtt(user, **fields)
    assert await used(engine, user) == D("8110.00")
    summing = await make_engine(config=SandboxConfig(gtt_oco_margin_mode="sum"), ledger="simulator")
    await summing.place_gtt(user, **fields)
    assert (await summing.funds_view(user)).funds.used_margin == D("16020.00")


async def test_market_leg_reserves_at_its_trigger_and_fills_at_the_market(
    engine: SandboxEngine, user: int, assert_consistent: Checker
) -> None:
    await engine.place_gtt(
        user, **gtt(pricetype="MARKET", price=D("0"), triggerprice_tg=D("805"), product="CNC")
    )
    assert await used(engine, user) == D("8050.00")
    engine.on_tick(tick("SBIN", "NSE", 806.0, bid=805.95, ask=806.05))
    await engine.drain()
    [fired] = await engine.gtts(user, active_only=False)
    child = await engine.order(user, fired.orderid or "")
    assert (child.pricetype, child.status, child.average_price) == (
        "MARKET",
        "complete",
        D("806.05"),
    )
    await assert_consistent(user)


async def test_modify_reconciles_margin_and_guards_immutable_fields(
    engine: SandboxEngine, user: int, assert_consistent: Checker
) -> None:
    gtt_id = await engine.place_gtt(user, **gtt(triggerprice_sl=D("782")))
    await engine.modify_gtt(
        user, gtt_id, **gtt(quantity=20, price=D("770"), triggerprice_sl=D("771"))
    )
    [changed] = await engine.gtts(user)
    assert (changed.quantity, changed.trigger_sl, changed.price_sl) == (20, 771, 770)
    assert await used(engine, user) == D("15400.00")
    engine.on_tick(tick("SBIN", "NSE", 780.0))  # the old trigger: nothing happens
    await engine.drain()
    assert [g.status for g in await engine.gtts(user)] == ["active"]
    with pytest.raises(ValidationFailed, match="Cancel and re-place"):
        await engine.modify_gtt(user, gtt_id, **gtt(action="SELL", triggerprice_sl=D("771")))
    with pytest.raises(ValidationFailed, match="Cancel and re-place"):
        await engine.modify_gtt(
            user,
            gtt_id,
            **gtt(trigger_type="OCO", triggerprice_sl=D("771"), triggerprice_tg=D("900")),
        )
    await assert_consistent(user)


async def test_cancel_releases_once_and_a_cancelled_gtt_never_fires(
    engine: SandboxEngine, user: int, assert_consistent: Checker
) -> None:
    gtt_id = await engine.place_gtt(user, **gtt(triggerprice_sl=D("782")))
    await engine.cancel_gtt(user, gtt_id)
    assert await used(engine, user) == 0
    with pytest.raises(GttStateError, match="is cancelled, not active"):
        await engine.cancel_gtt(user, gtt_id)
    with pytest.raises(OrderNotFound, match="GTT GTT-nope not found"):
        await engine.cancel_gtt(user, "GTT-nope")
    engine.on_tick(tick("SBIN", "NSE", 700.0))
    await engine.drain()
    assert await engine.orders(user) == []
    await assert_consistent(user)


async def test_expired_gtts_release_their_margin(
    engine: SandboxEngine, user: int, clock: ManualClock, assert_consistent: Checker
) -> None:
    await engine.place_gtt(
        user, **gtt(triggerprice_sl=D("782")), expires_at=clock.now() + timedelta(days=2)
    )
    clock.advance(timedelta(days=1))
    await engine.run_maintenance()
    assert [g.status for g in await engine.gtts(user)] == ["active"]
    clock.advance(timedelta(days=1, seconds=1))
    await engine.run_maintenance()
    assert [g.status for g in await engine.gtts(user, active_only=False)] == ["expired"]
    assert await used(engine, user) == 0
    await assert_consistent(user)


async def test_gtt_whose_order_cannot_be_afforded_is_rejected_not_lost(
    engine: SandboxEngine, user: int, assert_consistent: Checker
) -> None:
    # A MARKET GTT reserves at its trigger; a gap up makes its order dearer than the reserve.
    gtt_id = await engine.place_gtt(
        user,
        **gtt(
            symbol="NIFTY29DEC26FUT",
            exchange="NFO",
            product="NRML",
            quantity=75,
            pricetype="MARKET",
            price=D("0"),
            triggerprice_tg=D("24100"),
        ),
    )
    assert await used(engine, user) == D("180750.00")
    await engine.place_order(user, order("RELIANCE", "BUY", 3927, product="CNC"))
    engine.on_tick(tick("NIFTY29DEC26FUT", "NFO", 24500.0))
    await engine.drain()
    [fired] = await engine.gtts(user, active_only=False)
    assert fired.gtt_id == gtt_id and fired.status == "rejected"
    assert "Insufficient funds" in fired.rejection_reason
    child = await engine.order(user, fired.orderid or "")
    assert child.status == "rejected"
    await assert_consistent(user)


def test_leg_building_follows_openalgo() -> None:
    single_sl = build_legs(
        trigger_type="single",
        price=D("100"),
        triggerprice_sl=D("99"),
        triggerprice_tg=None,
        stoploss=None,
        target=None,
    )
    assert (single_sl.trigger_sl, single_sl.price_sl, single_sl.trigger_tg) == (99, 100, None)
    oco = build_legs(
        trigger_type="OCO",
        price=D("100"),
        triggerprice_sl=D("95"),
        triggerprice_tg=D("110"),
        stoploss=None,
        target=D("111"),
    )
    # A missing leg limit falls back to the price.
    assert (oco.price_sl, oco.price_tg, oco.trigger_type) == (100, 111, "two-leg")
