"""Plan changes: what changing a subscription's items at a moment credits and charges.

Licensed fees are invoiced in advance, so a change at `at` falls inside periods that are
already invoiced (the current one, and with an invoice lead time perhaps the next). For the
rest of each such period Kassa credits the unused time of every item the change replaces and
charges the remaining time of every item it brings, each line's amount rounded once from an
exact `Decimal` fraction of the full period.

A credit never exceeds what was actually charged for that item over that time: Kassa keeps
the ledger of what each item was charged (invoice lines net of their discounts, and credits
already made) and caps the credit at that ledger's share of the unused time. Coupons, a
first period given free, and earlier changes in the same period are all in the ledger, so
several changes in one period, or on one day, never credit more than was paid.

A charge for remaining time that is not yet on any invoice (a pending proration item) is not
credited but shortened: it is cut back to end at the new change, or dropped if that leaves
nothing. That keeps the next invoice short and exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

from kassa.core.money import round_minor
from kassa.domain import pricing
from kassa.domain.billing import (
    ChargeLine,
    ItemTerms,
    ServicePeriod,
    SubscriptionTerms,
    line_fraction,
    service_periods,
)
from kassa.domain.periods import Period
from kassa.domain.proration import Granularity, fraction


@dataclass(frozen=True)
class Charged:
    """An amount invoiced (or credited) for an item over a stretch of time, net of discounts."""

    item_id: str
    start: datetime
    end: datetime
    net: int


@dataclass(frozen=True)
class Pending:
    """A charge for an item's remaining time that waits for the next invoice."""

    id: str
    item_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Change:
    """What a change bills: new lines, and pending charges to shorten (None: drop)."""

    lines: tuple[ChargeLine, ...]
    shortened: dict[str, ChargeLine | None]


def remaining_charged(charged: Sequence[Charged], item_id: str, window: Period,
                      granularity: Granularity, tz: ZoneInfo) -> Decimal:
    """What the ledger charged `item_id` for the time in `window` (exact, unrounded)."""
    total = Decimal(0)
    with localcontext() as context:
        context.prec = 40
        for entry in charged:
            if entry.item_id != item_id or entry.end <= entry.start:
                continue
            start, end = max(entry.start, window.start), min(entry.end, window.end)
            if end <= start:
                continue
            total += entry.net * fraction(Period(start, end), Period(entry.start, entry.end),
                                          granularity, tz)
    return total


def full_amount(item: ItemTerms) -> Decimal:
    """A licensed item's fee for one full period at its quantity (exact)."""
    return pricing.total(pricing.price(item.price.pricing_model, Decimal(item.quantity)))


def _holding(item: ItemTerms) -> str:
    label = item.price.unit_label
    if label and item.quantity != 1:
        plural = label if label.endswith("s") else f"{label}s"
        return f"{item.price.product_name} ({item.quantity} {plural})"
    if label:
        return f"{item.price.product_name} (1 {label})"
    if item.quantity != 1:
        return f"{item.quantity} × {item.price.product_name}"
    return item.price.product_name


def day_text(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{local.day} {local:%b %Y}"


def _line(terms: SubscriptionTerms, item: ItemTerms, window: Period, share: Decimal,
          amount: int, description: str) -> ChargeLine:
    quantity = item.quantity or 1
    with localcontext() as context:
        context.prec = 40
        unit = (Decimal(amount) / quantity).normalize()
    return ChargeLine(
        subscription_id=terms.id, item_id=item.id, price_id=item.price.id,
        description=description, quantity=item.quantity, unit_amount_decimal=unit,
        amount=amount, period_start=window.start, period_end=window.end, proration=True,
        proration_fraction=share)


def _same(a: ItemTerms, b: ItemTerms) -> bool:
    return a.price.id == b.price.id and a.quantity == b.quantity


def _licensed(items: Sequence[ItemTerms]) -> dict[str, ItemTerms]:
    return {i.id: i for i in items if i.price.usage_type == "licensed"}


def _invoiced_periods(terms: SubscriptionTerms, at: datetime,
                      billed_through: datetime | None) -> list[ServicePeriod]:
    """Periods whose fees are invoiced and which end after `at`."""
    if billed_through is None:
        return []
    periods = []
    for period in service_periods(terms):
        if period.start >= billed_through:
            break
        if period.end > at and period.kind == "regular":
            periods.append(period)
    return periods


def change(old: SubscriptionTerms, new: SubscriptionTerms | None, at: datetime,
           billed_through: datetime | None, charged: Sequence[Charged],
           pending: Sequence[Pending] = ()) -> Change:
    """Prorations for changing the subscription from `old` to `new` terms at `at`.

    `new` None ends the old items' service at `at` with nothing in their place (a
    cancellation, a pause, or a new billing cycle that starts at `at` and is invoiced in
    full by billing): every old item's unused time is credited. `charged` is the item ledger
    of invoiced amounts; `pending` the not yet invoiced charges for remaining time.
    """
    lines: list[ChargeLine] = []
    shortened: dict[str, ChargeLine | None] = {}
    tz, granularity = old.tz, old.granularity
    for period in _invoiced_periods(old, at, billed_through):
        if line_fraction(old, period) == 0:
            continue  # nothing was charged for it (a free first period)
        window = Period(max(at, period.start), period.end)
        share = fraction(window, period.cycle, granularity, tz)
        when = day_text(window.start, tz)
        before = _licensed(old.items_at(period.start))
        after = _licensed(new.items_at(period.start)) if new is not None else {}
        changed = {i for i, item in before.items()
                   if i not in after or not _same(item, after[i])}
        for pending_charge in pending:
            if pending_charge.item_id in changed and pending_charge.start < window.end \
                    and pending_charge.end > window.start:
                shortened[pending_charge.id] = _shorten(old, before[pending_charge.item_id],
                                                        pending_charge, window, period)
        for item_id in sorted(changed):
            item = before[item_id]
            with localcontext() as context:
                context.prec = 40
                gross = full_amount(item) * share
            paid = remaining_charged(charged, item_id, window, granularity, tz)
            # Rounded once, half-up; as what was paid for the item is whole minor units, the
            # credit never exceeds it.
            credit = round_minor(max(min(gross, paid), Decimal(0)))
            if credit:
                lines.append(_line(old, item, window, share, -credit,
                                   f"Unused time on {_holding(item)} after {when}"))
        for item_id, item in sorted(after.items()):
            if item_id in before and _same(before[item_id], item):
                continue
            with localcontext() as context:
                context.prec = 40
                amount = round_minor(full_amount(item) * share)
            if amount:
                lines.append(_line(old, item, window, share, amount,
                                   f"Remaining time on {_holding(item)} after {when}"))
    return Change(tuple(lines), shortened)


def _shorten(terms: SubscriptionTerms, item: ItemTerms, charge: Pending, window: Period,
             period: ServicePeriod) -> ChargeLine | None:
    """The pending charge cut back to end where the change starts, or None if nothing is left."""
    start = max(charge.start, period.start)
    if window.start <= start:
        return None
    kept = Period(start, window.start)
    share = fraction(kept, period.cycle, terms.granularity, terms.tz)
    with localcontext() as context:
        context.prec = 40
        amount = round_minor(full_amount(item) * share)
    if not amount:
        return None
    return _line(terms, item, kept, share, amount,
                 f"Time on {_holding(item)} from {day_text(kept.start, terms.tz)} "
                 f"until {day_text(kept.end, terms.tz)}")
