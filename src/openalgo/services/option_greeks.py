"""optiongreeks and multioptiongreeks: implied volatility and greeks (reference 7.14, 7.15).

The model is OpenAlgo's: Black-76 on a forward, via `openalgo.domain.options` (Black-Scholes with
the forward as spot and the rate as dividend yield). The forward is, in order of preference,

1. ``forward_price`` from the request;
2. the last price of ``underlying_symbol``/``underlying_exchange`` when the request names one;
3. the synthetic future of the option's own expiry: ATM strike + e^(rT) * (call - put), the
   put-call parity forward (OpenAlgo writes K + C - P, which is the same at its default rate of 0
   and drifts from it as the rate grows);
4. the underlying's last price, when one side of the ATM pair is not listed.

Conventions, as OpenAlgo's: ``interest_rate`` in percent (default 0); time to expiry in calendar
days to the exchange's expiry cut-off (NFO/BFO 15:30, CDS 12:30, MCX 23:30 IST; ``expiry_time``
overrides it) over a 365-day year; implied volatility in percent; theta per calendar day; vega per
volatility point; rho per rate point (Black-76's rho, -T times the premium).

When no volatility reproduces the premium (at or below intrinsic value), the answer is still a
success: volatility 0, delta 1/-1 in the money (0 out of it), the other greeks 0, plus
``intrinsic_value``, ``time_value`` and a ``note``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time

from openalgo.api.v1.schemas.options import (
    Greeks,
    GreeksError,
    GreeksSummary,
    MultiOptionGreeksRequest,
    MultiOptionGreeksResponse,
    OptionGreeks,
    OptionGreeksRequest,
)
from openalgo.domain.clock import IST
from openalgo.domain.enums import Exchange, InstrumentType
from openalgo.domain.instruments import Instrument
from openalgo.domain.options import OptionKind, bs_greeks, implied_volatility
from openalgo.domain.symbols import option_symbol
from openalgo.errors import BadRequest, NotFound, OpenAlgoError, ValidationFailed
from openalgo.services.option_symbols import OptionSymbols, nearest_index

YEAR_SECONDS = 365.0 * 86400.0
NO_TIME_VALUE = "Option has no time value; implied volatility is undefined"


@dataclass(frozen=True, slots=True)
class Valuation:
    """Black-76 IV (a fraction, None when undefined) and greeks of one premium."""

    vol: float | None
    delta: float
    gamma: float
    theta: float
    vega: float
    rho: float

    def greeks(self) -> Greeks:
        return Greeks(
            delta=round(self.delta, 4),
            gamma=round(self.gamma, 6),
            theta=round(self.theta, 4),
            vega=round(self.vega, 4),
            rho=round(self.rho, 6),
        )

    @property
    def iv_percent(self) -> float:
        return round(self.vol * 100.0, 2) if self.vol is not None else 0.0


def intrinsic(kind: OptionKind, forward: float, strike: float) -> float:
    return max(forward - strike, 0.0) if kind == "CE" else max(strike - forward, 0.0)


def black76(
    kind: OptionKind, premium: float, forward: float, strike: float, years: float, rate: float
) -> Valuation:
    """IV and greeks of ``premium`` on ``forward``; ``rate`` a fraction."""
    vol = implied_volatility(kind, premium, forward, strike, years, rate, dividend=rate)
    if vol is None:
        itm = intrinsic(kind, forward, strike) > 0
        delta = (1.0 if kind == "CE" else -1.0) if itm else 0.0
        return Valuation(None, delta, 0.0, 0.0, 0.0, 0.0)
    g = bs_greeks(kind, forward, strike, years, rate, vol, dividend=rate)
    return Valuation(vol, g.delta, g.gamma, g.theta, g.vega, -years * premium / 100.0)


def parity_forward(strike: float, call: float, put: float, years: float, rate: float) -> float:
    """The forward implied by a call and a put at one strike: K + e^(rT) (C - P)."""
    return strike + math.exp(rate * years) * (call - put)


class GreeksDesk:
    """Greeks against one user's market data and master, at one instant."""

    def __init__(self, symbols: OptionSymbols) -> None:
        self.symbols = symbols
        self._forwards: dict[tuple[str, str, date], float] = {}

    @property
    def now(self) -> datetime:
        return self.symbols.now

    def years_to(self, expiry_at: datetime) -> float:
        return max((expiry_at - self.now).total_seconds(), 0.0) / YEAR_SECONDS

    def expiry_at(self, contract: Instrument, expiry_time: str | None) -> datetime:
        assert contract.expiry is not None
        if expiry_time is None:
            return self.symbols.calendar.expiry_cutoff(contract.exchange, contract.expiry)
        hours, minutes = (int(p) for p in expiry_time.split(":"))
        return datetime.combine(contract.expiry, time(hours, minutes), IST)

    def option(self, symbol: str, exchange: Exchange, *, field: str = "symbol") -> Instrument:
        found = self.symbols.instruments.get(symbol, exchange.value)
        if found is None:
            raise ValidationFailed.field(field, f"unknown symbol {symbol} on {exchange.value}")
        if not found.instrument_type.is_option or found.expiry is None or found.strike is None:
            raise ValidationFailed.field(field, f"{symbol} is not an option")
        return found

    async def ltp(self, contract: Instrument) -> float:
        quote = await self.symbols.market.quote(contract.symbol, contract.exchange)
        if quote.ltp <= 0:
            raise NotFound(f"No last traded price for {contract.symbol}")
        return quote.ltp

    async def forward(
        self,
        contract: Instrument,
        years: float,
        rate: float,
        *,
        forward_price: float | None = None,
        underlying_symbol: str | None = None,
        underlying_exchange: Exchange | None = None,
    ) -> float:
        if forward_price is not None:
            return forward_price
        home = Exchange(contract.exchange)
        if underlying_symbol is not None or underlying_exchange is not None:
            text = underlying_symbol or contract.name
            ref = self.symbols.underlying(
                text, underlying_exchange or home, field="underlying_symbol", options=False
            )
            return (await self.symbols.priced(ref)).ltp
        assert contract.expiry is not None
        key = (contract.exchange, contract.name, contract.expiry)
        cached = self._forwards.get(key)
        if cached is not None:
            return cached
        ref = self.symbols.underlying(contract.name, home, field="symbol", options=False)
        spot = (await self.symbols.priced(ref)).ltp
        value = await self._synthetic(contract, spot, years, rate)
        self._forwards[key] = value
        return value

    async def _synthetic(
        self, contract: Instrument, spot: float, years: float, rate: float
    ) -> float:
        assert contract.expiry is not None
        instruments = self.symbols.instruments
        calls = instruments.strikes(
            contract.name, contract.exchange, contract.expiry, InstrumentType.CE
        )
        puts = set(
            instruments.strikes(
                contract.name, contract.exchange, contract.expiry, InstrumentType.PE
            )
        )
        both = [s for s in calls if s in puts]
        if not both:
            return spot
        strike = both[nearest_index(both, spot)]
        pair = [
            option_symbol(contract.name, contract.expiry, strike, side) for side in ("CE", "PE")
        ]
        quotes = await self.symbols.market.quotes([(s, contract.exchange) for s in pair])
        call, put = quotes
        if isinstance(call, OpenAlgoError) or isinstance(put, OpenAlgoError):
            return spot
        return parity_forward(float(strike), call.ltp, put.ltp, years, rate)

    async def greeks(
        self,
        symbol: str,
        exchange: Exchange,
        interest_rate: float | None,
        expiry_time: str | None,
        *,
        forward_price: float | None = None,
        underlying_symbol: str | None = None,
        underlying_exchange: Exchange | None = None,
    ) -> OptionGreeks:
        contract = self.option(symbol, exchange)
        assert contract.expiry is not None and contract.strike is not None
        expiry_at = self.expiry_at(contract, expiry_time)
        if self.now >= expiry_at:
            raise BadRequest(f"Option has expired on {_long_date(contract.expiry)}")
        years = self.years_to(expiry_at)
        percent = interest_rate or 0.0
        rate = percent / 100.0
        premium = await self.ltp(contract)
        forward = await self.forward(
            contract,
            years,
            rate,
            forward_price=forward_price,
            underlying_symbol=underlying_symbol,
            underlying_exchange=underlying_exchange,
        )
        kind: OptionKind = "CE" if contract.instrument_type is InstrumentType.CE else "PE"
        strike = float(contract.strike)
        valued = black76(kind, premium, forward, strike, years, rate)
        extra: dict[str, float | str] = {}
        if valued.vol is None:
            value = intrinsic(kind, forward, strike)
            extra = {
                "intrinsic_value": round(value, 2),
                "time_value": round(premium - value, 2),
                "note": NO_TIME_VALUE,
            }
        return OptionGreeks(
            symbol=contract.symbol,
            exchange=contract.exchange,
            underlying=contract.name,
            strike=strike,
            option_type=kind,
            expiry_date=_long_date(contract.expiry),
            days_to_expiry=round((expiry_at - self.now).total_seconds() / 86400.0, 4),
            spot_price=round(forward, 2),
            option_price=premium,
            interest_rate=percent,
            implied_volatility=valued.iv_percent,
            greeks=valued.greeks(),
            **extra,
        )


