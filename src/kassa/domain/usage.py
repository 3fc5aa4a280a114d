"""Usage aggregation: turning a period's meter events into the quantity a price bills.

Formulas as Stripe's meters (`count`, `sum`, `last`/`latest`) plus `max` and `unique_count`
(per active user: distinct user ids). Hourly aggregates let `count`, `sum` and `max` be
combined without reading every event again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

Formula = Literal["count", "sum", "max", "unique_count", "latest"]
FORMULAS: tuple[Formula, ...] = ("count", "sum", "max", "unique_count", "latest")
COMBINABLE: frozenset[Formula] = frozenset({"count", "sum", "max"})


@dataclass(frozen=True)
class Reading:
    """One event as aggregation sees it: when, its numeric value, and its distinct key."""

    timestamp: datetime
    value: Decimal
    key: str | None = None


@dataclass(frozen=True)
class Bucket:
    """Count, sum and max of the events of one stretch of time (an hour)."""

    count: int
    sum: Decimal
    max: Decimal | None


def aggregate(formula: Formula, readings: Sequence[Reading]) -> Decimal:
    """The period's usage under `formula`; 0 when there are no events."""
    if not readings:
        return Decimal(0)
    if formula == "count":
        return Decimal(len(readings))
    if formula == "sum":
        return sum((r.value for r in readings), Decimal(0))
    if formula == "max":
        return max(r.value for r in readings)
    if formula == "unique_count":
        return Decimal(len({r.key for r in readings if r.key is not None}))
    latest = max(readings, key=lambda r: r.timestamp)
    return latest.value


def combine(formula: Formula, buckets: Iterable[Bucket]) -> Decimal:
    """Combine hourly buckets (count, sum and max only)."""
    items = list(buckets)
    if formula == "count":
        return Decimal(sum(b.count for b in items))
    if formula == "sum":
        return sum((b.sum for b in items), Decimal(0))
    if formula == "max":
        maxima = [b.max for b in items if b.max is not None]
        return max(maxima) if maxima else Decimal(0)
    raise ValueError(f"{formula} cannot be combined from buckets")


def merge(formula: Formula, a: Decimal, b: Decimal) -> Decimal:
    """Merge two partial results of a combinable formula."""
    return max(a, b) if formula == "max" else a + b
