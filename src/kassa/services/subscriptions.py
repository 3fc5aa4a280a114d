"""Subscriptions: creating them, changing their end, cancelling them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from kassa.core.clock import parse_timestamp
from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.ids import new_id
from kassa.domain import billing as domain
from kassa.domain.periods import boundary, index_at
from kassa.services import discounts, emails, events, objects, scoping
from kassa.services import subscription_changes as changes
from kassa.services.billing import bill_customer
from kassa.services.customers import now_for
from kassa.services.invoices import COLLECTION_METHODS, finalize
from kassa.services.schedule import refresh, terms_of
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

MAX_ITEMS = 20
MAX_TRIAL_DAYS = 730


def _timestamp(value: Any, param: str, now: datetime) -> datetime:
    if value == "now":
        return now
    return parse_timestamp(value, param)


def _items(uow: UnitOfWork, org_id: str, customer: m.Customer, items: Any,
           at: str = "items") -> list[tuple[m.Price, int]]:
    if not isinstance(items, list) or not items:
        raise InvalidRequest("A subscription needs at least one item.", param=at)
    if len(items) > MAX_ITEMS:
        raise InvalidRequest(f"A subscription has at most {MAX_ITEMS} items.", param=at)
    chosen: list[tuple[m.Price, int]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidRequest("Each item is an object with a price.", param=f"{at}[{index}]")
        price = changes.check_price(uow, org_id, customer, item.get("price"),
                                    f"{at}[{index}][price]")
        quantity = item.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise InvalidRequest("quantity must be a non-negative integer.",
                                 param=f"{at}[{index}][quantity]")
        if any(p.id == price.id for p, _ in chosen):
            raise InvalidRequest("Each price may appear once in a subscription.",
                                 param=f"{at}[{index}][price]")
        chosen.append((price, quantity))
    return chosen


def create_subscription(uow: UnitOfWork, org_id: str, *, customer: str, items: list[Any],
                        start_date: Any = None, backdate_start_date: Any = None,
                        trial_period_days: int | None = None, trial_end: Any = None,
                        billing_cycle_anchor: Any = None, proration_behavior: str =
                        "create_prorations", collection_method: str = "charge_automatically",
                        days_until_due: int | None = None, cancel_at_period_end: bool = False,
                        cancel_at: Any = None, payment_behavior: str = "allow_incomplete",
                        invoice_lead_days: int | None = None,
                        proration_granularity: str | None = None,
                        minimum_amount: int | None = None, coupon: str | None = None,
                        promotion_code: str | None = None,
                        metadata: dict[str, Any] | None = None,
                        phases: list[dict[str, Any]] | None = None,
                        first_phase_iterations: int | None = None,
                        end_with_last_phase: bool = False,
                        schedule: m.SubscriptionSchedule | None = None) -> m.Subscription:
    """Create a subscription and bill what is due at once (its first invoice, or a trial's).

    It may start now, in the future (`start_date`) or in the past (`backdate_start_date`);
    a trial delays the first paid period; `billing_cycle_anchor` moves renewals to a calendar
    date with a prorated first period (`proration_behavior: none` makes that period free).
    `minimum_amount` is a committed spend per period, trued up in arrears; `coupon` or
    `promotion_code` discounts this subscription's invoices. A subscription schedule passes
    further `phases` ({items, iterations}): `items` bill for `first_phase_iterations` periods,
    then each phase's items for its iterations.
    """
    org = uow.session.get(m.Organization, org_id)
    assert org is not None
    cust = scoping.get(uow.session, m.Customer, org_id, customer, param="customer",
                       lock=True)
    if cust.deleted:
        raise InvalidRequest("The customer is deleted.", param="customer")
    chosen = _items(uow, org_id, cust, items)
    changes.same_terms([price for price, _ in chosen], "items")
    later = [(_items(uow, org_id, cust, phase.get("items"), f"phases[{k + 1}][items]"),
              phase.get("iterations")) for k, phase in enumerate(phases or [])]
    for k, (phase_items, _) in enumerate(later):
        changes.same_terms([chosen[0][0]] + [price for price, _ in phase_items],
                           f"phases[{k + 1}][items]")
    currency = chosen[0][0].currency
    if cust.currency and cust.currency != currency:
        raise InvalidRequest(f"The customer is billed in {cust.currency.upper()}; the price is "
                             f"in {currency.upper()}.", param="items[0][price]",
                             code="currency_mismatch")
    now = now_for(uow, cust)
    if start_date is not None and backdate_start_date is not None:
        raise InvalidRequest("Give start_date or backdate_start_date, not both.",
                             param="backdate_start_date")
    start = now
    if backdate_start_date is not None:
        start = _timestamp(backdate_start_date, "backdate_start_date", now)
        if start > now:
            raise InvalidRequest("backdate_start_date must be in the past.",
                                 param="backdate_start_date")
    elif start_date is not None:
        start = _timestamp(start_date, "start_date", now)
    if collection_method not in COLLECTION_METHODS:
        raise InvalidRequest(f"collection_method must be one of {', '.join(COLLECTION_METHODS)}.",
                             param="collection_method")
    if days_until_due is not None:
        if collection_method != "send_invoice":
            raise InvalidRequest("days_until_due is only for send_invoice subscriptions.",
                                 param="days_until_due")
        if isinstance(days_until_due, bool) or not isinstance(days_until_due, int) \
                or not 0 <= days_until_due <= 365:
            raise InvalidRequest("days_until_due must be between 0 and 365.",
                                 param="days_until_due")
    if collection_method == "send_invoice" and days_until_due is None:
        days_until_due = org.days_until_due
    if payment_behavior not in ("allow_incomplete", "default_incomplete"):
        raise InvalidRequest("payment_behavior must be allow_incomplete or default_incomplete.",
                             param="payment_behavior")
    if proration_behavior not in ("create_prorations", "none"):
        raise InvalidRequest("proration_behavior must be create_prorations or none.",
                             param="proration_behavior")
    if invoice_lead_days is not None and (isinstance(invoice_lead_days, bool) or not
                                          isinstance(invoice_lead_days, int) or
                                          not 0 <= invoice_lead_days <= 90):
        raise InvalidRequest("invoice_lead_days must be between 0 and 90.",
                             param="invoice_lead_days")
    if minimum_amount is not None and (isinstance(minimum_amount, bool) or
                                       not isinstance(minimum_amount, int) or
                                       not 0 < minimum_amount <= 10**12):
        raise InvalidRequest("minimum_amount is a positive amount in minor units.",
                             param="minimum_amount")
    if proration_granularity not in (None, "second", "day"):
        raise InvalidRequest("proration_granularity is second or day.",
                             param="proration_granularity")
    trial = _trial_end(trial_period_days, trial_end, start, now)
    paid_from = trial or start
    sub = m.Subscription(
        id=new_id("sub"), org_id=org_id, customer_id=cust.id, status="incomplete",
        currency=currency, collection_method=collection_method, days_until_due=days_until_due,
        payment_behavior=payment_behavior, start_date=start, billing_cycle_anchor=paid_from,
        prorate_first_period=proration_behavior == "create_prorations",
        trial_start=start if trial else None, trial_end=trial,
        current_period_start=start, current_period_end=paid_from,
        invoice_lead_days=invoice_lead_days, minimum_amount=minimum_amount,
        proration_granularity=proration_granularity, metadata_=metadata or {}, created=now)
    sub.items = [m.SubscriptionItem(id=new_id("si"), org_id=org_id, price=price,
                                    quantity=quantity, metadata_=dict(spec.get("metadata") or {}),
                                    created=now)
                 for (price, quantity), spec in zip(chosen, items, strict=True)]
    sub.billing_cycle_anchor = _anchor(org, cust, sub, billing_cycle_anchor, paid_from, now)
    if later or end_with_last_phase:
        _add_phases(org, cust, sub, first_phase_iterations, later, end_with_last_phase, now)
    if cancel_at is not None:
        sub.cancel_at = _timestamp(cancel_at, "cancel_at", now)
        if sub.cancel_at <= start:
            raise InvalidRequest("cancel_at must be after the start.", param="cancel_at")
    if cancel_at_period_end:
        sub.cancel_at_period_end = True
        first = domain.period_at(terms_of(org, cust, sub), max(now, paid_from))
        sub.cancel_at = first.end if first else None
    cust.currency = currency
    uow.session.add(sub)
    if schedule is not None:
        schedule.subscription_id = sub.id
        uow.session.add(schedule)
    uow.session.flush()
    if coupon is not None or promotion_code is not None:
        discounts.redeem(uow, org_id, cust, now, coupon=coupon, promotion_code=promotion_code,
                         subscription_id=sub.id, currency=currency)
    refresh(uow, org, cust, sub, now, record=False)
    invoices = bill_customer(uow, org, cust, now, [sub])
    for invoice in invoices:
        if invoice.billing_reason == "subscription_create" and invoice.status == "draft":
            finalize(uow, org, cust, invoice, now)
    sub.awaiting_first_payment = (
        payment_behavior == "default_incomplete" and sub.latest_invoice_id is not None
        and any(i.id == sub.latest_invoice_id and i.status == "open" for i in invoices))
    refresh(uow, org, cust, sub, now, record=False)
    events.record(uow.session, org_id, "customer.subscription.created",
                  objects.subscription(sub), now)
    uow.commit()
    return sub


def _add_phases(org: m.Organization, cust: m.Customer, sub: m.Subscription,
                first_iterations: int | None,
                later: list[tuple[list[tuple[m.Price, int]], Any]], end_with_last: bool,
                now: datetime) -> None:
    """Give each phase its items, starting after the previous phase's billing periods."""
    terms = terms_of(org, cust, sub)
    counts = [first_iterations] + [iterations for _, iterations in later]
    for k, count in enumerate(counts[:-1] if not end_with_last else counts):
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 120:
            raise InvalidRequest("Every phase but the last needs iterations (1-120 periods).",
                                 param=f"phases[{k}][iterations]")
    for item in sub.items:
        item.phase_start = sub.start_date
    periods = 0
    for k, (phase_items, _) in enumerate(later):
        periods += counts[k]
        start = boundary(sub.billing_cycle_anchor, terms.recurrence, periods, terms.tz)
        sub.items.extend(m.SubscriptionItem(id=new_id("si"), org_id=sub.org_id, price=price,
                                            quantity=quantity, phase_start=start, created=now)
                         for price, quantity in phase_items)
    if end_with_last:
        sub.cancel_at = boundary(sub.billing_cycle_anchor, terms.recurrence,
                                 periods + counts[-1], terms.tz)


def _trial_end(days: Any, trial_end: Any, start: datetime, now: datetime) -> datetime | None:
    if days is not None and trial_end is not None:
        raise InvalidRequest("Give trial_period_days or trial_end, not both.", param="trial_end")
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int) or \
                not 1 <= days <= MAX_TRIAL_DAYS:
            raise InvalidRequest(f"trial_period_days must be between 1 and {MAX_TRIAL_DAYS}.",
                                 param="trial_period_days")
        return start + timedelta(days=days)
    if trial_end is None:
        return None
    end = _timestamp(trial_end, "trial_end", now)
    if end <= start:
        raise InvalidRequest("trial_end must be after the subscription's start.",
                             param="trial_end")
    if end - start > timedelta(days=MAX_TRIAL_DAYS):
        raise InvalidRequest(f"A trial lasts at most {MAX_TRIAL_DAYS} days.", param="trial_end")
    return end


