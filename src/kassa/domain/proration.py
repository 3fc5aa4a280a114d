"""Proration: what fraction of a full period a part of it is, exactly.

Fractions are `Decimal`-exact ratios of whole seconds (granularity `second`, as Stripe) or of
whole days in the customer's timezone (granularity `day`, period end exclusive: a change on
Mar 15 in a Mar 1 - Apr 1 period leaves 17/31). The amount is rounded once, at the line.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Literal
from zoneinfo import ZoneInfo

from kassa.domain.periods import Period

Granularity = Literal["second", "day"]


def _length(period: Period, granularity: Granularity, tz: ZoneInfo) -> int:
    if granularity == "second":
        return period.seconds
    return (period.end.astimezone(tz).date() - period.start.astimezone(tz).date()).days


def fraction(part: Period, whole: Period, granularity: Granularity, tz: ZoneInfo) -> Decimal:
    """Share of `whole` covered by `part` (which must lie within it), between 0 and 1."""
    if part.start < whole.start or part.end > whole.end:
        raise ValueError("the part must lie within the whole period")
    if granularity == "day" and _length(whole, "day", tz) == 0:
        granularity = "second"  # a period within one calendar day: by the second
    numerator, denominator = _length(part, granularity, tz), _length(whole, granularity, tz)
    if denominator == 0:
        return Decimal(1)
    with localcontext() as context:
        context.prec = 40
        return Decimal(numerator) / Decimal(denominator)


def prorate(amount: Decimal, used: Period, whole: Period, granularity: Granularity,
            tz: ZoneInfo) -> Decimal:
    """`amount` for a full period, scaled to the part `used` (not yet rounded)."""
    with localcontext() as context:
        context.prec = 40
        return amount * fraction(used, whole, granularity, tz)
