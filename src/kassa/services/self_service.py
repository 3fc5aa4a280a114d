"""What a customer may do to their own subscriptions in the portal, within the organization's
`portal_settings`: change the plan or the number of seats (previewed exactly as it will be
billed, then applied through the same service as the API), cancel at the end of the period
and undo that, and follow this period's usage.

Every function takes the portal visitor and loads only that customer's subscriptions
(`owned_subscription`); another customer's id is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from kassa.core.errors import InvalidRequest, InvalidState, NotFound
from kassa.core.money import round_minor
from kassa.domain import pricing
from kassa.services import portal_settings, subscription_changes, subscriptions
from kassa.services.catalog import model_of
from kassa.services.customers import now_for
from kassa.services.organizations import timezone_of
from kassa.services.portal import Visitor, customer_of
from kassa.services.usage_reading import usage
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

MAX_QUANTITY = 10_000
CHANGEABLE = ("active", "trialing", "past_due")
FEEDBACK = ("too_expensive", "missing_features", "switched_service", "unused",
            "customer_service", "too_complex", "low_quality", "other")
# Interval lengths in days, only to order intervals ("is this a shorter billing interval?").
_INTERVAL_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


def settings_of(uow: UnitOfWork, who: Visitor) -> dict[str, Any]:
    org = uow.session.get(m.Organization, who.org_id)
    assert org is not None
    return portal_settings.effective(org.portal_settings)


def owned_subscription(uow: UnitOfWork, who: Visitor, subscription_id: str) -> m.Subscription:
    """One of the visitor's own subscriptions; anything else is not found."""
    sub = uow.session.get(m.Subscription, subscription_id)
    if sub is None or sub.org_id != who.org_id or sub.customer_id != who.customer_id:
        raise NotFound("No such subscription.", param="subscription")
    return sub


def plan_item(sub: m.Subscription) -> m.SubscriptionItem | None:
    """The item a customer changes in the portal: the subscription's one licensed item
    (metered items stay as they are). None when there is not exactly one, or the
    subscription follows a schedule."""
    current = [item for item in sub.items if item.ended_at is None]
    licensed = [item for item in current if item.price.recurring_usage_type != "metered"]
    if len(licensed) != 1 or any(item.phase_start is not None for item in current):
        return None
    return licensed[0]


def options(uow: UnitOfWork, who: Visitor, sub: m.Subscription) -> list[m.Price]:
    """The prices the customer may switch the plan item to, the current one first; empty
    when the subscription cannot be changed in the portal."""
    settings = settings_of(uow, who)
    item = plan_item(sub)
    if item is None or sub.status not in CHANGEABLE or sub.paused_at is not None:
        return []
    wanted = [p for p in settings["plan_prices"] if p != item.price_id]
    found = {price.id: price for price in uow.session.scalars(select(m.Price).where(
        m.Price.org_id == who.org_id, m.Price.id.in_(wanted), m.Price.active.is_(True),
        m.Price.type == "recurring", m.Price.customer_id.is_(None),
        m.Price.currency == sub.currency))}
    allowed = [found[p] for p in wanted if p in found
               and found[p].recurring_usage_type != "metered"
               and not (settings["downgrades"] == "period_end" and _shorter(item.price, found[p]))]
    if not allowed and not settings["quantity_changes"]:
        return []
    return [item.price, *allowed]


def _days(price: m.Price) -> int:
    return _INTERVAL_DAYS[price.recurring_interval or "month"] * (
        price.recurring_interval_count or 1)


def _shorter(old: m.Price, new: m.Price) -> bool:
    return _days(new) < _days(old)


def amount_per_interval(price: m.Price, quantity: int) -> int:
    """What `quantity` units of the licensed price cost per billing interval, in minor
    units (the same pricing domain as the invoices)."""
    return round_minor(pricing.total(pricing.price(model_of(price), Decimal(quantity))))


