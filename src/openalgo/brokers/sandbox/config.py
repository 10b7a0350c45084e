"""The ledger's rules as data: leverage, cut-off times, settlement choices.

Defaults come from ``OPENALGO_SANDBOX_*`` settings; each user may override the per-user keys in
the ``sandbox_config`` table (OpenAlgo keeps the same knobs in its ``sandbox_config``). Times are IST.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any

from openalgo.errors import ValidationFailed
from openalgo.settings import Settings

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Exchange -> square-off group. CRYPTO trades round the clock and is never squared off.
SQUARE_OFF_GROUP = {
    "NSE": "nse_bse",
    "BSE": "nse_bse",
    "NFO": "nse_bse",
    "BFO": "nse_bse",
    "CDS": "cds_bcd",
    "BCD": "cds_bcd",
    "MCX": "mcx",
    "NCO": "mcx",
    "NCDEX": "ncdex",
}

# When a contract stops trading on its expiry day (IST); after this it settles.
EXPIRY_CLOSE = {
    "NFO": time(15, 40),
    "BFO": time(15, 40),
    "CDS": time(17, 0),
    "BCD": time(17, 0),
    "MCX": time(23, 30),
    "NCO": time(23, 30),
    "NCDEX": time(17, 0),
}
DEFAULT_EXPIRY_CLOSE = time(15, 30)


def parse_clock(value: str) -> time:
    hours, sep, minutes = value.strip().partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit()):
        raise ValueError("use HH:MM")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class SandboxConfig:
    starting_capital: Decimal = Decimal("10000000")
    equity_mis_leverage: Decimal = Decimal("5")
    equity_cnc_leverage: Decimal = Decimal("1")
    futures_leverage: Decimal = Decimal("10")
    option_buy_leverage: Decimal = Decimal("1")
    option_sell_leverage: Decimal = Decimal("1")
    nse_bse_square_off_time: time = time(15, 15)
    cds_bcd_square_off_time: time = time(16, 45)
    mcx_square_off_time: time = time(23, 30)
    ncdex_square_off_time: time = time(17, 0)
    reset_day: str = "never"
    reset_time: time = time(0, 0)
    expiry_settlement_timing: str = "expiry_day_close"
    option_expiry_settlement: str = "ltp"
    gtt_oco_margin_mode: str = "max"

    def square_off_time(self, exchange: str) -> time | None:
        group = SQUARE_OFF_GROUP.get(exchange)
        if group is None:
            return None
        value: time = getattr(self, f"{group}_square_off_time")
        return value

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxConfig:
        return cls(
            starting_capital=settings.sandbox_starting_capital,
            equity_mis_leverage=settings.sandbox_equity_mis_leverage,
            equity_cnc_leverage=settings.sandbox_equity_cnc_leverage,
            futures_leverage=settings.sandbox_futures_leverage,
            option_buy_leverage=settings.sandbox_option_buy_leverage,
            option_sell_leverage=settings.sandbox_option_sell_leverage,
            nse_bse_square_off_time=parse_clock(settings.sandbox_nse_bse_square_off_time),
            cds_bcd_square_off_time=parse_clock(settings.sandbox_cds_bcd_square_off_time),
            mcx_square_off_time=parse_clock(settings.sandbox_mcx_square_off_time),
            ncdex_square_off_time=parse_clock(settings.sandbox_ncdex_square_off_time),
            reset_day=settings.sandbox_reset_day,
            reset_time=parse_clock(settings.sandbox_reset_time),
            expiry_settlement_timing=settings.sandbox_expiry_settlement_timing,
            option_expiry_settlement=settings.sandbox_option_expiry_settlement,
            gtt_oco_margin_mode=settings.sandbox_gtt_oco_margin_mode,
        )

    def with_overrides(self, overrides: Mapping[str, str]) -> SandboxConfig:
        """Apply stored per-user values; raises ValidationFailed naming the bad key."""
        changes: dict[str, Any] = {}
        for key, raw in overrides.items():
            changes[key] = parse_config_value(key, raw)
        return replace(self, **changes)


def _decimal_in(low: Decimal, high: Decimal) -> Callable[[str], Decimal]:
    def parse(raw: str) -> Decimal:
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            raise ValueError("not a number") from None
        if not value.is_finite() or not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


def _capital(raw: str) -> Decimal:
    value = _decimal_in(Decimal("1000"), Decimal("1e13"))(raw)
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("at most two decimals")
    return value.quantize(Decimal("0.01"))


_LEVERAGE = _decimal_in(Decimal("1"), Decimal("50"))

CONFIG_KEYS: dict[str, Callable[[str], Any]] = {
    "starting_capital": _capital,
    "equity_mis_leverage": _LEVERAGE,
    "equity_cnc_leverage": _LEVERAGE,
    "futures_leverage": _LEVERAGE,
    "option_buy_leverage": _LEVERAGE,
    "option_sell_leverage": _LEVERAGE,
    "nse_bse_square_off_time": parse_clock,
    "cds_bcd_square_off_time": parse_clock,
    "mcx_square_off_time": parse_clock,
    "ncdex_square_off_time": parse_clock,
    "reset_day": _choice("never", *WEEKDAYS),
    "reset_time": parse_clock,
    "expiry_settlement_timing": _choice("expiry_day_close", "next_day"),
    "option_expiry_settlement": _choice("ltp", "zero"),
    "gtt_oco_margin_mode": _choice("max", "sum"),
}


def parse_config_value(key: str, raw: str) -> Any:
    parser = CONFIG_KEYS.get(key)
    if parser is None:
        raise ValidationFailed(
            f"unknown sandbox setting {key!r}", errors={key: ["unknown setting"]}
        )
    try:
        return parser(raw)
    except ValueError as exc:
        raise ValidationFailed(
            f"invalid sandbox setting {key}={raw!r}: {exc}", errors={key: [str(exc)]}
        ) from None


@dataclass(frozen=True)
class EngineTiming:
    """Engine-wide knobs (not per user)."""

    market_always_open: bool = False
    trading_start: time = time(9, 0)
    session_start: time = time(3, 0)
    order_check_interval: float = 5.0
    maintenance_interval: float = 30.0
    quote_max_age: float = 5.0
    batch_size: int = 256
    # PostgreSQL: batches that may commit at once, each for its own users (see writer.py).
    writer_lanes: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineTiming:
        return cls(
            market_always_open=settings.market_always_open,
            trading_start=parse_clock(settings.sandbox_trading_start_time),
            session_start=parse_clock(settings.sandbox_session_start_time),
            order_check_interval=settings.sandbox_order_check_interval,
            maintenance_interval=settings.sandbox_maintenance_interval,
            quote_max_age=settings.sandbox_quote_max_age,
            batch_size=settings.sandbox_batch_size,
        )
