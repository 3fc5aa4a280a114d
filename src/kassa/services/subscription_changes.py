"""Changing what a subscription holds: items, prices and quantities, the billing cycle,
pauses of service and of collection, and cancellation with credit for unused time.

Every change is billed the same way: the domain compares the subscription's terms before
and after at the moment the change takes effect, against the ledger of what each item was
actually charged, and the difference becomes proration items (credits and charges) for the
next invoice, or an invoice now (`always_invoice`). Finalized invoices are never touched.
A change of billing interval or `billing_cycle_anchor: now` ends the current cycle at the
change (unused time credited, usage so far invoiced) and starts a new one there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from kassa.core.clock import parse_timestamp
from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.ids import new_id
from kassa.domain import changes
from kassa.domain.billing import SubscriptionTerms
from kassa.services import events, objects, scoping
from kassa.services.billing import bill_customer, upcoming_invoice
from kassa.services.customers import now_for
from kassa.services.invoices import attach_pending_items, compose, finalize, subscription_draft
from kassa.services.schedule import refresh, settle_migration_entries, terms_of
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none")
PAUSE_BEHAVIORS = ("keep_as_draft", "mark_uncollectible", "void")
MAX_ITEMS = 20


@dataclass
class Context:
    org: m.Organization
    customer: m.Customer
    sub: m.Subscription
    now: datetime


def _ledger(uow: UnitOfWork, sub: m.Subscription) -> tuple[list[changes.Charged],
                                                            dict[str, m.InvoiceItem]]:
    """What each item of the subscription was charged (invoice lines net of discounts, and
    pending credits), and the pending charges for remaining time that a change shortens."""
    charged = [changes.Charged(item_id or "", start, end, amount - (discount or 0))
               for item_id, start, end, amount, discount in uow.session.execute(
                   select(m.InvoiceLine.subscription_item_id, m.InvoiceLine.period_start,
                          m.InvoiceLine.period_end, m.InvoiceLine.amount,
                          m.InvoiceLine.discount_amount)
                   .join(m.Invoice, m.Invoice.id == m.InvoiceLine.invoice_id)
                   # through the customer's invoices (indexed), then their lines
                   .where(m.Invoice.customer_id == sub.customer_id,
                          m.InvoiceLine.subscription_id == sub.id,
                          m.InvoiceLine.type == "subscription",
                          m.InvoiceLine.subscription_item_id.is_not(None),
                          m.Invoice.status != "void"))]
    # Credit notes on those lines gave part of the charge back.
    charged += [changes.Charged(item_id or "", start, end, -amount)
                for item_id, start, end, amount in uow.session.execute(
                    select(m.InvoiceLine.subscription_item_id, m.InvoiceLine.period_start,
                           m.InvoiceLine.period_end, m.CreditNoteLine.amount)
                    .join(m.CreditNoteLine, m.CreditNoteLine.invoice_line_id == m.InvoiceLine.id)
                    .join(m.CreditNote, m.CreditNote.id == m.CreditNoteLine.credit_note_id)
                    .where(m.CreditNote.customer_id == sub.customer_id,
                           m.InvoiceLine.subscription_id == sub.id,
                           m.InvoiceLine.type == "subscription",
                           m.InvoiceLine.subscription_item_id.is_not(None),
                           m.CreditNote.status != "void"))]
    pending: dict[str, m.InvoiceItem] = {}
    for item in uow.session.scalars(select(m.InvoiceItem).where(
            m.InvoiceItem.subscription_id == sub.id, m.InvoiceItem.invoice_id.is_(None),
            m.InvoiceItem.proration.is_(True))):
        if item.amount < 0:
            charged.append(changes.Charged(item.subscription_item_id or "", item.period_start,
                                           item.period_end, item.amount))
        else:
            pending[item.id] = item
    return charged, pending


def _bill_prorations(uow: UnitOfWork, ctx: Context, old: SubscriptionTerms,
                     new: SubscriptionTerms | None, at: datetime) -> list[m.InvoiceItem]:
    """Turn the change from `old` to `new` at `at` into proration items; returns them."""
    charged, pending = _ledger(uow, ctx.sub)
    result = changes.change(old, new, at, ctx.sub.billed_through, charged,
                            [changes.Pending(row.id, row.subscription_item_id or "",
                                             row.period_start, row.period_end)
                             for row in pending.values()])
    for pending_id, line in result.shortened.items():
        row = pending[pending_id]
        if line is None:
            uow.session.delete(row)
            continue
        row.amount, row.description = line.amount, line.description
        row.unit_amount_decimal, row.proration_fraction = line.unit_amount_decimal, \
            line.proration_fraction
        row.period_start, row.period_end = line.period_start, line.period_end
    items = []
    for line in result.lines:
        row = m.InvoiceItem(
            id=new_id("ii"), org_id=ctx.org.id, customer_id=ctx.customer.id,
            price_id=line.price_id, currency=ctx.sub.currency, description=line.description,
            quantity=line.quantity, unit_amount_decimal=line.unit_amount_decimal,
            amount=line.amount, period_start=line.period_start, period_end=line.period_end,
            subscription_id=ctx.sub.id, subscription_item_id=line.item_id, proration=True,
            proration_fraction=line.proration_fraction, metadata_={}, created=ctx.now)
        uow.session.add(row)
        items.append(row)
        events.record(uow.session, ctx.org.id, "invoiceitem.created", objects.invoice_item(row),
                      ctx.now)
    uow.session.flush()
    return items


def _invoice_now(uow: UnitOfWork, ctx: Context, reason: str) -> m.Invoice | None:
    """Invoice the subscription's pending items now and finalize (always_invoice)."""
    sub = ctx.sub
    invoice = subscription_draft(uow, ctx.customer, sub, currency=sub.currency,
                                 billing_reason=reason, billing_at=ctx.now,
                                 period_start=ctx.now, period_end=ctx.now,
                                 auto_finalize_at=None, now=ctx.now)
    attach_pending_items(uow, ctx.customer, invoice, subscription_id=sub.id)
    if not invoice.lines:
        uow.session.expunge(invoice)
        return None
    invoice.period_start = min(line.period_start for line in invoice.lines)
    invoice.period_end = max(line.period_end for line in invoice.lines)
    compose(uow, invoice, ctx.now)
    events.record(uow.session, ctx.org.id, "invoice.created", objects.invoice(invoice), ctx.now)
    finalize(uow, ctx.org, ctx.customer, invoice, ctx.now)
    sub.latest_invoice_id = invoice.id
    return invoice