def is_downgrade(old: m.Price, old_quantity: int, new: m.Price, new_quantity: int) -> bool:
    """A change to a shorter billing interval, or to a lower amount for the same interval.
    A longer interval (monthly to yearly) is never a downgrade: it commits for longer."""
    if _days(new) != _days(old):
        return _days(new) < _days(old)
    return amount_per_interval(new, new_quantity) < amount_per_interval(old, old_quantity)


@dataclass(frozen=True)
class Change:
    """A plan change the customer asked for, checked against the portal settings."""

    subscription_id: str
    item_id: str
    price_id: str
    quantity: int
    downgrade: bool
    at_period_end: bool
    proration_behavior: str

    def update(self) -> dict[str, Any]:
        """The arguments of `subscriptions.update_subscription` that make this change."""
        return {"items": [{"id": self.item_id, "price": self.price_id,
                           "quantity": self.quantity}],
                "proration_behavior": "none" if self.at_period_end
                else self.proration_behavior,
                "effective_at": "period_end" if self.at_period_end else None}


def propose(uow: UnitOfWork, who: Visitor, subscription_id: str, price_id: str,
            quantity: Any) -> Change:
    """Check a plan change (price and quantity for the plan item) the customer asked for."""
    sub = owned_subscription(uow, who, subscription_id)
    allowed = {price.id: price for price in options(uow, who, sub)}
    item = plan_item(sub)
    if item is None or not allowed:
        raise InvalidState("This subscription cannot be changed here; please contact us.",
                           code="portal_change_not_allowed")
    price = allowed.get(price_id)
    if price is None:
        raise InvalidRequest("Choose one of the plans offered.", param="price")
    settings = settings_of(uow, who)
    try:
        count = int(quantity)
    except (TypeError, ValueError):
        raise InvalidRequest("The quantity is a whole number.", param="quantity") from None
    if not 1 <= count <= MAX_QUANTITY:
        raise InvalidRequest(f"The quantity is from 1 to {MAX_QUANTITY}.", param="quantity")
    if count != item.quantity and not settings["quantity_changes"]:
        raise InvalidRequest("The quantity cannot be changed here.", param="quantity")
    if price.id == item.price_id and count == item.quantity:
        raise InvalidRequest("That is your current plan.", param="price",
                             code="portal_no_change")
    downgrade = is_downgrade(item.price, item.quantity, price, count)
    at_period_end = downgrade and settings["downgrades"] == "period_end" \
        and sub.status != "trialing"
    return Change(sub.id, item.id, price.id, count, downgrade, at_period_end,
                  settings["proration_behavior"])


def preview(uow: UnitOfWork, who: Visitor, change: Change) -> dict[str, Any]:
    """The invoice the change leads to, exactly: the one made at once (always_invoice), or
    the next one with the prorations or the new price on it. Writes nothing."""
    return subscription_changes.preview(uow, who.org_id, who.customer_id,
                                        change.subscription_id, **change.update())


def apply(uow: UnitOfWork, who: Visitor, change: Change) -> m.Subscription:
    """Make the change (the caller sets the portal customer as actor)."""
    return subscriptions.update_subscription(uow, who.org_id, change.subscription_id,
                                             **change.update())


def pending_change(sub: m.Subscription) -> m.SubscriptionItem | None:
    """The plan item's change scheduled for the period's end, if any."""
    item = plan_item(sub)
    return item if item is not None and item.migrate_at is not None else None


def cancel(uow: UnitOfWork, who: Visitor, subscription_id: str, *, feedback: str | None,
           comment: str | None) -> m.Subscription:
    """Cancel at the end of the current period, with the customer's reason."""
    sub = owned_subscription(uow, who, subscription_id)
    if settings_of(uow, who)["cancellation"] != "at_period_end":
        raise InvalidState("Cancelling is not offered here; please contact us.",
                           code="portal_cancel_not_allowed")
    if sub.status not in CHANGEABLE or sub.cancel_at is not None:
        raise InvalidState("This subscription is not running, or already ends.")
    if feedback is not None and feedback not in FEEDBACK:
        raise InvalidRequest("Choose one of the reasons offered.", param="feedback")
    details = {"feedback": feedback, "comment": (comment or "").strip()[:500] or None}
    return subscriptions.update_subscription(uow, who.org_id, sub.id, cancel_at_period_end=True,
                                             cancellation_details=details)


