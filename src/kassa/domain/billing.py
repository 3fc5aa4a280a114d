"""Billing as a pure function of a subscription's terms and a target time.

Kassa computes, from the subscription timeline, which service periods exist and when each is
due to be invoiced. Licensed fees are billed in advance (at the period's start less the
invoice lead time); usage, and any true-up to a committed minimum, in arrears (at the
period's end), so the invoice at a period boundary carries the next period's fees and the
ended period's usage. A billing run asks for what is due by time T and not yet invoiced;
invoicing marks it billed. Asking again returns nothing: billing twice to T equals billing
once to T.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from kassa.core.money import round_minor
from kassa.domain import pricing
from kassa.domain.periods import Period, Recurrence, boundary, index_at
from kassa.domain.proration import Granularity, fraction

UsageType = Literal["licensed", "metered"]
ChargeKind = Literal["advance", "arrears"]


@dataclass(frozen=True)
class PriceTerms:
    """What a recurring price charges and how often.

    A per-unit price needs only `unit_amount_decimal`; `model` describes tiers, packages or a
    percentage. A metered price bills the usage its meter measured, in arrears.
    """

    id: str
    product_name: str
    currency: str
    unit_amount_decimal: Decimal
    recurrence: Recurrence
    usage_type: UsageType = "licensed"
    model: pricing.PriceModel | None = None
    meter_id: str | None = None
    unit_label: str | None = None

    @property
    def pricing_model(self) -> pricing.PriceModel:
        return self.model or pricing.PriceModel(unit_amount=self.unit_amount_decimal)


@dataclass(frozen=True)
class ItemTerms:
    """A price and quantity the subscription holds; `ended_at` is set once a metered item is
    removed (its usage up to then is still billed at the period's end)."""

    id: str
    price: PriceTerms
    quantity: int
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Phase:
    """From `start` on, the subscription bills these items (a schedule's phase: ramp deals)."""

    start: datetime
    items: tuple[ItemTerms, ...]


@dataclass(frozen=True)
class SubscriptionTerms:
    """Everything billing needs to know about a subscription, as plain data.

    `anchor` is a boundary of the billing cycle (the billing cycle anchor); `ends_at` is when
    service stops (an immediate cancellation or a scheduled `cancel_at`), if it does. With
    `phases`, a period bills the items of the phase its start falls in; `items` are billed
    before the first phase. `restart` is where service started again after a pause or a new
    billing cycle (the periods before it are settled); `paused_at` pauses service until a
    restart.
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
    minimum_amount: int | None = None
    phases: tuple[Phase, ...] = ()
    restart: datetime | None = None
    paused_at: datetime | None = None

    @property
    def service_end(self) -> datetime | None:
        """Where service periods stop: the end, or a pause of service."""
        ends = [moment for moment in (self.ends_at, self.paused_at) if moment is not None]
        return min(ends) if ends else None

    @property
    def recurrence(self) -> Recurrence:
        return self.items[0].price.recurrence

    def items_at(self, at: datetime) -> tuple[ItemTerms, ...]:
        current = self.items
        for phase in self.phases:
            if phase.start <= at:
                current = phase.items
        return current

    def _all_items(self) -> tuple[ItemTerms, ...]:
        return self.items + tuple(i for phase in self.phases for i in phase.items)

    @property
    def licensed(self) -> tuple[ItemTerms, ...]:
        """Licensed items of any phase."""
        return tuple(i for i in self._all_items() if i.price.usage_type == "licensed")

    @property
    def metered(self) -> tuple[ItemTerms, ...]:
        """Metered items of any phase."""
        return tuple(i for i in self._all_items() if i.price.usage_type == "metered")

    def metered_at(self, at: datetime) -> tuple[ItemTerms, ...]:
        return tuple(i for i in self.items_at(at) if i.price.usage_type == "metered"
                     and (i.ended_at is None or i.ended_at > at))

    @property
    def bills_in_arrears(self) -> bool:
        return bool(self.metered) or bool(self.minimum_amount)


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


LineType = Literal["subscription", "usage", "minimum"]


@dataclass(frozen=True)
class ChargeLine:
    """One line of a subscription invoice, before it is stored."""

    subscription_id: str
    item_id: str | None
    price_id: str | None
    description: str
    quantity: int
    unit_amount_decimal: Decimal
    amount: int
    period_start: datetime
    period_end: datetime
    proration: bool
    proration_fraction: Decimal
    type: LineType = "subscription"
    quantity_decimal: Decimal | None = None
    tier: int | None = None


@dataclass(frozen=True)
class DueCharge:
    """A service period's fees (advance) or usage (arrears) that are due to be invoiced."""

    subscription_id: str
    customer_id: str
    currency: str
    billing_at: datetime
    period: ServicePeriod
    lines: tuple[ChargeLine, ...]
    kind: ChargeKind = "advance"


# What a metered item used in a period: a quantity, or the transactions of a percentage price.
Usage = Decimal | Sequence[pricing.Transaction]


def service_periods(terms: SubscriptionTerms,
                    after: datetime | None = None) -> Iterator[ServicePeriod]:
    """All service periods of the subscription in order; endless unless it ends.

    With `after`, those that end at or before it are left out: the first period yielded is
    found by arithmetic, not by walking every cycle since the subscription started.
    """
    ends_at = terms.service_end
    if ends_at is not None and ends_at <= terms.start:
        return
    paid_from = terms.start
    if terms.restart is not None:
        paid_from = max(terms.start, terms.restart)
    elif terms.trial_end is not None and terms.trial_end > terms.start:
        trial_end = min(terms.trial_end, ends_at or terms.trial_end)
        if after is None or trial_end > after:
            yield ServicePeriod(terms.start, trial_end, Period(terms.start, trial_end),
                                "trial")
        paid_from = terms.trial_end
    if ends_at is not None and ends_at <= paid_from:
        return
    k = index_at(terms.anchor, terms.recurrence, paid_from, terms.tz)
    if after is not None and after > paid_from:
        if ends_at is not None and ends_at <= after:
            return  # every period ends by `ends_at`
        # Cycle k contains `after`: every cycle before it ended by then.
        k = max(k, index_at(terms.anchor, terms.recurrence, after, terms.tz))
    while True:
        cycle = Period(boundary(terms.anchor, terms.recurrence, k, terms.tz),
                       boundary(terms.anchor, terms.recurrence, k + 1, terms.tz))
        start = max(cycle.start, paid_from)
        end = cycle.end if ends_at is None else min(cycle.end, ends_at)
        yield ServicePeriod(start, end, cycle, "regular")
        if ends_at is not None and end >= ends_at:
            return
        k += 1


def billing_time(terms: SubscriptionTerms, period: ServicePeriod,
                 kind: ChargeKind = "advance") -> datetime:
    """When a period's invoice is due: fees at its start less the lead time, usage at its end."""
    return period.end if kind == "arrears" else period.start - terms.lead


def _unbilled(terms: SubscriptionTerms, billed_through: datetime | None,
              kind: ChargeKind) -> Iterator[ServicePeriod]:
    for period in service_periods(terms, after=billed_through):
        if kind == "arrears" and period.kind == "trial":
            continue  # usage during a trial is free
        if billed_through is None or period.start >= billed_through:
            yield period


def due_periods(terms: SubscriptionTerms, billed_through: datetime | None,
                until: datetime, kind: ChargeKind = "advance") -> list[ServicePeriod]:
    """Periods not yet billed (`billed_through`) for `kind` whose billing time is by `until`."""
    if (kind == "advance" and not terms.licensed) or (kind == "arrears"
                                                      and not terms.bills_in_arrears):
        return []
    due = []
    for period in _unbilled(terms, billed_through, kind):
        if billing_time(terms, period, kind) > until:
            break
        due.append(period)
    return due


def next_billing_at(terms: SubscriptionTerms, billed_through: datetime | None,
                    usage_billed_through: datetime | None = None) -> datetime | None:
    """The earliest billing time of anything not yet invoiced, or None when nothing is left."""
    moments = []
    if terms.licensed:
        period = next(_unbilled(terms, billed_through, "advance"), None)
        if period is not None:
            moments.append(billing_time(terms, period, "advance"))
    if terms.bills_in_arrears:
        period = next(_unbilled(terms, usage_billed_through, "arrears"), None)
        if period is not None:
            moments.append(billing_time(terms, period, "arrears"))
    return min(moments) if moments else None


def period_at(terms: SubscriptionTerms, at: datetime) -> ServicePeriod | None:
    """The service period containing `at` (the first one, if `at` precedes the start)."""
    for period in service_periods(terms, after=at):
        if at < period.end:
            return period
    return None


def line_fraction(terms: SubscriptionTerms, period: ServicePeriod) -> Decimal:
    if period.kind == "trial":
        return Decimal(0)
    if not period.partial:
        return Decimal(1)
    if period.start == terms.start and not terms.prorate_first_period:
        return Decimal(0)
    return fraction(Period(period.start, period.end), period.cycle, terms.granularity, terms.tz)


def _describe(item: ItemTerms, period: ServicePeriod, part: pricing.Part | None = None) -> str:
    name = item.price.product_name
    if period.kind == "trial":
        return f"Trial period for {name}"
    prefix = "Partial period: " if period.partial and item.price.usage_type == "licensed" \
        else ""
    if part is not None and part.kind == "tier":
        upper = "∞" if part.tier_to is None else str(part.tier_to)
        return f"{prefix}{name} (tier {part.tier}: {part.tier_from}–{upper})"
    if item.price.usage_type == "metered":
        return f"{name} usage"
    return f"{prefix}{item.quantity} × {name}"


def _quantity_fields(quantity: Decimal) -> tuple[int, Decimal | None]:
    """The integer quantity column, and the exact quantity when it is not whole."""
    if quantity == quantity.to_integral_value():
        return int(quantity), None
    return int(quantity), quantity


def _lines(terms: SubscriptionTerms, item: ItemTerms, period: ServicePeriod,
           parts: list[pricing.Part], share: Decimal, line_type: LineType) -> list[ChargeLine]:
    lines = []
    for part in parts:
        quantity, exact = _quantity_fields(part.quantity)
        lines.append(ChargeLine(
            subscription_id=terms.id, item_id=item.id, price_id=item.price.id,
            description=_describe(item, period, part if len(parts) > 1 or part.kind == "tier"
                                  else None),
            quantity=quantity, unit_amount_decimal=part.unit_amount,
            amount=round_minor(part.amount * share), period_start=period.start,
            period_end=period.end, proration=period.partial and line_type == "subscription",
            proration_fraction=share, type=line_type, quantity_decimal=exact,
            tier=part.tier))
    return lines


def _advance_lines(terms: SubscriptionTerms, period: ServicePeriod) -> list[ChargeLine]:
    share = line_fraction(terms, period)
    lines: list[ChargeLine] = []
    for item in terms.items_at(period.start):
        if item.price.usage_type != "licensed":
            continue
        parts = pricing.price(item.price.pricing_model, Decimal(item.quantity))
        lines.extend(_lines(terms, item, period, parts, share, "subscription"))
    return lines


def _usage_parts(item: ItemTerms, used: Usage) -> list[pricing.Part]:
    model = item.price.pricing_model
    if model.scheme == "percentage":
        assert model.percentage is not None
        transactions = [] if isinstance(used, Decimal) else list(used)
        return [pricing.price_transactions(model.percentage, transactions)]
    quantity = used if isinstance(used, Decimal) else Decimal(len(used))
    return pricing.price(model, quantity)


def charge(terms: SubscriptionTerms, period: ServicePeriod, kind: ChargeKind = "advance",
           usage: Mapping[str, Usage] | None = None) -> DueCharge:
    """The invoice lines for one period: licensed fees in advance (prorated when the period is
    partial), or usage in arrears with a true-up to the committed minimum."""
    if kind == "advance":
        lines = _advance_lines(terms, period)
    else:
        lines = []
        for item in terms.metered_at(period.start):
            used = (usage or {}).get(item.id, Decimal(0))
            lines.extend(_lines(terms, item, period, _usage_parts(item, used), Decimal(1),
                                "usage"))
        shortfall = _minimum_shortfall(terms, period, lines)
        if shortfall > 0:
            lines.append(ChargeLine(
                subscription_id=terms.id, item_id=None, price_id=None,
                description="Minimum commitment true-up", quantity=1,
                unit_amount_decimal=Decimal(shortfall), amount=shortfall,
                period_start=period.start, period_end=period.end, proration=False,
                proration_fraction=Decimal(1), type="minimum"))
    return DueCharge(terms.id, terms.customer_id, terms.currency,
                     billing_time(terms, period, kind), period, tuple(lines), kind)


def _minimum_shortfall(terms: SubscriptionTerms, period: ServicePeriod,
                       usage_lines: list[ChargeLine]) -> int:
    """How far the period's fees and usage fall short of the committed minimum (prorated for a
    partial period)."""
    if not terms.minimum_amount or period.kind == "trial":
        return 0
    spent = sum(line.amount for line in _advance_lines(terms, period)) + \
        sum(line.amount for line in usage_lines)
    share = Decimal(1) if not period.partial else fraction(
        Period(period.start, period.end), period.cycle, terms.granularity, terms.tz)
    return max(round_minor(terms.minimum_amount * share) - spent, 0)


def due_charges(terms: SubscriptionTerms, billed_through: datetime | None, until: datetime,
                usage_billed_through: datetime | None = None,
                usage: Mapping[tuple[datetime, str], Usage] | None = None) -> list[DueCharge]:
    """What billing the subscription up to `until` must invoice, given what is billed already.

    `usage` maps (period start, item id) to what the item used; missing usage counts as none.
    Charges come in billing-time order.
    """
    charges = [charge(terms, p) for p in due_periods(terms, billed_through, until)]
    for period in due_periods(terms, usage_billed_through, until, "arrears"):
        used = {item_id: value for (start, item_id), value in (usage or {}).items()
                if start == period.start}
        charges.append(charge(terms, period, "arrears", used))
    return sorted(charges, key=lambda c: (c.billing_at, c.kind != "arrears"))
