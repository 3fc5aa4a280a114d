"""A subscription's state over time: status, current period and when it next needs work."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from kassa.core.clock import to_unix
from kassa.domain import billing as domain
from kassa.domain.periods import Recurrence
from kassa.domain.subscriptions import INCOMPLETE_EXPIRES_AFTER, status_at
from kassa.services import emails, events, notices, objects, prefetch
from kassa.services.catalog import model_of
from kassa.services.organizations import timezone_of
from kassa.store import models as m
from kassa.store.uow import UnitOfWork


def price_terms(price: m.Price) -> domain.PriceTerms:
    """The price as the billing domain sees it (once per billing batch: the catalog does not
    change during one)."""
    batch = prefetch.of_object(price)
    if batch is None:
        return _price_terms(price)
    return batch.remember(("billing_terms", price.id), lambda: _price_terms(price))


def _price_terms(price: m.Price) -> domain.PriceTerms:
    return domain.PriceTerms(
        id=price.id, product_name=price.product.name, currency=price.currency,
        unit_amount_decimal=price.unit_amount_decimal or Decimal(0),
        recurrence=Recurrence(price.recurring_interval,  # type: ignore[arg-type]
                              price.recurring_interval_count or 1),
        usage_type=price.recurring_usage_type or "licensed",  # type: ignore[arg-type]
        model=model_of(price), meter_id=price.meter_id, unit_label=price.product.unit_label)


def _migrated(items: tuple[domain.ItemTerms, ...],
              rows: list[m.SubscriptionItem]) -> tuple[domain.Phase, ...]:
    """Phases from price migrations: from each `migrate_at` on, the item bills its new price."""
    moments = sorted({row.migrate_at for row in rows if row.migrate_at is not None})
    phases = []
    for moment in moments:
        moved = {row.id: row for row in rows
                 if row.migrate_at is not None and row.migrate_at <= moment}
        phases.append(domain.Phase(moment, tuple(
            _moved(item, moved[item.id]) if item.id in moved else item for item in items)))
    return tuple(phases)


def _moved(item: domain.ItemTerms, row: m.SubscriptionItem) -> domain.ItemTerms:
    """The item with its pending change made."""
    quantity = row.migrate_quantity if row.migrate_quantity is not None else item.quantity
    return replace(item, price=price_terms(row.migrate_to_price or row.price),
                   quantity=quantity)


def terms_of(org: m.Organization, customer: m.Customer,
             sub: m.Subscription) -> domain.SubscriptionTerms:
    """The subscription as the pure billing domain sees it.

    Removed licensed items are gone (what they billed is on past invoices); a removed
    metered item stays until the invoice with the usage it measured up to its removal is
    finalized. Schedule
    phases and pending price migrations become the domain's phases.
    """
    lead_days = sub.invoice_lead_days if sub.invoice_lead_days is not None \
        else org.invoice_lead_days
    rows = [item for item in sub.items if item.ended_at is None or (
        item.price.recurring_usage_type == "metered"
        and (sub.usage_closed_through is None or item.ended_at > sub.usage_closed_through))]
    every = tuple(domain.ItemTerms(id=item.id, quantity=item.quantity,
                                   price=price_terms(item.price), ended_at=item.ended_at)
                  for item in rows)
    starts = {item.phase_start for item in rows}
    phases = tuple(domain.Phase(start, tuple(
        terms for terms, item in zip(every, rows, strict=True)
        if item.phase_start == start)) for start in sorted(s for s in starts if s))
    items = phases[0].items if phases else every
    phases = phases[1:]
    migrating = [row for row in rows if row.migrate_at is not None]
    if migrating and not phases:
        phases = _migrated(items, migrating)
    return domain.SubscriptionTerms(
        id=sub.id, customer_id=customer.id, currency=sub.currency,
        tz=timezone_of(org, customer), start=sub.start_date, anchor=sub.billing_cycle_anchor,
        items=items, trial_end=sub.trial_end, ends_at=sub.ended_at or sub.cancel_at,
        lead=timedelta(days=lead_days), prorate_first_period=sub.prorate_first_period,
        granularity=(sub.proration_granularity  # type: ignore[arg-type]
                     or org.proration_granularity),
        minimum_amount=sub.minimum_amount, phases=phases, restart=sub.restarted_at,
        paused_at=sub.paused_at)


def collection_pause(sub: m.Subscription | None, at: datetime) -> str | None:
    """The behavior of the subscription's pause of collection at `at` (keep_as_draft,
    mark_uncollectible, void), or None when collection is not paused then."""
    if sub is None or not sub.pause_collection:
        return None
    resumes = sub.pause_collection.get("resumes_at")
    if resumes is not None and resumes <= to_unix(at):
        return None
    return str(sub.pause_collection["behavior"])


def _open_due_dates(uow: UnitOfWork, sub: m.Subscription) -> list[datetime]:
    """When the subscription's open invoices fell or fall due: their due date, or the moment
    an automatic charge of them failed."""
    batch = prefetch.of(uow.session)
    if batch is not None and batch.covers(sub.customer_id):
        rows = [(i.due_date, i.payment_failed_at) for i in batch.open_invoices.get(sub.id, [])
                if i.status == "open"]
    else:
        rows = [tuple(row) for row in uow.session.execute(
            select(m.Invoice.due_date, m.Invoice.payment_failed_at).where(
                m.Invoice.subscription_id == sub.id, m.Invoice.status == "open"))]
    return [moment for due, failed in rows for moment in (due, failed) if moment is not None]


def _suspended_since(uow: UnitOfWork, sub: m.Subscription, now: datetime) -> datetime | None:
    """Since when dunning suspends the subscription's service: the earliest suspension that
    has begun among the unpaid invoices it bills (services/dunning.py); None: it is not."""
    if sub.status != "past_due":  # an unpaid invoice in dunning makes it past due
        return None
    batch = prefetch.of(uow.session)
    if batch is not None and batch.covers(sub.customer_id):
        opened = {i.id for i in batch.open_invoices.get(sub.id, []) if i.status == "open"}
        return min((case.suspend_at for case in batch.dunning_cases.get(sub.customer_id, [])
                    if case.invoice_id in opened and case.status in ("active", "exhausted")
                    and case.suspend_at is not None and case.suspend_at <= now), default=None)
    return uow.session.scalar(select(func.min(m.DunningCase.suspend_at)).join(
        m.Invoice, m.Invoice.id == m.DunningCase.invoice_id).where(
        m.Invoice.subscription_id == sub.id, m.Invoice.status == "open",
        m.DunningCase.status.in_(("active", "exhausted")), m.DunningCase.suspend_at <= now))


def refresh(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
            sub: m.Subscription, now: datetime, *, record: bool = True) -> None:
    """Bring the subscription's status, current period and schedule up to `now`.

    Records `customer.subscription.updated` (or `.deleted` when it ends) if the status changed,
    unless `record` is off (while the subscription is being created). A price migration that
    has taken effect by `now` moves its item onto the new price first; the notices due by
    `now` (renewal, trial end, scheduled change) are enqueued.
    """
    _apply_price_migrations(uow, sub, now, record=record)
    terms = terms_of(org, customer, sub)
    before = sub.status
    if sub.pause_collection and collection_pause(sub, now) is None:
        sub.pause_collection = None  # collection resumes by itself
    ends_at = sub.ended_at or sub.cancel_at
    if ends_at is not None and ends_at <= now and sub.ended_at is None:
        sub.ended_at = ends_at
        sub.canceled_at = sub.canceled_at or ends_at
        sub.cancellation_reason = sub.cancellation_reason or "cancellation_requested"
    incomplete_since = sub.created if sub.awaiting_first_payment else None
    due_dates = _open_due_dates(uow, sub)
    sub.status = status_at(now=now, start=sub.start_date, trial_end=sub.trial_end,
                           ended_at=sub.ended_at,
                           awaiting_first_payment=sub.awaiting_first_payment,
                           incomplete_since=incomplete_since,
                           has_overdue_invoice=any(due <= now for due in due_dates),
                           paused_at=sub.paused_at)
    if sub.status == "incomplete_expired" and sub.ended_at is None:
        sub.ended_at = now
    suspended_before = sub.suspended_at
    sub.suspended_at = _suspended_since(uow, sub, now)
    current = domain.period_at(terms, now)
    if current is not None:
        sub.current_period_start, sub.current_period_end = current.start, current.end
    # An ended subscription still owes the usage of its last period, billed at its end.
    sub.next_billing_at = domain.next_billing_at(terms, sub.billed_through,
                                                 sub.usage_billed_through)
    notice_at = notices.send_due(uow, org, customer, sub, now)
    sub.next_action_at = _next_action_at(sub, now, due_dates, notice_at)
    previous: dict[str, Any] = {}
    if sub.status != before:
        previous["status"] = before
    if sub.suspended_at != suspended_before:
        previous["suspended_at"] = to_unix(suspended_before) if suspended_before else None
    if record and previous:
        kind = "deleted" if sub.status in ("canceled", "incomplete_expired") else "updated"
        events.record(uow.session, org.id, f"customer.subscription.{kind}",
                      objects.subscription(sub), now, previous)
        if sub.status == "canceled":
            emails.subscription_canceled(uow, org, customer, sub)


def _apply_price_migrations(uow: UnitOfWork, sub: m.Subscription, now: datetime, *,
                            record: bool) -> None:
    """Settle the items' pending changes (price migrations, changes at period end) due by
    `now`.

    From `migrate_at` on, billing already charges the new price and quantity (see
    `terms_of`); once that moment has passed the item takes them for good and a price
    migration's entry is `applied`. An item, or a subscription, that stopped at or before
    `migrate_at` never reaches the new price: the entry is `canceled`.
    """
    def stopped(item: m.SubscriptionItem) -> bool:
        ends = (item.ended_at, sub.ended_at or sub.cancel_at)
        return any(end is not None and end <= now and item.migrate_at is not None
                   and end <= item.migrate_at for end in ends)

    due = [item for item in sub.items if item.migrate_at is not None
           and (item.migrate_at <= now or stopped(item))]
    if not due:
        return
    before = objects.subscription(sub)
    moved: dict[str, str | None] = {}  # item id: the price it moved to (None: it stopped)
    for item in due:
        if stopped(item):
            moved[item.id] = None
        else:
            if item.migrate_to_price is not None:
                item.price_id, item.price = item.migrate_to_price.id, item.migrate_to_price
            if item.migrate_quantity is not None:
                item.quantity = item.migrate_quantity
            moved[item.id] = item.price_id
        item.migrate_to_price_id = item.migrate_at = item.migrate_quantity = None
    settle_migration_entries(uow, moved, now)
    if record and any(moved.values()):
        events.record(uow.session, sub.org_id, "customer.subscription.updated",
                      objects.subscription(sub), now, {"items": before["items"]})


def settle_migration_entries(uow: UnitOfWork, moved: dict[str, str | None],
                              now: datetime) -> None:
    """Mark the scheduled entries of the items that `moved` applied (the item took the
    migration's price) or canceled; a migration with no entry left scheduled is completed."""
    rows = uow.session.execute(select(m.PriceMigrationEntry, m.PriceMigration).join(
        m.PriceMigration, m.PriceMigration.id == m.PriceMigrationEntry.migration_id).where(
        m.PriceMigrationEntry.subscription_item_id.in_(moved),
        m.PriceMigrationEntry.status == "scheduled")).all()
    for entry, migration in rows:
        applied = moved[entry.subscription_item_id] == migration.to_price_id
        entry.status = "applied" if applied else "canceled"
        entry.applied_at = now if applied else None
    uow.session.flush()
    for migration in {migration for _, migration in rows}:
        left = uow.session.scalar(select(m.PriceMigrationEntry.id).where(
            m.PriceMigrationEntry.migration_id == migration.id,
            m.PriceMigrationEntry.status == "scheduled").limit(1))
        if left is None and migration.status == "scheduled":
            migration.status = "completed"


def _next_action_at(sub: m.Subscription, now: datetime, due_dates: list[datetime],
                    notice_at: datetime | None = None) -> datetime | None:
    """The next moment something happens to the subscription by itself (`notice_at`: the
    next notice to the customer falls due, services/notices.py)."""
    if sub.status in ("canceled", "incomplete_expired"):
        return sub.next_billing_at
    moments = [sub.next_billing_at, notice_at]
    if sub.start_date > now:
        moments.append(sub.start_date)
    if sub.trial_end is not None and sub.trial_end > now:
        moments.append(sub.trial_end)
    if sub.cancel_at is not None and sub.cancel_at > now:
        moments.append(sub.cancel_at)
    if sub.paused_at is not None and sub.resumes_at is not None:
        moments.append(sub.resumes_at)
    if sub.awaiting_first_payment:
        moments.append(sub.created + INCOMPLETE_EXPIRES_AFTER)
    moments.extend(item.migrate_at for item in sub.items
                   if item.migrate_at is not None and item.migrate_at > now)
    if sub.status != "past_due":
        moments.extend(due for due in due_dates if due > now)
    # The current period's end moves current_period_* even when nothing is billed then.
    moments.append(sub.current_period_end if sub.current_period_end > now else None)
    upcoming = [moment for moment in moments if moment is not None]
    return min(upcoming) if upcoming else None
