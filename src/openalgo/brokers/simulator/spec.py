"""The simulator's spec (``spec.json`` in this package): what it lists and where prices start."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

from openalgo.domain.enums import Exchange


@dataclass(frozen=True, slots=True)
class Process:
    """One seeded price series; every listing of the same underlying shares it (NSE/BSE, F&O)."""

    key: str
    price: float  # level on the anchor date
    vol: float  # annualised
    calendar: Exchange  # whose sessions move it
    daily_volume: int  # shares/units traded on an average day (0 for indices)
    tick: Decimal = Decimal("0.05")


@dataclass(frozen=True, slots=True)
class DerivativeSeries:
    exchange: Exchange
    lot: int
    step: Decimal
    each_side: int
    futures_months: int
    weekly: int = 0
    monthly: int = 0
    tick: Decimal = Decimal("0.05")
    future_rule: str = "monthly"  # monthly | day_of_month | before_month_end
    future_day: int = 0
    option_day: int = 0


@dataclass(frozen=True, slots=True)
class Listing:
    symbol: str
    exchange: Exchange
    name: str
    kind: str  # EQ | ETF | INDEX
    series: DerivativeSeries | None = None


@dataclass
class SimulatorSpec:
    anchor: date
    rate: float
    processes: dict[str, Process] = field(default_factory=dict)
    listings: list[Listing] = field(default_factory=list)
    # underlyings with derivatives but no spot listing (MCX, CDS)
    contracts: dict[str, DerivativeSeries] = field(default_factory=dict)


def _lot_step(price: float) -> Decimal:
    for limit, step in ((250, "2.5"), (500, "5"), (1000, "10"), (2500, "20"), (5000, "50")):
        if price < limit:
            return Decimal(step)
    return Decimal("100") if price < 10000 else Decimal("250")


def load_spec(text: str | None = None) -> SimulatorSpec:
    raw: dict[str, Any] = json.loads(
        text
        if text is not None
        else resources.files(__package__).joinpath("spec.json").read_text("utf-8")
    )
    spec = SimulatorSpec(anchor=date.fromisoformat(raw["anchor"]), rate=float(raw["rate"]))
    options = raw["equity_options"]
    for symbol, company, price, lot in raw["equities"]:
        spec.processes[symbol] = Process(
            symbol, float(price), float(raw["equity_vol"]), Exchange.NSE, int(4e9 / price)
        )
        series = DerivativeSeries(
            Exchange.NFO,
            int(lot),
            _lot_step(float(price)),
            int(options["strikes_each_side"]),
            int(options["futures_months"]),
            monthly=int(options["monthly"]),
        )
        spec.listings.append(Listing(symbol, Exchange.NSE, company, "EQ", series))
        spec.listings.append(Listing(symbol, Exchange.BSE, company, "EQ"))
    for symbol, name, price, vol in raw["etfs"]:
        spec.processes[symbol] = Process(
            symbol, float(price), float(vol), Exchange.NSE, int(5e8 / price)
        )
        spec.listings.append(Listing(symbol, Exchange.NSE, name, "ETF"))
    for item in raw["indices"]:
        exchange = Exchange(item["exchange"])
        calendar = Exchange.BSE if exchange is Exchange.BSE_INDEX else Exchange.NSE
        spec.processes[item["symbol"]] = Process(
            item["symbol"], float(item["price"]), float(item["vol"]), calendar, 0
        )
        index_series: DerivativeSeries | None = None
        if "derivatives" in item:
            d = item["derivatives"]
            index_series = DerivativeSeries(
                Exchange(d["exchange"]),
                int(d["lot"]),
                Decimal(str(d["step"])),
                int(d["each_side"]),
                int(d["futures_months"]),
                weekly=int(d["weekly"]),
                monthly=int(d["monthly"]),
            )
        spec.listings.append(Listing(item["symbol"], exchange, item["name"], "INDEX", index_series))
    for item in raw["commodities"]:
        exchange = Exchange(item["exchange"])
        tick = Decimal(item["tick"])
        spec.processes[item["symbol"]] = Process(
            item["symbol"], float(item["price"]), float(item["vol"]), exchange, 50_000, tick
        )
        spec.contracts[item["symbol"]] = DerivativeSeries(
            exchange,
            int(item["lot"]),
            Decimal(str(item.get("step", "0"))),
            int(item.get("each_side", 0)),
            int(item["months"]),
            monthly=int(item.get("option_months", 0)),
            tick=tick,
            future_rule=item.get("future_rule", "day_of_month"),
            future_day=int(item.get("future_day", 0)),
            option_day=int(item.get("option_day", 0)),
        )
    return spec