def _bill_due(uow: UnitOfWork, ctx: Context, *, finalize_now: bool = False,
              reason: str | None = None) -> list[m.Invoice]:
    """Bring the subscription up to now and invoice whatever falls due by now under its
    current terms; with `finalize_now`, those invoices are finalized at once (with `reason`
    as their billing reason, if given)."""
    refresh(uow, ctx.org, ctx.customer, ctx.sub, ctx.now, record=False)
    if ctx.sub.next_billing_at is None or ctx.sub.next_billing_at > ctx.now:
        return []
    invoices = bill_customer(uow, ctx.org, ctx.customer, ctx.now, [ctx.sub])
    for invoice in invoices:
        if finalize_now and invoice.status == "draft":
            invoice.billing_reason = reason or invoice.billing_reason
            finalize(uow, ctx.org, ctx.customer, invoice, ctx.now)
    refresh(uow, ctx.org, ctx.customer, ctx.sub, ctx.now, record=False)
    return invoices


def _pause_service(uow: UnitOfWork, ctx: Context, at: datetime, prorate: bool) -> None:
    """Stop service at `at`: credit the unused time, and invoice the usage up to `at`."""
    old = terms_of(ctx.org, ctx.customer, ctx.sub)
    if prorate:
        _bill_prorations(uow, ctx, old, None, at)
    ctx.sub.paused_at = at
    _bill_due(uow, ctx)


def _resume_service(uow: UnitOfWork, ctx: Context, at: datetime, *,
                    anchor_now: bool) -> list[m.Invoice]:
    """Start service again at `at`, in a new (prorated, or with `anchor_now` full) period."""
    sub = ctx.sub
    sub.paused_at = None
    sub.resumes_at = None
    sub.restarted_at = at
    if anchor_now:
        sub.billing_cycle_anchor = at
    if sub.billed_through is not None and sub.billed_through > at:
        sub.billed_through = at
    if sub.usage_billed_through is not None and sub.usage_billed_through < at:
        sub.usage_billed_through = at
    # Periods starting at or after `at` were credited in full when service paused; they
    # are billed afresh from the restart.
    uow.session.execute(delete(m.BilledPeriod).where(
        m.BilledPeriod.subscription_id == sub.id, m.BilledPeriod.period_start >= at))
    sub.items_changed_at = at
    return _bill_due(uow, ctx, finalize_now=True, reason="subscription_update")


