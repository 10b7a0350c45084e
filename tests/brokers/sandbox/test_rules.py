# mypy: disable-error-code="comparison-overlap"
"""Leverage, margin and time rules as OpenAlgo states them (reference D1, D2, D6)."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

import pytest

from openalgo.brokers.sandbox.config import SandboxConfig
from openalgo.brokers.sandbox.rules import (
    Spec,
    leverage,
    margin,
    mis_entry_block,
    opening_quantity,
    order_margin,
    relevant_prices,
)
from openalgo.domain.clock import IST

D = Decimal
CFG = SandboxConfig()
EQ = Spec("SBIN", "NSE", "EQ")
FUT = Spec("NIFTY29DEC26FUT", "NFO", "FUT", lot_size=75)
CE = Spec("NIFTY29DEC2624000CE", "NFO", "CE", lot_size=75)
CRYPTO = Spec("BTCUSDT", "CRYPTO", "FUT")


@pytest.mark.parametrize(
    ("spec", "product", "action", "expected"),
    [
        (EQ, "MIS", "BUY", 5),
        (EQ, "CNC", "BUY", 1),
        (FUT, "NRML", "BUY", 10),
        (FUT, "MIS", "SELL", 10),
        (CE, "NRML", "BUY", 1),
        (CE, "NRML", "SELL", 1),
        (CRYPTO, "NRML", "BUY", 10),
    ],
)
def test_leverage_table(spec: Spec, product: str, action: str, expected: int) -> None:
    assert leverage(CFG, spec, product, action) == expected


def test_margin_is_value_over_leverage_to_the_paisa() -> None:
    assert margin(D(3), D("100.05"), D(10)) == D("30.02")  # 30.015 rounds half up
    assert margin(D(0), D(100), D(1)) == 0
    assert margin(D(1), D(0), D(1)) == 0


@pytest.mark.parametrize(
    ("position", "side", "qty", "opening"),
    [(0, 1, 10, 10), (5, 1, 10, 10), (-5, 1, 3, 0), (-5, 1, 5, 0), (-5, 1, 8, 3), (5, -1, 12, 7)],
)
def test_opening_quantity(position: int, side: int, qty: int, opening: int) -> None:
    assert opening_quantity(D(position), side, D(qty)) == opening


def test_cnc_sells_never_block_margin() -> None:
    assert (
        order_margin(
            CFG, EQ, product="CNC", action="SELL", qty=D(10), basis=D(100), position_qty=D(0)
        )
        == 0
    )
    assert order_margin(
        CFG, EQ, product="MIS", action="SELL", qty=D(10), basis=D(100), position_qty=D(0)
    ) == D("200.00")


def test_unused_prices_are_dropped() -> None:
    assert relevant_prices("MARKET", D(5), D(6)) == (0, 0)
    assert relevant_prices("LIMIT", D(5), D(6)) == (5, 0)
    assert relevant_prices("SL", D(5), D(6)) == (5, 6)
    assert relevant_prices("SL-M", D(5), D(6)) == (0, 6)


@pytest.mark.parametrize(
    ("exchange", "clock", "blocked"),
    [
        ("NSE", time(9, 0), False),
        ("NSE", time(8, 59), True),
        ("NSE", time(15, 14), False),
        ("NSE", time(15, 15), True),
        ("NFO", time(15, 15), True),
        ("CDS", time(16, 44), False),
        ("CDS", time(16, 45), True),
        ("MCX", time(23, 29), False),
        ("MCX", time(23, 30), True),
        ("NCDEX", time(17, 0), True),
        ("CRYPTO", time(23, 59), False),
    ],
)
def test_mis_entry_window(exchange: str, clock: time, blocked: bool) -> None:
    now = datetime(2026, 12, 14, clock.hour, clock.minute, tzinfo=IST)
    assert bool(mis_entry_block(CFG, exchange, now, time(9, 0))) is blocked


def test_contracts_expire_after_the_close_of_their_expiry_day() -> None:
    from datetime import date

    from openalgo.brokers.sandbox.ops import is_expired

    expiry = date(2026, 12, 29)

    def at(day: int, hour: int, minute: int) -> datetime:
        return datetime(2026, 12, day, hour, minute, tzinfo=IST)

    assert not is_expired(expiry, "NFO", at(29, 15, 39), CFG)
    assert is_expired(expiry, "NFO", at(29, 15, 40), CFG)
    assert not is_expired(expiry, "MCX", at(29, 23, 29), CFG)
    assert is_expired(expiry, "CDS", at(29, 17, 0), CFG)
    assert not is_expired(None, "NSE", at(31, 0, 0), CFG)
    next_day = SandboxConfig(expiry_settlement_timing="next_day")
    assert not is_expired(expiry, "NFO", at(29, 23, 59), next_day)
    assert is_expired(expiry, "NFO", at(30, 0, 0), next_day)
