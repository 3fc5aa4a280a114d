"""Billing periods: calendar arithmetic in the customer's timezone that keeps the anchor day.

A subscription anchored on Jan 31 renews on Feb 28 (29 in leap years), Mar 31, Apr 30, ...:
every boundary is computed from the anchor itself, never from the previous boundary, so a
short month never drags later dates forward. Day and week intervals count calendar days in
the customer's timezone, so a renewal keeps its wall-clock time across daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

Interval = Literal["day", "week", "month", "year"]
INTERVALS: tuple[Interval, ...] = ("day", "week", "month", "year")


@dataclass(frozen=True)
class Recurrence:
    """How often a price recurs: every `count` `interval`s."""

    interval: Interval
    count: int = 1

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise ValueError(f"unknown interval {self.interval!r}")
        if self.count < 1:
            raise ValueError("interval_count must be at least 1")

    @property
    def months(self) -> int:
        """Length in months for month and year intervals, 0 for day and week."""
        return {"month": 1, "year": 12}.get(self.interval, 0) * self.count

    @property
    def days(self) -> int:
        """Length in days for day and week intervals, 0 for month and year."""
        return {"day": 1, "week": 7}.get(self.interval, 0) * self.count


def _to_local(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _from_local(local: datetime, tz: ZoneInfo) -> datetime:
    # fold=0 resolves an ambiguous wall time to its first occurrence; a wall time that falls
    # in a spring-forward gap is shifted forward by zoneinfo, as a person would expect.
    return local.replace(tzinfo=tz).astimezone(UTC)


@lru_cache(maxsize=1 << 16)
def boundary(anchor: datetime, recurrence: Recurrence, k: int, tz: ZoneInfo) -> datetime:
    """The k-th period boundary from `anchor` (k = 0 is the anchor itself; k may be negative).

    Cached: billing asks for the same boundaries of a subscription several times (its due
    periods, its next billing time, the period it is in). The result depends only on the
    instant of `anchor`, which is what equal datetimes share.
    """
    if k == 0:
        # The anchor itself, exactly: a wall time in the repeated hour of a fall-back night
        # would not survive the trip through local time.
        return anchor.astimezone(UTC)
    local = _to_local(anchor, tz)
    if recurrence.months:
        shifted = local + relativedelta(months=k * recurrence.months)
    else:
        shifted = local + timedelta(days=k * recurrence.days)
    return _from_local(shifted, tz)


def _estimate_index(anchor: datetime, recurrence: Recurrence, at: datetime, tz: ZoneInfo) -> int:
    a, t = _to_local(anchor, tz), _to_local(at, tz)
    if recurrence.months:
        return ((t.year - a.year) * 12 + (t.month - a.month)) // recurrence.months
    return (t - a).days // recurrence.days


@lru_cache(maxsize=1 << 16)
def index_at(anchor: datetime, recurrence: Recurrence, at: datetime, tz: ZoneInfo) -> int:
    """The k with boundary(k) <= at < boundary(k + 1).

    Cached as `boundary` is: a billing run asks it of the same anchor and moment (the
    period billed through, now) for every subscription of a cycle, and several times each.
    """
    k = _estimate_index(anchor, recurrence, at, tz)
    while boundary(anchor, recurrence, k, tz) > at:
        k -= 1
    while boundary(anchor, recurrence, k + 1, tz) <= at:
        k += 1
    return k


@dataclass(frozen=True)
class Period:
    """A half-open interval of time [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a period must end after it starts")

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


def period_at(anchor: datetime, recurrence: Recurrence, at: datetime, tz: ZoneInfo) -> Period:
    """The full period of the anchor's cycle that contains `at`."""
    k = index_at(anchor, recurrence, at, tz)
    return Period(boundary(anchor, recurrence, k, tz), boundary(anchor, recurrence, k + 1, tz))