def load(uow: UnitOfWork, org_id: str, subscription_id: str) -> Context:
    sub = scoping.get(uow.session, m.Subscription, org_id, subscription_id)
    org = uow.session.get(m.Organization, org_id)
    # The customer's row lock serializes every change to their subscriptions and invoices.
    customer = uow.session.get(m.Customer, sub.customer_id, with_for_update=True)
    assert org is not None and customer is not None
    uow.session.refresh(sub)
    return Context(org, customer, sub, now_for(uow, customer))


def _when(ctx: Context, effective_at: Any, proration_date: Any) -> datetime | str:
    """The moment the change takes effect: now, the period's end, a backdated moment, or a
    proration date within the current period."""
    sub, now = ctx.sub, ctx.now
    if effective_at is not None and proration_date is not None:
        raise InvalidRequest("Give effective_at or proration_date, not both.",
                             param="proration_date")
    if proration_date is not None:
        at = parse_timestamp(proration_date, "proration_date")
        if not sub.current_period_start <= at <= sub.current_period_end:
            raise InvalidRequest("proration_date must fall within the current period.",
                                 param="proration_date", code="proration_date_out_of_period")
    elif effective_at in (None, "now"):
        return now
    elif effective_at == "period_end":
        return "period_end"
    else:
        at = parse_timestamp(effective_at, "effective_at")
        if at > now:
            raise InvalidRequest("effective_at is now, period_end, or a moment in the past.",
                                 param="effective_at")
        if at < sub.start_date:
            raise InvalidRequest("effective_at is before the subscription started.",
                                 param="effective_at")
    floor = max(filter(None, (sub.items_changed_at, sub.restarted_at)), default=None)
    if floor is not None and at < floor:
        raise InvalidRequest("The change would take effect before the subscription's latest "
                             "change; backdate to that moment or later.",
                             param="effective_at" if effective_at is not None
                             else "proration_date")
    return at


def check_price(uow: UnitOfWork, org_id: str, customer: m.Customer, price_id: Any,
                param: str) -> m.Price:
    """A price a subscription item may bill: recurring, active, and not another customer's
    contract price."""
    price = scoping.get(uow.session, m.Price, org_id, price_id, param=param)
    if price.type != "recurring":
        raise InvalidRequest("A subscription item needs a recurring price.", param=param)
    if not price.active:
        raise InvalidRequest("The price is archived.", param=param)
    if price.customer_id is not None and price.customer_id != customer.id:
        raise InvalidRequest("This price is another customer's contract price.", param=param)
    return price


def same_terms(prices: list[m.Price], at: str) -> None:
    """All items bill in one currency at one interval."""
    first = prices[0]
    for index, price in enumerate(prices):
        if price.currency != first.currency:
            raise InvalidRequest("All items of a subscription must be in one currency.",
                                 param=f"{at}[{index}][price]")
        if (price.recurring_interval, price.recurring_interval_count) != \
                (first.recurring_interval, first.recurring_interval_count):
            raise InvalidRequest("All items of a subscription must recur at the same interval.",
                                 param=f"{at}[{index}][price]")


def _quantity(spec: dict[str, Any], param: str) -> int | None:
    quantity = spec.get("quantity")
    if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int)
                                 or not 0 <= quantity <= 10**9):
        raise InvalidRequest("quantity must be a non-negative integer.", param=param)
    return quantity


@dataclass
class ItemPlan:
    """Validated item updates, applied only once everything checked out."""

    ended: list[m.SubscriptionItem]
    updated: list[tuple[m.SubscriptionItem, m.Price, int]]
    added: list[tuple[m.Price, int]]
    result: list[m.Price]


