"""Billing as a pure function of a subscription's terms and a target time.

Kassa computes, from the subscription timeline, which service periods exist and when each is
due to be invoiced (its billing time: the period's start minus the invoice lead time). A
billing run asks for the periods that are due by time T and not yet invoiced; invoicing marks
them billed. Asking again returns nothing, so billing twice to T equals billing once to T.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from kassa.core.money import round_minor
from kassa.domain.periods import Period, Recurrence, boundary, index_at
from kassa.domain.proration import Granularity, fraction


@dataclass(frozen=True)
class PriceTerms:
    """What a recurring price charges per unit and how often."""

    id: str
    product_name: str
    currency: str
    unit_amount_decimal: Decimal
    recurrence: Recurrence


@dataclass(frozen=True)
class ItemTerms:
    id: str
    price: PriceTerms
    quantity: int


@dataclass(frozen=True)
class SubscriptionTerms:
    """Everything billing needs to know about a subscription, as plain data.

    `anchor` is a boundary of the billing cycle (the billing cycle anchor); `ends_at` is when
    service stops (an immediate cancellation or a scheduled `cancel_at`), if it does.
    """

    id: str
    customer_id: str
    currency: str
    tz: ZoneInfo
    start: datetime
    anchor: datetime
    items: tuple[ItemTerms, ...]
    trial_end: datetime | None = None
    ends_at: datetime | None = None
    lead: timedelta = timedelta(0)
    prorate_first_period: bool = True
    granularity: Granularity = "second"

    @property
    def recurrence(self) -> Recurrence:
        return self.items[0].price.recurrence


PeriodKind = Literal["trial", "regular"]


@dataclass(frozen=True)
class ServicePeriod:
    """A stretch of service invoiced together: a trial, or (part of) one billing cycle."""

    start: datetime
    end: datetime
    cycle: Period
    kind: PeriodKind

    @property
    def partial(self) -> bool:
        return self.kind == "regular" and (self.start, self.end) != (self.cycle.start,
                                                                     self.cycle.end)


@dataclass(frozen=True)
class ChargeLine:
    """One line of a subscription invoice, before it is stored."""

    subscription_id: str
    item_id: str
    price_id: str
    description: str
    quantity: int
    unit_amount_decimal: Decimal
    amount: int
    period_start: datetime
    period_end: datetime
    proration: bool
    proration_fraction: Decimal


@dataclass(frozen=True)
class DueCharge:
    """A service period that is due to be invoiced, with its lines."""

    subscription_id: str
    customer_id: str
    currency: str
    billing_at: datetime
    period: ServicePeriod
    lines: tuple[ChargeLine, ...]


def service_periods(terms: SubscriptionTerms) -> Iterator[ServicePeriod]:
    """All service periods of the subscription in order; endless unless it ends."""
    if terms.ends_at is not None and terms.ends_at <= terms.start:
        return
    paid_from = terms.start
    if terms.trial_end is not None and terms.trial_end > terms.start:
        trial_end = min(terms.trial_end, terms.ends_at or terms.trial_end)
        yield ServicePeriod(terms.start, trial_end, Period(terms.start, trial_end), "trial")
        paid_from = terms.trial_end
    if terms.ends_at is not None and terms.ends_at <= paid_from:
        return
    k = index_at(terms.anchor, terms.recurrence, paid_from, terms.tz)
    while True:
        cycle = Period(boundary(terms.anchor, terms.recurrence, k, terms.tz),
                       boundary(terms.anchor, terms.recurrence, k + 1, terms.tz))
        start = max(cycle.start, paid_from)
        end = cycle.end if terms.ends_at is None else min(cycle.end, terms.ends_at)
        yield ServicePeriod(start, end, cycle, "regular")
        if terms.ends_at is not None and end >= terms.ends_at:
            return
        k += 1


def billing_time(terms: SubscriptionTerms, period: ServicePeriod) -> datetime:
    """When the period's invoice is due to be created: its start less the lead time."""
    return period.start - terms.lead


def due_periods(terms: SubscriptionTerms, billed_through: datetime | None,
                until: datetime) -> list[ServicePeriod]:
    """Periods starting at or after `billed_through` whose billing time is at or before `until`."""
    due = []
    for period in service_periods(terms):
        if billing_time(terms, period) > until:
            break
        if billed_through is None or period.start >= billed_through:
            due.append(period)
    return due


def next_billing_at(terms: SubscriptionTerms, billed_through: datetime | None) -> datetime | None:
    """Billing time of the first period not yet invoiced, or None when nothing is left."""
    for period in service_periods(terms):
        if billed_through is None or period.start >= billed_through:
            return billing_time(terms, period)
    return None


def period_at(terms: SubscriptionTerms, at: datetime) -> ServicePeriod | None:
    """The service period containing `at` (the first one, if `at` precedes the start)."""
    for period in service_periods(terms):
        if at < period.end:
            return period
    return None


def _line_fraction(terms: SubscriptionTerms, period: ServicePeriod) -> Decimal:
    if period.kind == "trial":
        return Decimal(0)
    if not period.partial:
        return Decimal(1)
    if period.start == terms.start and not terms.prorate_first_period:
        return Decimal(0)
    return fraction(Period(period.start, period.end), period.cycle, terms.granularity, terms.tz)


def _describe(item: ItemTerms, period: ServicePeriod) -> str:
    if period.kind == "trial":
        return f"Trial period for {item.price.product_name}"
    prefix = "Partial period: " if period.partial else ""
    return f"{prefix}{item.quantity} × {item.price.product_name}"


def charge(terms: SubscriptionTerms, period: ServicePeriod) -> DueCharge:
    """The invoice lines for one service period: each item's full price, prorated if partial."""
    share = _line_fraction(terms, period)
    lines = tuple(
        ChargeLine(
            subscription_id=terms.id,
            item_id=item.id,
            price_id=item.price.id,
            description=_describe(item, period),
            quantity=item.quantity,
            unit_amount_decimal=item.price.unit_amount_decimal,
            amount=round_minor(item.price.unit_amount_decimal * item.quantity * share),
            period_start=period.start,
            period_end=period.end,
            proration=period.partial,
            proration_fraction=share,
        )
        for item in terms.items
    )
    return DueCharge(terms.id, terms.customer_id, terms.currency, billing_time(terms, period),
                     period, lines)


def due_charges(terms: SubscriptionTerms, billed_through: datetime | None,
                until: datetime) -> list[DueCharge]:
    """What billing the subscription up to `until` must invoice, given what is billed already."""
    return [charge(terms, period) for period in due_periods(terms, billed_through, until)]
