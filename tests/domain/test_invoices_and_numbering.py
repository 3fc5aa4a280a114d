"""Invoice arithmetic (totals, customer balance, due date) and invoice number formats."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.domain.invoices import apply_balance, due_date, totals
from kassa.domain.numbering import DEFAULT_FORMAT, format_number, series_key, validate_format

# --- customer balance ---

# Stripe's sign: a negative balance is credit the customer holds, a positive one is owed.
@pytest.mark.parametrize(("total", "starting", "due", "ending", "applied"), [
    (1000, -300, 700, 0, -300),      # credit covers part of the invoice
    (1000, -1500, 0, -500, -1000),   # credit covers all of it; the rest stays credit
    (1000, -1000, 0, 0, -1000),      # exactly used up
    (-200, 0, 0, -200, 200),         # a credit invoice becomes credit
    (-200, -100, 0, -300, 200),      # ... and adds to existing credit
    (1000, 200, 1200, 0, 200),       # an owed balance is added to the amount due
    (-200, 500, 300, 0, 500),        # a credit invoice nets against an owed balance
    (0, 0, 0, 0, 0),
    (1000, 0, 1000, 0, 0),
])
def test_apply_balance(total: int, starting: int, due: int, ending: int, applied: int) -> None:
    result = apply_balance(total, starting)
    assert (result.starting_balance, result.amount_due, result.ending_balance) == (
        starting, due, ending)
    assert result.applied == applied


@settings(max_examples=200, deadline=None)
@given(total=st.integers(-10**9, 10**9), starting=st.integers(-10**9, 10**9))
def test_apply_balance_conserves_money(total: int, starting: int) -> None:
    # Note the sign: what is due plus what remains on the balance is what there was to settle
    # (1000 on a -1500 balance: 0 due + -500 left = -500). "due - ending" would not hold.
    result = apply_balance(total, starting)
    assert result.amount_due >= 0
    assert result.ending_balance <= 0
    assert result.amount_due + result.ending_balance == total + starting
    assert result.amount_due == 0 or result.ending_balance == 0
    assert result.applied == starting - result.ending_balance


# --- totals ---

@pytest.mark.parametrize(("lines", "tax", "subtotal", "total"), [
    ([1999, 5997, 0, -500], 100, 7496, 7596),
    ([], 0, 0, 0),
    ([1], 0, 1, 1),
    ([-1000, 400], -126, -600, -726),
])
def test_totals_are_the_exact_sum_of_the_lines_plus_tax(lines: list[int], tax: int,
                                                        subtotal: int, total: int) -> None:
    result = totals(iter(lines), tax)  # any iterable, consumed once
    assert (result.subtotal, result.tax, result.total) == (subtotal, tax, total)


def test_totals_without_tax_default_to_zero_tax() -> None:
    assert totals([250, 250]) == totals([500], 0)
    assert totals([250, 250]).total == 500


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.integers(-10**9, 10**9), max_size=50), tax=st.integers(0, 10**8))
def test_totals_add_up(lines: list[int], tax: int) -> None:
    result = totals(lines, tax)
    assert result.subtotal == sum(lines)
    assert result.total == result.subtotal + result.tax == sum(lines) + tax


@pytest.mark.parametrize(("days", "expected"), [
    (0, datetime(2026, 1, 31, 12, tzinfo=UTC)),
    (14, datetime(2026, 2, 14, 12, tzinfo=UTC)),
    (30, datetime(2026, 3, 2, 12, tzinfo=UTC)),
])
def test_due_date_is_days_after_finalization(days: int, expected: datetime) -> None:
    assert due_date(datetime(2026, 1, 31, 12, tzinfo=UTC), days) == expected


# --- invoice numbers ---

@pytest.mark.parametrize("number_format", [
    "{prefix}-{number:06d}", "{prefix}{year}-{number}", "{number}", "INV/{year}/{number:05d}",
    DEFAULT_FORMAT,
])
def test_validate_format_accepts_formats_with_number(number_format: str) -> None:
    assert validate_format(number_format) == number_format


@pytest.mark.parametrize(("number_format", "message"), [
    ("{prefix}-{year}", "must contain {number}"),
    ("{prefix}", "must contain {number}"),
    ("INV-0001", "must contain {number}"),
    ("{prefix}-{number}-{month}", "unknown fields"),
    ("{customer}-{number}", "unknown fields"),
    ("{prefix}-{number", "invalid number format"),
    ("{number}}", "invalid number format"),
    ("{number:xyz}", "Invalid format specifier"),
    ("{number!x}", "conversion"),
])
def test_validate_format_rejects_formats_it_cannot_render(number_format: str,
                                                          message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_format(number_format)


def test_validate_format_rejects_a_positional_field_with_value_error() -> None:
    # The settings service only turns ValueError into a 400; an IndexError would be a 500.
    with pytest.raises(ValueError):
        validate_format("{prefix}-{number}-{}")


def test_validate_format_rejects_a_nested_field_in_a_format_spec() -> None:
    # "{number:{prefix}}" renders with the dummy prefix "X" (hex!) but not with "INV".
    with pytest.raises(ValueError):
        validate_format("{prefix}-{number:{prefix}}")


@pytest.mark.parametrize(("number_format", "issued_on", "expected"), [
    ("{prefix}-{number:06d}", date(2026, 3, 1), "INV"),
    ("{number}", date(2026, 3, 1), "INV"),
    ("{prefix}{year}-{number}", date(2026, 3, 1), "INV:2026"),
    ("{prefix}{year}-{number}", date(2027, 1, 1), "INV:2027"),
    ("{prefix}-{year:04d}-{number}", date(2026, 12, 31), "INV:2026"),
])
def test_series_key_includes_the_year_only_when_the_format_shows_it(
        number_format: str, issued_on: date, expected: str) -> None:
    assert series_key(number_format, "INV", issued_on) == expected


def test_escaped_year_text_does_not_start_a_yearly_series() -> None:
    # "{{year}}" renders the literal text "{year}": numbers must not restart each January,
    # or 2026 and 2027 would both issue "INV-{year}-1".
    number_format = "{prefix}-{{year}}-{number}"
    assert format_number(number_format, "INV", 1, date(2026, 1, 1)) == "INV-{year}-1"
    assert series_key(number_format, "INV", date(2026, 1, 1)) == "INV"


@pytest.mark.parametrize(("number_format", "prefix", "number", "issued_on", "expected"), [
    ("{prefix}-{number:06d}", "INV", 42, date(2026, 3, 1), "INV-000042"),
    ("{prefix}-{number:06d}", "INV", 1234567, date(2026, 3, 1), "INV-1234567"),
    ("{prefix}{year}-{number}", "INV", 7, date(2026, 3, 1), "INV2026-7"),
    ("{prefix}{year}-{number}", "F", 1, date(2027, 1, 1), "F2027-1"),
    ("INV/{year}/{number:05d}", "ignored", 12, date(2026, 6, 30), "INV/2026/00012"),
])
def test_format_number(number_format: str, prefix: str, number: int, issued_on: date,
                       expected: str) -> None:
    assert format_number(number_format, prefix, number, issued_on) == expected


@settings(max_examples=100, deadline=None)
@given(number_format=st.sampled_from(["{prefix}-{number:06d}", "{prefix}{year}-{number}",
                                      "{number}", "INV/{year}/{number:05d}"]),
       numbers=st.sets(st.integers(1, 10**8), min_size=2, max_size=20),
       issued_on=st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31)))
def test_distinct_numbers_in_a_series_render_distinct_invoice_numbers(
        number_format: str, numbers: set[int], issued_on: date) -> None:
    rendered = {format_number(number_format, "INV", n, issued_on) for n in numbers}
    assert len(rendered) == len(numbers)
