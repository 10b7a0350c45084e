"""Black-Scholes against textbook values, parity, greeks by finite differences, IV recovery."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openalgo.domain.options import (
    OptionKind,
    black76_price,
    bs_greeks,
    bs_price,
    implied_volatility,
    norm_cdf,
)


def test_textbook_value() -> None:
    # Hull, Options Futures and Other Derivatives: S=42, K=40, r=10%, sigma=20%, T=0.5.
    assert bs_price("CE", 42, 40, 0.5, 0.10, 0.20) == pytest.approx(4.7594, abs=1e-4)
    assert bs_price("PE", 42, 40, 0.5, 0.10, 0.20) == pytest.approx(0.8086, abs=1e-4)


@given(
    spot=st.floats(50, 50000),
    moneyness=st.floats(0.5, 1.5),
    years=st.floats(1 / 365, 2),
    rate=st.floats(0, 0.12),
    vol=st.floats(0.05, 1.0),
)
def test_put_call_parity(
    spot: float, moneyness: float, years: float, rate: float, vol: float
) -> None:
    strike = spot * moneyness
    call = bs_price("CE", spot, strike, years, rate, vol)
    put = bs_price("PE", spot, strike, years, rate, vol)
    assert call - put == pytest.approx(spot - strike * math.exp(-rate * years), abs=1e-6 * spot)


def test_expiry_is_intrinsic() -> None:
    assert bs_price("CE", 105, 100, 0, 0.05, 0.2) == 5
    assert bs_price("PE", 105, 100, 0, 0.05, 0.2) == 0
    greeks = bs_greeks("PE", 95, 100, 0, 0.05, 0.2)
    assert (greeks.delta, greeks.gamma) == (-1.0, 0.0)


@pytest.mark.parametrize("kind", ["CE", "PE"])
def test_greeks_match_finite_differences(kind: OptionKind) -> None:
    s, k, t, r, v = 24000.0, 24200.0, 20 / 365, 0.065, 0.14

    def price(s: float = s, t: float = t, r: float = r, v: float = v) -> float:
        return bs_price(kind, s, k, t, r, v)

    g = bs_greeks(kind, s, k, t, r, v)
    h = 0.5
    assert g.delta == pytest.approx((price(s=s + h) - price(s=s - h)) / (2 * h), rel=1e-4)
    assert g.gamma == pytest.approx(
        (price(s=s + h) - 2 * price() + price(s=s - h)) / h**2, rel=1e-3
    )
    assert g.vega == pytest.approx((price(v=v + 1e-4) - price(v=v - 1e-4)) / 2e-4 / 100, rel=1e-4)
    assert g.rho == pytest.approx((price(r=r + 1e-5) - price(r=r - 1e-5)) / 2e-5 / 100, rel=1e-4)
    assert g.theta == pytest.approx(price(t=t - 1 / 365) - price(), rel=2e-2)


@given(
    spot=st.floats(100, 50000),
    moneyness=st.floats(0.7, 1.3),
    years=st.floats(2 / 365, 1),
    vol=st.floats(0.05, 1.5),
    kind=st.sampled_from(["CE", "PE"]),
)
def test_implied_volatility_recovers_the_input(
    spot: float, moneyness: float, years: float, vol: float, kind: str
) -> None:
    strike = spot * moneyness
    price = bs_price(kind, spot, strike, years, 0.06, vol)  # type: ignore[arg-type]
    forward_intrinsic = max(
        (spot - strike * math.exp(-0.06 * years)) * (1 if kind == "CE" else -1), 0.0
    )
    if price - forward_intrinsic < 1e-4 * spot:  # no time value left to carry a volatility
        assert implied_volatility(kind, forward_intrinsic, spot, strike, years, 0.06) is None  # type: ignore[arg-type]
        return
    iv = implied_volatility(kind, price, spot, strike, years, 0.06)  # type: ignore[arg-type]
    assert iv is not None
    assert bs_price(kind, spot, strike, years, 0.06, iv) == pytest.approx(price, abs=1e-5 * spot)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "price"),
    [("CE", 0.0), ("CE", 4.0), ("CE", 105.0), ("PE", -1.0), ("CE", float("nan"))],
)
def test_implied_volatility_outside_bounds_is_none(kind: str, price: float) -> None:
    # Spot 105, strike 100: a call below intrinsic (5) or above spot has no volatility.
    assert implied_volatility(kind, price, 105, 100, 30 / 365, 0.0) is None  # type: ignore[arg-type]


def test_implied_volatility_expired_is_none() -> None:
    assert implied_volatility("CE", 5.0, 105, 100, 0, 0.0) is None


def test_black76_is_discounted_forward_formula() -> None:
    f, k, t, r, v = 83.5, 84.0, 0.1, 0.07, 0.05
    root = v * math.sqrt(t)
    d1 = (math.log(f / k) + 0.5 * v * v * t) / root
    expected = math.exp(-r * t) * (f * norm_cdf(d1) - k * norm_cdf(d1 - root))
    assert black76_price("CE", f, k, t, r, v) == pytest.approx(expected, rel=1e-12)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="positive"):
        bs_price("CE", 0, 100, 1, 0, 0.2)
    with pytest.raises(ValueError, match="non-negative"):
        bs_price("CE", 100, 100, -1, 0, 0.2)
