"""SaaS metrics from what was invoiced: monthly recurring revenue and its movements, churn
and retention, cohorts, lifetime value, acquisition cost. Pure: the reports service feeds it
the recurring charges of finalized invoices (`Charge`) and reads the figures back.

MRR at an instant is the sum of the recurring charges whose service period holds it, each
normalized to one month: the charge over the share of its interval it covers (a proration
for half a month counts as its full monthly amount), over the interval's length in months
(a year is 12, a quarter 3, a week 12/52, a day 12/365). Discounts are already taken off;
tax never counts. Figures stay exact (Decimal) until they are reported, in minor units.

A month's movements compare each customer's MRR at the end of the month before with the end
of the month: new (from nothing, the first time), reactivation (from nothing, again),
expansion, contraction, churn (to nothing). A customer who came and went inside one month
is not seen, as with every month-end method.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

PER_YEAR = {"day": 365, "week": 52, "month": 12, "year": 1}  # intervals in a year
RATE_PLACES = Decimal("0.0001")


def per_month(amount: Decimal, fraction: Decimal | None, interval: str, count: int,
              unit_price: Decimal | None = None) -> Decimal:
    """A recurring charge of `amount` for `fraction` of one interval, per month.

    `unit_price` is the line's quantity times its unit amount: when the amount is that
    price for the fraction (rounded to the cent), the full interval costs exactly the
    price, not the rounded amount scaled back up (which would be a cent off)."""
    if fraction is not None and fraction <= 0:
        return Decimal(0)
    share = fraction if fraction is not None else Decimal(1)
    full = amount / share
    if unit_price is not None and abs(abs(unit_price * share) - abs(amount)) < 1:
        full = unit_price.copy_sign(amount) if amount else Decimal(0)
    return full * PER_YEAR[interval] / (12 * count)


@dataclass(frozen=True)
class Charge:
    """One recurring charge normalized to a month, in the reporting currency."""

    customer: str
    subscription: str
    start: datetime
    end: datetime
    monthly: Decimal  # after discounts
    discount: Decimal  # the monthly amount the discounts took off


def covers(charge: Charge, instant: datetime) -> bool:
    """Whether the charge's service period holds the moment just before `instant` (a
    period ending at a month's boundary counts in that month, not the next)."""
    return charge.start < instant <= charge.end


@dataclass(frozen=True)
class Snapshot:
    """MRR per customer (and subscription) at one instant."""

    by_customer: dict[str, Decimal]
    by_subscription: dict[str, Decimal]
    discounts: Decimal

    @property
    def total(self) -> Decimal:
        return sum(self.by_customer.values(), Decimal(0))

    @property
    def paying(self) -> set[str]:
        return {customer for customer, mrr in self.by_customer.items() if mrr > 0}


def snapshot(charges: Iterable[Charge], instant: datetime) -> Snapshot:
    customers: dict[str, Decimal] = defaultdict(Decimal)
    subscriptions: dict[str, Decimal] = defaultdict(Decimal)
    discounts = Decimal(0)
    for charge in charges:
        if covers(charge, instant):
            customers[charge.customer] += charge.monthly
            subscriptions[charge.subscription] += charge.monthly
            discounts += charge.discount
    return Snapshot(_positive(customers), _positive(subscriptions), discounts)


def snapshots(charges: Iterable[Charge], instants: Sequence[datetime]) -> list[Snapshot]:
    """`snapshot` at each of `instants` (sorted), in one pass over the charges: each charge
    is added to the instants its period holds (found by bisection)."""
    customers: list[dict[str, Decimal]] = [defaultdict(Decimal) for _ in instants]
    subscriptions: list[dict[str, Decimal]] = [defaultdict(Decimal) for _ in instants]
    discounts = [Decimal(0) for _ in instants]
    for charge in charges:
        # the instants with start < instant <= end
        for index in range(bisect_right(instants, charge.start),
                           bisect_right(instants, charge.end)):
            customers[index][charge.customer] += charge.monthly
            subscriptions[index][charge.subscription] += charge.monthly
            discounts[index] += charge.discount
    return [Snapshot(_positive(c), _positive(s), d)
            for c, s, d in zip(customers, subscriptions, discounts, strict=True)]