def _anchor(org: m.Organization, cust: m.Customer, sub: m.Subscription, value: Any,
            paid_from: datetime, now: datetime) -> datetime:
    """The billing cycle anchor: the paid start, or a date within the first full cycle."""
    if value is None:
        return paid_from
    anchor = _timestamp(value, "billing_cycle_anchor", now)
    if anchor < paid_from:
        raise InvalidRequest("billing_cycle_anchor must not be before the first paid period "
                             "starts.", param="billing_cycle_anchor")
    terms = terms_of(org, cust, sub)
    k = index_at(paid_from, terms.recurrence, anchor, terms.tz)
    if k >= 1 and anchor != boundary(paid_from, terms.recurrence, 1, terms.tz):
        raise InvalidRequest("billing_cycle_anchor must fall within one billing interval of "
                             "the start.", param="billing_cycle_anchor")
    return anchor


def update_subscription(uow: UnitOfWork, org_id: str, subscription_id: str, *,
                        items: list[Any] | None = None,
                        proration_behavior: str = "create_prorations",
                        proration_date: Any = None, effective_at: Any = None,
                        billing_cycle_anchor: str | None = None,
                        proration_granularity: str | None = None,
                        pause_collection: Any = ...,
                        cancel_at_period_end: bool | None = None, cancel_at: Any = ...,
                        cancellation_details: dict[str, Any] | None = None,
                        metadata: dict[str, Any] | None = None,
                        days_until_due: int | None = None,
                        invoice_lead_days: int | None = None) -> m.Subscription:
    """Change items, prices and quantities (prorated as asked), the billing cycle, the pause
    of collection, a scheduled cancellation, metadata or invoicing terms. One transaction:
    a refused change writes nothing."""
    ctx = changes.load(uow, org_id, subscription_id)
    sub, now = ctx.sub, ctx.now
    if sub.status in ("canceled", "incomplete_expired"):
        raise InvalidState("A canceled subscription cannot be changed.")
    before = objects.subscription(sub)
    items, labels = _item_metadata(sub, items)
    changes.change_items(uow, ctx, items=items, proration_behavior=proration_behavior,
                         effective_at=effective_at, proration_date=proration_date,
                         billing_cycle_anchor=billing_cycle_anchor,
                         proration_granularity=proration_granularity)
    for price_id, metadata in labels:  # items added just now, found by their price
        for row in sub.items:
            if row.price.id == price_id and row.ended_at is None and row.phase_start is None:
                row.metadata_ = {**(row.metadata_ or {}), **metadata}
    if pause_collection is not ...:
        changes.set_pause_collection(ctx, pause_collection)
    if cancel_at_period_end is not None:
        sub.cancel_at_period_end = cancel_at_period_end
        sub.cancel_at = sub.current_period_end if cancel_at_period_end else None
        sub.canceled_at = now if cancel_at_period_end else None
    if cancel_at is not ...:
        sub.cancel_at = None if cancel_at is None else _timestamp(cancel_at, "cancel_at", now)
        if sub.cancel_at is not None and sub.cancel_at <= now:
            raise InvalidRequest("cancel_at must be in the future.", param="cancel_at")
        sub.cancel_at_period_end = sub.cancel_at == sub.current_period_end
        sub.canceled_at = now if sub.cancel_at else None
    if cancel_at_period_end is not None or cancel_at is not ...:
        _cancellation_details(sub, cancellation_details if sub.cancel_at else None,
                              "cancellation_requested" if sub.cancel_at else None)
    elif cancellation_details is not None:
        _cancellation_details(sub, cancellation_details, sub.cancellation_reason)
    if metadata is not None:
        sub.metadata_ = {**sub.metadata_, **metadata}
    if days_until_due is not None:
        if sub.collection_method != "send_invoice" or not 0 <= days_until_due <= 365:
            raise InvalidRequest("days_until_due is 0 to 365 days, for send_invoice "
                                 "subscriptions.", param="days_until_due")
        sub.days_until_due = days_until_due
    if invoice_lead_days is not None:
        if not 0 <= invoice_lead_days <= 90:
            raise InvalidRequest("invoice_lead_days must be between 0 and 90.",
                                 param="invoice_lead_days")
        sub.invoice_lead_days = invoice_lead_days
    if cancel_at is not ... and sub.cancel_at is not None and sub.billed_through \
            and sub.cancel_at < sub.billed_through:
        # A cancellation inside an invoiced period credits its unused time at that moment;
        # cancel now with prorate, or at a period's end.
        raise InvalidRequest("cancel_at falls inside an already invoiced period; cancel at "
                             "its end, or now with prorate.", param="cancel_at")
    _finish(uow, ctx, before)
    return sub


