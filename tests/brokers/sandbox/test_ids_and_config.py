# mypy: disable-error-code="comparison-overlap"
"""Identifier shapes, and configuration from settings and per-user overrides."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from openalgo.brokers.sandbox.config import EngineTiming, SandboxConfig, parse_config_value
from openalgo.brokers.sandbox.ids import OrderIds, TradeIds, gtt_id
from openalgo.domain.clock import IST
from openalgo.errors import ConfigError, ValidationFailed
from openalgo.settings import Settings, load_settings

NOW = datetime(2026, 12, 14, 10, 0, 0, 123456, tzinfo=IST)


def test_order_ids_are_14_digits_increasing_even_within_a_millisecond() -> None:
    ids = OrderIds()
    issued = [ids.next(NOW) for _ in range(1000)]
    assert all(re.fullmatch(r"261214\d{8}", i) for i in issued)
    assert issued == sorted(issued) and len(set(issued)) == 1000
    assert issued[0] == "26121436000123"  # milliseconds since IST midnight
    later = ids.next(NOW + timedelta(seconds=1))
    assert later > issued[-1]
    tomorrow = ids.next(NOW + timedelta(days=1))
    assert tomorrow == "26121536000123"


def test_trade_and_gtt_ids() -> None:
    trades = TradeIds()
    one, two = trades.next(NOW), trades.next(NOW)
    assert re.fullmatch(r"TRADE-20261214-100000-[0-9a-f]{8}", one) and one != two
    assert re.fullmatch(r"GTT-261214-[0-9a-f]{8}", gtt_id(NOW))


def test_defaults_follow_openalgo() -> None:
    cfg = SandboxConfig.from_settings(Settings(_env_file=None))
    assert cfg.starting_capital == Decimal("10000000")
    assert (cfg.equity_mis_leverage, cfg.futures_leverage, cfg.option_sell_leverage) == (5, 10, 1)
    assert cfg.square_off_time("BSE") == time(15, 15)
    assert cfg.square_off_time("BFO") == time(15, 15)
    assert cfg.square_off_time("BCD") == time(16, 45)
    assert cfg.square_off_time("MCX") == time(23, 30)
    assert cfg.square_off_time("NCDEX") == time(17, 0)
    assert cfg.square_off_time("CRYPTO") is None
    assert cfg.reset_day == "never"
    timing = EngineTiming.from_settings(Settings(_env_file=None))
    assert not timing.market_always_open and timing.order_check_interval == 5


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENALGO_SANDBOX_STARTING_CAPITAL", "500000")
    monkeypatch.setenv("OPENALGO_SANDBOX_EQUITY_MIS_LEVERAGE", "4")
    monkeypatch.setenv("OPENALGO_SANDBOX_NSE_BSE_SQUARE_OFF_TIME", "15:20")
    monkeypatch.setenv("OPENALGO_SANDBOX_RESET_DAY", "Sunday")
    monkeypatch.setenv("OPENALGO_MARKET_ALWAYS_OPEN", "true")
    settings = Settings(_env_file=None)
    cfg = SandboxConfig.from_settings(settings)
    assert cfg.starting_capital == 500000 and cfg.equity_mis_leverage == 4
    assert cfg.square_off_time("NSE") == time(15, 20)
    assert cfg.reset_day == "sunday"
    assert EngineTiming.from_settings(settings).market_always_open


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("sandbox_nse_bse_square_off_time", "3pm", "OPENALGO_SANDBOX_NSE_BSE_SQUARE_OFF_TIME"),
        ("sandbox_nse_bse_square_off_time", "25:00", "HH:MM"),
        ("sandbox_equity_mis_leverage", "0", "OPENALGO_SANDBOX_EQUITY_MIS_LEVERAGE"),
        ("sandbox_starting_capital", "10", "OPENALGO_SANDBOX_STARTING_CAPITAL"),
        ("sandbox_reset_day", "someday", "weekday"),
    ],
)
def test_bad_settings_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=fragment):
        load_settings(data_dir=tmp_path, **{name: value})


def test_per_user_overrides_are_validated() -> None:
    base = SandboxConfig()
    changed = base.with_overrides({"equity_mis_leverage": "8", "mcx_square_off_time": "23:00"})
    assert changed.equity_mis_leverage == 8 and changed.square_off_time("MCX") == time(23, 0)
    assert base.equity_mis_leverage == 5
    for key, value, message in [
        ("equity_mis_leverage", "51", "between 1 and 50"),
        ("starting_capital", "999", "between 1000"),
        ("starting_capital", "1000.001", "two decimals"),
        ("reset_day", "funday", "must be one of"),
        ("nse_bse_square_off_time", "noon", "HH:MM"),
        ("option_expiry_settlement", "half", "ltp, zero"),
        ("no_such_key", "1", "unknown sandbox setting"),
    ]:
        with pytest.raises(ValidationFailed, match=message):
            parse_config_value(key, value)
