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


async def test_option_strikes_centre_on_the_running_market(trader: Trader) -> None:
    """The master's strikes are generated from the same price paths the running market walks
    (here kept open around the clock), so the middle of a chain sits near the live index."""
    from decimal import Decimal

    from openalgo.domain.enums import InstrumentType

    runtime = trader.live.runtime
    expiry = runtime.instruments.option_expiries(
        "NIFTY", "NFO", on_or_after=trader.live.clock.now().date()
    )[0]
    strikes = runtime.instruments.strikes("NIFTY", "NFO", expiry, InstrumentType.CE)
    middle = strikes[len(strikes) // 2]
    ltp = (await runtime.simulator.quote("NIFTY", "NSE_INDEX")).ltp
    assert abs(Decimal(str(ltp)) - middle) / middle < Decimal("0.02"), (ltp, middle)