def _item_metadata(sub: m.Subscription, items: list[Any] | None
                   ) -> tuple[list[Any] | None, list[tuple[str, dict[str, Any]]]]:
    """Take `metadata` out of the item changes: merged into current items at once (a change
    of metadata alone bills nothing), returned with their price for new items, to be set
    once they exist. An item change left with nothing but its id is dropped; an unknown id
    is left for the item change to refuse."""
    if not items:
        return items, []
    current = {row.id: row for row in sub.items if row.ended_at is None}
    rest: list[Any] = []
    added: list[tuple[str, dict[str, Any]]] = []
    for spec in items:
        metadata = spec.get("metadata") if isinstance(spec, dict) else None
        if not metadata:
            rest.append(spec)
            continue
        spec = {k: v for k, v in spec.items() if k != "metadata"}
        row = current.get(spec.get("id"))  # type: ignore[arg-type]
        if row is not None and not spec.get("deleted"):
            row.metadata_ = {**row.metadata_, **metadata}
            if set(spec) - {"id", "deleted"}:
                rest.append(spec)
        elif spec.get("id") is None and spec.get("price") is not None:
            added.append((spec["price"], metadata))
            rest.append(spec)
        else:
            rest.append(spec)
    return rest or None, added


def _cancellation_details(sub: m.Subscription, details: dict[str, Any] | None,
                          reason: str | None) -> None:
    """Why the subscription ends (`reason`) and what the customer said (`details`:
    feedback, comment); a withdrawn cancellation clears all three."""
    sub.cancellation_reason = reason
    sub.cancellation_feedback = (details or {}).get("feedback")
    sub.cancellation_comment = (details or {}).get("comment")