def _plan_items(uow: UnitOfWork, ctx: Context, items: list[Any]) -> ItemPlan:
    """Check Stripe-style item updates: `{id, price?, quantity?, deleted?}` changes an item,
    `{price, quantity?}` adds one. Items not named stay as they are."""
    sub = ctx.sub
    current = {item.id: item for item in sub.items if item.ended_at is None}
    if len(items) > MAX_ITEMS:
        raise InvalidRequest(f"A subscription has at most {MAX_ITEMS} items.", param="items")
    plan = ItemPlan([], [], [], [])
    kept = dict(current)
    named: set[str] = set()
    for index, spec in enumerate(items):
        at_param = f"items[{index}]"
        if not isinstance(spec, dict):
            raise InvalidRequest("Each item is an object.", param=at_param)
        quantity = _quantity(spec, f"{at_param}[quantity]")
        price = None
        if spec.get("price") is not None:
            price = check_price(uow, ctx.org.id, ctx.customer, spec["price"],
                                f"{at_param}[price]")
            if price.currency != sub.currency:
                raise InvalidRequest(
                    f"The subscription bills in {sub.currency.upper()}; a subscription's "
                    "currency cannot change.", param=f"{at_param}[price]",
                    code="currency_mismatch")
        item_id = spec.get("id")
        if item_id is None:
            if price is None:
                raise InvalidRequest("A new item needs a price.", param=f"{at_param}[price]")
            plan.added.append((price, 1 if quantity is None else quantity))
            continue
        row = current.get(item_id)
        if row is None or item_id in named:
            raise InvalidRequest("No such current item on this subscription.",
                                 param=f"{at_param}[id]")
        named.add(item_id)
        del kept[item_id]
        if spec.get("deleted"):
            plan.ended.append(row)
            continue
        plan.updated.append((row, price or row.price,
                             row.quantity if quantity is None else quantity))
    plan.result = [row.price for row in kept.values()] + \
        [price for _, price, _ in plan.updated] + [price for price, _ in plan.added]
    if not plan.result:
        raise InvalidRequest("A subscription keeps at least one item; cancel it instead.",
                             param="items")
    if len({p.id for p in plan.result}) != len(plan.result):
        raise InvalidRequest("Each price may appear once in a subscription.", param="items")
    same_terms(plan.result, "items")
    return plan


def _drop_pending_change(uow: UnitOfWork, ctx: Context, row: m.SubscriptionItem) -> None:
    """A new change replaces the item's pending one; a price migration's entry for it is
    canceled."""
    if row.migrate_at is None:
        return
    row.migrate_to_price_id = row.migrate_at = row.migrate_quantity = None
    settle_migration_entries(uow, {row.id: None}, ctx.now)


def _apply_items(uow: UnitOfWork, ctx: Context, plan: ItemPlan, at: datetime) -> None:
    for row in plan.ended:
        row.ended_at = at
        _drop_pending_change(uow, ctx, row)
    for row, price, quantity in plan.updated:
        row.price, row.price_id, row.quantity = price, price.id, quantity
        _drop_pending_change(uow, ctx, row)
    for price, quantity in plan.added:
        ctx.sub.items.append(m.SubscriptionItem(
            id=new_id("si"), org_id=ctx.sub.org_id, price=price, quantity=quantity,
            created=ctx.now))


def _schedule_at_period_end(uow: UnitOfWork, ctx: Context, items: list[Any]) -> None:
    """A change from the next period on (a downgrade at period end): current items get the
    new price and quantity from the period's end; nothing is prorated."""
    sub = ctx.sub
    end = sub.current_period_end
    current = {item.id: item for item in sub.items if item.ended_at is None}
    for index, spec in enumerate(items):
        if not isinstance(spec, dict) or spec.get("id") not in current or spec.get("deleted"):
            raise InvalidRequest("A change at period end names a current item by id, with a "
                                 "new price or quantity.", param=f"items[{index}][id]")
        row = current[spec["id"]]
        price = row.price
        if spec.get("price") is not None:
            price = check_price(uow, ctx.org.id, ctx.customer, spec["price"],
                                f"items[{index}][price]")
            if price.currency != sub.currency or (
                    price.recurring_interval, price.recurring_interval_count) != (
                    row.price.recurring_interval, row.price.recurring_interval_count):
                raise InvalidRequest("A change at period end keeps the currency and interval.",
                                     param=f"items[{index}][price]")
        quantity = _quantity(spec, f"items[{index}][quantity]")
        _drop_pending_change(uow, ctx, row)
        if price.id == row.price_id and quantity in (None, row.quantity):
            continue  # back to what it has: the pending change is dropped (reactivation)
        row.migrate_to_price_id = price.id
        row.migrate_to_price = price
        row.migrate_quantity = quantity
        row.migrate_at = end


