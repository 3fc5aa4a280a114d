"""Proration: exact Decimal fractions of a period, by seconds or by calendar days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.core.money import round_minor
from kassa.domain.periods import Period
from kassa.domain.proration import fraction, prorate

UTC_ZONE = ZoneInfo("UTC")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")

MARCH = Period(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
APRIL = Period(datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ratio(numerator: int, denominator: int) -> Decimal:
    """The fraction as the domain computes it: one division at 40 significant digits."""
    with localcontext() as context:
        context.prec = 40
        return Decimal(numerator) / Decimal(denominator)


def test_change_on_mar_15_leaves_17_of_31_days() -> None:
    # Day granularity counts whole calendar days, end exclusive: Mar 15..31 is 17 days.
    part = Period(utc(2026, 3, 15, 14, 30), MARCH.end)
    share = fraction(part, MARCH, "day", UTC_ZONE)
    assert share == ratio(17, 31)
    assert share == Decimal("0.5483870967741935483870967741935483870968")
    # 31.00 EUR a month, 17 days of it: exactly 17.00 EUR.
    assert round_minor(prorate(Decimal(3100), part, MARCH, "day", UTC_ZONE)) == 1700


def test_change_on_mar_15_by_the_second_charges_for_the_hours_too() -> None:
    # Mar 15 14:30 to Apr 1 00:00 is 16 days 9.5 hours = 1_416_600 s of 2_678_400 s.
    part = Period(utc(2026, 3, 15, 14, 30), MARCH.end)
    assert fraction(part, MARCH, "second", UTC_ZONE) == ratio(1_416_600, 2_678_400)
    # 3100 * 1_416_600 / 2_678_400 = 1639.58...: rounded half up to 1640.
    assert round_minor(prorate(Decimal(3100), part, MARCH, "second", UTC_ZONE)) == 1640


@pytest.mark.parametrize(("part", "numerator", "denominator"), [
    (Period(utc(2026, 4, 1), utc(2026, 4, 2)), 1, 30),
    (Period(utc(2026, 4, 1), utc(2026, 4, 1, 12)), 1, 60),
    (Period(utc(2026, 4, 11), utc(2026, 4, 21)), 1, 3),
    (Period(utc(2026, 4, 11), APRIL.end), 2, 3),
    (Period(utc(2026, 4, 30, 23, 59, 59), APRIL.end), 1, 2_592_000),
    (APRIL, 1, 1),
])
def test_second_granularity_is_the_exact_ratio_of_seconds(part: Period, numerator: int,
                                                          denominator: int) -> None:
    share = fraction(part, APRIL, "second", UTC_ZONE)
    assert isinstance(share, Decimal)
    assert share == ratio(numerator, denominator)


def test_one_third_of_1000_cents_is_rounded_once_to_333() -> None:
    part = Period(utc(2026, 4, 11), utc(2026, 4, 21))  # 10 of 30 days
    share = fraction(part, APRIL, "second", UTC_ZONE)
    assert share == Decimal("0." + "3" * 40)
    amount = prorate(Decimal(1000), part, APRIL, "second", UTC_ZONE)
    assert amount == Decimal("333." + "3" * 37)  # 40 significant digits, not yet rounded
    assert round_minor(amount) == 333
    last_two_thirds = Period(utc(2026, 4, 11), APRIL.end)  # 20 of 30 days
    assert round_minor(prorate(Decimal(1000), last_two_thirds, APRIL, "second", UTC_ZONE)) == 667


def test_sub_cent_unit_price_is_prorated_before_rounding() -> None:
    # 10.5 cents for half of April is 5.25 cents, rounded once to 5. Rounding the price first
    # (10.5 -> 11) and then the share (5.5 -> 6) would charge a cent more.
    half = Period(utc(2026, 4, 1), utc(2026, 4, 16))
    assert prorate(Decimal("10.5"), half, APRIL, "second", UTC_ZONE) == Decimal("5.25")
    assert round_minor(prorate(Decimal("10.5"), half, APRIL, "second", UTC_ZONE)) == 5


@pytest.mark.parametrize("granularity", ["second", "day"])
def test_fraction_of_the_whole_period_is_one(granularity: str) -> None:
    assert fraction(MARCH, MARCH, granularity, AMSTERDAM) == 1  # type: ignore[arg-type]
    assert prorate(Decimal("1999"), MARCH, MARCH, granularity,  # type: ignore[arg-type]
                   AMSTERDAM) == Decimal(1999)


def test_day_granularity_counts_dates_in_the_customer_timezone() -> None:
    # Mar 14 23:30 UTC is already Mar 15 00:30 in Amsterdam: 17 local days remain, not 18.
    part = Period(utc(2026, 3, 14, 23, 30), MARCH.end)
    assert fraction(part, MARCH, "day", AMSTERDAM) == ratio(17, 31)
    assert fraction(part, MARCH, "day", UTC_ZONE) == ratio(18, 31)


def test_second_granularity_in_amsterdam_sees_the_short_dst_day() -> None:
    # Local March is 31 days less the hour lost on Mar 29: 743 hours. From Mar 15 00:00 CET
    # to Apr 1 00:00 CEST is 17 days less that hour: 407 hours. (Instants are UTC, as
    # everywhere in Kassa: Mar 1 00:00 CET = Feb 28 23:00 UTC, Apr 1 00:00 CEST = Mar 31 22:00.)
    whole = Period(utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))
    part = Period(utc(2026, 3, 14, 23), whole.end)
    assert whole.seconds == 743 * 3600
    assert fraction(part, whole, "second", AMSTERDAM) == ratio(407, 743)
    assert fraction(part, whole, "day", AMSTERDAM) == ratio(17, 31)


def test_part_shorter_than_a_day_is_worth_nothing_by_day() -> None:
    part = Period(utc(2026, 3, 31, 1), utc(2026, 3, 31, 23))
    assert fraction(part, MARCH, "day", UTC_ZONE) == 0
    assert fraction(part, MARCH, "second", UTC_ZONE) == ratio(22, 31 * 24)


@pytest.mark.parametrize("part", [
    Period(utc(2026, 2, 28), utc(2026, 3, 10)),    # starts before
    Period(utc(2026, 3, 20), utc(2026, 4, 2)),     # ends after
    Period(utc(2026, 2, 1), utc(2026, 5, 1)),      # covers it
    Period(utc(2026, 4, 1), utc(2026, 4, 2)),      # disjoint, right after
])
@pytest.mark.parametrize("granularity", ["second", "day"])
def test_part_outside_the_whole_raises_value_error(part: Period, granularity: str) -> None:
    with pytest.raises(ValueError, match="within the whole"):
        fraction(part, MARCH, granularity, UTC_ZONE)  # type: ignore[arg-type]


# --- properties ---

ZONES = st.sampled_from([UTC_ZONE, AMSTERDAM, ZoneInfo("America/New_York"),
                         ZoneInfo("Pacific/Auckland")])
GRANULARITY = st.sampled_from(["second", "day"])


@st.composite
def period_and_cut(draw: st.DrawFn) -> tuple[Period, datetime]:
    """A whole period (a day to a year, whole seconds) and an instant strictly inside it."""
    start = draw(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31),
                              timezones=st.just(UTC))).replace(microsecond=0)
    length = draw(st.integers(86_400, 366 * 86_400))
    cut = draw(st.integers(1, length - 1))
    return Period(start, start + timedelta(seconds=length)), start + timedelta(seconds=cut)


@settings(max_examples=200, deadline=None)
@given(whole_cut=period_and_cut(), granularity=GRANULARITY, tz=ZONES)
def test_fraction_lies_between_zero_and_one(whole_cut: tuple[Period, datetime],
                                            granularity: str, tz: ZoneInfo) -> None:
    whole, cut = whole_cut
    for part in (Period(whole.start, cut), Period(cut, whole.end)):
        share = fraction(part, whole, granularity, tz)  # type: ignore[arg-type]
        assert isinstance(share, Decimal)
        assert 0 <= share <= 1


@settings(max_examples=200, deadline=None)
@given(whole_cut=period_and_cut(), granularity=GRANULARITY, tz=ZONES,
       amount=st.integers(0, 10**9))
def test_splitting_a_period_charges_the_full_amount_give_or_take_one_minor_unit(
        whole_cut: tuple[Period, datetime], granularity: str, tz: ZoneInfo,
        amount: int) -> None:
    """Why at most one unit: the two fractions are n1/d and n2/d with n1 + n2 = d (seconds and
    calendar days both add up), each a 40-digit quotient, so they sum to 1 within 1e-39. Each
    part is then rounded once, moving it by at most half a unit (plus that 1e-39 of the
    amount); two such errors add to less than 2 units, and an integer difference below 2 is at
    most 1. It can be +1: half a period of 1 cent rounds up twice."""
    whole, cut = whole_cut
    first = fraction(Period(whole.start, cut), whole, granularity, tz)  # type: ignore[arg-type]
    second = fraction(Period(cut, whole.end), whole, granularity, tz)  # type: ignore[arg-type]
    assert abs(first + second - 1) <= Decimal("1e-39")
    parts = (round_minor(prorate(Decimal(amount), Period(whole.start, cut), whole,
                                 granularity, tz))  # type: ignore[arg-type]
             + round_minor(prorate(Decimal(amount), Period(cut, whole.end), whole,
                                   granularity, tz)))  # type: ignore[arg-type]
    assert amount - 1 <= parts <= amount + 1


def test_half_a_period_of_one_cent_rounds_up_twice() -> None:
    # The worst case of the property above, worked by hand: 0.5 + 0.5 -> 1 + 1 = 2 cents.
    first, second = Period(utc(2026, 4, 1), utc(2026, 4, 16)), Period(utc(2026, 4, 16),
                                                                      APRIL.end)
    amounts = [round_minor(prorate(Decimal(1), part, APRIL, "second", UTC_ZONE))
               for part in (first, second)]
    assert amounts == [1, 1]