def _finish(uow: UnitOfWork, ctx: changes.Context, before: dict[str, Any]) -> None:
    """Refresh the subscription, record what changed, commit."""
    record_change(uow, ctx, before)
    uow.commit()


def record_change(uow: UnitOfWork, ctx: changes.Context, before: dict[str, Any]) -> None:
    """Refresh the subscription and record what changed since `before` (its object then):
    `customer.subscription.updated`, or `.deleted` and the customer's e-mail when it
    ended. The caller commits."""
    refresh(uow, ctx.org, ctx.customer, ctx.sub, ctx.now)
    after = objects.subscription(ctx.sub)
    kind = "deleted" if ctx.sub.status == "canceled" else "updated"
    events.record(uow.session, ctx.org.id, f"customer.subscription.{kind}", after, ctx.now,
                  {k: v for k, v in before.items() if after.get(k) != v})
    if kind == "deleted":
        emails.subscription_canceled(uow, ctx.org, ctx.customer, ctx.sub)


def cancel_subscription(uow: UnitOfWork, org_id: str, subscription_id: str, *,
                        prorate: bool = False, invoice_now: bool = False,
                        cancellation_details: dict[str, Any] | None = None) -> m.Subscription:
    """End the subscription now. With `prorate`, its unused time is credited; with
    `invoice_now`, the credit and the usage so far are invoiced at once."""
    ctx = changes.load(uow, org_id, subscription_id)
    if ctx.sub.status in ("canceled", "incomplete_expired"):
        raise InvalidState("The subscription is already canceled.")
    before = objects.subscription(ctx.sub)
    changes.cancel_now(uow, ctx, prorate=prorate, invoice_now=invoice_now)
    _cancellation_details(ctx.sub, cancellation_details, "cancellation_requested")
    _finish(uow, ctx, before)
    return ctx.sub


