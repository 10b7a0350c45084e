"""Field rules of the /api/v1 schemas (reference 2.2-2.4) through the real app: numbers as
strings, integers, OpenAlgo's fractional-quantity rule, enum case rules, booleans, dates, lists,
cross-field rules. Each bad input must name its field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.v1.bodies import body


async def post(api: httpx.AsyncClient, name: str, **changes: Any) -> httpx.Response:
    return await api.post(f"/api/v1/{name}", json=body(name, **changes))


async def accepted(api: httpx.AsyncClient, name: str, **changes: Any) -> dict[str, Any]:
    r = await post(api, name, **changes)
    assert r.status_code == 200, r.text
    received: dict[str, Any] = r.json()["received"]
    return received


async def refused(api: httpx.AsyncClient, name: str, field: str, **changes: Any) -> str:
    """Post and expect a 400 naming exactly ``field``; return its problem text."""
    r = await post(api, name, **changes)
    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert list(errors) == [field], errors
    assert r.json()["message"].startswith(f"{field}: ")
    problem: str = errors[field][0]
    return problem


# --- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", "1"), (1, "1"), ("10", "10"), (10.0, "10.0"), ("+5", "5"), ("1e2", "1E+2")],
)
async def test_quantity_accepts_numbers_and_numeric_strings(
    api: httpx.AsyncClient, value: Any, expected: str
) -> None:
    assert (await accepted(api, "placeorder", quantity=value))["quantity"] == expected


@pytest.mark.parametrize("value", ["", " ", "ten", "nan", "inf", "-inf", "1,000", True, [1], {}])
async def test_quantity_refuses_non_numbers(api: httpx.AsyncClient, value: Any) -> None:
    assert await refused(api, "placeorder", "quantity", quantity=value) == (
        "must be a number or a numeric string"
    )


@pytest.mark.parametrize("value", [0, "0", -1, "-1"])
async def test_quantity_must_be_positive(api: httpx.AsyncClient, value: Any) -> None:
    assert await refused(api, "placeorder", "quantity", quantity=value) == "must be greater than 0"


async def test_quantity_has_a_sane_upper_bound(api: httpx.AsyncClient) -> None:
    assert (await refused(api, "placeorder", "quantity", quantity="1e12")).startswith(
        "must be at most"
    )


@pytest.mark.parametrize("name", ["placeorder", "splitorder", "modifyorder", "placegttorder"])
async def test_fractional_quantity_is_refused_outside_crypto_with_openalgos_message(
    api: httpx.AsyncClient, name: str
) -> None:
    problem = await refused(api, name, "quantity", quantity="1.5")
    assert problem == "Fractional quantity (1.5) is not allowed for non-crypto exchanges."
    assert (await accepted(api, name, quantity="1.0"))["quantity"] in ("1.0", "1")


async def test_fractional_quantity_is_allowed_on_crypto(api: httpx.AsyncClient) -> None:
    got = await accepted(api, "placeorder", exchange="CRYPTO", symbol="BTCUSDFUT", quantity="0.25")
    assert got["quantity"] == "0.25"


async def test_basket_and_margin_items_apply_the_fractional_rule(api: httpx.AsyncClient) -> None:
    item = {"exchange": "NSE", "symbol": "SBIN", "action": "BUY", "quantity": 2.5}
    assert await refused(api, "basketorder", "orders.0.quantity", orders=[item]) == (
        "Fractional quantity (2.5) is not allowed for non-crypto exchanges."
    )
    position = {**item, "product": "MIS", "pricetype": "MARKET"}
    assert (await refused(api, "margin", "positions.0.quantity", positions=[position])).startswith(
        "Fractional quantity"
    )


@pytest.mark.parametrize("field", ["price", "trigger_price"])
@pytest.mark.parametrize(
    ("value", "expected"), [("16.5", "16.5"), (16.5, "16.5"), (0, "0"), ("0.05", "0.05")]
)
async def test_prices_accept_numeric_strings_exactly(
    api: httpx.AsyncClient, field: str, value: Any, expected: str
) -> None:
    assert (await accepted(api, "placeorder", **{field: value}))[field] == expected


@pytest.mark.parametrize("field", ["price", "trigger_price"])
async def test_prices_refuse_negatives_and_null(api: httpx.AsyncClient, field: str) -> None:
    assert await refused(api, "placeorder", field, **{field: "-1"}) == "must be at least 0"
    assert await refused(api, "placeorder", field, **{field: -1}) == "must be at least 0"
    r = await api.post("/api/v1/placeorder", json={**body("placeorder"), field: None})
    assert r.json()["errors"] == {field: ["must be a number or a numeric string"]}


@pytest.mark.parametrize(("value", "expected"), [("20", 20), (20, 20), (20.0, 20), ("0", 0)])
async def test_integer_fields_take_integers_and_integer_strings(
    api: httpx.AsyncClient, value: Any, expected: int
) -> None:
    got = await accepted(api, "placeorder", disclosed_quantity=value)
    assert got["disclosed_quantity"] == expected


@pytest.mark.parametrize("value", ["2.5", 2.5, "two", True, "", -1])
async def test_integer_fields_refuse_fractions_instead_of_truncating(
    api: httpx.AsyncClient, value: Any
) -> None:
    problem = await refused(api, "placeorder", "disclosed_quantity", disclosed_quantity=value)
    assert problem in ("must be an integer", "must be at least 0")


async def test_splitsize_must_be_a_positive_integer(api: httpx.AsyncClient) -> None:
    assert await refused(api, "splitorder", "splitsize", splitsize=0) == "must be at least 1"
    assert await refused(api, "splitorder", "splitsize", splitsize="5.5") == "must be an integer"
    assert (await accepted(api, "splitorder", splitsize="20"))["splitsize"] == 20


async def test_smart_order_allows_zero_quantity_and_signed_targets(api: httpx.AsyncClient) -> None:
    got = await accepted(api, "placesmartorder", quantity="0", position_size="-5")
    assert (got["quantity"], got["position_size"]) == ("0", "-5")
    assert (
        await refused(api, "placesmartorder", "position_size", position_size="-2.5")
    ).startswith("Fractional quantity (-2.5)")
    assert await refused(api, "placesmartorder", "quantity", quantity=-1) == "must be at least 0"


# --- strings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["strategy", "symbol"])
async def test_string_fields_refuse_numbers(api: httpx.AsyncClient, field: str) -> None:
    assert await refused(api, "placeorder", field, **{field: 123}) == "must be a string"


async def test_empty_identifiers_are_refused(api: httpx.AsyncClient) -> None:
    assert await refused(api, "placeorder", "symbol", symbol="") == "must not be empty"
    assert await refused(api, "cancelorder", "orderid", orderid="") == "must not be empty"
    assert await refused(api, "cancelorder", "orderid", orderid=123) == "must be a string"
    assert await refused(api, "search", "query", query="   ") == "must not be blank"


async def test_strategy_is_optional_where_openalgos_docs_say_so(api: httpx.AsyncClient) -> None:
    for name in ("cancelorder", "cancelallorder", "closeposition", "orderstatus", "openposition"):
        assert (await accepted(api, name, strategy=None))["strategy"] == ""
    assert await refused(api, "placeorder", "strategy", strategy=None) == "field required"


async def test_bracket_fields_are_refused_with_a_hint(api: httpx.AsyncClient) -> None:
    for field in ("target", "stoploss", "trailing_sl"):
        problem = await refused(api, "placeorder", field, **{field: "5"})
        assert problem.startswith("unknown field (bracket orders are not supported")


# --- enums --------------------------------------------------------------------------------------


async def test_action_is_upper_or_lower_case(api: httpx.AsyncClient) -> None:
    assert (await accepted(api, "placeorder", action="sell"))["action"] == "SELL"
    assert await refused(api, "placeorder", "action", action="Sell") == (
        "must be one of: BUY, SELL, buy, sell"
    )


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("exchange", "NFO", "nse"),
        ("pricetype", "SL-M", "market"),
        ("product", "CNC", "mis"),
    ],
)
async def test_exchange_pricetype_product_are_upper_case_only(
    api: httpx.AsyncClient, field: str, good: str, bad: str
) -> None:
    assert (await accepted(api, "placeorder", **{field: good}))[field] == good
    assert (await refused(api, "placeorder", field, **{field: bad})).startswith("must be one of: ")


async def test_expiry_takes_fno_exchanges_and_lower_case_instrument_types(
    api: httpx.AsyncClient,
) -> None:
    assert (await refused(api, "expiry", "exchange", exchange="NSE")).startswith(
        "must be one of: NFO, BFO"
    )
    assert (await refused(api, "expiry", "instrumenttype", instrumenttype="FUTURES")).startswith(
        "must be one of:"
    )


async def test_gtt_enums(api: httpx.AsyncClient) -> None:
    assert (await accepted(api, "placegttorder", trigger_type="single"))["trigger_type"] == "SINGLE"
    assert await refused(api, "placegttorder", "product", product="MIS") == (
        "must be one of: CNC, NRML"
    )
    assert await refused(api, "placegttorder", "pricetype", pricetype="SL") == (
        "must be one of: LIMIT, MARKET"
    )
    assert (await accepted(api, "gttorderbook", status="all"))["status"] == "all"
    assert (await refused(api, "gttorderbook", "status", status="open")).startswith(
        "must be one of"
    )


# --- booleans -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("False", False),
        ("yes", True),
        ("NO", False),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
        ("on", True),
        ("off", False),
    ],
)
async def test_booleans_as_openalgo_accepts_them(
    api: httpx.AsyncClient, value: Any, expected: bool
) -> None:
    assert (await accepted(api, "analyzer/toggle", mode=value))["mode"] is expected


@pytest.mark.parametrize("value", [2, -1, "maybe", "", None, [True]])
async def test_booleans_refuse_everything_else(api: httpx.AsyncClient, value: Any) -> None:
    r = await api.post("/api/v1/analyzer/toggle", json={"apikey": "k", "mode": value})
    assert r.status_code == 400
    assert r.json()["errors"] == {"mode": ["must be a boolean (true or false)"]}


# --- dates, lists, ranges -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["2026-13-01", "01-01-2026", "2026/01/01", "20260101", 1767225600])
async def test_history_dates_are_strict(api: httpx.AsyncClient, bad: Any) -> None:
    assert await refused(api, "history", "start_date", start_date=bad) == (
        "must be a date in YYYY-MM-DD format"
    )


async def test_history_range_and_interval(api: httpx.AsyncClient) -> None:
    assert await refused(
        api, "history", "end_date", start_date="2026-02-01", end_date="2026-01-01"
    ) == ("must not be before start_date")
    assert (await refused(api, "history", "interval", interval="7m")).startswith("must be one of:")
    assert await refused(api, "history", "source", source="cache") == "must be one of: 'api', 'db'"


async def test_calendar_ranges(api: httpx.AsyncClient) -> None:
    assert (await accepted(api, "market/holidays", year="2026"))["year"] == 2026
    assert await refused(api, "market/holidays", "year", year=2051) == "must be at most 2050"
    assert (await accepted(api, "market/timings", date="2026-03-10"))["date"] == "2026-03-10"
    assert await refused(api, "market/timings", "date", date="2019-12-31") == (
        "must be between 2020-01-01 and 2050-12-31"
    )


async def test_list_sizes(api: httpx.AsyncClient) -> None:
    assert (await accepted(api, "basketorder", orders=[]))["orders"] == []
    item = body("basketorder")["orders"][0]
    assert await refused(api, "basketorder", "orders", orders=[item] * 101) == (
        "must have at most 100 items"
    )
    assert await refused(api, "multiquotes", "symbols", symbols=[]) == "must not be empty"
    assert await refused(api, "margin", "positions", positions=[]) == "must not be empty"
    assert await refused(
        api, "basketorder", "orders.0.apikey", orders=[{**item, "apikey": "k"}]
    ) == ("unknown field")
    assert await refused(api, "basketorder", "orders", orders={"a": 1}) == "must be a list"
    assert await refused(api, "basketorder", "orders.0", orders=["SBIN"]) == "must be a JSON object"


# --- cross-field rules --------------------------------------------------------------------------


async def test_gtt_single_takes_exactly_one_trigger(api: httpx.AsyncClient) -> None:
    problem = await refused(
        api, "placegttorder", "triggerprice_sl", triggerprice_sl=0, triggerprice_tg=0
    )
    assert problem == "SINGLE GTT requires a positive triggerprice_sl or triggerprice_tg"
    problem = await refused(
        api, "placegttorder", "triggerprice_tg", triggerprice_sl=700, triggerprice_tg=900
    )
    assert problem.startswith("SINGLE GTT takes exactly one of")


async def test_gtt_oco_needs_four_prices_in_order(api: httpx.AsyncClient) -> None:
    problem = await refused(api, "placegttorder", "stoploss", trigger_type="OCO", triggerprice_tg=0)
    assert problem == "required for OCO (missing: stoploss, triggerprice_tg, target)"
    oco = {"trigger_type": "OCO", "triggerprice_sl": 900, "triggerprice_tg": 800}
    problem = await refused(
        api, "placegttorder", "triggerprice_sl", **oco, stoploss=899, target=801
    )
    assert problem == "must be below triggerprice_tg for OCO"
    oco["triggerprice_sl"], oco["triggerprice_tg"] = 700, 900
    assert (await accepted(api, "placegttorder", **oco, stoploss=699, target=901))[
        "target"
    ] == "901"


async def test_sdk_single_gtt_sends_null_stoploss_and_target(api: httpx.AsyncClient) -> None:
    got = await accepted(api, "placegttorder", stoploss=None, target=None)
    assert got["stoploss"] is None
    r = await api.post(
        "/api/v1/placegttorder", json={**body("placegttorder"), "stoploss": None, "target": None}
    )
    assert r.status_code == 200
