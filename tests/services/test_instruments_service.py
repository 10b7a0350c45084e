"""Symbol lookup, diagnosis of bad symbols, expiries, option resolution and chains."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from openalgo.domain.symbols import SymbolError, UnknownExchange
from openalgo.errors import BadRequest, NotFound
from openalgo.services.instruments import (
    get_symbol,
    list_expiries,
    option_chain,
    parse_offset,
    require_instrument,
    resolve_option_symbol,
)
from tests.support.market import MONDAY_11, build_market

MARKET = build_market()[0]
CACHE = MARKET.instruments
TODAY = MONDAY_11.date()
DEC1 = date(2026, 12, 1)


def test_get_symbol() -> None:
    assert get_symbol(CACHE, "SBIN", "NSE").exchange == "NSE"
    with pytest.raises(NotFound, match="Symbol NOPE not found in exchange NSE"):
        get_symbol(CACHE, "NOPE", "NSE")
    with pytest.raises(UnknownExchange):
        get_symbol(CACHE, "SBIN", "nse")


@pytest.mark.parametrize(
    ("symbol", "exchange", "error", "fragment"),
    [
        ("NIFTY01DEC26", "NFO", SymbolError, "Malformed symbol"),
        ("NIFTY24NOV2626000CE", "NFO", BadRequest, "expired on 24-NOV-26"),
        ("NIFTY01DEC2626013CE", "NFO", BadRequest, "not on the strike grid for NIFTY 01-DEC-26 CE"),
        ("NIFTY02DEC26FUT", "NFO", NotFound, "No NIFTY contract expires on 02-DEC-26"),
        ("UNKNOWN", "NSE", NotFound, "Symbol 'UNKNOWN' not found"),
    ],
)
def test_require_instrument_says_why(
    symbol: str, exchange: str, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as info:
        require_instrument(CACHE, symbol, exchange, today=TODAY)
    assert fragment in str(info.value)


def test_expiries() -> None:
    futures = list_expiries(CACHE, "NIFTY", "NFO", "futures", today=TODAY)
    assert futures == [date(2026, 12, 29), date(2027, 1, 25), date(2027, 2, 23)]
    options = list_expiries(CACHE, "NIFTY", "NFO", "options", today=TODAY)
    assert options[0] == DEC1 and options == sorted(options)
    with pytest.raises(BadRequest, match="F&O exchange"):
        list_expiries(CACHE, "NIFTY", "NSE", "options", today=TODAY)


@pytest.mark.parametrize("text", ["ITM0", "OTM51", "XTM1", "ATM1", ""])
def test_bad_offsets(text: str) -> None:
    with pytest.raises(BadRequest, match="Invalid offset"):
        parse_offset(text)


async def test_option_resolution_atm_itm_otm() -> None:
    atm = await resolve_option_symbol(
        CACHE,
        MARKET,
        underlying="NIFTY",
        exchange="NSE_INDEX",
        offset="ATM",
        option_type="ce",
        expiry_date="01DEC26",
        today=TODAY,
    )
    spot = MARKET.price("NIFTY", "NSE_INDEX")
    assert atm.underlying.quote_exchange == "NSE_INDEX"
    assert abs(float(atm.atm_strike) - spot) <= 25
    assert atm.instrument.symbol == f"NIFTY01DEC26{atm.atm_strike}CE"
    itm = await resolve_option_symbol(
        CACHE,
        MARKET,
        underlying="NIFTY01DEC26FUT",
        exchange="NFO",
        offset="itm2",
        option_type="CE",
        today=TODAY,
    )
    assert itm.instrument.strike == atm.atm_strike - 100
    otm_pe = await resolve_option_symbol(
        CACHE,
        MARKET,
        underlying="NIFTY",
        exchange="NFO",
        offset="OTM3",
        option_type="PE",
        expiry_date="01DEC26",
        today=TODAY,
    )
    assert otm_pe.instrument.strike == atm.atm_strike - 150
    legacy = await resolve_option_symbol(
        CACHE,
        MARKET,
        underlying="NIFTY",
        exchange="NSE_INDEX",
        offset="OTM1",
        option_type="CE",
        expiry_date="01DEC26",
        strike_int=100,
        today=TODAY,
    )
    assert legacy.instrument.strike == Decimal(round(spot / 100) * 100 + 100)


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"offset": "ITM50"}, BadRequest, "Offset ITM50 is out of range"),
        ({"expiry_date": None}, BadRequest, "Expiry date required"),
        ({"expiry_date": "24NOV26"}, BadRequest, "is in the past"),
        ({"expiry_date": "02DEC26"}, NotFound, "No strikes found for NIFTY expiring 02DEC26"),
        ({"option_type": "XX"}, BadRequest, "Invalid option_type"),
    ],
)
async def test_option_resolution_errors(
    kwargs: dict[str, object], error: type[Exception], fragment: str
) -> None:
    args: dict[str, object] = {
        "underlying": "NIFTY",
        "exchange": "NSE_INDEX",
        "offset": "ATM",
        "option_type": "CE",
        "expiry_date": "01DEC26",
    }
    args.update(kwargs)
    with pytest.raises(error, match=fragment):
        await resolve_option_symbol(CACHE, MARKET, today=TODAY, **args)  # type: ignore[arg-type]


async def test_commodity_options_quote_the_future() -> None:
    expiry = CACHE.option_expiries("CRUDEOIL", "MCX", on_or_after=TODAY)[0]
    result = await resolve_option_symbol(
        CACHE,
        MARKET,
        underlying="CRUDEOIL",
        exchange="MCX",
        offset="ATM",
        option_type="CE",
        expiry_date=expiry.strftime("%d%b%y"),
        today=TODAY,
    )
    assert result.underlying.quote_symbol.endswith("FUT")
    assert result.instrument.exchange == "MCX"


async def test_option_chain_labels_quotes_and_greeks() -> None:
    chain = await option_chain(
        CACHE,
        MARKET,
        MARKET.calendar,
        underlying="NIFTY",
        exchange="NSE_INDEX",
        expiry_date="29DEC26",
        strike_count=3,
        with_greeks=True,
        interest_rate=6.5,
        now=MONDAY_11,
    )
    assert len(chain.rows) == 7
    middle = chain.rows[3]
    assert middle.strike == chain.atm_strike
    assert (
        middle.ce is not None
        and middle.ce.label == "ATM"
        and middle.pe is not None
        and middle.pe.label == "ATM"
    )
    assert chain.rows[0].ce is not None and chain.rows[0].ce.label == "ITM3"
    assert chain.rows[0].pe is not None and chain.rows[0].pe.label == "OTM3"
    assert middle.ce.quote is not None and middle.ce.quote.ltp > 0
    assert middle.ce.greeks is not None and 0.4 < middle.ce.greeks.delta < 0.65
    assert middle.ce.implied_volatility is not None and 8 < middle.ce.implied_volatility < 25
    assert chain.forward_price is not None
    assert chain.expiry_ts > chain.server_ts