def pause_subscription(uow: UnitOfWork, org_id: str, subscription_id: str, *,
                       proration_behavior: str = "create_prorations",
                       resumes_at: Any = None) -> m.Subscription:
    """Pause service now (unused time credited); billing restarts on resume."""
    ctx = changes.load(uow, org_id, subscription_id)
    before = objects.subscription(ctx.sub)
    changes.pause(uow, ctx, proration_behavior=proration_behavior, resumes_at=resumes_at)
    _finish(uow, ctx, before)
    return ctx.sub


def resume_subscription(uow: UnitOfWork, org_id: str, subscription_id: str, *,
                        billing_cycle_anchor: str = "unchanged") -> m.Subscription:
    """Resume paused service from now, with a new prorated (or full) period."""
    ctx = changes.load(uow, org_id, subscription_id)
    before = objects.subscription(ctx.sub)
    changes.resume(uow, ctx, billing_cycle_anchor=billing_cycle_anchor)
    _finish(uow, ctx, before)
    return ctx.sub


def list_subscriptions(uow: UnitOfWork, org_id: str, *, customer: str | None = None,
                       status: str | None = None, **page: Any) -> scoping.Page:
    query = select(m.Subscription).where(m.Subscription.org_id == org_id)
    if customer:
        query = query.where(m.Subscription.customer_id == customer)
    if status and status != "all":
        query = query.where(m.Subscription.status == status)
    elif not status:
        query = query.where(m.Subscription.status.not_in(("canceled", "incomplete_expired")))
    return scoping.paginate(uow.session, query, m.Subscription, **page)
