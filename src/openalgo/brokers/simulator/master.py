"""The simulator's instrument master, generated from the spec for a given day.

Expiries come from the exchange calendar's current rules relative to ``today`` (so the master is
never stale) and option strikes are centred on each underlying's simulated close of the previous
session, the level a trader would see at the open. Tokens are stable hashes of (exchange, symbol),
so the same contract keeps its token when tomorrow's master is generated.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from openalgo.brokers.simulator.prices import PriceModel, seed_of
from openalgo.brokers.simulator.spec import DerivativeSeries, SimulatorSpec
from openalgo.domain.calendar import INDEX_EXPIRY_WEEKDAY, ExpiryRule, MarketCalendar, Weekday
from openalgo.domain.enums import Exchange, InstrumentType, OptionType
from openalgo.domain.instruments import Instrument
from openalgo.domain.symbols import future_symbol, option_symbol

BROKER = "simulator"
EQUITY_TICK = Decimal("0.05")


def _reference_level(model: PriceModel, key: str, today: date) -> float:
    process = model.process(key)
    assert process is not None, key
    previous = model.calendar.previous_trading_day(process.calendar, today)
    return model.close(process, previous)


def _centre(level: float, step: Decimal) -> Decimal:
    return (Decimal(str(level)) / step).quantize(Decimal(1), ROUND_HALF_UP) * step


class _Tokens:
    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, exchange: str, symbol: str) -> str:
        value = seed_of("token", exchange, symbol) % 10**9
        while str(value) in self.used:
            value = (value + 1) % 10**9
        token = str(value)
        self.used.add(token)
        return token


def generate_master(
    spec: SimulatorSpec, model: PriceModel, calendar: MarketCalendar, today: date
) -> list[Instrument]:
    tokens = _Tokens()
    out: list[Instrument] = []

    def add(
        symbol: str,
        exchange: Exchange,
        name: str,
        kind: InstrumentType,
        *,
        lot: int = 1,
        tick: Decimal = EQUITY_TICK,
        expiry: date | None = None,
        strike: Decimal | None = None,
    ) -> None:
        out.append(
            Instrument(
                symbol=symbol,
                exchange=exchange.value,
                name=name,
                instrument_type=kind,
                token=tokens(exchange.value, symbol),
                broker_symbol=symbol,
                broker_exchange=exchange.value,
                lot_size=lot,
                tick_size=tick,
                expiry=expiry,
                strike=strike,
            )
        )

    for listing in spec.listings:
        kind = InstrumentType.INDEX if listing.kind == "INDEX" else InstrumentType.EQ
        add(listing.symbol, listing.exchange, listing.name, kind)
    for listing in spec.listings:
        if listing.series is not None:
            level = _reference_level(model, listing.symbol, today)
            for item in _derivatives(listing.symbol, listing.series, level, calendar, today):
                add(*item[:4], lot=listing.series.lot, tick=item[4], expiry=item[5], strike=item[6])
    for symbol, series in spec.contracts.items():
        level = _reference_level(model, symbol, today)
        for item in _derivatives(symbol, series, level, calendar, today):
            add(*item[:4], lot=series.lot, tick=item[4], expiry=item[5], strike=item[6])
    return out


_Row = tuple[str, Exchange, str, InstrumentType, Decimal, date, Decimal | None]


def _derivatives(
    base: str, series: DerivativeSeries, level: float, calendar: MarketCalendar, today: date
) -> Iterator[_Row]:
    exchange = series.exchange
    weekday = INDEX_EXPIRY_WEEKDAY.get(exchange, Weekday.TUE)
    if series.future_rule == "day_of_month":
        future_rule = ExpiryRule("day_of_month", day=series.future_day)
        option_rule = ExpiryRule("day_of_month", day=series.option_day or series.future_day)
    elif series.future_rule == "before_month_end":
        future_rule = option_rule = ExpiryRule("before_month_end", offset=2)
    else:
        future_rule = option_rule = ExpiryRule("monthly", weekday)
    for expiry in calendar.expiries(exchange, future_rule, today, series.futures_months):
        yield (
            future_symbol(base, expiry),
            exchange,
            base,
            InstrumentType.FUT,
            series.tick,
            expiry,
            None,
        )
    expiries = set(calendar.expiries(exchange, option_rule, today, series.monthly))
    if series.weekly:
        weekly = ExpiryRule("weekly", weekday)
        expiries |= set(calendar.expiries(exchange, weekly, today, series.weekly))
    if not series.each_side or not series.step:
        return
    centre = _centre(level, series.step)
    for expiry in sorted(expiries):
        # Farther expiries list a wider ladder, as exchanges do.
        weeks = max((expiry - today) // timedelta(days=7), 0)
        width = series.each_side + min(weeks, 8) * max(series.each_side // 10, 1)
        for i in range(-width, width + 1):
            strike = centre + series.step * i
            if strike <= 0:
                continue
            for side in (OptionType.CE, OptionType.PE):
                kind = InstrumentType(side.value)
                symbol = option_symbol(base, expiry, strike, side)
                yield symbol, exchange, base, kind, series.tick, expiry, strike