def change_items(uow: UnitOfWork, ctx: Context, *, items: list[Any] | None,
                 proration_behavior: str = "create_prorations", effective_at: Any = None,
                 proration_date: Any = None, billing_cycle_anchor: str | None = None,
                 proration_granularity: str | None = None) -> list[m.Invoice]:
    """Change the subscription's items (and maybe its billing cycle) and bill the difference.

    Returns the invoices created now (`always_invoice`, or a new billing cycle). The caller
    refreshes, records the update event and commits.
    """
    sub = ctx.sub
    if sub.status in ("canceled", "incomplete_expired"):
        raise InvalidState("A canceled subscription cannot be changed.")
    if proration_behavior not in PRORATION_BEHAVIORS:
        raise InvalidRequest(f"proration_behavior must be one of "
                             f"{', '.join(PRORATION_BEHAVIORS)}.", param="proration_behavior")
    if proration_granularity is not None:
        if proration_granularity not in ("second", "day", "organization"):
            raise InvalidRequest("proration_granularity is second, day or organization.",
                                 param="proration_granularity")
        sub.proration_granularity = None if proration_granularity == "organization" \
            else proration_granularity
    if billing_cycle_anchor not in (None, "now", "unchanged"):
        raise InvalidRequest("billing_cycle_anchor is now or unchanged for an existing "
                             "subscription.", param="billing_cycle_anchor")
    if items is None and billing_cycle_anchor != "now":
        return []
    if any(item.phase_start is not None for item in sub.items):
        raise InvalidState("This subscription follows a schedule; change its phases instead.")
    if sub.paused_at is not None:
        raise InvalidState("The subscription's service is paused; resume it first.",
                           code="subscription_paused")
    when = _when(ctx, effective_at, proration_date)
    if when == "period_end":
        if billing_cycle_anchor == "now" or not items:
            raise InvalidRequest("A change at period end names items and keeps the cycle.",
                                 param="effective_at")
        _schedule_at_period_end(uow, ctx, items)
        return []
    assert isinstance(when, datetime)
    plan = _plan_items(uow, ctx, items) if items else None
    _bill_due(uow, ctx)
    old = terms_of(ctx.org, ctx.customer, sub)
    prorate = proration_behavior != "none"
    interval = (plan.result[0].recurring_interval, plan.result[0].recurring_interval_count) \
        if plan else None
    restart = billing_cycle_anchor == "now" or (
        interval is not None and interval != (old.recurrence.interval, old.recurrence.count))
    if restart:
        if when != ctx.now:
            raise InvalidRequest("A new billing cycle starts now; it cannot be backdated.",
                                 param="effective_at" if effective_at else "proration_date")
        if sub.trial_end is not None and sub.trial_end > ctx.now:
            # The first paid period starts when the trial ends anyway.
            if plan:
                _apply_items(uow, ctx, plan, when)
            sub.items_changed_at = when
            return []
        # The old terms stop now (unused time credited, usage so far invoiced at the old
        # prices); the new cycle starts now and is invoiced in full at once.
        _pause_service(uow, ctx, when, prorate)
        if plan:
            _apply_items(uow, ctx, plan, when)
        return _resume_service(uow, ctx, when, anchor_now=True)
    assert plan is not None
    _apply_items(uow, ctx, plan, when)
    sub.items_changed_at = when
    if prorate:
        _bill_prorations(uow, ctx, old, terms_of(ctx.org, ctx.customer, sub), when)
        if proration_behavior == "always_invoice":
            invoice = _invoice_now(uow, ctx, "subscription_update")
            return [invoice] if invoice else []
    return []


def pause(uow: UnitOfWork, ctx: Context, *, proration_behavior: str = "create_prorations",
          resumes_at: Any = None) -> list[m.Invoice]:
    """Pause service now: unused time is credited, billing stops until resume."""
    sub = ctx.sub
    if sub.status in ("canceled", "incomplete_expired"):
        raise InvalidState("A canceled subscription cannot be paused.")
    if sub.paused_at is not None:
        raise InvalidState("The subscription is already paused.", code="subscription_paused")
    if sub.status == "pending":
        raise InvalidState("The subscription has not started yet.")
    if proration_behavior not in PRORATION_BEHAVIORS:
        raise InvalidRequest(f"proration_behavior must be one of "
                             f"{', '.join(PRORATION_BEHAVIORS)}.", param="proration_behavior")
    resume = None
    if resumes_at is not None:
        resume = parse_timestamp(resumes_at, "resumes_at")
        if resume <= ctx.now:
            raise InvalidRequest("resumes_at must be in the future.", param="resumes_at")
    _bill_due(uow, ctx)
    _pause_service(uow, ctx, ctx.now, proration_behavior != "none")
    sub.resumes_at = resume
    sub.items_changed_at = ctx.now
    if proration_behavior == "always_invoice":
        invoice = _invoice_now(uow, ctx, "subscription_update")
        return [invoice] if invoice else []
    return []