def undo_cancel(uow: UnitOfWork, who: Visitor, subscription_id: str) -> m.Subscription:
    """Keep the subscription after all (until the period has ended)."""
    sub = owned_subscription(uow, who, subscription_id)
    if sub.status == "canceled" or sub.cancel_at is None:
        raise InvalidState("This subscription is not set to end.")
    if not sub.cancel_at_period_end:
        raise InvalidState("This subscription's end was set by us; please contact us.")
    return subscriptions.update_subscription(uow, who.org_id, sub.id,
                                             cancel_at_period_end=False)


# --- usage -------------------------------------------------------------------------------

@dataclass(frozen=True)
class MeterUsage:
    """One metered item's usage in the current period."""

    subscription_id: str
    name: str
    unit: str
    used: Decimal
    included: Decimal | None
    projected: Decimal
    projected_cost: int
    currency: str
    period_start: datetime
    period_end: datetime
    per_day: list[tuple[date, Decimal]]
    adds_up: bool  # a count or sum: the days add up to the period's usage

    def so_far(self) -> list[tuple[date, Decimal]]:
        """Usage from the period's start to the end of each day (for counts and sums)."""
        total, result = Decimal(0), []
        for day, value in self.per_day:
            total += value
            result.append((day, total))
        return result

    def chart(self) -> tuple[list[tuple[date, Decimal]], Decimal | None]:
        """What a chart of it shows: for counts and sums the running total day by day
        against the units included; for other meters each day's own figure, no limit."""
        if self.adds_up:
            return self.so_far(), self.included
        return self.per_day, None


def _included(model: pricing.PriceModel) -> Decimal | None:
    """Units at no charge: a first tier that costs nothing."""
    if model.scheme == "tiered" and model.tiers and model.tiers[0].up_to is not None \
            and model.tiers[0].unit_amount == 0 and model.tiers[0].flat_amount == 0:
        return Decimal(model.tiers[0].up_to)
    return None


def current_usage(uow: UnitOfWork, who: Visitor, subs: list[m.Subscription]) -> list[MeterUsage]:
    """Per metered item: usage so far in the current period, per day (customer's days),
    the units included, and a projection to the period's end at the pace so far."""
    customer = customer_of(uow, who)
    org = uow.session.get(m.Organization, who.org_id)
    assert org is not None
    zone = timezone_of(org, customer)
    now = now_for(uow, customer)
    result = []
    for sub in subs:
        start, end = sub.current_period_start, sub.current_period_end
        if start is None or end is None or not start <= now < end:
            continue
        for item in sub.items:
            meter = uow.session.get(m.Meter, item.price.meter_id) if item.price.meter_id \
                else None
            if item.ended_at is not None or meter is None:
                continue
            per_day = []
            day = start.astimezone(zone).date()
            while True:
                day_start = max(start, datetime.combine(day, datetime.min.time(), zone))
                day_end = min(now, datetime.combine(day + timedelta(days=1),
                                                    datetime.min.time(), zone))
                if day_start >= day_end:
                    break
                per_day.append((day, usage(uow.session, meter, customer.id, day_start,
                                           day_end)))
                day += timedelta(days=1)
            used = usage(uow.session, meter, customer.id, start, now)
            projected = used
            if meter.formula in ("count", "sum") and now > start:  # at the pace so far
                projected = (used * Decimal((end - start).total_seconds())
                             / Decimal((now - start).total_seconds())).quantize(Decimal(1))
            model = model_of(item.price)
            result.append(MeterUsage(
                sub.id, meter.display_name, item.price.product.unit_label or "",
                used, _included(model), projected,
                round_minor(pricing.total(pricing.price(model, max(projected, Decimal(0))))),
                sub.currency, start, end, per_day, meter.formula in ("count", "sum")))
    return result
