"""Billing period arithmetic: tables of worked dates and properties of the boundaries.

Every expected date below was worked out by hand from a calendar. DST dates used:
Europe/Amsterdam 2026 goes to summer time on Sun Mar 29 (02:00 CET -> 03:00 CEST) and back on
Sun Oct 25 (03:00 CEST -> 02:00 CET); America/New_York on Sun Mar 8 and Sun Nov 1 2026;
Pacific/Auckland leaves summer time (NZDT, +13) on Sun Apr 5 2026 and returns on Sun Sep 27.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.domain.periods import Period, Recurrence, boundary, index_at, period_at

UTC_ZONE = ZoneInfo("UTC")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
AUCKLAND = ZoneInfo("Pacific/Auckland")

MONTHLY = Recurrence("month")
QUARTERLY = Recurrence("month", 3)
YEARLY = Recurrence("year")
WEEKLY = Recurrence("week")
DAILY = Recurrence("day")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)


# --- boundary: calendar tables (UTC) ---

BOUNDARY_TABLE = [
    # anchor, recurrence, k, expected boundary
    # Anchor on the 31st: short months clip to their last day, later months go back to the 31st.
    (utc(2026, 1, 31), MONTHLY, 0, utc(2026, 1, 31)),
    (utc(2026, 1, 31), MONTHLY, 1, utc(2026, 2, 28)),
    (utc(2026, 1, 31), MONTHLY, 2, utc(2026, 3, 31)),
    (utc(2026, 1, 31), MONTHLY, 3, utc(2026, 4, 30)),
    (utc(2026, 1, 31), MONTHLY, 4, utc(2026, 5, 31)),
    (utc(2026, 1, 31), MONTHLY, 5, utc(2026, 6, 30)),
    (utc(2026, 1, 31), MONTHLY, 11, utc(2026, 12, 31)),
    (utc(2026, 1, 31), MONTHLY, 12, utc(2027, 1, 31)),
    (utc(2026, 1, 31), MONTHLY, 25, utc(2028, 2, 29)),
    (utc(2028, 1, 31), MONTHLY, 1, utc(2028, 2, 29)),
    (utc(2028, 1, 31), MONTHLY, 2, utc(2028, 3, 31)),
    (utc(2028, 1, 31), MONTHLY, 3, utc(2028, 4, 30)),
    # Negative k walks back from the anchor with the same clipping.
    (utc(2026, 1, 31), MONTHLY, -1, utc(2025, 12, 31)),
    (utc(2026, 1, 31), MONTHLY, -2, utc(2025, 11, 30)),
    (utc(2026, 1, 31), MONTHLY, -11, utc(2025, 2, 28)),
    (utc(2028, 3, 31), MONTHLY, -1, utc(2028, 2, 29)),
    # Anchor on the 30th: only February is short.
    (utc(2026, 1, 30), MONTHLY, 1, utc(2026, 2, 28)),
    (utc(2026, 1, 30), MONTHLY, 2, utc(2026, 3, 30)),
    (utc(2026, 1, 30), MONTHLY, 3, utc(2026, 4, 30)),
    (utc(2026, 1, 30), MONTHLY, 4, utc(2026, 5, 30)),
    (utc(2028, 3, 30), MONTHLY, -1, utc(2028, 2, 29)),
    # Anchor Feb 29 yearly: Feb 28 in common years, Feb 29 again in the next leap year.
    (utc(2028, 2, 29), YEARLY, 1, utc(2029, 2, 28)),
    (utc(2028, 2, 29), YEARLY, 2, utc(2030, 2, 28)),
    (utc(2028, 2, 29), YEARLY, 3, utc(2031, 2, 28)),
    (utc(2028, 2, 29), YEARLY, 4, utc(2032, 2, 29)),
    (utc(2028, 2, 29), YEARLY, -1, utc(2027, 2, 28)),
    (utc(2028, 2, 29), YEARLY, -4, utc(2024, 2, 29)),
    (utc(2026, 1, 31), YEARLY, 1, utc(2027, 1, 31)),
    # Quarterly from Nov 30: Feb clips to 28 (29 in 2028), then back to the 30th.
    (utc(2025, 11, 30), QUARTERLY, 1, utc(2026, 2, 28)),
    (utc(2025, 11, 30), QUARTERLY, 2, utc(2026, 5, 30)),
    (utc(2025, 11, 30), QUARTERLY, 3, utc(2026, 8, 30)),
    (utc(2025, 11, 30), QUARTERLY, 4, utc(2026, 11, 30)),
    (utc(2025, 11, 30), QUARTERLY, -1, utc(2025, 8, 30)),
    (utc(2027, 11, 30), QUARTERLY, 1, utc(2028, 2, 29)),
    # Every two months from Dec 31.
    (utc(2025, 12, 31), Recurrence("month", 2), 1, utc(2026, 2, 28)),
    (utc(2025, 12, 31), Recurrence("month", 2), 2, utc(2026, 4, 30)),
    (utc(2025, 12, 31), Recurrence("month", 2), 3, utc(2026, 6, 30)),
    # Weekly from Saturday Jan 31 2026, keeping the time of day.
    (utc(2026, 1, 31, 10, 15), WEEKLY, 1, utc(2026, 2, 7, 10, 15)),
    (utc(2026, 1, 31, 10, 15), WEEKLY, 4, utc(2026, 2, 28, 10, 15)),
    (utc(2026, 1, 31, 10, 15), WEEKLY, 5, utc(2026, 3, 7, 10, 15)),
    (utc(2026, 1, 31, 10, 15), WEEKLY, -1, utc(2026, 1, 24, 10, 15)),
    (utc(2026, 1, 31), Recurrence("week", 2), 1, utc(2026, 2, 14)),
    # Daily through a leap day, and every 10 days over a month end.
    (utc(2028, 2, 28, 6), DAILY, 1, utc(2028, 2, 29, 6)),
    (utc(2028, 2, 28, 6), DAILY, 2, utc(2028, 3, 1, 6)),
    (utc(2026, 2, 28, 6), DAILY, 1, utc(2026, 3, 1, 6)),
    (utc(2026, 3, 1), DAILY, -1, utc(2026, 2, 28)),
    (utc(2026, 1, 25), Recurrence("day", 10), 1, utc(2026, 2, 4)),
    (utc(2026, 1, 25), Recurrence("day", 10), -3, utc(2025, 12, 26)),
]


@pytest.mark.parametrize(("anchor", "recurrence", "k", "expected"), BOUNDARY_TABLE)
def test_boundary_keeps_the_anchor_day_clipped_to_the_month(
        anchor: datetime, recurrence: Recurrence, k: int, expected: datetime) -> None:
    assert boundary(anchor, recurrence, k, UTC_ZONE) == expected


def test_anchor_on_31st_bills_on_last_day_of_february() -> None:
    anchor = utc(2026, 1, 31, 12)
    assert boundary(anchor, MONTHLY, 1, UTC_ZONE) == utc(2026, 2, 28, 12)
    assert boundary(anchor + timedelta(days=365 * 2), MONTHLY, 1, UTC_ZONE) \
        == utc(2028, 2, 29, 12)


def test_short_month_does_not_drag_later_boundaries_forward() -> None:
    # Computed from the anchor each time: after Feb 28 comes Mar 31, not Mar 28.
    days = [boundary(utc(2026, 1, 31), MONTHLY, k, UTC_ZONE).day for k in range(13)]
    assert days == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31]


# --- boundary: timezones and daylight saving ---

TZ_BOUNDARY_TABLE = [
    # Daily at 09:00 Amsterdam across the March change: 08:00 UTC in winter, 07:00 in summer.
    (local(AMSTERDAM, 2026, 3, 27, 9), DAILY, 0, utc(2026, 3, 27, 8)),
    (local(AMSTERDAM, 2026, 3, 27, 9), DAILY, 1, utc(2026, 3, 28, 8)),
    (local(AMSTERDAM, 2026, 3, 27, 9), DAILY, 2, utc(2026, 3, 29, 7)),
    (local(AMSTERDAM, 2026, 3, 27, 9), DAILY, 3, utc(2026, 3, 30, 7)),
    # ... and across the October change.
    (local(AMSTERDAM, 2026, 10, 24, 9), DAILY, 0, utc(2026, 10, 24, 7)),
    (local(AMSTERDAM, 2026, 10, 24, 9), DAILY, 1, utc(2026, 10, 25, 8)),
    (local(AMSTERDAM, 2026, 10, 24, 9), DAILY, 2, utc(2026, 10, 26, 8)),
    (local(AMSTERDAM, 2026, 10, 24, 9), DAILY, -1, utc(2026, 10, 23, 7)),
    # Weekly on Sundays at 09:00: the week containing the change is 167 hours long.
    (local(AMSTERDAM, 2026, 3, 22, 9), WEEKLY, 1, utc(2026, 3, 29, 7)),
    # Monthly on the 15th at 09:00 local, through summer and back to winter.
    (local(AMSTERDAM, 2026, 3, 15, 9), MONTHLY, 0, utc(2026, 3, 15, 8)),
    (local(AMSTERDAM, 2026, 3, 15, 9), MONTHLY, 1, utc(2026, 4, 15, 7)),
    (local(AMSTERDAM, 2026, 3, 15, 9), MONTHLY, 7, utc(2026, 10, 15, 7)),
    (local(AMSTERDAM, 2026, 3, 15, 9), MONTHLY, 8, utc(2026, 11, 15, 8)),
    (local(AMSTERDAM, 2026, 3, 15, 9), MONTHLY, -1, utc(2026, 2, 15, 8)),
    # A wall time in the spring-forward gap (02:30 on Mar 29 does not exist) moves an hour on.
    (local(AMSTERDAM, 2026, 3, 28, 2, 30), DAILY, 1, utc(2026, 3, 29, 1, 30)),
    (local(AMSTERDAM, 2026, 3, 28, 2, 30), DAILY, 2, utc(2026, 3, 30, 0, 30)),
    # A wall time that happens twice (02:30 on Oct 25) resolves to the first, summer-time one.
    (local(AMSTERDAM, 2026, 10, 24, 2, 30), DAILY, 1, utc(2026, 10, 25, 0, 30)),
    (local(AMSTERDAM, 2026, 10, 24, 2, 30), DAILY, 2, utc(2026, 10, 26, 1, 30)),
    # New York, 09:00 on the 31st: EST is UTC-5, EDT UTC-4.
    (local(NEW_YORK, 2026, 1, 31, 9), MONTHLY, 1, utc(2026, 2, 28, 14)),
    (local(NEW_YORK, 2026, 1, 31, 9), MONTHLY, 2, utc(2026, 3, 31, 13)),
    (local(NEW_YORK, 2026, 1, 31, 9), MONTHLY, 3, utc(2026, 4, 30, 13)),
    (local(NEW_YORK, 2026, 1, 31, 9), MONTHLY, 10, utc(2026, 11, 30, 14)),
    # New York at 21:00 on Jan 31 is already Feb 1 in UTC; the local 31st still rules.
    (local(NEW_YORK, 2026, 1, 31, 21), MONTHLY, 1, utc(2026, 3, 1, 2)),
    (local(NEW_YORK, 2026, 1, 31, 21), MONTHLY, 2, utc(2026, 4, 1, 1)),
    # Auckland, 10:00 on the 31st local is still the 30th in UTC.
    (local(AUCKLAND, 2026, 1, 31, 10), MONTHLY, 0, utc(2026, 1, 30, 21)),
    (local(AUCKLAND, 2026, 1, 31, 10), MONTHLY, 1, utc(2026, 2, 27, 21)),
    (local(AUCKLAND, 2026, 1, 31, 10), MONTHLY, 2, utc(2026, 3, 30, 21)),
    (local(AUCKLAND, 2026, 1, 31, 10), MONTHLY, 3, utc(2026, 4, 29, 22)),
    (local(AUCKLAND, 2026, 1, 31, 10), MONTHLY, 8, utc(2026, 9, 29, 21)),
]


@pytest.mark.parametrize(("anchor", "recurrence", "k", "expected"), TZ_BOUNDARY_TABLE)
def test_boundary_keeps_local_wall_time_in_the_customer_timezone(
        anchor: datetime, recurrence: Recurrence, k: int, expected: datetime) -> None:
    result = boundary(anchor, recurrence, k, anchor.tzinfo)  # type: ignore[arg-type]
    assert result == expected
    assert result.utcoffset() == timedelta(0)


def test_daily_renewal_at_nine_keeps_wall_time_so_utc_instant_shifts_an_hour() -> None:
    anchor = local(AMSTERDAM, 2026, 3, 27, 9)
    instants = [boundary(anchor, DAILY, k, AMSTERDAM) for k in range(4)]
    assert [i.astimezone(AMSTERDAM).hour for i in instants] == [9, 9, 9, 9]
    assert [i.hour for i in instants] == [8, 8, 7, 7]
    # The period that contains the change is 23 hours long.
    assert instants[2] - instants[1] == timedelta(hours=23)


def test_auckland_boundaries_differ_from_the_same_rule_computed_in_utc() -> None:
    anchor = local(AUCKLAND, 2026, 1, 31, 10)  # = 2026-01-30 21:00 UTC
    assert boundary(anchor, MONTHLY, 1, AUCKLAND) == utc(2026, 2, 27, 21)
    assert boundary(anchor, MONTHLY, 1, UTC_ZONE) == utc(2026, 2, 28, 21)


def test_boundary_zero_is_the_anchor() -> None:
    anchor = local(AMSTERDAM, 2026, 7, 1, 12)
    for recurrence in (DAILY, WEEKLY, MONTHLY, YEARLY):
        assert boundary(anchor, recurrence, 0, AMSTERDAM) == anchor


def test_boundary_zero_is_the_anchor_in_the_repeated_fall_back_hour() -> None:
    # 2026-10-25 01:30 UTC is 02:30 CET, the *second* 02:30 of that night in Amsterdam.
    anchor = utc(2026, 10, 25, 1, 30)
    assert boundary(anchor, DAILY, 0, AMSTERDAM) == anchor


# --- index_at and period_at ---

INDEX_TABLE = [
    # anchor Jan 31 2026 00:00 UTC, monthly
    (utc(2026, 1, 31), 0),
    (utc(2026, 2, 27, 23, 59, 59), 0),
    (utc(2026, 2, 28), 1),
    (utc(2026, 3, 1), 1),  # a naive month difference would say 2
    (utc(2026, 3, 30, 23, 59, 59), 1),
    (utc(2026, 3, 31), 2),
    (utc(2027, 1, 31), 12),
    (utc(2026, 1, 30, 23, 59, 59), -1),
    (utc(2025, 12, 31), -1),
    (utc(2025, 12, 30, 23, 59, 59), -2),
]


@pytest.mark.parametrize(("at", "expected"), INDEX_TABLE)
def test_index_at_counts_boundaries_at_or_before(at: datetime, expected: int) -> None:
    assert index_at(utc(2026, 1, 31), MONTHLY, at, UTC_ZONE) == expected


@pytest.mark.parametrize(("anchor", "recurrence", "at", "tz", "expected"), [
    (utc(2026, 1, 1), WEEKLY, utc(2026, 1, 15), UTC_ZONE, 2),
    (utc(2026, 1, 1), WEEKLY, utc(2026, 1, 14, 23), UTC_ZONE, 1),
    (utc(2026, 1, 1), DAILY, utc(2025, 12, 31, 12), UTC_ZONE, -1),
    (utc(2026, 1, 1), Recurrence("day", 10), utc(2026, 1, 31), UTC_ZONE, 3),
    (utc(2028, 2, 29), YEARLY, utc(2029, 2, 28), UTC_ZONE, 1),
    (utc(2028, 2, 29), YEARLY, utc(2029, 2, 27, 23), UTC_ZONE, 0),
    (utc(2025, 11, 30), QUARTERLY, utc(2026, 2, 28), UTC_ZONE, 1),
    (utc(2025, 11, 30), QUARTERLY, utc(2026, 2, 27), UTC_ZONE, 0),
    # 07:30 UTC on Mar 29 is 09:30 CEST, after that day's 09:00 boundary (07:00 UTC).
    (local(AMSTERDAM, 2026, 3, 27, 9), DAILY, utc(2026, 3, 29, 7, 30), AMSTERDAM, 2),
    (local(AMSTERDAM, 2026, 3, 27, 9), DAILY, utc(2026, 3, 29, 6, 59), AMSTERDAM, 1),
    # Feb 27 22:00 UTC is already Feb 28 11:00 in Auckland: the first renewal has passed.
    (local(AUCKLAND, 2026, 1, 31, 10), MONTHLY, utc(2026, 2, 27, 22), AUCKLAND, 1),
    (local(AUCKLAND, 2026, 1, 31, 10), MONTHLY, utc(2026, 2, 27, 20), AUCKLAND, 0),
])
def test_index_at_in_weeks_days_years_and_timezones(
        anchor: datetime, recurrence: Recurrence, at: datetime, tz: ZoneInfo,
        expected: int) -> None:
    assert index_at(anchor, recurrence, at, tz) == expected


@pytest.mark.parametrize(("anchor", "recurrence", "at", "tz", "start", "end"), [
    (utc(2026, 1, 31), MONTHLY, utc(2026, 3, 1), UTC_ZONE, utc(2026, 2, 28), utc(2026, 3, 31)),
    (utc(2026, 1, 31), MONTHLY, utc(2026, 1, 31), UTC_ZONE, utc(2026, 1, 31), utc(2026, 2, 28)),
    (utc(2026, 1, 31), MONTHLY, utc(2026, 1, 15), UTC_ZONE, utc(2025, 12, 31),
     utc(2026, 1, 31)),
    (utc(2028, 2, 29), YEARLY, utc(2030, 6, 1), UTC_ZONE, utc(2030, 2, 28), utc(2031, 2, 28)),
    (utc(2028, 2, 29), YEARLY, utc(2031, 12, 1), UTC_ZONE, utc(2031, 2, 28), utc(2032, 2, 29)),
    (local(AMSTERDAM, 2026, 10, 24, 9), DAILY, utc(2026, 10, 25, 12), AMSTERDAM,
     utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)),
    (local(AMSTERDAM, 2026, 10, 24, 9), DAILY, utc(2026, 10, 25, 7, 30), AMSTERDAM,
     utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)),
    (local(NEW_YORK, 2026, 1, 31, 21), MONTHLY, utc(2026, 3, 1, 1), NEW_YORK,
     utc(2026, 2, 1, 2), utc(2026, 3, 1, 2)),
    (local(AUCKLAND, 2026, 1, 31, 10), MONTHLY, utc(2026, 2, 15, 12), AUCKLAND,
     utc(2026, 1, 30, 21), utc(2026, 2, 27, 21)),
])
def test_period_at_returns_the_cycle_containing_the_instant(
        anchor: datetime, recurrence: Recurrence, at: datetime, tz: ZoneInfo,
        start: datetime, end: datetime) -> None:
    period = period_at(anchor, recurrence, at, tz)
    assert (period.start, period.end) == (start, end)
    assert period.contains(at)


def test_period_across_the_october_change_is_25_hours() -> None:
    # Oct 24 09:00 CEST (07:00 UTC) to Oct 25 09:00 CET (08:00 UTC); the day after is 24 h.
    anchor = local(AMSTERDAM, 2026, 10, 24, 9)
    assert period_at(anchor, DAILY, utc(2026, 10, 25, 7, 30), AMSTERDAM).seconds == 25 * 3600
    assert period_at(anchor, DAILY, utc(2026, 10, 25, 12), AMSTERDAM).seconds == 24 * 3600


def test_period_is_half_open() -> None:
    period = Period(utc(2026, 1, 1), utc(2026, 2, 1))
    assert period.contains(utc(2026, 1, 1))
    assert period.contains(utc(2026, 1, 31, 23, 59, 59))
    assert not period.contains(utc(2026, 2, 1))
    assert not period.contains(utc(2025, 12, 31, 23, 59, 59))
    assert period.seconds == 31 * 86400


@pytest.mark.parametrize(("start", "end"), [
    (utc(2026, 1, 1), utc(2026, 1, 1)),
    (utc(2026, 1, 2), utc(2026, 1, 1)),
])
def test_empty_or_reversed_period_is_rejected(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError, match="must end after it starts"):
        Period(start, end)


@pytest.mark.parametrize(("interval", "count"), [("hour", 1), ("fortnight", 1), ("month", 0),
                                                 ("day", -1)])
def test_recurrence_rejects_unknown_interval_and_count_below_one(interval: str,
                                                                  count: int) -> None:
    with pytest.raises(ValueError):
        Recurrence(interval, count)  # type: ignore[arg-type]


@pytest.mark.parametrize(("recurrence", "months", "days"), [
    (Recurrence("day", 3), 0, 3), (Recurrence("week", 2), 0, 14),
    (Recurrence("month", 3), 3, 0), (Recurrence("year", 2), 24, 0),
])
def test_recurrence_length_in_months_or_days(recurrence: Recurrence, months: int,
                                            days: int) -> None:
    assert (recurrence.months, recurrence.days) == (months, days)


# --- properties ---

ZONES = [UTC_ZONE, AMSTERDAM, NEW_YORK, AUCKLAND, ZoneInfo("Asia/Kolkata"),
         ZoneInfo("Australia/Lord_Howe")]


def instants(lo: int = 2020, hi: int = 2035) -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=datetime(lo, 1, 1), max_value=datetime(hi, 12, 31),
                        timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0))


recurrences = st.one_of(
    st.builds(Recurrence, st.just("day"), st.integers(1, 30)),
    st.builds(Recurrence, st.just("week"), st.integers(1, 8)),
    st.builds(Recurrence, st.just("month"), st.integers(1, 12)),
    st.builds(Recurrence, st.just("year"), st.integers(1, 3)),
)


@settings(max_examples=200, deadline=None)
@given(anchor=instants(), recurrence=recurrences, tz=st.sampled_from(ZONES),
       k=st.integers(-40, 40))
def test_boundaries_strictly_increase_with_k(anchor: datetime, recurrence: Recurrence,
                                             tz: ZoneInfo, k: int) -> None:
    assert boundary(anchor, recurrence, k, tz) < boundary(anchor, recurrence, k + 1, tz)


@settings(max_examples=200, deadline=None)
@given(anchor=instants(), recurrence=recurrences, tz=st.sampled_from(ZONES), at=instants())
def test_period_at_contains_the_instant_and_is_bounded_by_consecutive_boundaries(
        anchor: datetime, recurrence: Recurrence, tz: ZoneInfo, at: datetime) -> None:
    period = period_at(anchor, recurrence, at, tz)
    assert period.contains(at)
    k = index_at(anchor, recurrence, at, tz)
    assert period.start == boundary(anchor, recurrence, k, tz)
    assert period.end == boundary(anchor, recurrence, k + 1, tz)
    # A boundary belongs to the period it starts.
    assert index_at(anchor, recurrence, period.start, tz) == k
    assert index_at(anchor, recurrence, period.end, tz) == k + 1


@settings(max_examples=200, deadline=None)
@given(anchor=instants(2024, 2030), count=st.integers(1, 12),
       tz=st.sampled_from([UTC_ZONE, AMSTERDAM, NEW_YORK, AUCKLAND]), k=st.integers(-60, 60))
def test_monthly_boundary_day_is_anchor_day_clipped_to_month_length(
        anchor: datetime, count: int, tz: ZoneInfo, k: int) -> None:
    # In these zones DST moves clocks around 02:00-03:00, so a shift never changes the date.
    recurrence = Recurrence("month", count)
    anchor_local = anchor.astimezone(tz)
    result = boundary(anchor, recurrence, k, tz).astimezone(tz)
    months = anchor_local.year * 12 + anchor_local.month - 1 + k * count
    year, month = divmod(months, 12)
    month += 1
    assert (result.year, result.month) == (year, month)
    assert result.day == min(anchor_local.day, calendar.monthrange(year, month)[1])


@settings(max_examples=100, deadline=None)
@given(anchor=instants(2024, 2030), days=st.integers(1, 60),
       tz=st.sampled_from([AMSTERDAM, NEW_YORK, AUCKLAND]), k=st.integers(-60, 60))
def test_day_intervals_count_calendar_days_in_the_customer_timezone(
        anchor: datetime, days: int, tz: ZoneInfo, k: int) -> None:
    anchor_local = anchor.astimezone(tz)
    result = boundary(anchor, Recurrence("day", days), k, tz).astimezone(tz)
    assert result.date() == anchor_local.date() + timedelta(days=k * days)
