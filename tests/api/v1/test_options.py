"""The option endpoints through the real app on the simulator's master and market (SQLite and
PostgreSQL): contract picks against the simulator's own prices and listed strikes, chain shape,
greeks against the simulator's Black-Scholes prices, orders landing in the ledgers, and every bad
input answered with a 400 naming its field and nothing placed.

The app's clock stands still (`START`, Monday 30 Nov 2026 10:00 IST), so the prices the tests
read from the simulator are the ones the endpoints see.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from openalgo.brokers.sandbox.lifecycle import SANDBOX, SIMULATOR
from openalgo.brokers.sandbox.venue import SandboxVenue
from openalgo.domain.clock import IST
from openalgo.domain.enums import InstrumentType
from openalgo.domain.options import OptionKind, black76_price, bs_price
from tests.support.trading import Trader

WEEKLY = "01DEC26"  # the nearest NIFTY expiry at START
MONTHLY = "29DEC26"  # the December monthly, with a future of the same expiry
RATE = 0.065  # the simulator's interest rate (spec.json)
CE, PE = InstrumentType.CE, InstrumentType.PE


def spot(trader: Trader, symbol: str = "NIFTY", exchange: str = "NSE_INDEX") -> float:
    return trader.live.runtime.simulator.price(symbol, exchange)


def strikes(trader: Trader, kind: InstrumentType = CE, expiry: date = date(2026, 12, 1),
            base: str = "NIFTY") -> list[Decimal]:  # fmt: skip
    return trader.live.runtime.instruments.strikes(base, "NFO", expiry, kind)


def atm_index(listed: list[Decimal], price: float) -> int:
    return min(range(len(listed)), key=lambda i: (abs(float(listed[i]) - price), i))


def ledger(trader: Trader, name: str = SIMULATOR) -> SandboxVenue:
    engines = trader.live.runtime.sandbox
    assert engines is not None
    return engines.venue(name, trader.account.user_id)


async def refused(trader: Trader, name: str, field: str, **fields: Any) -> str:
    """POST and insist on a 400 blaming exactly ``field``; its problem text."""
    r = await trader.post(name, **fields)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == "error"
    assert list(body["errors"]) == [field], body
    assert body["message"].startswith(f"{field}: "), body
    problem: str = body["errors"][field][0]
    return problem


SYMBOL = {"underlying": "NIFTY", "exchange": "NSE_INDEX", "expiry_date": WEEKLY}
ORDER = {**SYMBOL, "strategy": "opt", "action": "BUY", "quantity": 75, "option_type": "CE"}


# --- optionsymbol ---------------------------------------------------------------------------------


async def test_atm_is_the_listed_strike_nearest_the_underlying(trader: Trader) -> None:
    price = spot(trader)
    listed = strikes(trader)
    atm = listed[atm_index(listed, price)]
    assert abs(float(atm) - price) <= 25  # NIFTY lists every 50 around the money
    for kind in ("CE", "PE"):
        body = await trader.ok("optionsymbol", **SYMBOL, offset="ATM", option_type=kind)
        assert body["symbol"] == f"NIFTY{WEEKLY}{atm}{kind}"
        assert body["exchange"] == "NFO"
        assert body["underlying_ltp"] == price
        assert (body["lotsize"], body["tick_size"], body["freeze_qty"]) == (75, 0.05, 1800)
        assert "mode" not in body
    # The same from the option exchange, in lower case, and for a 100-point grid.
    body = await trader.ok(
        "optionsymbol", underlying="nifty", exchange="NFO", expiry_date=WEEKLY.lower(),
        offset="atm", option_type="ce",
    )  # fmt: skip
    assert body["symbol"] == f"NIFTY{WEEKLY}{atm}CE"
    bank = spot(trader, "BANKNIFTY")
    bank_strikes = strikes(trader, expiry=date(2026, 12, 29), base="BANKNIFTY")
    bank_atm = bank_strikes[atm_index(bank_strikes, bank)]
    body = await trader.ok(
        "optionsymbol", underlying="BANKNIFTY", exchange="NSE_INDEX", expiry_date=MONTHLY,
        offset="ATM", option_type="PE",
    )  # fmt: skip
    assert body["symbol"] == f"BANKNIFTY{MONTHLY}{bank_atm}PE"
    assert (body["underlying_ltp"], body["freeze_qty"]) == (bank, 900)


@pytest.mark.parametrize(
    ("offset", "kind", "steps"),
    [("ITM2", "CE", -2), ("OTM2", "CE", 2), ("ITM2", "PE", 2), ("OTM2", "PE", -2),
     ("ITM10", "CE", -10), ("OTM7", "PE", -7)],
)  # fmt: skip
async def test_itm_and_otm_count_listed_strikes_the_right_way(
    trader: Trader, offset: str, kind: str, steps: int
) -> None:
    listed = strikes(trader, InstrumentType(kind))
    want = listed[atm_index(listed, spot(trader)) + steps]
    body = await trader.ok("optionsymbol", **SYMBOL, offset=offset, option_type=kind)
    assert body["symbol"] == f"NIFTY{WEEKLY}{want}{kind}"


async def test_underlying_with_its_expiry_is_priced_from_that_future(trader: Trader) -> None:
    future = spot(trader, f"NIFTY{MONTHLY}FUT", "NFO")
    assert future > spot(trader)  # cost of carry: the future is not the index
    listed = strikes(trader, expiry=date(2026, 12, 29))
    body = await trader.ok(
        "optionsymbol", underlying=f"NIFTY{MONTHLY}FUT", exchange="NFO", offset="ATM",
        option_type="CE",
    )  # fmt: skip
    assert body["underlying_ltp"] == future
    assert body["symbol"] == f"NIFTY{MONTHLY}{listed[atm_index(listed, future)]}CE"
    # expiry_date wins over the expiry the underlying carries.
    body = await trader.ok(
        "optionsymbol", underlying=f"NIFTY{MONTHLY}FUT", exchange="NFO", expiry_date=WEEKLY,
        offset="ATM", option_type="CE",
    )  # fmt: skip
    assert body["symbol"].startswith(f"NIFTY{WEEKLY}")


async def test_commodities_are_priced_from_the_nearest_future(trader: Trader) -> None:
    future = spot(trader, "CRUDEOIL18DEC26FUT", "MCX")
    expiry = date(2026, 12, 16)
    listed = trader.live.runtime.instruments.strikes("CRUDEOIL", "MCX", expiry, CE)
    body = await trader.ok(
        "optionsymbol", underlying="CRUDEOIL", exchange="MCX", expiry_date="16DEC26",
        offset="OTM1", option_type="CE",
    )  # fmt: skip
    assert body["underlying_ltp"] == future
    assert body["symbol"] == f"CRUDEOIL16DEC26{listed[atm_index(listed, future) + 1]}CE"
    assert body["exchange"] == "MCX"


async def test_strike_int_uses_openalgos_arithmetic_grid(trader: Trader) -> None:
    price = spot(trader)
    atm = int(Decimal(price / 50).quantize(Decimal(1), "ROUND_HALF_UP")) * 50
    body = await trader.ok(
        "optionsymbol", **SYMBOL, offset="ITM1", option_type="CE", strike_int="50"
    )
    assert body["symbol"] == f"NIFTY{WEEKLY}{atm - 50}CE"
    problem = await refused(
        trader, "optionsymbol", "strike_int", **SYMBOL, offset="ATM", option_type="CE",
        strike_int=70,
    )  # fmt: skip
    assert "does not match the listed strikes" in problem


async def test_optionsymbol_bad_inputs_name_their_field(trader: Trader) -> None:
    pick = {"offset": "ATM", "option_type": "CE"}
    assert (
        await refused(
            trader, "optionsymbol", "underlying", **{**SYMBOL, "underlying": "NIFTYX"}, **pick
        )
        == "unknown underlying NIFTYX on NSE_INDEX"
    )
    assert (
        await refused(
            trader, "optionsymbol", "underlying", **{**SYMBOL, "underlying": "NIFTY!"}, **pick
        )
    ).startswith("Malformed symbol")
    assert (
        await refused(
            trader,
            "optionsymbol",
            "underlying",
            **{**SYMBOL, "underlying": "NIFTYBEES", "exchange": "NSE"},
            **pick,
        )
        == "no options are listed for NIFTYBEES on NFO"
    )
    assert (
        await refused(
            trader, "optionsymbol", "expiry_date", underlying="NIFTY", exchange="NSE_INDEX", **pick
        )
    ).startswith("Expiry date required")
    problem = await refused(
        trader, "optionsymbol", "expiry_date", **{**SYMBOL, "expiry_date": "02DEC26"}, **pick
    )
    assert problem.startswith("no NIFTY options expire on 02DEC26 on NFO; listed expiries: 01DEC26")
    assert (
        await refused(
            trader, "optionsymbol", "expiry_date", **{**SYMBOL, "expiry_date": "31NOV26"}, **pick
        )
    ).startswith("Invalid expiry date")
    assert (
        await refused(trader, "optionsymbol", "offset", **SYMBOL, offset="ITM50", option_type="CE")
        == "Offset ITM50 is out of range for available strikes. Please use a smaller offset."
    )
    # Schema-level rules: offset range, option_type case, expiry format.
    for bad in ("ITM0", "ITM51", "OTM", "ATM1", "XTM2"):
        assert (
            await refused(trader, "optionsymbol", "offset", **SYMBOL, offset=bad, option_type="CE")
            == "must be ATM, ITM1 to ITM50 or OTM1 to OTM50"
        )
    assert (
        await refused(
            trader, "optionsymbol", "option_type", **SYMBOL, offset="ATM", option_type="Ce"
        )
        == "must be one of: CE, PE, ce, pe"
    )
    for bad in ("28-NOV-24", "28FOO24", "2024-11-28", "99NOV24"):
        assert (
            await refused(
                trader, "optionsymbol", "expiry_date", **{**SYMBOL, "expiry_date": bad}, **pick
            )
        ).startswith("must be an expiry date")
    r = await trader.client.post(
        "/api/v1/optionsymbol", json={"apikey": "0" * 64, **SYMBOL, **pick}
    )
    assert (r.status_code, r.json()["message"]) == (403, "Invalid openalgo apikey")


async def test_expired_expiries_are_refused(trader: Trader) -> None:
    trader.live.clock.set(datetime(2026, 12, 1, 15, 31, tzinfo=IST))  # past the weekly's cut-off
    problem = await refused(
        trader, "optionsymbol", "expiry_date", **SYMBOL, offset="ATM", option_type="CE"
    )
    assert problem.startswith(
        "NIFTY options expiring 01DEC26 have expired; listed expiries: 08DEC26"
    )
    chain = await trader.ok("optionchain", underlying="NIFTY", exchange="NSE_INDEX", strike_count=1)
    assert chain["expiry_date"] == "08DEC26"
    r = await trader.post("optiongreeks", symbol=f"NIFTY{WEEKLY}27000CE", exchange="NFO")
    assert r.status_code == 400
    assert r.json()["message"] == "Option has expired on 01-Dec-2026"


# --- optionchain ----------------------------------------------------------------------------------


async def test_option_chain_shape_labels_and_quotes(trader: Trader) -> None:
    price = spot(trader)
    listed = strikes(trader)
    atm = atm_index(listed, price)
    body = await trader.ok("optionchain", underlying="NIFTY", exchange="NSE_INDEX", strike_count=5)
    assert (body["underlying"], body["underlying_symbol"], body["underlying_exchange"]) == (
        "NIFTY", "NIFTY", "NSE_INDEX",
    )  # fmt: skip
    assert body["underlying_ltp"] == price
    assert body["expiry_date"] == WEEKLY  # the nearest, as the request named none
    assert body["expiry_ts"] == int(datetime(2026, 12, 1, 15, 30, tzinfo=IST).timestamp())
    assert body["server_ts"] == int(trader.live.clock.now().timestamp())
    assert body["atm_strike"] == float(listed[atm])
    assert (body["quotes_included"], body["greeks_included"], body["forward_price"]) == (
        True, False, None,
    )  # fmt: skip
    rows = body["chain"]
    assert [r["strike"] for r in rows] == [float(s) for s in listed[atm - 5 : atm + 6]]
    for i, row in enumerate(rows):
        k = i - 5
        ce_label = "ATM" if k == 0 else (f"ITM{-k}" if k < 0 else f"OTM{k}")
        pe_label = "ATM" if k == 0 else (f"OTM{-k}" if k < 0 else f"ITM{k}")
        assert (row["ce"]["label"], row["pe"]["label"]) == (ce_label, pe_label)
        for side in ("ce", "pe"):
            leg = row[side]
            strike = Decimal(str(row["strike"])).normalize()
            assert leg["symbol"] == f"NIFTY{WEEKLY}{strike:f}{side.upper()}"
            quote = await trader.live.runtime.simulator.quote(leg["symbol"], "NFO")
            assert (leg["ltp"], leg["bid"], leg["ask"], leg["oi"]) == (
                quote.ltp, quote.bid, quote.ask, quote.oi,
            )  # fmt: skip
            assert leg["bid_qty"] > 0 and leg["ask_qty"] > 0
            assert (leg["lotsize"], leg["tick_size"]) == (75, 0.05)
            assert "delta" not in leg
    # Calls cheapen and puts dearen as the strike rises.
    assert [r["ce"]["ltp"] for r in rows] == sorted((r["ce"]["ltp"] for r in rows), reverse=True)
    assert [r["pe"]["ltp"] for r in rows] == sorted(r["pe"]["ltp"] for r in rows)
    whole = await trader.ok("optionchain", underlying="NIFTY", exchange="NSE_INDEX",
                            expiry_date=WEEKLY)  # fmt: skip
    assert len(whole["chain"]) == len(listed)


async def test_option_chain_greeks(trader: Trader) -> None:
    body = await trader.ok(
        "optionchain", underlying="NIFTY", exchange="NSE_INDEX", expiry_date=MONTHLY,
        strike_count=4, with_greeks="true", interest_rate="6.5",
    )  # fmt: skip
    assert body["greeks_included"] is True
    future = spot(trader, f"NIFTY{MONTHLY}FUT", "NFO")
    assert body["forward_price"] == pytest.approx(future, rel=5e-4)  # parity forward = future
    rows = body["chain"]
    call_deltas = [r["ce"]["delta"] for r in rows]
    assert all(0 < d < 1 for d in call_deltas)
    assert call_deltas == sorted(call_deltas, reverse=True)
    assert all(-1 < r["pe"]["delta"] < 0 for r in rows)
    for row in rows:
        for side in ("ce", "pe"):
            leg = row[side]
            assert leg["gamma"] > 0 and leg["vega"] > 0 and leg["theta"] < 0
            assert 8 < leg["implied_volatility"] < 20  # NIFTY's simulated vol is 13% with a smile
        # Same strike, same volatility on both sides (parity).
        assert row["ce"]["implied_volatility"] == pytest.approx(
            row["pe"]["implied_volatility"], abs=0.3
        )


# --- greeks ---------------------------------------------------------------------------------------


async def test_greeks_round_trip_the_simulators_prices(trader: Trader) -> None:
    price = spot(trader)
    listed = strikes(trader, expiry=date(2026, 12, 29))
    atm = atm_index(listed, price)
    for kind, strike in [("CE", listed[atm]), ("PE", listed[atm]), ("CE", listed[atm + 4]),
                         ("PE", listed[atm - 4])]:  # fmt: skip
        symbol = f"NIFTY{MONTHLY}{strike}{kind}"
        body = await trader.ok("optiongreeks", symbol=symbol, exchange="NFO", interest_rate=6.5)
        premium = spot(trader, symbol, "NFO")
        assert (body["symbol"], body["underlying"], body["option_type"]) == (symbol, "NIFTY", kind)
        assert (body["strike"], body["option_price"], body["interest_rate"]) == (
            float(strike), premium, 6.5,
        )  # fmt: skip
        assert body["expiry_date"] == "29-Dec-2026"
        cutoff = datetime(2026, 12, 29, 15, 30, tzinfo=IST)
        days = (cutoff - trader.live.clock.now()).total_seconds() / 86400
        assert body["days_to_expiry"] == pytest.approx(days, abs=1e-4)
        years, iv = days / 365, body["implied_volatility"] / 100
        ok: OptionKind = "CE" if kind == "CE" else "PE"
        # IV is reported to 0.01 points: the premium comes back to within vega * 0.005.
        rounding = body["greeks"]["vega"] * 0.006 + 0.02
        # Our model (Black-76 on the reported forward) gives back the premium...
        assert black76_price(ok, body["spot_price"], float(strike), years, RATE, iv) == (
            pytest.approx(premium, abs=rounding)
        )
        # ... and so does the simulator's (Black-Scholes on the index) at that volatility.
        assert bs_price(ok, price, float(strike), years, RATE, iv) == (
            pytest.approx(premium, abs=rounding + 0.3)
        )
        delta = body["greeks"]["delta"]
        assert 0 < delta < 1 if kind == "CE" else -1 < delta < 0
        assert body["greeks"]["gamma"] > 0 and body["greeks"]["vega"] > 0
        assert body["greeks"]["theta"] < 0
        assert body["greeks"]["rho"] == pytest.approx(-years * premium / 100, abs=1e-5)
        assert "note" not in body and "mode" not in body


async def test_greeks_forward_choices(trader: Trader) -> None:
    symbol = f"NIFTY{MONTHLY}{strikes(trader, expiry=date(2026, 12, 29))[40]}CE"
    given = await trader.ok("optiongreeks", symbol=symbol, exchange="NFO", forward_price="27000")
    assert given["spot_price"] == 27000.0
    index = await trader.ok(
        "optiongreeks", symbol=symbol, exchange="NFO", underlying_symbol="NIFTY",
        underlying_exchange="NSE_INDEX",
    )  # fmt: skip
    assert index["spot_price"] == spot(trader)
    future = await trader.ok(
        "optiongreeks", symbol=symbol, exchange="NFO", underlying_symbol=f"NIFTY{MONTHLY}FUT",
        underlying_exchange="NFO",
    )  # fmt: skip
    assert future["spot_price"] == spot(trader, f"NIFTY{MONTHLY}FUT", "NFO")
    synthetic = await trader.ok("optiongreeks", symbol=symbol, exchange="NFO")  # rate 0: K + C - P
    assert synthetic["interest_rate"] == 0.0
    assert synthetic["spot_price"] == pytest.approx(future["spot_price"], rel=5e-4)
    # An earlier cut-off shortens the time to expiry by exactly the difference.
    early = await trader.ok("optiongreeks", symbol=symbol, exchange="NFO", expiry_time="09:30")
    assert synthetic["days_to_expiry"] - early["days_to_expiry"] == pytest.approx(0.25, abs=1e-4)


async def test_greeks_without_time_value(trader: Trader) -> None:
    strike = strikes(trader, expiry=date(2026, 12, 29))[40]
    symbol = f"NIFTY{MONTHLY}{strike}CE"
    premium = spot(trader, symbol, "NFO")
    forward = float(strike) + premium + 500  # the premium is now below intrinsic value
    body = await trader.ok("optiongreeks", symbol=symbol, exchange="NFO", forward_price=forward)
    assert body["implied_volatility"] == 0
    assert body["greeks"] == {"delta": 1.0, "gamma": 0.0, "theta": 0.0, "vega": 0.0, "rho": 0.0}
    assert body["intrinsic_value"] == round(forward - float(strike), 2)
    assert body["time_value"] == round(premium - (forward - float(strike)), 2)
    assert "time value" in body["note"]


async def test_greeks_bad_inputs(trader: Trader) -> None:
    good = {"symbol": f"NIFTY{WEEKLY}27000CE", "exchange": "NFO"}
    assert await refused(trader, "optiongreeks", "symbol", symbol="NIFTY01DEC2627001CE",
                         exchange="NFO") == "unknown symbol NIFTY01DEC2627001CE on NFO"  # fmt: skip
    assert await refused(trader, "optiongreeks", "symbol", symbol=f"NIFTY{MONTHLY}FUT",
                         exchange="NFO") == f"NIFTY{MONTHLY}FUT is not an option"  # fmt: skip
    assert (await refused(trader, "optiongreeks", "exchange", **{**good, "exchange": "NSE"})
            ).startswith("must be one of: NFO")  # fmt: skip
    assert await refused(trader, "optiongreeks", "expiry_time", **good, expiry_time="25:00") == (
        "must be a time of day like 15:30 (HH:MM)"
    )
    assert await refused(trader, "optiongreeks", "forward_price", **good, forward_price=0) == (
        "must be greater than 0"
    )
    assert await refused(trader, "optiongreeks", "interest_rate", **good, interest_rate=101) == (
        "must be at most 100"
    )
    assert (
        await refused(
            trader, "optiongreeks", "underlying_symbol", **good, underlying_symbol="NOSUCH"
        )
        == "unknown underlying NOSUCH on NFO"
    )
    r = await trader.client.post("/api/v1/optiongreeks", json={"apikey": "0" * 64, **good})
    assert r.status_code == 403  # OpenAlgo: 401; here as on every endpoint


async def test_multioptiongreeks(trader: Trader) -> None:
    listed = strikes(trader)
    call, put = f"NIFTY{WEEKLY}{listed[40]}CE", f"NIFTY{WEEKLY}{listed[40]}PE"
    items = [{"symbol": call, "exchange": "NFO"}, {"symbol": put, "exchange": "NFO"}]
    body = await trader.ok("multioptiongreeks", symbols=items, interest_rate=6.5)
    assert body["summary"] == {"total": 2, "success": 2, "failed": 0}
    assert [d["symbol"] for d in body["data"]] == [call, put]
    assert "message" not in body
    single = await trader.ok("optiongreeks", symbol=call, exchange="NFO", interest_rate=6.5)
    single.pop("status")
    assert body["data"][0] == single
    bad = {"symbol": "NIFTY01DEC2627001CE", "exchange": "NFO"}
    body = (await trader.post("multioptiongreeks", symbols=[*items, bad])).json()
    assert (body["status"], body["summary"]) == ("partial", {"total": 3, "success": 2, "failed": 1})
    assert body["data"][2] == {
        "status": "error", "symbol": bad["symbol"], "exchange": "NFO",
        "message": "symbol: unknown symbol NIFTY01DEC2627001CE on NFO",
    }  # fmt: skip
    assert body["message"].startswith("1 of 3 symbols failed: NIFTY01DEC2627001CE")
    r = await trader.post("multioptiongreeks", symbols=[bad])
    assert (r.status_code, r.json()["status"]) == (200, "error")
    assert await refused(trader, "multioptiongreeks", "symbols", symbols=[]) == "must not be empty"
    assert await refused(trader, "multioptiongreeks", "symbols", symbols=[bad] * 51) == (
        "must have at most 50 items"
    )


# --- syntheticfuture ------------------------------------------------------------------------------


async def test_synthetic_future_is_near_the_future(trader: Trader) -> None:
    price = spot(trader)
    listed = strikes(trader, expiry=date(2026, 12, 29))
    body = await trader.ok("syntheticfuture", underlying="NIFTY", exchange="NSE_INDEX",
                           expiry_date=MONTHLY)  # fmt: skip
    atm = listed[atm_index(listed, price)]
    assert (body["underlying"], body["underlying_ltp"], body["expiry"]) == ("NIFTY", price, MONTHLY)
    assert body["atm_strike"] == float(atm)
    call = spot(trader, f"NIFTY{MONTHLY}{atm}CE", "NFO")
    put = spot(trader, f"NIFTY{MONTHLY}{atm}PE", "NFO")
    assert body["synthetic_future_price"] == round(float(atm) + call - put, 2)
    future = spot(trader, f"NIFTY{MONTHLY}FUT", "NFO")
    # K + C - P ignores discounting: within a few points of the future a month out.
    assert abs(body["synthetic_future_price"] - future) < future * (math.exp(RATE / 12) - 1) / 10
    assert body["synthetic_future_price"] > price
    assert (await refused(trader, "syntheticfuture", "expiry_date", underlying="NIFTY",
                          exchange="NSE_INDEX", expiry_date="30DEC26")).startswith(
        "no NIFTY options expire on 30DEC26"
    )  # fmt: skip
    assert await refused(trader, "syntheticfuture", "expiry_date", underlying="NIFTY",
                         exchange="NSE_INDEX") == "field required"  # fmt: skip


# --- optionsorder ---------------------------------------------------------------------------------


async def test_optionsorder_places_the_resolved_contract(trader: Trader) -> None:
    listed = strikes(trader, PE)
    want = f"NIFTY{WEEKLY}{listed[atm_index(listed, spot(trader)) + 1]}PE"
    headers = {"Idempotency-Key": "opt-1"}
    payload = {"apikey": trader.api_key, **ORDER, "option_type": "pe", "offset": "itm1",
               "quantity": "150", "product": "NRML"}  # fmt: skip
    r = await trader.client.post("/api/v1/optionsorder", json=payload, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {
        "status": "success", "orderid": body["orderid"], "symbol": want, "exchange": "NFO",
        "underlying": "NIFTY", "underlying_ltp": spot(trader), "offset": "ITM1",
        "option_type": "PE",
    }  # fmt: skip
    order = await ledger(trader).order_status(body["orderid"])
    assert (order.symbol, order.exchange, order.action, order.quantity, order.product) == (
        want, "NFO", "BUY", 150, "NRML",
    )  # fmt: skip
    assert order.status == "complete" and order.strategy == "opt"
    # A retry with the same key replays the answer and places nothing more.
    again = await trader.client.post("/api/v1/optionsorder", json=payload, headers=headers)
    assert again.json() == body and again.headers["Idempotent-Replayed"] == "true"
    assert len(await ledger(trader).order_book()) == 1
    assert await ledger(trader, SANDBOX).order_book() == []


async def test_optionsorder_split(trader: Trader) -> None:
    body = await trader.ok(
        "optionsorder", **{**ORDER, "quantity": 375}, offset="OTM3", splitsize=150
    )
    assert (body["total_quantity"], body["split_size"]) == (375, 150)
    assert "orderid" not in body
    results = body["results"]
    assert [(c["order_num"], c["quantity"]) for c in results] == [(1, 150), (2, 150), (3, 75)]
    assert all(c["status"] == "success" for c in results)
    book = {o.orderid: o for o in await ledger(trader).order_book()}
    assert {c["orderid"] for c in results} == set(book)
    assert {o.symbol for o in book.values()} == {body["symbol"]}


async def test_optionsorder_bad_inputs_place_nothing(trader: Trader) -> None:
    assert await refused(trader, "optionsorder", "splitsize", **{**ORDER, "quantity": 7500},
                         offset="ATM", splitsize=1) == (
        "Total number of orders would exceed maximum limit of 100"
    )  # fmt: skip
    assert await refused(trader, "optionsorder", "offset", **ORDER, offset="ITM50") == (
        "Offset ITM50 is out of range for available strikes. Please use a smaller offset."
    )
    assert await refused(trader, "optionsorder", "product", **ORDER, offset="ATM",
                         product="CNC") == "must be one of: MIS, NRML"  # fmt: skip
    assert await refused(trader, "optionsorder", "quantity", **{**ORDER, "quantity": 1.5},
                         offset="ATM") == "must be an integer"  # fmt: skip
    assert await refused(trader, "optionsorder", "underlying", **{**ORDER, "underlying": "SBIN1"},
                         offset="ATM") == "unknown underlying SBIN1 on NSE_INDEX"  # fmt: skip
    assert await refused(trader, "optionsorder", "offset", **ORDER) == "field required"
    # The venue's own refusal (not a lot multiple) is a 400 with its reason.
    r = await trader.post("optionsorder", **{**ORDER, "quantity": 50}, offset="ATM")
    assert r.status_code == 400
    assert "multiple of the lot size 75" in r.json()["message"]
    assert all(o.status == "rejected" for o in await ledger(trader).order_book())
    # A contract error claims no Idempotency-Key: the corrected request may reuse it.
    url, key = "/api/v1/optionsorder", {"Idempotency-Key": "fix-and-retry"}
    payload = {"apikey": trader.api_key, **ORDER, "offset": "ITM50"}
    r = await trader.client.post(url, json=payload, headers=key)
    assert r.status_code == 400
    r = await trader.client.post(url, json={**payload, "offset": "ITM1"}, headers=key)
    assert r.status_code == 200 and "Idempotent-Replayed" not in r.headers


async def test_optionsorder_in_analyzer_mode(trader: Trader) -> None:
    await trader.analyzer(True)
    body = await trader.ok("optionsorder", **ORDER, offset="ATM")
    assert body["mode"] == "analyze"
    assert [o.orderid for o in await ledger(trader, SANDBOX).order_book()] == [body["orderid"]]
    assert await ledger(trader).order_book() == []
    r = await trader.post("optionsorder", **ORDER, offset="ITM50")
    assert r.status_code == 400 and r.json()["mode"] == "analyze"
    r = await trader.post("optionsorder", **ORDER, offset="ATM", product="CNC")
    assert r.status_code == 400 and r.json()["mode"] == "analyze"
    symbol = await trader.ok("optionsymbol", **SYMBOL, offset="ATM", option_type="CE")
    assert "mode" not in symbol  # market data carries no mode


# --- optionsmultiorder ----------------------------------------------------------------------------


def leg(offset: str, kind: str, action: str, **extra: Any) -> dict[str, Any]:
    return {"offset": offset, "option_type": kind, "action": action, "quantity": 75, **extra}


MULTI = {**SYMBOL, "strategy": "condor"}


async def test_multiorder_places_buys_before_sells(trader: Trader) -> None:
    legs = [
        leg("OTM2", "CE", "SELL"), leg("OTM4", "CE", "BUY"),
        leg("OTM2", "PE", "sell"), leg("OTM4", "PE", "buy", expiry_date="08dec26"),
    ]  # fmt: skip
    body = await trader.ok("optionsmultiorder", **MULTI, legs=legs)
    assert (body["underlying"], body["underlying_ltp"]) == ("NIFTY", spot(trader))
    results = body["results"]
    assert [r["leg"] for r in results] == [1, 2, 3, 4]
    assert all(r["status"] == "success" and r["mode"] == "live" for r in results)
    assert [(r["action"], r["offset"], r["option_type"], r["product"]) for r in results] == [
        ("SELL", "OTM2", "CE", "MIS"), ("BUY", "OTM4", "CE", "MIS"),
        ("SELL", "OTM2", "PE", "MIS"), ("BUY", "OTM4", "PE", "MIS"),
    ]  # fmt: skip
    assert results[3]["symbol"].startswith("NIFTY08DEC26")  # a leg's own expiry
    assert results[0]["symbol"].startswith(f"NIFTY{WEEKLY}")
    # Placement order: both buys (in request order), then both sells.
    book = sorted(await ledger(trader).order_book(), key=lambda o: o.orderid)
    assert [o.orderid for o in book] == [results[i]["orderid"] for i in (1, 3, 0, 2)]
    assert [o.action for o in book] == ["BUY", "BUY", "SELL", "SELL"]


async def test_multiorder_reports_each_leg(trader: Trader) -> None:
    legs = [
        leg("ATM", "CE", "BUY", quantity=50),  # refused by the venue: not a lot multiple
        leg("OTM1", "CE", "SELL", quantity=150, splitsize=75),
        leg("OTM2", "CE", "BUY", pricetype="LIMIT", price="0.05", product="NRML"),
    ]
    body = await trader.ok("optionsmultiorder", **MULTI, legs=legs)
    first, split, limit = body["results"]
    assert first["status"] == "error" and "lot size" in first["message"]
    assert "orderid" not in first and "mode" not in first
    assert (split["status"], split["total_quantity"], split["split_size"]) == ("success", 150, 75)
    assert [c["quantity"] for c in split["split_results"]] == [75, 75]
    assert "orderid" not in split
    assert (limit["status"], limit["product"]) == ("success", "NRML")
    order = await ledger(trader).order_status(limit["orderid"])
    assert (order.pricetype, order.price, order.status) == ("LIMIT", Decimal("0.05"), "open")


async def test_multiorder_bad_leg_places_nothing(trader: Trader) -> None:
    good = leg("OTM1", "CE", "BUY")
    assert await refused(trader, "optionsmultiorder", "legs.1.offset", **MULTI,
                         legs=[good, leg("ITM50", "CE", "SELL")]) == (
        "Offset ITM50 is out of range for available strikes. Please use a smaller offset."
    )  # fmt: skip
    assert (await refused(trader, "optionsmultiorder", "legs.1.expiry_date", **MULTI,
                          legs=[good, leg("ATM", "PE", "SELL", expiry_date="02DEC26")])
            ).startswith("no NIFTY options expire on 02DEC26")  # fmt: skip
    assert await refused(trader, "optionsmultiorder", "legs.0.splitsize", **MULTI,
                         legs=[leg("ATM", "CE", "BUY", quantity=7575, splitsize=75)]) == (
        "Total number of orders would exceed maximum limit of 100"
    )  # fmt: skip
    no_expiry = {k: v for k, v in MULTI.items() if k != "expiry_date"}
    assert (await refused(trader, "optionsmultiorder", "expiry_date", **no_expiry, legs=[good])
            ).startswith("Expiry date required")  # fmt: skip
    assert await refused(trader, "optionsmultiorder", "legs", **MULTI, legs=[]) == (
        "must not be empty"
    )
    assert await refused(trader, "optionsmultiorder", "legs", **MULTI, legs=[good] * 21) == (
        "must have at most 20 items"
    )
    assert await refused(trader, "optionsmultiorder", "legs.0.bogus", **MULTI,
                         legs=[{**good, "bogus": 1}]) == "unknown field"  # fmt: skip
    assert await ledger(trader).order_book() == []


async def test_multiorder_in_analyzer_mode(trader: Trader) -> None:
    await trader.analyzer(True)
    body = await trader.ok("optionsmultiorder", **MULTI, legs=[leg("ATM", "CE", "BUY")])
    assert body["mode"] == "analyze" and body["results"][0]["mode"] == "analyze"
    assert len(await ledger(trader, SANDBOX).order_book()) == 1
    assert await ledger(trader).order_book() == []


# --- odd but well-formed input --------------------------------------------------------------------

LONG = "N" * 60
ODD_INPUTS: list[tuple[str, dict[str, Any]]] = [
    ("optionsymbol", {**SYMBOL, "underlying": f"{LONG}01DEC26FUT", "offset": "ATM",
                      "option_type": "CE"}),
    ("optionsymbol", {**SYMBOL, "underlying": "01DEC26", "offset": "ATM", "option_type": "CE"}),
    ("optionsymbol", {**SYMBOL, "underlying": f"{'B' * 54}01DEC26FUT", "offset": "ATM",
                      "option_type": "CE"}),
    ("optionsymbol", {**SYMBOL, "exchange": "CRYPTO", "offset": "ATM", "option_type": "CE"}),
    ("optionsymbol", {**SYMBOL, "offset": "OTM50", "option_type": "PE", "strike_int": 1000000000}),
    ("optionsymbol", {**SYMBOL, "offset": "ITM50", "option_type": "CE", "strike_int": 1}),
    ("optionchain", {"underlying": "SBIN", "exchange": "GLOBAL_INDEX", "strike_count": 100,
                     "with_greeks": True, "interest_rate": 100}),
    ("optionchain", {"underlying": "NIFTY", "exchange": "BSE_INDEX"}),
    ("optiongreeks", {"symbol": f"NIFTY{WEEKLY}27000CE", "exchange": "NFO",
                      "forward_price": 1e12, "interest_rate": 100}),
    ("optiongreeks", {"symbol": f"NIFTY{WEEKLY}27000PE", "exchange": "NFO",
                      "forward_price": "0.0001", "expiry_time": "00:00"}),
    ("optiongreeks", {"symbol": f"NIFTY{WEEKLY}27000PE", "exchange": "NFO",
                      "underlying_exchange": "MCX"}),
    ("optiongreeks", {"symbol": "SBIN", "exchange": "CRYPTO"}),
    ("syntheticfuture", {"underlying": "USDINR", "exchange": "CDS", "expiry_date": "29DEC26"}),
    ("optionsorder", {**ORDER, "offset": "ATM", "pricetype": "SL", "trigger_price": 1e12,
                      "price": 1e12, "disclosed_quantity": 1000000000}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "fields"), ODD_INPUTS, ids=[f"{n}-{i}" for i, (n, _) in
                                                              enumerate(ODD_INPUTS)])  # fmt: skip
async def test_odd_inputs_get_an_answer_not_a_crash(
    trader: Trader, name: str, fields: dict[str, Any]
) -> None:
    r = await trader.post(name, **fields)
    assert r.status_code < 500, r.text
    body = r.json()
    assert body["status"] in ("success", "error")
    if "errors" in body:  # a field's fault: the message names it
        assert body["message"].split(":")[0] in body["errors"]
