"""Straight-line recognition by day: worked examples, and properties that hold for any amount
and period (a full period earns exactly the amount; months add up; days differ by at most a
cent; earning never runs backwards)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from kassa.domain.recognition import Schedule, by_month, month_starts


def test_an_annual_plan_is_earned_day_by_day() -> None:
    year = Schedule(120000, date(2026, 1, 1), date(2027, 1, 1))  # €1,200 over 365 days
    assert year.days == 365
    assert year.earned_by(date(2026, 1, 1)) == 0
    assert year.earned_by(date(2026, 2, 1)) == 120000 * 31 // 365 == 10191
    assert year.earned_by(date(2026, 7, 2)) == 120000 * 182 // 365 == 59835
    assert year.earned_by(date(2027, 1, 1)) == year.earned_by(date(2030, 1, 1)) == 120000
    months = by_month([year], date(2026, 1, 1), date(2026, 12, 31))
    # February: 120000 x 59 // 365 = 19397 earned by March 1, less January's 10191
    assert months[date(2026, 1, 1)] == 10191 and months[date(2026, 2, 1)] == 9206
    assert sum(months.values()) == 120000


def test_credits_run_the_other_way_and_empty_periods_earn_at_once() -> None:
    credit = Schedule(-1000, date(2026, 3, 16), date(2026, 4, 1))  # 16 days
    assert credit.earned_by(date(2026, 3, 24)) == -500
    assert credit.earned_by(date(2026, 4, 1)) == -1000
    instant = Schedule(700, date(2026, 5, 5), date(2026, 5, 5))
    assert (instant.earned_by(date(2026, 5, 5)), instant.earned_by(date(2026, 5, 6))) == (0, 700)


def test_month_boundaries() -> None:
    assert month_starts(date(2026, 11, 20), date(2027, 1, 3)) == [
        date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]


periods = st.tuples(st.integers(-10**9, 10**9), st.dates(date(2020, 1, 1), date(2030, 1, 1)),
                    st.integers(0, 800))


@given(periods)
def test_a_whole_period_earns_exactly_its_amount_in_even_days(period: tuple[int, date, int]
                                                             ) -> None:
    amount, first, days = period
    schedule = Schedule(amount, first, first + timedelta(days=days))
    end = first + timedelta(days=max(days, 1))
    assert schedule.earned_by(end) == amount
    daily = [schedule.earned_between(first + timedelta(days=i), first + timedelta(days=i + 1))
             for i in range(days)]
    if daily:
        assert max(daily) - min(daily) <= 1
        assert all(day * amount >= 0 for day in daily)  # never against the amount's sign
    months = by_month([schedule], first, end)
    assert sum(months.values()) == amount
