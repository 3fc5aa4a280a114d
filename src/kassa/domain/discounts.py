"""Discounts on invoice lines: which lines a coupon reaches and how much each line gets off.

A line gets the discounts of its subscription if that subscription has any, else the
customer's. Percent-off is taken from each eligible line and rounded there; amount-off is
capped at the eligible amount and spread over the eligible lines in proportion to their
amounts (largest remainder), so the line discounts add up to exactly the coupon's amount.
A discount never exceeds what is left of a line, and credit lines get none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from kassa.core.money import round_minor


@dataclass(frozen=True)
class DiscountTerms:
    id: str
    percent_off: Decimal | None = None
    amount_off: int | None = None
    products: frozenset[str] | None = None  # None: every product
    subscription_id: str | None = None  # None: a customer-wide discount


@dataclass(frozen=True)
class LineBasis:
    amount: int
    product_id: str | None = None
    subscription_id: str | None = None


def _applies(discount: DiscountTerms, line: LineBasis,
             subscription_discounts: set[str | None]) -> bool:
    if discount.subscription_id is not None:
        if line.subscription_id != discount.subscription_id:
            return False
    elif line.subscription_id in subscription_discounts:
        return False  # the subscription's own discount replaces the customer's
    return discount.products is None or line.product_id in discount.products


def allocate(lines: Sequence[LineBasis],
             discounts: Sequence[DiscountTerms]) -> dict[str, list[int]]:
    """For each discount id, the amount it takes off each line (in line order)."""
    remaining = [max(line.amount, 0) for line in lines]
    with_own: set[str | None] = {d.subscription_id for d in discounts
                                 if d.subscription_id is not None}
    result: dict[str, list[int]] = {}
    for discount in discounts:
        eligible = [i for i, line in enumerate(lines)
                    if remaining[i] > 0 and _applies(discount, line, with_own)]
        off = [0] * len(lines)
        if discount.percent_off is not None:
            for i in eligible:
                off[i] = min(round_minor(Decimal(remaining[i]) * discount.percent_off / 100),
                             remaining[i])
        elif discount.amount_off is not None and eligible:
            pool = sum(remaining[i] for i in eligible)
            take = min(discount.amount_off, pool)
            shares = {i: Decimal(take * remaining[i]) / pool for i in eligible}
            floors = {i: int(share) for i, share in shares.items()}
            leftover = take - sum(floors.values())
            for i in sorted(eligible, key=lambda i: (floors[i] - shares[i], i))[:leftover]:
                floors[i] += 1
            for i in eligible:
                off[i] = floors[i]
        for i in range(len(lines)):
            remaining[i] -= off[i]
        result[discount.id] = off
    return result
