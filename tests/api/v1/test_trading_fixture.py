"""The shared trading fixture works: the master is loaded, the key authenticates, analyzer mode
switches the principal."""

from __future__ import annotations

from tests.support.trading import Trader


async def test_trader_pings_on_the_simulator(trader: Trader) -> None:
    body = await trader.ok("ping")
    assert body["data"]["broker"] == "simulator"
    assert "mode" not in body
    assert trader.live.runtime.instruments.get("SBIN", "NSE") is not None


async def test_analyzer_switch_reaches_the_principal(trader: Trader) -> None:
    security = trader.live.security
    before = await security.authenticate(trader.api_key, "127.0.0.1")
    assert before is not None and not before.analyzer_mode
    await trader.analyzer(True)
    after = await security.authenticate(trader.api_key, "127.0.0.1")
    assert after is not None and after.analyzer_mode
