"""Which seller-maintained rates a supply owes (`domain/tax_rates.applicable`), worked on the
example rates Kassa ships, whose dates are pinned here."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import combinations

import pytest

from kassa.domain.tax_rates import (
    TAX_TYPES,
    RateTerms,
    applicable,
    example_rates,
    is_subdivision,
    overlaps,
    same_jurisdiction,
)
from kassa.services import validation

EXAMPLES = example_rates()


def owed(country: str, state: str | None, on: date) -> list[tuple[str, Decimal]]:
    return [(rate.display_name, rate.percentage)
            for rate in applicable(EXAMPLES, country, state, on)]


@pytest.mark.parametrize(("country", "state", "on", "expected"), [
    # Canada: GST plus the provincial tax, or the HST alone (it includes the GST).
    ("CA", "BC", date(2026, 1, 15), [("GST", Decimal(5)), ("PST", Decimal(7))]),
    ("CA", "ON", date(2026, 1, 15), [("HST", Decimal(13))]),
    ("CA", "QC", date(2026, 1, 15), [("GST", Decimal(5)), ("QST", Decimal("9.975"))]),
    ("CA", "MB", date(2026, 1, 15), [("GST", Decimal(5)), ("RST", Decimal(7))]),
    ("CA", "SK", date(2026, 1, 15), [("GST", Decimal(5)), ("PST", Decimal(6))]),
    ("CA", "AB", date(2026, 1, 15), [("GST", Decimal(5))]),
    ("CA", None, date(2026, 1, 15), [("GST", Decimal(5))]),
    ("CA", "NB", date(2026, 1, 15), [("HST", Decimal(15))]),
    ("CA", "NL", date(2026, 1, 15), [("HST", Decimal(15))]),
    ("CA", "PE", date(2026, 1, 15), [("HST", Decimal(15))]),
    # Nova Scotia's HST went from 15 % to 14 % on 1 April 2025.
    ("CA", "NS", date(2025, 3, 31), [("HST", Decimal(15))]),
    ("CA", "NS", date(2025, 4, 1), [("HST", Decimal(14))]),
    # Saskatchewan's PST has been 6 % since 23 March 2017; before that only the GST here.
    ("CA", "SK", date(2017, 3, 22), [("GST", Decimal(5))]),
    ("CA", "SK", date(2017, 3, 23), [("GST", Decimal(5)), ("PST", Decimal(6))]),
    # Singapore: 7 % until 2022, 8 % in 2023, 9 % from 2024.
    ("SG", None, date(2007, 6, 30), []),
    ("SG", None, date(2007, 7, 1), [("GST", Decimal(7))]),
    ("SG", None, date(2022, 12, 31), [("GST", Decimal(7))]),
    ("SG", None, date(2023, 1, 1), [("GST", Decimal(8))]),
    ("SG", None, date(2023, 12, 31), [("GST", Decimal(8))]),
    ("SG", None, date(2024, 1, 1), [("GST", Decimal(9))]),
    ("AU", None, date(2000, 6, 30), []),
    ("AU", None, date(2000, 7, 1), [("GST", Decimal(10))]),
    ("NZ", None, date(2010, 9, 30), []),
    ("NZ", None, date(2026, 1, 15), [("GST", Decimal(15))]),
    # United States: the state's base rate only, nothing federal.
    ("US", "CA", date(2026, 1, 15), [("Sales tax", Decimal("7.25"))]),
    ("US", "CA", date(2016, 12, 31), []),
    ("US", "NY", date(2026, 1, 15), [("Sales tax", Decimal(4))]),
    ("US", "TX", date(2026, 1, 15), [("Sales tax", Decimal("6.25"))]),
    ("US", "WA", date(2026, 1, 15), [("Sales tax", Decimal("6.5"))]),
    ("US", "OR", date(2026, 1, 15), []),
    ("US", None, date(2026, 1, 15), []),
    # A country or state given in lower case is the same place.
    ("ca", "bc", date(2026, 1, 15), [("GST", Decimal(5)), ("PST", Decimal(7))]),
    ("JP", None, date(2026, 1, 15), []),
])
def test_a_supply_owes_the_country_rates_and_its_states_on_the_day(
        country: str, state: str | None, on: date, expected: list[tuple[str, Decimal]]) -> None:
    assert owed(country, state, on) == expected


def test_example_ranges_of_one_jurisdiction_never_overlap() -> None:
    for a, b in combinations(EXAMPLES, 2):
        if same_jurisdiction(a, b):
            assert not overlaps(a.valid_from, a.valid_until, b.valid_from, b.valid_until), \
                (a.id, b.id)


def test_example_rates_are_well_formed() -> None:
    for rate in EXAMPLES:
        assert rate.tax_type in TAX_TYPES, rate.id
        assert validation.country(rate.country, param="country") == rate.country
        assert rate.state is None or is_subdivision(rate.country, rate.state), rate.id
        assert Decimal(0) < rate.percentage <= 100, rate.id
        assert rate.valid_from is not None, rate.id
        assert rate.valid_until is None or rate.valid_from < rate.valid_until, rate.id
    assert len({rate.id for rate in EXAMPLES}) == len(EXAMPLES)


def test_a_rate_ends_the_day_before_its_successor_starts() -> None:
    chains = {("SG", None, "gst"): ["2007-07-01", "2023-01-01", "2024-01-01", None],
              ("CA", "NS", "hst"): ["2010-07-01", "2025-04-01", None]}
    for (country, state, tax_type), days in chains.items():
        rates = sorted((r for r in EXAMPLES if (r.country, r.state, r.tax_type)
                        == (country, state, tax_type)), key=lambda r: r.valid_from or date.min)
        starts = [r.valid_from.isoformat() for r in rates if r.valid_from]
        ends = [r.valid_until.isoformat() if r.valid_until else None for r in rates]
        assert starts == days[:-1] and ends == days[1:]


def rate(tax_type: str, state: str | None, percentage: str, start: date | None = None,
         until: date | None = None, country: str = "CA") -> RateTerms:
    return RateTerms(f"txr_{tax_type}{state}{percentage}", tax_type.upper(), tax_type, country,
                     state, Decimal(percentage), False, start, until)


def test_a_rate_is_valid_from_its_first_day_up_to_not_including_its_last() -> None:
    r = rate("gst", None, "5", date(2026, 1, 1), date(2026, 7, 1))
    assert [r.valid_on(d) for d in (date(2025, 12, 31), date(2026, 1, 1), date(2026, 6, 30),
                                    date(2026, 7, 1))] == [False, True, True, False]


def test_an_archived_or_other_countrys_rate_is_not_passed_and_hst_drops_only_the_gst() -> None:
    rates = [rate("gst", None, "5"), rate("pst", None, "1"), rate("hst", "ON", "13"),
             rate("gst", None, "10", country="AU")]
    assert [r.display_name for r in applicable(rates, "CA", "ON", date(2026, 1, 1))] == \
        ["PST", "HST"]


@pytest.mark.parametrize(("a", "b", "expected"), [
    ((None, None), (date(2026, 1, 1), None), True),
    ((date(2020, 1, 1), date(2026, 1, 1)), (date(2026, 1, 1), None), False),  # touching
    ((date(2020, 1, 1), date(2026, 1, 2)), (date(2026, 1, 1), None), True),
    ((None, date(2020, 1, 1)), (date(2021, 1, 1), date(2022, 1, 1)), False),
    ((date(2021, 1, 1), date(2022, 1, 1)), (None, date(2020, 1, 1)), False),
    ((date(2021, 1, 1), date(2022, 1, 1)), (date(2021, 3, 1), date(2021, 4, 1)), True),
    ((date(2021, 3, 1), date(2021, 4, 1)), (date(2021, 1, 1), date(2022, 1, 1)), True),
])
def test_ranges_overlap_when_they_share_a_day(a: tuple[date | None, date | None],
                                              b: tuple[date | None, date | None],
                                              expected: bool) -> None:
    assert overlaps(*a, *b) is expected
    assert overlaps(*b, *a) is expected


@pytest.mark.parametrize(("country", "state", "expected"), [
    ("CA", "ON", True), ("CA", "on", True), ("CA", "NY", False), ("CA", "XX", False),
    ("US", "NY", True), ("US", "DC", True), ("US", "ON", False), ("US", "ZZ", False),
    ("IN", "MH", True), ("AU", "NSW", True), ("AU", "NSWX", False), ("DE", "B-", False),
    ("DE", "", False),
])
def test_states_are_checked_against_the_table_or_for_shape(country: str, state: str,
                                                           expected: bool) -> None:
    assert is_subdivision(country, state) is expected
