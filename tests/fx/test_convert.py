"""Conversion for reports (`domain/fx.py`): the rate of the day or the nearest publication,
directly, inverted or across the euro, with each currency's exponent, rounded once."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.adapters import ecb
from kassa.core.errors import ExchangeRateMissing
from kassa.domain.fx import Rate, RateTable, convert

SAMPLE = Path(__file__).parent / "ecb_sample.xml"


def ecb_table() -> RateTable:
    return RateTable(Rate(r.day, "eur", r.currency.lower(), r.rate)
                     for r in ecb.parse(SAMPLE.read_bytes()))


TABLE = ecb_table()
THURSDAY, GOOD_FRIDAY, EASTER_MONDAY = date(2024, 3, 28), date(2024, 3, 29), date(2024, 4, 1)


def test_euros_to_dollars_at_the_days_rate() -> None:
    # 100.00 EUR * 1.0811 = 108.11 USD
    assert convert(10000, "eur", "usd", THURSDAY, TABLE) == 10811


def test_dollars_to_euros_by_the_inverse_rounded_half_up_once() -> None:
    # 108.11 USD / 1.0811 = 100.00 EUR exactly; 1.00 USD / 1.0811 = 0.92498...
    assert convert(10811, "usd", "eur", THURSDAY, TABLE) == 10000
    assert convert(100, "usd", "eur", THURSDAY, TABLE) == 92


def test_exponents_are_respected_yen_has_none_and_dinar_three() -> None:
    # 100.00 EUR * 163.45 = 16345 JPY (no minor unit)
    assert convert(10000, "eur", "jpy", THURSDAY, TABLE) == 16345
    # 1000 JPY / 163.45 = 6.1180... EUR
    assert convert(1000, "jpy", "eur", THURSDAY, TABLE) == 612
    kwd = RateTable([Rate(THURSDAY, "eur", "kwd", Decimal("0.3321"))])
    # 10.00 EUR * 0.3321 = 3.321 KWD = 3321 fils
    assert convert(1000, "eur", "kwd", THURSDAY, kwd) == 3321
    assert convert(3321, "kwd", "eur", THURSDAY, kwd) == 1000


def test_two_currencies_other_than_the_euro_cross_via_the_euro() -> None:
    # 100.00 USD -> EUR at 1/1.0811 -> GBP at 0.85510 = 79.0954... GBP, rounded once
    expected = (Decimal(10000) / Decimal("1.0811") * Decimal("0.85510")).quantize(
        Decimal(1), ROUND_HALF_UP)
    assert convert(10000, "usd", "gbp", THURSDAY, TABLE) == int(expected) == 7910
    # 1,000 JPY -> SEK: 1000 / 163.45 * 11.5250 = 70.51 SEK
    assert convert(1000, "jpy", "sek", THURSDAY, TABLE) == 7051


def test_a_day_without_publication_takes_the_latest_earlier_one() -> None:
    assert TABLE.quote("eur", "usd", GOOD_FRIDAY).days == (THURSDAY,)
    assert TABLE.quote("eur", "usd", EASTER_MONDAY).days == (THURSDAY,)
    assert convert(10000, "eur", "usd", EASTER_MONDAY, TABLE) == 10811


def test_the_next_publication_when_asked_as_the_oss_return_is() -> None:
    # Q1 2024 ended on Easter Sunday: the OSS return takes the rate of Tuesday 2 April.
    quote = TABLE.quote("usd", "eur", date(2024, 3, 31), direction="next", within_days=7)
    assert quote.days == (date(2024, 4, 2),)
    assert convert(10749, "usd", "eur", date(2024, 3, 31), TABLE, direction="next") == 10000


def test_a_missing_rate_is_a_clear_error() -> None:
    with pytest.raises(ExchangeRateMissing, match="No exchange rate from USD to EUR on or "
                                                   "before 2024-03-25"):
        convert(100, "usd", "eur", date(2024, 3, 25), TABLE)
    with pytest.raises(ExchangeRateMissing, match="AUD"):
        convert(100, "aud", "eur", THURSDAY, TABLE)
    with pytest.raises(ExchangeRateMissing, match="within 7 days"):
        convert(100, "usd", "eur", date(2024, 4, 20), TABLE, within_days=7)
    with pytest.raises(ExchangeRateMissing, match="on or after"):
        convert(100, "usd", "eur", date(2024, 4, 3), TABLE, direction="next")


def test_the_same_currency_needs_no_rate() -> None:
    assert convert(12345, "usd", "USD", date(1999, 1, 1), RateTable([])) == 12345


def test_a_direct_rate_between_two_other_currencies_is_used_before_the_euro() -> None:
    table = RateTable([*[Rate(THURSDAY, "eur", c, r) for c, r in
                         (("usd", Decimal(2)), ("cad", Decimal(3)))],
                       Rate(THURSDAY, "usd", "cad", Decimal("1.25"))])
    assert convert(1000, "usd", "cad", THURSDAY, table) == 1250
    assert convert(1250, "cad", "usd", THURSDAY, table) == 1000


@given(st.integers(min_value=-(10**12), max_value=10**12),
       st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10000), places=4))
def test_conversion_is_the_exact_product_rounded_half_up_once(amount: int,
                                                              rate: Decimal) -> None:
    table = RateTable([Rate(THURSDAY, "eur", "jpy", rate)])
    exact = Decimal(amount) * rate / 100  # EUR cents to whole yen
    assert convert(amount, "eur", "jpy", THURSDAY, table) == \
        int(exact.quantize(Decimal(1), ROUND_HALF_UP))
