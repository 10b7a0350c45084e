"""optionchain and syntheticfuture (reference 7.13, 7.16).

The chain lists the strikes of one expiry around ATM (the listed strike nearest the underlying's
last price): ``strike_count`` strikes each side, or every listed strike when it is omitted. Each
row has the call and the put (``null`` when that contract is not listed) with its quote, top of
book, lot and tick size, and a label counting listed strikes from ATM: a strike below ATM is
``ITMk`` for the call and ``OTMk`` for the put, above it the reverse. ``with_greeks`` adds each
leg's implied volatility and greeks on the parity forward of the ATM pair (see
`openalgo.services.option_greeks`), which is also returned as ``forward_price``.

The synthetic future is the same parity forward, ATM strike + call - put, as OpenAlgo computes
it (at its default rate of zero there is nothing to discount).
"""

from __future__ import annotations

from decimal import Decimal

from openalgo.api.v1.schemas.options import (
    ChainLeg,
    ChainRow,
    OptionChainRequest,
    OptionChainResponse,
    SyntheticFutureRequest,
    SyntheticFutureResponse,
)
from openalgo.domain.enums import InstrumentType
from openalgo.domain.instruments import Instrument
from openalgo.domain.market import Depth
from openalgo.domain.options import OptionKind
from openalgo.domain.symbols import format_expiry, option_symbol
from openalgo.errors import NotFound
from openalgo.services.option_greeks import YEAR_SECONDS, black76, parity_forward
from openalgo.services.option_symbols import OptionSymbols, label, nearest_index

_SIDES = (InstrumentType.CE, InstrumentType.PE)


def _leg(contract: Instrument, depth: Depth, tag: str) -> ChainLeg:
    q = depth.quote
    return ChainLeg(
        symbol=contract.symbol,
        label=tag,
        ltp=q.ltp,
        bid=q.bid,
        ask=q.ask,
        bid_qty=depth.bids[0].quantity if depth.bids else 0,
        ask_qty=depth.asks[0].quantity if depth.asks else 0,
        open=q.open,
        high=q.high,
        low=q.low,
        prev_close=q.prev_close,
        volume=q.volume,
        oi=q.oi,
        lotsize=contract.lot_size,
        tick_size=float(contract.tick_size),
    )


async def option_chain(symbols: OptionSymbols, body: OptionChainRequest) -> OptionChainResponse:
    ref = symbols.underlying(body.underlying, body.exchange)
    expiry = symbols.expiry(ref, body.expiry_date, nearest=True)
    priced = await symbols.priced(ref)
    ltp = priced.ltp
    strikes = sorted(
        set(symbols.strikes(ref, expiry, InstrumentType.CE))
        | set(symbols.strikes(ref, expiry, InstrumentType.PE))
    )
    atm = nearest_index(strikes, ltp)
    lo, hi = 0, len(strikes)
    if body.strike_count is not None:
        lo, hi = max(atm - body.strike_count, 0), min(atm + body.strike_count + 1, len(strikes))
    market = symbols.market
    instruments = symbols.instruments
    rows: list[ChainRow] = []
    legs: dict[tuple[Decimal, InstrumentType], ChainLeg] = {}
    for index in range(lo, hi):
        strike = strikes[index]
        sides: dict[InstrumentType, ChainLeg | None] = {}
        for side in _SIDES:
            symbol = option_symbol(ref.base, expiry, strike, side.value)
            contract = instruments.get(symbol, ref.options_on)
            if contract is None:
                sides[side] = None
                continue
            depth = await market.depth(contract.symbol, contract.exchange)
            sides[side] = legs[(strike, side)] = _leg(contract, depth, label(index, atm, side))
        rows.append(ChainRow(strike=float(strike), ce=sides[_SIDES[0]], pe=sides[_SIDES[1]]))
    expiry_at = symbols.calendar.expiry_cutoff(ref.options_on, expiry)
    forward: float | None = None
    if body.with_greeks:
        years = max((expiry_at - symbols.now).total_seconds(), 0.0) / YEAR_SECONDS
        rate = body.interest_rate / 100.0
        atm_strike = strikes[atm]
        call, put = legs.get((atm_strike, _SIDES[0])), legs.get((atm_strike, _SIDES[1]))
        forward = (
            parity_forward(float(atm_strike), call.ltp, put.ltp, years, rate)
            if call is not None and put is not None
            else ltp
        )
        for (strike, side), leg in legs.items():
            kind: OptionKind = "CE" if side is InstrumentType.CE else "PE"
            valued = black76(kind, leg.ltp, forward, float(strike), years, rate)
            g = valued.greeks()
            leg.implied_volatility = valued.iv_percent
            leg.delta, leg.gamma, leg.theta, leg.vega = g.delta, g.gamma, g.theta, g.vega
        forward = round(forward, 2)
    return OptionChainResponse(
        underlying=ref.base,
        underlying_symbol=ref.source.symbol,
        underlying_exchange=ref.source.exchange,
        underlying_ltp=ltp,
        underlying_prev_close=priced.quote.prev_close,
        expiry_date=format_expiry(expiry),
        expiry_ts=int(expiry_at.timestamp()),
        server_ts=int(symbols.now.timestamp()),
        atm_strike=float(strikes[atm]),
        quotes_included=True,
        greeks_included=body.with_greeks,
        forward_price=forward,
        chain=rows,
    )


async def synthetic_future(
    symbols: OptionSymbols, body: SyntheticFutureRequest
) -> SyntheticFutureResponse:
    ref = symbols.underlying(body.underlying, body.exchange)
    expiry = symbols.expiry(ref, body.expiry_date)
    priced = await symbols.priced(ref)
    calls = symbols.strikes(ref, expiry, InstrumentType.CE)
    puts = set(symbols.strikes(ref, expiry, InstrumentType.PE))
    both = [s for s in calls if s in puts]
    if not both:  # pragma: no cover - the simulator lists both sides of every strike
        raise NotFound(
            f"No strike of {ref.base} {format_expiry(expiry)} lists both a call and a put"
        )
    strike = both[nearest_index(both, priced.ltp)]
    pair = [
        (option_symbol(ref.base, expiry, strike, side.value), ref.options_on) for side in _SIDES
    ]
    call = await symbols.market.quote(*pair[0])
    put = await symbols.market.quote(*pair[1])
    return SyntheticFutureResponse(
        underlying=ref.base,
        underlying_ltp=priced.ltp,
        expiry=format_expiry(expiry),
        atm_strike=float(strike),
        synthetic_future_price=round(float(strike) + call.ltp - put.ltp, 2),
    )
