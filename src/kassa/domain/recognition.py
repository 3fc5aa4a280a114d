"""Revenue recognition, straight-line by day: how much of an amount invoiced for a service
period has been earned by a given day. Pure and exact in minor units.

A period of D days (calendar days in the organization's timezone, from its first day up to
its last) earns `amount * k // D` after k days (rounded towards zero for credits), so the
days' shares differ by at most one minor unit, every partial total is whole, and after D
days exactly `amount` has been recognized: nothing is lost or created by rounding, however
the period is cut into months.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise


@dataclass(frozen=True)
class Schedule:
    """`amount` (minor units; negative for a credit) earned evenly over the days from
    `first_day` up to, not including, `end_day`. A period of no days is earned on its
    first day."""

    amount: int
    first_day: date
    end_day: date

    @property
    def days(self) -> int:
        return max((self.end_day - self.first_day).days, 0)

    def earned_by(self, day: date) -> int:
        """What has been earned before `day` (the days from first_day to day - 1)."""
        if self.days == 0:
            return self.amount if day > self.first_day else 0
        elapsed = min(max((day - self.first_day).days, 0), self.days)
        magnitude = abs(self.amount) * elapsed // self.days
        return magnitude if self.amount >= 0 else -magnitude

    def earned_between(self, start: date, end: date) -> int:
        """What is earned on the days from `start` up to, not including, `end`."""
        return self.earned_by(end) - self.earned_by(start)


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def month_starts(first: date, last: date) -> list[date]:
    """The first day of every month from `first`'s month to `last`'s, and of the month
    after (the boundaries a month-by-month waterfall needs)."""
    cursor, result = first.replace(day=1), []
    while cursor <= last:
        result.append(cursor)
        cursor = next_month(cursor)
    result.append(cursor)
    return result


def by_month(schedules: Iterable[Schedule], first: date, last: date) -> dict[date, int]:
    """Earned per month (keyed by its first day) from `first`'s month to `last`'s."""
    bounds = month_starts(first, last)
    result = dict.fromkeys(bounds[:-1], 0)
    for schedule in schedules:
        for start, end in pairwise(bounds):
            result[start] += schedule.earned_between(start, end)
    return result