def _long_date(day: date) -> str:
    """``02-Dec-2025``: how OpenAlgo's greeks write an expiry."""
    return day.strftime("%d-%b-%Y")


async def one(desk: GreeksDesk, body: OptionGreeksRequest) -> OptionGreeks:
    return await desk.greeks(
        body.symbol,
        body.exchange,
        body.interest_rate,
        body.expiry_time,
        forward_price=body.forward_price,
        underlying_symbol=body.underlying_symbol,
        underlying_exchange=body.underlying_exchange,
    )


async def many(desk: GreeksDesk, body: MultiOptionGreeksRequest) -> MultiOptionGreeksResponse:
    """Each symbol on its own: one bad symbol is an error item, not a failed request."""
    data: list[OptionGreeks | GreeksError] = []
    failures: list[str] = []
    for item in body.symbols:
        try:
            data.append(
                await desk.greeks(
                    item.symbol,
                    item.exchange,
                    body.interest_rate,
                    body.expiry_time,
                    underlying_symbol=item.underlying_symbol,
                    underlying_exchange=item.underlying_exchange,
                )
            )
        except OpenAlgoError as exc:
            data.append(
                GreeksError(symbol=item.symbol, exchange=item.exchange, message=exc.message)
            )
            failures.append(f"{item.symbol}: {exc.message}")
    total, failed = len(body.symbols), len(failures)
    status = "success" if not failed else ("error" if failed == total else "partial")
    message = None
    if failures:
        shown = "; ".join(failures[:3]) + ("; ..." if failed > 3 else "")
        message = f"{failed} of {total} symbols failed: {shown}"
    return MultiOptionGreeksResponse(
        status=status,
        data=data,
        summary=GreeksSummary(total=total, success=total - failed, failed=failed),
        message=message,
    )
