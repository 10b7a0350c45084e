"""GTT endpoints through the real app (reference 7.23, SDK 2.0.5): SINGLE and OCO triggers placed,
listed, modified, fired and cancelled on the simulator broker's ledger and the sandbox, and every
bad input refused with nothing written."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.ledger import SANDBOX, SIMULATOR, engine_of, first, ltp, place
from tests.support.shared_trading import shared_trading_live, trader
from tests.support.trading import Trader, new_trader

__all__ = ["shared_trading_live", "trader"]  # fixtures: one app per module, a user per test

SBIN_SINGLE: dict[str, Any] = {
    "strategy": "dip",
    "trigger_type": "SINGLE",
    "exchange": "NSE",
    "symbol": "SBIN",
    "action": "BUY",
    "product": "CNC",
    "quantity": 10,
    "pricetype": "LIMIT",
    "price": 400,
    "triggerprice_sl": 400.5,
    "triggerprice_tg": 0,
    "stoploss": None,
    "target": None,
}


def oco(symbol: str, exchange: str, product: str, quantity: int, mark: Decimal) -> dict[str, Any]:
    """A SELL OCO around ``mark``: stop-loss 5% below, target 5% above, on the 0.05 grid."""

    def grid(value: Decimal) -> float:
        return float((value / Decimal("0.05")).to_integral_value() * Decimal("0.05"))

    return {
        "trigger_type": "OCO",
        "exchange": exchange,
        "symbol": symbol,
        "action": "SELL",
        "product": product,
        "quantity": quantity,
        "triggerprice_sl": grid(mark * Decimal("0.95")),
        "stoploss": grid(mark * Decimal("0.95")) - 0.5,
        "triggerprice_tg": grid(mark * Decimal("1.05")),
        "target": grid(mark * Decimal("1.05")) + 0.5,
    }


async def book(trader: Trader, status: str | None = None) -> list[dict[str, Any]]:
    body = await (trader.ok("gttorderbook", status=status) if status else trader.ok("gttorderbook"))
    data: list[dict[str, Any]] = body["data"]
    return data


async def used(trader: Trader) -> float:
    margin: float = (await trader.ok("funds"))["data"]["utiliseddebits"]
    return margin


# --- SINGLE -------------------------------------------------------------------------------------


async def test_single_trigger_place_list_modify_cancel(trader: Trader) -> None:
    mark = await ltp(trader, "SBIN", "NSE")
    placed = await trader.ok("placegttorder", **SBIN_SINGLE)
    assert set(placed) == {"status", "trigger_id"}  # no mode: the simulator is a broker
    trigger_id = placed["trigger_id"]
    assert trigger_id.startswith("GTT-261130-")

    [entry] = await book(trader)
    assert entry == {
        "trigger_id": trigger_id,
        "trigger_type": "single",
        "status": "active",
        "symbol": "SBIN",
        "exchange": "NSE",
        "trigger_prices": [400.5],
        "last_price": float(mark),
        "legs": [
            {
                "action": "BUY",
                "quantity": 10,
                "price": 400.0,
                "pricetype": "LIMIT",
                "product": "CNC",
                "trigger_price": 400.5,
            }
        ],
        "created_at": "2026-11-30 10:00:00",
        "updated_at": "2026-11-30 10:00:00",
        "expires_at": "2027-11-30 10:00:00",
        "strategy": "dip",
    }
    assert await used(trader) == 4000.0  # CNC: the full value of the leg at its limit price

    changed = {**SBIN_SINGLE, "quantity": "20", "price": "390", "triggerprice_sl": "390.5"}
    modified = await trader.ok("modifygttorder", trigger_id=trigger_id, **changed)
    assert modified == {"status": "success", "trigger_id": trigger_id}
    [entry] = await book(trader)
    assert entry["trigger_prices"] == [390.5]
    assert entry["legs"][0] | {} == {
        "action": "BUY",
        "quantity": 20,
        "price": 390.0,
        "pricetype": "LIMIT",
        "product": "CNC",
        "trigger_price": 390.5,
    }
    assert await used(trader) == 7800.0

    cancelled = await trader.ok("cancelgttorder", trigger_id=trigger_id)
    assert cancelled == {"status": "success", "trigger_id": trigger_id}
    assert await book(trader) == []
    [gone] = await book(trader, "all")
    assert gone["status"] == "cancelled"
    assert await used(trader) == 0.0

    # A trigger that is no longer active cannot change again.
    for name, extra in (("cancelgttorder", {}), ("modifygttorder", changed)):
        r = await trader.post(name, trigger_id=trigger_id, **extra)
        assert r.status_code == 409, r.text
        assert r.json() == {
            "status": "error",
            "message": f"GTT {trigger_id} is cancelled, not active",
        }


async def test_single_trigger_fires_once_and_places_its_order(trader: Trader) -> None:
    mark = await ltp(trader, "SBIN", "NSE")
    above = float(mark + 10)  # a BUY stop-loss level above the price: met at once
    placed = await trader.ok(
        "placegttorder", **{**SBIN_SINGLE, "triggerprice_sl": above, "price": above}
    )
    await engine_of(trader).drain()
    assert await book(trader) == []
    [fired] = await book(trader, "all")
    assert (fired["trigger_id"], fired["status"]) == (placed["trigger_id"], "triggered")
    orders = (await trader.ok("orderbook"))["data"]["orders"]
    assert [o["orderid"] for o in orders] == [fired["orderid"]]
    child = orders[0]
    assert (child["symbol"], child["action"], child["quantity"], child["product"]) == (
        "SBIN",
        "BUY",
        10,
        "CNC",
    )
    assert child["order_status"] == "complete"  # a LIMIT above the market fills at once
    r = await trader.post("cancelgttorder", trigger_id=placed["trigger_id"])
    assert r.status_code == 409


async def test_single_market_trigger_with_a_target_level(trader: Trader) -> None:
    mark = await ltp(trader, "SBIN", "NSE")
    far = float(mark * 2 // 1)
    body = {
        **SBIN_SINGLE,
        "action": "SELL",
        "pricetype": "MARKET",
        "price": 0,
        "triggerprice_sl": 0,
        "triggerprice_tg": far,
        "expires_at": "2027-01-15T15:30:00+05:30",
    }
    await trader.ok("placegttorder", **body)
    [entry] = await book(trader)
    assert entry["trigger_prices"] == [far]
    assert entry["expires_at"] == "2027-01-15 15:30:00"
    assert entry["legs"][0]["pricetype"] == "MARKET"
    assert entry["legs"][0]["price"] == 0.0
    assert await used(trader) == 0.0  # a CNC sell blocks nothing


# --- OCO ----------------------------------------------------------------------------------------


async def test_oco_lifecycle_on_futures(trader: Trader) -> None:
    future = first(trader, "NFO", "NIFTY", "FUT")
    mark = await ltp(trader, future.symbol, "NFO")
    request = oco(future.symbol, "NFO", "NRML", future.lot_size, mark)
    trigger_id = (await trader.ok("placegttorder", **request))["trigger_id"]
    [entry] = await book(trader)
    assert entry["trigger_type"] == "two-leg"
    assert entry["trigger_prices"] == [request["triggerprice_sl"], request["triggerprice_tg"]]
    stop, target = entry["legs"]  # stop-loss first
    assert (stop["trigger_price"], stop["price"]) == (
        request["triggerprice_sl"],
        request["stoploss"],
    )
    assert (target["trigger_price"], target["price"]) == (
        request["triggerprice_tg"],
        request["target"],
    )
    assert stop["action"] == target["action"] == "SELL"
    assert stop["quantity"] == future.lot_size
    # OCO blocks the larger leg: the target's limit price x quantity / futures leverage 10.
    larger = Decimal(str(request["target"])) * future.lot_size / 10
    assert await used(trader) == float(larger.quantize(Decimal("0.01")))

    wider = {**request, "quantity": 2 * future.lot_size}
    await trader.ok("modifygttorder", trigger_id=trigger_id, **wider)
    [entry] = await book(trader)
    assert [leg["quantity"] for leg in entry["legs"]] == [2 * future.lot_size] * 2
    assert await used(trader) == float((2 * larger).quantize(Decimal("0.01")))

    await trader.ok("cancelgttorder", trigger_id=trigger_id)
    assert await book(trader) == []
    assert await used(trader) == 0.0


async def test_oco_fires_one_leg_and_cancels_the_other(trader: Trader) -> None:
    await place(trader, "SBIN", "NSE", "BUY", 5, product="CNC")
    mark = await ltp(trader, "SBIN", "NSE")
    request = oco("SBIN", "NSE", "CNC", 5, mark)
    trigger_id = (await trader.ok("placegttorder", **request))["trigger_id"]
    # Raise the stop-loss above the price: it fires, the target leg never will.
    request["triggerprice_sl"] = float(mark + 1)
    request["stoploss"] = float(mark - 1)
    await trader.ok("modifygttorder", trigger_id=trigger_id, **request)
    await engine_of(trader).drain()
    [fired] = await book(trader, "all")
    assert fired["status"] == "triggered"
    orders = (await trader.ok("orderbook"))["data"]["orders"]
    child = next(o for o in orders if o["orderid"] == fired["orderid"])
    assert (child["action"], child["quantity"], child["price"]) == ("SELL", 5, float(mark - 1))
    assert len(orders) == 2  # the buy and one child: the target leg did not fire


# --- listing ------------------------------------------------------------------------------------


async def test_book_lists_active_first_and_only_the_callers(trader: Trader) -> None:
    other = await new_trader(trader.live, f"other{trader.account.user_id}")
    theirs = (await other.ok("placegttorder", **SBIN_SINGLE))["trigger_id"]
    old = (await trader.ok("placegttorder", **SBIN_SINGLE))["trigger_id"]
    await trader.ok("cancelgttorder", trigger_id=old)
    active = (await trader.ok("placegttorder", **SBIN_SINGLE))["trigger_id"]
    assert [g["trigger_id"] for g in await book(trader)] == [active]
    assert [g["trigger_id"] for g in await book(trader, "active")] == [active]
    assert [g["trigger_id"] for g in await book(trader, "all")] == [active, old]
    # Another user's trigger is unknown to this one.
    for name, extra in (("cancelgttorder", {}), ("modifygttorder", SBIN_SINGLE)):
        r = await trader.post(name, trigger_id=theirs, **extra)
        assert r.status_code == 404
        assert r.json() == {"status": "error", "message": f"GTT {theirs} not found"}
    assert [g["trigger_id"] for g in await book(other)] == [theirs]


async def test_analyzer_mode_triggers_live_in_the_sandbox(trader: Trader) -> None:
    live = (await trader.ok("placegttorder", **SBIN_SINGLE))["trigger_id"]
    await trader.analyzer(True)
    placed = await trader.ok("placegttorder", **SBIN_SINGLE)
    assert placed["mode"] == "analyze"
    body = await trader.ok("gttorderbook")
    assert body["mode"] == "analyze"
    assert [g["trigger_id"] for g in body["data"]] == [placed["trigger_id"]]
    r = await trader.post("cancelgttorder", trigger_id=live)  # the live ledger's id
    assert r.status_code == 404
    assert r.json()["mode"] == "analyze"
    r = await trader.post("placegttorder", **{**SBIN_SINGLE, "product": "MIS"})
    assert r.status_code == 400
    assert r.json()["mode"] == "analyze"
    modified = await trader.ok(
        "modifygttorder", trigger_id=placed["trigger_id"], **{**SBIN_SINGLE, "quantity": 2}
    )
    assert modified["mode"] == "analyze"
    assert (await trader.ok("cancelgttorder", trigger_id=placed["trigger_id"]))["mode"] == (
        "analyze"
    )
    await trader.analyzer(False)
    assert [g["trigger_id"] for g in await book(trader)] == [live]
    assert await engine_of(trader, SANDBOX).gtts(trader.account.user_id) == []
    assert len(await engine_of(trader, SIMULATOR).gtts(trader.account.user_id)) == 1


async def test_placement_honours_an_idempotency_key(trader: Trader) -> None:
    url = "/api/v1/placegttorder"
    payload = {"apikey": trader.api_key, **SBIN_SINGLE}
    headers = {"Idempotency-Key": "gtt-1"}
    first_try = await trader.client.post(url, json=payload, headers=headers)
    again = await trader.client.post(url, json=payload, headers=headers)
    assert first_try.status_code == again.status_code == 200
    assert again.json() == first_try.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await book(trader)) == 1
    other = await trader.client.post(url, json={**payload, "quantity": 2}, headers=headers)
    assert other.status_code == 409
    assert len(await book(trader)) == 1
    # An unknown symbol is a validation error: it claims no key.
    unknown = {**payload, "symbol": "NOPE"}
    r = await trader.client.post(url, json=unknown, headers={"Idempotency-Key": "gtt-2"})
    assert r.status_code == 400
    r = await trader.client.post(url, json=payload, headers={"Idempotency-Key": "gtt-2"})
    assert r.status_code == 200
    assert "Idempotent-Replayed" not in r.headers
    assert len(await book(trader)) == 2


# --- bad input ----------------------------------------------------------------------------------


async def test_schema_refusals_name_the_field(trader: Trader) -> None:
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"trigger_type": "BOTH"}, "trigger_type", "must be one of: SINGLE, OCO"),
        ({"product": "MIS"}, "product", "must be one of: CNC, NRML"),
        ({"pricetype": "SL"}, "pricetype", "must be one of: LIMIT, MARKET"),
        ({"exchange": "nse"}, "exchange", None),
        ({"action": "Buy"}, "action", None),
        ({"quantity": "abc"}, "quantity", "must be a number or a numeric string"),
        ({"quantity": 0}, "quantity", "must be greater than 0"),
        (
            {"quantity": "1.5"},
            "quantity",
            "Fractional quantity (1.5) is not allowed for non-crypto exchanges.",
        ),
        ({"price": "x"}, "price", "must be a number or a numeric string"),
        ({"triggerprice_sl": -1}, "triggerprice_sl", "must be at least 0"),
        ({"symbol": ""}, "symbol", "must not be empty"),
        ({"symbol": 7}, "symbol", "must be a string"),
        ({"bogus": 1}, "bogus", "unknown field"),
        (
            {"triggerprice_sl": 0, "triggerprice_tg": 0},
            "triggerprice_sl",
            "SINGLE GTT requires a positive triggerprice_sl or triggerprice_tg",
        ),
        (
            {"triggerprice_sl": 700, "triggerprice_tg": 900},
            "triggerprice_tg",
            "SINGLE GTT takes exactly one of triggerprice_sl or triggerprice_tg; set the other "
            "to 0",
        ),
        (
            {"trigger_type": "OCO"},
            "stoploss",
            "required for OCO (missing: stoploss, triggerprice_tg, target)",
        ),
        (
            {
                "trigger_type": "oco",
                "triggerprice_sl": 900,
                "triggerprice_tg": 800,
                "stoploss": 899,
                "target": 801,
            },
            "triggerprice_sl",
            "must be below triggerprice_tg for OCO",
        ),
        ({"expires_at": "tomorrow"}, "expires_at", None),
    ]
    for name, extra in (("placegttorder", {}), ("modifygttorder", {"trigger_id": "GTT-1"})):
        for change, field, problem in cases:
            r = await trader.post(name, **{**SBIN_SINGLE, **extra, **change})
            assert r.status_code == 400, (name, change, r.text)
            errors = r.json()["errors"]
            assert list(errors) == [field], (name, change, errors)
            if problem is not None:
                assert errors[field] == [problem], (name, change)
                assert r.json()["message"] == f"{field}: {problem.rstrip('.')}"
    for field in ("trigger_type", "exchange", "symbol", "action", "product", "quantity"):
        r = await trader.post(
            "placegttorder", **{k: v for k, v in SBIN_SINGLE.items() if k != field}
        )
        assert r.json()["errors"] == {field: ["field required"]}, field
    for name in ("modifygttorder", "cancelgttorder"):
        r = await trader.post(name, **({**SBIN_SINGLE} if name == "modifygttorder" else {}))
        assert r.json()["errors"] == {"trigger_id": ["field required"]}, name
        r = await trader.post(
            name, trigger_id="", **({**SBIN_SINGLE} if name == "modifygttorder" else {})
        )
        assert r.json()["errors"] == {"trigger_id": ["must not be empty"]}, name
    r = await trader.post("gttorderbook", status="open")
    assert r.status_code == 400
    assert list(r.json()["errors"]) == ["status"]
    r = await trader.post("cancelgttorder", trigger_id="GTT-1", bogus=1)
    assert r.json()["errors"] == {"bogus": ["unknown field"]}
    assert await book(trader, "all") == []


async def test_ledger_refusals_write_nothing(trader: Trader) -> None:
    future = first(trader, "NFO", "NIFTY", "FUT")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"symbol": "NOPE"}, "symbol: unknown symbol NOPE on NSE"),
        ({"triggerprice_sl": 400.53}, "Trigger price 400.53 is not a multiple of the tick size"),
        ({"price": 400.02}, "Price 400.02 is not a multiple of the tick size"),
        ({"price": 0}, "A LIMIT GTT needs a price greater than 0 for each leg"),
        ({"expires_at": "2020-01-01T00:00:00+05:30"}, "expires_at must be in the future"),
        ({"expires_at": "9999-12-31T23:00:00-12:00"}, "expires_at: must be within one year"),
        ({"expires_at": "2027-12-02T00:00:00"}, "expires_at: must be within one year"),
        ({"quantity": 10_000_000}, "Insufficient funds"),
        ({"exchange": "NSE_INDEX", "symbol": "NIFTY"}, "cannot be traded"),
        ({"exchange": "NFO", "symbol": future.symbol, "product": "NRML", "quantity": 1},
         "must be a multiple of the lot size"),
        ({"product": "NRML"}, "NRML is not allowed on NSE"),
    ]  # fmt: skip
    for change, message in cases:
        r = await trader.post("placegttorder", **{**SBIN_SINGLE, **change})
        assert r.status_code == 400, (change, r.text)
        assert message in r.json()["message"], (change, r.json())
    assert await book(trader, "all") == []
    funds = (await trader.ok("funds"))["data"]
    assert (funds["utiliseddebits"], funds["availablecash"]) == (0.0, 10_000_000.0)


async def test_modify_refuses_what_cannot_change(trader: Trader) -> None:
    trigger_id = (await trader.ok("placegttorder", **SBIN_SINGLE))["trigger_id"]
    fixed = "symbol, exchange, action and trigger_type of a GTT cannot change. Cancel and re-place"
    mark = await ltp(trader, "SBIN", "NSE")
    for change in (
        {"symbol": "INFY"},
        {"action": "SELL"},
        {**oco("SBIN", "NSE", "CNC", 10, mark), "action": "BUY"},
    ):
        r = await trader.post("modifygttorder", trigger_id=trigger_id, **{**SBIN_SINGLE, **change})
        assert r.status_code == 400, (change, r.text)
        assert r.json()["message"] == fixed
    for field, value in (("expires_at", "2027-01-01T00:00:00+05:30"), ("product", "NRML")):
        r = await trader.post(
            "modifygttorder", trigger_id=trigger_id, **{**SBIN_SINGLE, field: value}
        )
        assert r.status_code == 400
        assert r.json()["errors"] == {field: ["cannot be changed: cancel and re-place the trigger"]}
    for name, extra in (("modifygttorder", SBIN_SINGLE), ("cancelgttorder", {})):
        r = await trader.post(name, trigger_id="GTT-000000-00000000", **extra)
        assert r.status_code == 404
        assert r.json() == {"status": "error", "message": "GTT GTT-000000-00000000 not found"}
    [entry] = await book(trader)
    assert (entry["trigger_prices"], entry["legs"][0]["quantity"]) == ([400.5], 10)
    assert await used(trader) == 4000.0


async def test_gtt_endpoints_refuse_bad_keys(trader: Trader) -> None:
    for name, extra in (
        ("placegttorder", SBIN_SINGLE),
        ("modifygttorder", {**SBIN_SINGLE, "trigger_id": "GTT-1"}),
        ("cancelgttorder", {"trigger_id": "GTT-1"}),
        ("gttorderbook", {}),
    ):
        r = await trader.client.post(f"/api/v1/{name}", json={"apikey": "0" * 64, **extra})
        assert r.status_code == 403, name
        assert r.json() == {"status": "error", "message": "Invalid openalgo apikey"}