def combined(parts: Iterable[tuple[Snapshot, Decimal]]) -> Snapshot:
    """Snapshots (of charges in several currencies) added up, each times its factor."""
    customers: dict[str, Decimal] = defaultdict(Decimal)
    subscriptions: dict[str, Decimal] = defaultdict(Decimal)
    discounts = Decimal(0)
    for part, factor in parts:
        for customer, value in part.by_customer.items():
            customers[customer] += value * factor
        for subscription, value in part.by_subscription.items():
            subscriptions[subscription] += value * factor
        discounts += part.discounts * factor
    return Snapshot(dict(customers), dict(subscriptions), discounts)


def _positive(values: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Rounding noise of prorations aside, a credit never makes MRR negative."""
    return {key: value for key, value in values.items() if value > Decimal("0.005")}


@dataclass
class Movements:
    new: Decimal = Decimal(0)
    expansion: Decimal = Decimal(0)
    contraction: Decimal = Decimal(0)
    churn: Decimal = Decimal(0)
    reactivation: Decimal = Decimal(0)
    new_customers: set[str] = field(default_factory=set)
    churned_customers: set[str] = field(default_factory=set)
    reactivated_customers: set[str] = field(default_factory=set)

    @property
    def net(self) -> Decimal:
        return self.new + self.reactivation + self.expansion - self.contraction - self.churn


def movements(before: Mapping[str, Decimal], after: Mapping[str, Decimal],
              paid_before: set[str]) -> Movements:
    """What moved MRR from `before` to `after` (per customer); `paid_before` holds every
    customer who had MRR at any earlier month's end (to tell reactivation from new)."""
    result = Movements()
    for customer in set(before) | set(after):
        start, end = before.get(customer, Decimal(0)), after.get(customer, Decimal(0))
        if start == 0 and end > 0:
            if customer in paid_before:
                result.reactivation += end
                result.reactivated_customers.add(customer)
            else:
                result.new += end
                result.new_customers.add(customer)
        elif start > 0 and end == 0:
            result.churn += start
            result.churned_customers.add(customer)
        elif end > start:
            result.expansion += end - start
        elif end < start:
            result.contraction += start - end
    return result


def rate(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part / whole to four places, None when there is no whole."""
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATE_PLACES, ROUND_HALF_UP)


def minor(value: Decimal) -> int:
    """An exact amount reported in whole minor units (half-up)."""
    return int(value.quantize(Decimal(1), ROUND_HALF_UP))


@dataclass(frozen=True)
class Retention:
    logo_churn_rate: Decimal | None
    revenue_churn_rate: Decimal | None  # gross: churn and contraction over starting MRR
    net_revenue_retention: Decimal | None
    gross_revenue_retention: Decimal | None


def retention(start_mrr: Decimal, customers_at_start: int, moved: Movements) -> Retention:
    """A month's churn and retention: of the customers and MRR at its start (new and
    reactivated customers do not count for it)."""
    lost = moved.churn + moved.contraction
    return Retention(
        rate(len(moved.churned_customers), customers_at_start),
        rate(lost, start_mrr),
        rate(start_mrr + moved.expansion - lost, start_mrr),
        rate(start_mrr - lost, start_mrr))


def lifetime_value(arpa: Decimal, margin_percent: Decimal,
                   revenue_churn_rate: Decimal | None) -> Decimal | None:
    """CLTV = ARPA x gross margin / revenue churn rate (per month); None without churn."""
    if not revenue_churn_rate:
        return None
    return arpa * margin_percent / 100 / revenue_churn_rate


def payback_months(cac: Decimal | None, arpa: Decimal,
                   margin_percent: Decimal) -> Decimal | None:
    """Months of gross margin on an average account that pay back its acquisition cost."""
    earned = arpa * margin_percent / 100
    if cac is None or earned <= 0:
        return None
    return (cac / earned).quantize(Decimal("0.1"), ROUND_HALF_UP)


def cohorts(paying_at: Sequence[set[str]]) -> list[tuple[int, int, list[Decimal | None]]]:
    """Cohort retention from the paying customers at each month's end (oldest first): per
    month a cohort (customers paying for the first time at its end), its size, and the
    share of it still paying at that month's end and every later one."""
    seen: set[str] = set()
    table = []
    for index, paying in enumerate(paying_at):
        cohort = paying - seen
        seen |= paying
        shares = [rate(len(cohort & later), len(cohort)) for later in paying_at[index:]]
        table.append((index, len(cohort), shares))
    return table
