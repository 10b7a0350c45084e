from __future__ import annotations

from decimal import Decimal

import pytest

from openalgo.domain.money import as_number, cost, money_number, paise, price, to_decimal

D = Decimal


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10.005", "10.01"), ("10.004", "10.00"), ("-10.005", "-10.01"), ("0.5", "0.50")],
)
def test_paise_round_half_up(value: str, expected: str) -> None:
    assert paise(D(value)) == D(expected)
    assert str(paise(D(value))) == expected


def test_prices_from_floats_are_the_decimal_people_wrote() -> None:
    assert price(101.05) == D("101.05")
    assert price(0.1 + 0.2) == D("0.3")  # 0.30000000000000004 rounds to four places
    assert price(83.2525) == D("83.2525")
    assert price("100") == D("100")
    assert cost(D("0.00005")) == D("0.0001")


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), "-inf", "abc", "", True, None])
def test_to_decimal_refuses_non_numbers(raw: object) -> None:
    assert to_decimal(raw) is None


def test_to_decimal_accepts_numbers_and_numeric_strings() -> None:
    assert to_decimal("16.5") == D("16.5")
    assert to_decimal(2) == D(2)
    assert to_decimal(0.1) == D("0.1")


def test_json_numbers() -> None:
    assert as_number(D("10.000")) == 10 and isinstance(as_number(D("10.000")), int)
    assert as_number(D("0.25")) == 0.25
    assert money_number(D("1.005")) == 1.01
