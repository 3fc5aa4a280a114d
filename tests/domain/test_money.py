"""Exact money: currency exponents, the one rounding function, decimal parsing, formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.core.errors import InvalidRequest
from kassa.core.money import (
    exponent,
    format_amount,
    normalize_currency,
    parse_decimal,
    round_minor,
    to_major,
)


@pytest.mark.parametrize(("currency", "places"), [
    ("jpy", 0), ("krw", 0), ("eur", 2), ("usd", 2), ("gbp", 2), ("kwd", 3), ("bhd", 3),
    ("clf", 4), ("EUR", 2), ("Jpy", 0),
])
def test_exponent_is_the_iso_4217_minor_unit(currency: str, places: int) -> None:
    assert exponent(currency) == places


@pytest.mark.parametrize("code", ["EUR", "eur", "EuR"])
def test_currency_codes_normalize_to_lower_case(code: str) -> None:
    assert normalize_currency(code) == "eur"


@pytest.mark.parametrize("code", ["xyz", "euro", "", "eu", "xau", "XTS", "xxx"])
def test_unknown_or_uninvoiceable_currency_is_an_invalid_request_naming_the_param(
        code: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        normalize_currency(code, param="items[0][currency]")
    assert caught.value.param == "items[0][currency]"
    assert caught.value.code == "currency_invalid"


def test_exponent_of_unknown_currency_raises_invalid_request_on_currency() -> None:
    with pytest.raises(InvalidRequest) as caught:
        exponent("abc")
    assert caught.value.param == "currency"


def test_non_string_currency_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        normalize_currency(978)  # type: ignore[arg-type]


# Python's ROUND_HALF_UP rounds ties away from zero, so "half up" of -2.5 is -3 (not -2):
# a refund of half a cent is rounded to the same magnitude as a charge of half a cent.
@pytest.mark.parametrize(("value", "half_up", "half_even"), [
    ("0.5", 1, 0),
    ("1.5", 2, 2),
    ("2.5", 3, 2),
    ("3.5", 4, 4),
    ("-0.5", -1, 0),
    ("-1.5", -2, -2),
    ("-2.5", -3, -2),
    ("-3.5", -4, -4),
    ("2.4999999999", 2, 2),
    ("2.5000000001", 3, 3),
    ("-2.4999999999", -2, -2),
    ("1096.2258064516129032258064516", 1096, 1096),
    ("1999", 1999, 1999),
    ("0", 0, 0),
])
def test_round_minor_half_up_and_half_even(value: str, half_up: int, half_even: int) -> None:
    assert round_minor(Decimal(value)) == half_up  # half_up is the default
    assert round_minor(Decimal(value), "half_up") == half_up
    assert round_minor(Decimal(value), "half_even") == half_even


def test_round_minor_returns_a_plain_int() -> None:
    assert type(round_minor(Decimal("12.5"))) is int


@settings(max_examples=200, deadline=None)
@given(value=st.decimals(min_value=-10**12, max_value=10**12, places=6))
def test_round_minor_moves_by_at_most_half_a_unit_and_modes_agree_off_ties(
        value: Decimal) -> None:
    up, even = round_minor(value, "half_up"), round_minor(value, "half_even")
    assert abs(up - value) <= Decimal("0.5")
    assert abs(even - value) <= Decimal("0.5")
    if value % 1 not in (Decimal("0.5"), Decimal("-0.5")):
        assert up == even


@pytest.mark.parametrize(("value", "expected"), [
    ("19.99", Decimal("19.99")),
    ("0.00045", Decimal("0.00045")),
    ("-3", Decimal(-3)),
    ("1e3", Decimal(1000)),
    (42, Decimal(42)),
    (Decimal("0.1"), Decimal("0.1")),
    (" 7.5 ", Decimal("7.5")),  # Decimal itself tolerates surrounding whitespace
])
def test_parse_decimal_accepts_strings_ints_and_decimals(value: str | int | Decimal,
                                                         expected: Decimal) -> None:
    result = parse_decimal(value, param="unit_amount_decimal")
    assert isinstance(result, Decimal)
    assert result == expected


@pytest.mark.parametrize("value", [
    0.1, 1.0, float("nan"), True,  # floats (and bools) are refused before any parsing
    "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf",  # not finite
    "abc", "", "1,5", "12 EUR", "--1", None, [1],  # garbage
])
def test_parse_decimal_rejects_floats_non_finite_and_garbage(value: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_decimal(value, param="unit_amount_decimal")  # type: ignore[arg-type]
    assert caught.value.param == "unit_amount_decimal"


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    (1999, "eur", "19.99 EUR"),
    (0, "eur", "0.00 EUR"),
    (5, "eur", "0.05 EUR"),
    (-5, "eur", "-0.05 EUR"),
    (123456789, "eur", "1,234,567.89 EUR"),
    (1000, "jpy", "1,000 JPY"),
    (1234567, "kwd", "1,234.567 KWD"),
    (1, "bhd", "0.001 BHD"),
    (10000, "CLF", "1.0000 CLF"),
])
def test_format_amount_renders_major_units_with_the_currency_code(amount: int, currency: str,
                                                                  expected: str) -> None:
    assert format_amount(amount, currency) == expected


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    (1999, "eur", Decimal("19.99")), (1999, "jpy", Decimal(1999)),
    (1999, "kwd", Decimal("1.999")), (-250, "usd", Decimal("-2.50")),
])
def test_to_major_shifts_by_the_exponent_exactly(amount: int, currency: str,
                                                 expected: Decimal) -> None:
    assert to_major(amount, currency) == expected
