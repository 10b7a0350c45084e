from __future__ import annotations

from decimal import Decimal

from openalgo.brokers.sandbox import SandboxEngine
from tests.brokers.sandbox.conftest import Checker, order


async def test_market_buy_then_sell(
    engine: SandboxEngine, user: int, assert_consistent: Checker
) -> None:
    oid = await engine.place_order(user, order("SBIN", "BUY", 10))
    assert len(oid) == 14
    funds = await engine.funds_view(user)
    assert funds.funds.used_margin == Decimal("1600.00")
    await engine.place_order(user, order("SBIN", "SELL", 10))
    await assert_consistent(user)