def resume(uow: UnitOfWork, ctx: Context, *, billing_cycle_anchor: str = "unchanged",
           at: datetime | None = None) -> list[m.Invoice]:
    """Resume paused service: billing restarts with a new period from now (prorated up to
    the next renewal, or a full period with `billing_cycle_anchor: now`)."""
    if ctx.sub.paused_at is None:
        raise InvalidState("The subscription is not paused.", code="subscription_not_paused")
    if billing_cycle_anchor not in ("now", "unchanged"):
        raise InvalidRequest("billing_cycle_anchor is now or unchanged.",
                             param="billing_cycle_anchor")
    return _resume_service(uow, ctx, at or ctx.now, anchor_now=billing_cycle_anchor == "now")


def resume_scheduled(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                     sub: m.Subscription, now: datetime) -> None:
    """The billing run resumes service at the time the pause named (`resumes_at`)."""
    assert sub.resumes_at is not None
    at = sub.resumes_at
    _resume_service(uow, Context(org, customer, sub, now), at, anchor_now=False)
    events.record(uow.session, org.id, "customer.subscription.resumed",
                  objects.subscription(sub), now)


def set_pause_collection(ctx: Context, value: Any) -> None:
    """`pause_collection: {behavior, resumes_at?}` pauses collecting; "" or null ends it."""
    if value in ("", None):
        ctx.sub.pause_collection = None
        return
    if not isinstance(value, dict) or value.get("behavior") not in PAUSE_BEHAVIORS:
        raise InvalidRequest(f"pause_collection needs behavior: {', '.join(PAUSE_BEHAVIORS)}.",
                             param="pause_collection[behavior]")
    resumes = value.get("resumes_at")
    if resumes is not None:
        moment = parse_timestamp(resumes, "pause_collection[resumes_at]")
        if moment <= ctx.now:
            raise InvalidRequest("resumes_at must be in the future.",
                                 param="pause_collection[resumes_at]")
    if ctx.sub.pause_collection is not None and \
            ctx.sub.pause_collection.get("behavior") == value["behavior"]:
        raise InvalidState("Collection is already paused.", code="subscription_paused")
    ctx.sub.pause_collection = {"behavior": value["behavior"], "resumes_at": resumes}


def cancel_now(uow: UnitOfWork, ctx: Context, *, prorate: bool = False,
               invoice_now: bool = False) -> list[m.Invoice]:
    """End service now; with `prorate` the unused time is credited, with `invoice_now` the
    credit and any usage so far are invoiced at once (a credit goes to the balance)."""
    _bill_due(uow, ctx)
    old = terms_of(ctx.org, ctx.customer, ctx.sub)
    if prorate:
        _bill_prorations(uow, ctx, old, None, ctx.now)
    sub = ctx.sub
    sub.canceled_at = sub.ended_at = ctx.now
    sub.cancel_at = None
    if not invoice_now:
        refresh(uow, ctx.org, ctx.customer, sub, ctx.now, record=False)
        return []
    invoices = _bill_due(uow, ctx, finalize_now=True)
    extra = _invoice_now(uow, ctx, "subscription_update")
    return invoices + ([extra] if extra else [])


def preview(uow: UnitOfWork, org_id: str, customer_id: str, subscription_id: str, *,
            items: list[Any] | None, proration_behavior: str = "create_prorations",
            proration_date: Any = None, effective_at: Any = None,
            billing_cycle_anchor: str | None = None) -> dict[str, Any]:
    """The invoice a proposed change would produce, exactly: the change is made inside a
    savepoint, the invoice it leads to is read (the one created at once, or the next one
    with the proration items on it), and everything is rolled back."""
    ctx = load(uow, org_id, subscription_id)
    if ctx.customer.id != customer_id:
        raise InvalidRequest("The subscription belongs to another customer.",
                             param="subscription")
    savepoint = uow.session.begin_nested()
    try:
        created = change_items(uow, ctx, items=items, proration_behavior=proration_behavior,
                               effective_at=effective_at, proration_date=proration_date,
                               billing_cycle_anchor=billing_cycle_anchor)
        uow.session.flush()
        if created:
            result = objects.invoice(created[0])
            result.update(id=None, number=None, status="draft")
        else:
            refresh(uow, ctx.org, ctx.customer, ctx.sub, ctx.now, record=False)
            uow.session.flush()
            result = upcoming_invoice(uow, org_id, customer_id, subscription_id)
    finally:
        savepoint.rollback()
    return result
