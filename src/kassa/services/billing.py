"""The billing engine's service: turning due service periods into invoices.

Billing a customer up to `now` asks the domain which service periods are due and not yet
invoiced, groups them into one invoice per billing time and currency, and records each period
in `billed_periods`, whose unique constraint makes a second invoice for the same period
impossible even if two workers race.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from kassa.core.clock import Clock
from kassa.core.errors import InvalidRequest
from kassa.core.ids import new_id
from kassa.domain import billing as domain
from kassa.domain import invoices as invoice_domain
from kassa.services import discounts, events, ledger, objects, prefetch, scoping, taxes
from kassa.services.invoices import (
    attach_pending_items,
    compose,
    issue,
    pending_lines,
    prepare,
    subscription_draft,
)
from kassa.services.schedule import collection_pause, refresh, terms_of
from kassa.services.usage_billing import line_row, usage_for
from kassa.store import models as m
from kassa.store import rows
from kassa.store.db import among
from kassa.store.uow import UnitOfWork


def bill_customer(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                  now: datetime, subs: list[m.Subscription] | None = None) -> list[m.Invoice]:
    """Invoice every service period of the customer's subscriptions due by `now`.

    Periods that share a billing time and currency go on one invoice; a draft for the same
    billing time is added to rather than duplicated. Returns the invoices created or extended.
    `subs` may name the customer's subscriptions already loaded. The caller refreshes the
    subscriptions' state afterwards.
    """
    if subs is None:
        subs = list(uow.session.scalars(select(m.Subscription).where(
            m.Subscription.customer_id == customer.id).order_by(m.Subscription.id)))
    subs = [sub for sub in subs if sub.next_billing_at is not None
            and sub.next_billing_at <= now]
    grouped: dict[tuple[datetime, str], list[tuple[m.Subscription, domain.DueCharge]]] = \
        defaultdict(list)
    for sub in subs:
        terms = terms_of(org, customer, sub)
        arrears = domain.due_periods(terms, sub.usage_billed_through, now, "arrears")
        used = usage_for(uow.session, terms, customer.id, arrears)
        for due in domain.due_charges(terms, sub.billed_through, now,
                                      sub.usage_billed_through, used):
            grouped[(due.billing_at, due.currency)].append((sub, due))
    invoices = []
    for (billing_at, currency), charges in sorted(grouped.items()):
        invoice = _invoice_for(uow, org, customer, billing_at, currency, charges, now)
        for sub, due in charges:
            _add_period(uow, invoice, sub, due)
        invoices.append(invoice)
    paused = {sub.id for sub in subs if collection_pause(sub, now) == "keep_as_draft"}
    for invoice in invoices:
        attach_pending_items(uow, customer, invoice)
        compose(uow, invoice, now)
        if invoice.subscription_id in paused:
            # Collection is paused: the invoice waits as a draft until finance acts on it.
            invoice.auto_advance = False
            invoice.auto_finalize_at = None
        events.record(uow.session, org.id, "invoice.created", objects.invoice(invoice), now)
    return invoices


def _invoice_for(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                 billing_at: datetime, currency: str,
                 charges: list[tuple[m.Subscription, domain.DueCharge]],
                 now: datetime) -> m.Invoice:
    batch = prefetch.of(uow.session)
    if batch is not None and not batch.covers(customer.id):
        batch = None
    if batch is not None:
        existing = next((d for d in batch.drafts.get(customer.id, [])
                         if d.billing_at == billing_at and d.currency == currency
                         and d.status == "draft" and d.billing_reason in _CYCLE), None)
    else:
        existing = uow.session.scalars(select(m.Invoice).where(
            m.Invoice.customer_id == customer.id, m.Invoice.billing_at == billing_at,
            m.Invoice.currency == currency, m.Invoice.status == "draft",
            m.Invoice.billing_reason.in_(_CYCLE))).first()
    if existing is not None:
        return existing
    creating = any(sub.billed_through is None for sub, _ in charges)
    invoice = subscription_draft(
        uow, customer, charges[0][0], currency=currency,
        billing_reason="subscription_create" if creating else "subscription_cycle",
        billing_at=billing_at, period_start=min(d.period.start for _, d in charges),
        period_end=max(d.period.end for _, d in charges),
        # The first invoice of a new subscription is finalized at once, as Stripe does;
        # renewals wait out the organization's draft grace period for last changes.
        auto_finalize_at=now if creating else now + timedelta(seconds=org.draft_grace_seconds),
        now=now, pending=batch is None)
    if batch is not None:
        batch.add_draft(invoice)  # written in bulk at the end of the batch
    else:
        uow.session.flush()
    return invoice


_CYCLE = ("subscription_create", "subscription_cycle")


def _add_period(uow: UnitOfWork, invoice: m.Invoice, sub: m.Subscription,
                due: domain.DueCharge) -> None:
    for line in due.lines:
        invoice.lines.append(line_row(invoice.org_id, invoice.currency, len(invoice.lines),
                                      line, new_id("il")))
    billed = rows.built(m.BilledPeriod, dict(
        org_id=invoice.org_id, subscription_id=sub.id, period_start=due.period.start,
        period_end=due.period.end, kind=due.kind, invoice_id=invoice.id))
    billed.invoice = invoice  # the unit of work inserts the invoice first
    if not inspect(invoice).transient:
        uow.session.add(billed)  # else written with its fresh invoice (prefetch.write_fresh)
    batch = prefetch.of(uow.session)
    if batch is not None:
        batch.add_billed(billed)
    invoice.period_start = min(invoice.period_start, due.period.start)
    invoice.period_end = max(invoice.period_end, due.period.end)
    if due.kind == "arrears":
        sub.usage_billed_through = due.period.end
    else:
        sub.billed_through = due.period.end
    sub.latest_invoice_id = invoice.id


def due_drafts(uow: UnitOfWork, customer: m.Customer, now: datetime) -> list[m.Invoice]:
    """The customer's drafts whose grace period has run out by `now`, in the order they are
    finalized."""
    batch = prefetch.of(uow.session)
    if batch is not None and batch.covers(customer.id):
        drafts = sorted((d for d in batch.drafts.get(customer.id, []) if d.status == "draft"
                         and d.auto_finalize_at is not None and d.auto_finalize_at <= now),
                        key=lambda d: (d.auto_finalize_at, d.id))
    else:
        drafts = list(uow.session.scalars(select(m.Invoice).where(
            m.Invoice.customer_id == customer.id, m.Invoice.status == "draft",
            m.Invoice.auto_finalize_at <= now).order_by(m.Invoice.auto_finalize_at,
                                                        m.Invoice.id)))
    return drafts


def process_customer(uow: UnitOfWork, customer_id: str, now: datetime, *,
                     skip_locked: bool = False) -> bool:
    """Do everything due for one customer by `now`, in one transaction, and commit.

    With `skip_locked`, a customer another worker holds is skipped (returns False): that
    worker will do the same work, and the next run finds nothing left to do.
    """
    done = process_customers(uow, [customer_id], now, skip_locked=skip_locked)
    if not done.billed:
        uow.rollback()
        return False
    uow.commit()
    return True


@dataclass
class Processed:
    """What `process_customers` did: the customers it processed, the invoices it created or
    added to, and the invoices it finalized."""

    billed: list[str] = field(default_factory=list)
    invoiced: int = 0
    finalized: int = 0


def process_customers(uow: UnitOfWork, customer_ids: Sequence[str], now: datetime, *,
                      skip_locked: bool = False, batched: bool = True) -> Processed:
    """Do everything due by `now` for many customers in the caller's transaction (the caller
    commits): lifecycle (scheduled resumes), then billing, then finalization of due drafts.

    The customers' rows are locked in one statement; with `skip_locked`, those another worker
    holds are left out (that worker does their work). What every customer needs is read for
    all of them at once (services/prefetch.py), so a batch costs a few queries, not a few per
    customer. Without `batched`, every function reads for itself, as outside the billing run
    (the careful path a failed batch is retried on).

    Each customer goes through the same steps in the same order either way, but a batch
    does each step for all its customers before the next: it bills every customer, prepares
    every due draft (usage, discounts, tax), and only then issues the drafts
    (`invoices.issue`). Issuing gives out invoice numbers, which the batch takes from their
    series only when it writes (`prefetch.take_numbers`): the series stays locked from then
    until the commit, and the less work follows, the less other workers wait. The invoices
    a batch creates stay out of the unit of work: each is written once, as it ends up
    (usually issued), with its lines and billed periods, in a statement per table
    (`prefetch.write_fresh`), rather than inserted as a draft and updated when issued.
    """
    query = select(m.Customer).where(among(uow.session, m.Customer.id, customer_ids))
    query = query.order_by(m.Customer.id).with_for_update(skip_locked=skip_locked)
    customers = list(uow.session.scalars(query))
    result = Processed()
    if not customers:
        return result
    loaded = prefetch.load(uow.session, customers, now) if batched else None
    steps = [_Customer(uow, customer, now, loaded) for customer in customers]
    for step in steps:
        step.prepare()
    # What the batch has gathered so far (the `invoice.created` events, half of its events)
    # is written now, ahead of the writes that follow the taking of the invoice numbers.
    prefetch.write_rows(uow.session)
    for step in steps:
        step.issue()
    if loaded is not None:
        # The invoices the batch created: their journal entries as a flush would post them,
        # then the invoices themselves, as they are now, in bulk.
        ledger.post(uow.session, list(loaded.fresh))
        prefetch.write_fresh(uow.session)
    for step in steps:
        result.invoiced += step.invoiced
        result.finalized += step.finalized
        result.billed.append(step.customer.id)
    return result


class _Customer:
    """One customer's work due by `now`: billed when made, then its due drafts `prepare()`d
    and `issue()`d (finalized), and its subscriptions brought up to date."""

    def __init__(self, uow: UnitOfWork, customer: m.Customer, now: datetime,
                 loaded: prefetch.Batch | None) -> None:
        self.uow, self.customer, self.now = uow, customer, now
        org = rows.held(uow.session, m.Organization, customer.org_id)
        assert org is not None
        self.org = org
        self.subs = loaded.subscriptions(customer.id) if loaded else list(uow.session.scalars(
            select(m.Subscription).where(m.Subscription.customer_id == customer.id)
            .order_by(m.Subscription.id)))
        self.due = [sub for sub in self.subs
                    if sub.next_action_at is not None and sub.next_action_at <= now]
        for sub in self.due:
            if sub.paused_at is not None and sub.resumes_at is not None \
                    and sub.resumes_at <= now:
                # A scheduled resume of service (a cycle: changes build on billing).
                from kassa.services import subscription_changes
                subscription_changes.resume_scheduled(uow, org, customer, sub, now)
        self.invoiced = len(bill_customer(uow, org, customer, now, self.subs))
        self.finalized = 0
        self.drafts: list[m.Invoice] = []

    def prepare(self) -> None:
        self.drafts = due_drafts(self.uow, self.customer, self.now)
        for invoice in self.drafts:
            prepare(self.uow, self.org, self.customer, invoice,
                    invoice.auto_finalize_at or self.now)

    def issue(self) -> None:
        for invoice in self.drafts:
            issue(self.uow, self.org, self.customer, invoice,
                  invoice.auto_finalize_at or self.now)
        billed = {line.subscription_id for invoice in self.drafts for line in invoice.lines}
        for sub in self.subs:
            if sub in self.due or sub.id in billed:
                refresh(self.uow, self.org, self.customer, sub, self.now)
        self.finalized = len(self.drafts)


def due_customer_ids(uow: UnitOfWork, now: datetime, *, test_clock_id: str | None = None,
                     limit: int = 500, after: str = "") -> list[str]:
    """Customers with work due by `now`: on the given test clock, or on real time if none."""
    on_clock = (m.Customer.test_clock_id == test_clock_id) if test_clock_id \
        else m.Customer.test_clock_id.is_(None)
    subs = select(m.Subscription.customer_id).join(
        m.Customer, m.Customer.id == m.Subscription.customer_id).where(
        m.Subscription.next_action_at <= now, on_clock, m.Customer.id > after)
    drafts = select(m.Invoice.customer_id).join(
        m.Customer, m.Customer.id == m.Invoice.customer_id).where(
        m.Invoice.status == "draft", m.Invoice.auto_finalize_at <= now, on_clock,
        m.Customer.id > after)
    union = subs.union(drafts).subquery()
    return list(uow.session.scalars(select(union.c[0]).order_by(union.c[0]).limit(limit)))


def all_due_customer_ids(session_factory: sessionmaker[Session], clock: Clock, now: datetime,
                         *, test_clock_id: str | None = None,
                         limit: int = 100_000) -> list[str]:
    """Every customer with work due by `now` (on the test clock, or on real time), paged."""
    ids: list[str] = []
    while len(ids) < limit:
        with UnitOfWork(session_factory, clock) as uow:
            batch = due_customer_ids(uow, now, test_clock_id=test_clock_id,
                                     after=ids[-1] if ids else "",
                                     limit=min(1000, limit - len(ids)))
        if not batch:
            break
        ids.extend(batch)
    return ids


def next_due_at(uow: UnitOfWork, test_clock_id: str) -> datetime | None:
    """The earliest moment work falls due for the customers of a test clock."""
    subs = uow.session.scalar(select(func.min(m.Subscription.next_action_at)).join(
        m.Customer, m.Customer.id == m.Subscription.customer_id).where(
        m.Customer.test_clock_id == test_clock_id))
    drafts = uow.session.scalar(select(func.min(m.Invoice.auto_finalize_at)).join(
        m.Customer, m.Customer.id == m.Invoice.customer_id).where(
        m.Customer.test_clock_id == test_clock_id, m.Invoice.status == "draft"))
    moments = [moment for moment in (subs, drafts) if moment is not None]
    return min(moments) if moments else None


def upcoming_invoice(uow: UnitOfWork, org_id: str, customer_id: str,
                     subscription_id: str | None = None) -> dict[str, Any]:
    """Preview the customer's next invoice, exactly as billing would create it; writes nothing."""
    customer = scoping.get(uow.session, m.Customer, org_id, customer_id, param="customer")
    org = uow.session.get(m.Organization, org_id)
    assert org is not None
    query = select(m.Subscription).where(m.Subscription.customer_id == customer.id,
                                         m.Subscription.next_billing_at.is_not(None))
    if subscription_id is not None:
        scoping.get(uow.session, m.Subscription, org_id, subscription_id, param="subscription")
        query = query.where(m.Subscription.id == subscription_id)
    subs = list(uow.session.scalars(query.order_by(m.Subscription.next_billing_at,
                                                   m.Subscription.id)))
    if not subs:
        raise InvalidRequest("The customer has no upcoming invoice.", param="customer",
                             code="invoice_upcoming_none")
    billing_at, currency = subs[0].next_billing_at, subs[0].currency
    assert billing_at is not None
    preview = m.Invoice(
        id=None, org_id=org_id, customer_id=customer.id, subscription_id=subs[0].id,
        status="draft", currency=currency, billing_reason="upcoming",
        collection_method=subs[0].collection_method, billing_at=billing_at,
        period_start=billing_at, period_end=billing_at, amount_paid=0, auto_advance=True,
        metadata_={}, created=billing_at)
    lines: list[m.InvoiceLine] = []
    for sub in subs:
        if sub.next_billing_at != billing_at or sub.currency != currency:
            continue
        terms = terms_of(org, customer, sub)
        arrears = domain.due_periods(terms, sub.usage_billed_through, billing_at, "arrears")
        used = usage_for(uow.session, terms, customer.id, arrears)  # usage so far
        for due in domain.due_charges(terms, sub.billed_through, billing_at,
                                      sub.usage_billed_through, used):
            lines.extend(line_row(org_id, currency, len(lines) + i, line, new_id("il"))
                         for i, line in enumerate(due.lines))
            preview.period_start = min(preview.period_start, due.period.start)
            preview.period_end = max(preview.period_end, due.period.end)
    lines.extend(pending_lines(uow, customer, currency, start=len(lines)))
    discounts.apply(uow, preview, lines, billing_at)
    taxes.apply(uow, preview, lines, billing_at)
    result = invoice_domain.totals((line.amount for line in lines), tax=preview.tax,
                                   discount=preview.total_discount,
                                   total_excluding_tax=preview.total_excluding_tax)
    applied = invoice_domain.apply_balance(result.total, customer.balance)
    preview.subtotal, preview.tax, preview.total = result.subtotal, result.tax, result.total
    preview.starting_balance, preview.ending_balance = applied.starting_balance, \
        applied.ending_balance
    preview.amount_due = preview.amount_remaining = applied.amount_due
    return objects.invoice(preview, lines)
