"""Black-Scholes prices, greeks and implied volatility, in plain floats.

Used by the simulator to price option chains from the underlying, and by the option-greeks and
option-chain services. ``dividend`` is a continuous yield; pricing an option on a future (Black-76)
is the same formula with the future as ``spot`` and ``dividend = rate``, see `black76_price`.

Units follow what traders read on screen: ``theta`` per calendar day, ``vega`` and ``rho`` per one
percentage point, volatility and rates as fractions (0.15, not 15).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

OptionKind = Literal["CE", "PE"]
_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
MIN_VOL = 1e-4
MAX_VOL = 5.0


def norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / _SQRT_2))


def norm_pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@dataclass(frozen=True, slots=True)
class Greeks:
    delta: float
    gamma: float
    theta: float  # per calendar day
    vega: float  # per 1 percentage point of volatility
    rho: float  # per 1 percentage point of rate


def _check(spot: float, strike: float, years: float, vol: float) -> None:
    if not (spot > 0 and strike > 0):
        raise ValueError("spot and strike must be positive")
    if years < 0 or vol < 0 or math.isnan(years) or math.isnan(vol):
        raise ValueError("time and volatility must be non-negative")


def _intrinsic(kind: OptionKind, spot: float, strike: float) -> float:
    return max(spot - strike, 0.0) if kind == "CE" else max(strike - spot, 0.0)


def bs_price(
    kind: OptionKind,
    spot: float,
    strike: float,
    years: float,
    rate: float,
    vol: float,
    dividend: float = 0.0,
) -> float:
    """The Black-Scholes(-Merton) premium. At expiry (or zero vol) it is the discounted intrinsic."""
    _check(spot, strike, years, vol)
    fwd_spot = spot * math.exp(-dividend * years)
    disc_strike = strike * math.exp(-rate * years)
    if years == 0.0 or vol == 0.0:
        return (
            max(fwd_spot - disc_strike, 0.0) if kind == "CE" else max(disc_strike - fwd_spot, 0.0)
        )
    root = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate - dividend + 0.5 * vol * vol) * years) / root
    d2 = d1 - root
    if kind == "CE":
        return fwd_spot * norm_cdf(d1) - disc_strike * norm_cdf(d2)
    return disc_strike * norm_cdf(-d2) - fwd_spot * norm_cdf(-d1)


def black76_price(
    kind: OptionKind, future: float, strike: float, years: float, rate: float, vol: float
) -> float:
    """An option on a future (MCX, CDS): Black-76."""
    return bs_price(kind, future, strike, years, rate, vol, dividend=rate)


def bs_greeks(
    kind: OptionKind,
    spot: float,
    strike: float,
    years: float,
    rate: float,
    vol: float,
    dividend: float = 0.0,
) -> Greeks:
    _check(spot, strike, years, vol)
    if years == 0.0 or vol == 0.0:
        itm = (spot > strike) if kind == "CE" else (spot < strike)
        delta = (1.0 if kind == "CE" else -1.0) if itm else 0.0
        return Greeks(delta=delta, gamma=0.0, theta=0.0, vega=0.0, rho=0.0)
    sqrt_t = math.sqrt(years)
    root = vol * sqrt_t
    d1 = (math.log(spot / strike) + (rate - dividend + 0.5 * vol * vol) * years) / root
    d2 = d1 - root
    q_disc = math.exp(-dividend * years)
    r_disc = math.exp(-rate * years)
    pdf = norm_pdf(d1)
    gamma = q_disc * pdf / (spot * root)
    vega = spot * q_disc * pdf * sqrt_t
    decay = -spot * q_disc * pdf * vol / (2.0 * sqrt_t)
    if kind == "CE":
        delta = q_disc * norm_cdf(d1)
        theta = (
            decay - rate * strike * r_disc * norm_cdf(d2) + dividend * spot * q_disc * norm_cdf(d1)
        )
        rho = strike * years * r_disc * norm_cdf(d2)
    else:
        delta = -q_disc * norm_cdf(-d1)
        theta = (
            decay
            + rate * strike * r_disc * norm_cdf(-d2)
            - dividend * spot * q_disc * norm_cdf(-d1)
        )
        rho = -strike * years * r_disc * norm_cdf(-d2)
    return Greeks(delta=delta, gamma=gamma, theta=theta / 365.0, vega=vega / 100.0, rho=rho / 100.0)


def implied_volatility(
    kind: OptionKind,
    price: float,
    spot: float,
    strike: float,
    years: float,
    rate: float,
    dividend: float = 0.0,
    *,
    tolerance: float = 1e-7,
    max_iterations: int = 100,
) -> float | None:
    """The volatility that reproduces ``price``, or None when no volatility can.

    None means the price sits on or outside the no-arbitrage bounds (at or below the discounted
    intrinsic value, or at or above the forward for a call / the discounted strike for a put), the
    option has expired, or the answer is above `MAX_VOL`. The solver is Newton's method kept inside
    a bisection bracket, so it converges even where vega is tiny (deep in or out of the money).
    """
    if years <= 0 or not math.isfinite(price) or price <= 0:
        return None
    _check(spot, strike, years, 0.0)
    fwd_spot = spot * math.exp(-dividend * years)
    disc_strike = strike * math.exp(-rate * years)
    lower = max(fwd_spot - disc_strike, 0.0) if kind == "CE" else max(disc_strike - fwd_spot, 0.0)
    upper = fwd_spot if kind == "CE" else disc_strike
    if price <= lower + 1e-12 or price >= upper:
        return None
    low, high = MIN_VOL, MAX_VOL
    if bs_price(kind, spot, strike, years, rate, high, dividend) < price:
        return None
    if bs_price(kind, spot, strike, years, rate, low, dividend) > price:
        return low
    # Brenner-Subrahmanyam start, clamped into the bracket.
    vol = min(max(math.sqrt(2.0 * math.pi / years) * price / spot, 0.05), 1.0)
    for _ in range(max_iterations):
        diff = bs_price(kind, spot, strike, years, rate, vol, dividend) - price
        if abs(diff) < tolerance:
            return vol
        if diff > 0:
            high = vol
        else:
            low = vol
        vega = bs_greeks(kind, spot, strike, years, rate, vol, dividend).vega * 100.0
        step = vol - diff / vega if vega > 1e-12 else -1.0
        vol = step if low < step < high else 0.5 * (low + high)
        if high - low < 1e-12:
            return vol
    return vol
