"""Price migrations: existing subscribers move to a new price at their next renewal.

A migration names the price to leave, the price to move to and a notice date. Each chosen
subscription moves at the start of its first regular service period on or after the notice
date that is not invoiced yet (its first renewal after the notice); subscriptions left out keep
their price (grandfathered). Until then the subscription item carries the pending change
(`migrate_to_price_id`, `migrate_at`): billing charges the new price for periods from that
moment on, also on invoices made ahead of time, and `schedule.refresh` gives the item the new
price for good once the moment has passed. Customers are to be told at the notice date
(`notify_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from kassa.core.clock import parse_timestamp
from kassa.core.errors import InvalidRequest, InvalidState, NotFound, ResourceConflict
from kassa.core.ids import new_id
from kassa.core.money import round_minor
from kassa.domain import billing as domain
from kassa.domain import pricing
from kassa.services import events, objects, scoping
from kassa.services.catalog import model_of
from kassa.services.customers import now_for
from kassa.services.schedule import refresh, terms_of
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

ENDED = ("canceled", "incomplete_expired")
MAX_LISTED = 1000
# One migration moves at most this many subscriptions (more: several migrations, each
# listing its `subscriptions`), so that one transaction stays a reasonable size.
MAX_SUBSCRIPTIONS = 10_000
# Far enough for any notice period; it bounds the walk through a subscription's periods.
MAX_NOTICE = timedelta(days=730)
EMBEDDED_ENTRIES = 100
EMBEDDED_ENTRIES_IN_LIST = 10


@dataclass(frozen=True)
class Move:
    """A subscription item a migration moves: when, and what a full period costs before and
    after (at the item's quantity)."""

    subscription: m.Subscription
    item: m.SubscriptionItem
    old_amount: int
    new_amount: int
    effective_at: datetime


@dataclass(frozen=True)
class Skip:
    """A subscription on the price that the migration leaves alone, and why."""

    subscription: m.Subscription
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    """What a migration does: the items it moves and the subscriptions it skips."""

    from_price: m.Price
    to_price: m.Price
    notice_date: datetime
    moves: list[Move]
    skipped: list[Skip]


@dataclass(frozen=True)
class Detail:
    """A stored migration with the first page of its entries (newest first)."""

    migration: m.PriceMigration
    currency: str
    entries: list[m.PriceMigrationEntry]
    has_more: bool


def preview(uow: UnitOfWork, org_id: str, *, from_price: Any, to_price: Any, notice_date: Any,
            subscriptions: list[Any] | None = None, description: str | None = None,
            metadata: dict[str, Any] | None = None) -> Plan:
    """What `create` would do with the same input: which subscriptions move when, from what
    amount to what, and which are skipped and why. Writes nothing."""
    del description, metadata  # accepted so that a preview takes the very body of a create
    return _plan(uow, _organization(uow, org_id), from_price, to_price, notice_date,
                 subscriptions, lock=False)


def create(uow: UnitOfWork, org_id: str, *, from_price: Any, to_price: Any, notice_date: Any,
           subscriptions: list[Any] | None = None, description: str | None = None,
           metadata: dict[str, Any] | None = None) -> Detail:
    """Schedule the migration: one entry per moved item, and the item's pending change.

    `subscriptions` lists the subscriptions to move; by default every live subscription with
    a current item on `from_price`. Refused as a whole (nothing written) when any input is
    wrong, or when no subscription would move.
    """
    org = _organization(uow, org_id)
    plan = _plan(uow, org, from_price, to_price, notice_date, subscriptions, lock=True)
    if not plan.moves:
        raise InvalidRequest("No subscription would move to the new price (a preview shows "
                             "why each one is skipped).",
                             param="from_price" if subscriptions is None else "subscriptions",
                             code="price_migration_empty")
    now = uow.clock.now()
    migration = m.PriceMigration(
        id=new_id("pmig"), org_id=org_id, from_price_id=plan.from_price.id,
        to_price_id=plan.to_price.id, notice_date=plan.notice_date, status="scheduled",
        description=description, metadata_=metadata or {}, created=now)
    uow.session.add(migration)
    for move in plan.moves:
        uow.session.add(m.PriceMigrationEntry(
            id=new_id("pmige"), org_id=org_id, migration_id=migration.id,
            subscription_id=move.subscription.id, subscription_item_id=move.item.id,
            customer_id=move.subscription.customer_id, old_amount=move.old_amount,
            new_amount=move.new_amount, notify_at=plan.notice_date,
            effective_at=move.effective_at, status="scheduled"))
        move.item.migrate_to_price_id = plan.to_price.id
        move.item.migrate_to_price = plan.to_price
        move.item.migrate_at = move.effective_at
    uow.session.flush()
    for move in plan.moves:
        customer = uow.session.get(m.Customer, move.subscription.customer_id)
        assert customer is not None
        refresh(uow, org, customer, move.subscription, now_for(uow, customer))
    detail = _detail(uow, migration)
    events.record(uow.session, org_id, "price_migration.created",
                  objects.price_migration(detail), now)
    uow.commit()
    return detail


def cancel(uow: UnitOfWork, org_id: str, migration_id: str) -> Detail:
    """Stop a scheduled migration: its entries not yet in effect are canceled and their items
    keep their price.

    Applied entries stay; so does an entry whose period was already invoiced at the new price
    (an invoice made ahead of time): it takes effect as invoiced.
    """
    migration = scoping.get(uow.session, m.PriceMigration, org_id, migration_id)
    # Billing locks a customer, then may settle the migration's entries: lock in that order.
    customer_ids = set(uow.session.scalars(select(m.PriceMigrationEntry.customer_id).where(
        m.PriceMigrationEntry.migration_id == migration.id,
        m.PriceMigrationEntry.status == "scheduled")))
    customers = _customers(uow, customer_ids, lock=True)
    uow.session.scalars(select(m.PriceMigration).where(m.PriceMigration.id == migration.id)
                        .with_for_update().execution_options(populate_existing=True)).one()
    if migration.status != "scheduled":
        raise InvalidState(f"The price migration is {migration.status}; only a scheduled one "
                           "can be canceled.")
    entries = list(uow.session.scalars(select(m.PriceMigrationEntry).where(
        m.PriceMigrationEntry.migration_id == migration.id,
        m.PriceMigrationEntry.status == "scheduled").order_by(m.PriceMigrationEntry.id)
        .execution_options(populate_existing=True)))
    subs = _subscriptions(uow, {entry.subscription_id for entry in entries})
    touched = {entry.subscription_id for entry in entries
               if _cancel_entry(migration, entry, subs[entry.subscription_id])}
    migration.status = "canceled"
    org = _organization(uow, org_id)
    for sub_id in sorted(touched):
        customer = customers[subs[sub_id].customer_id]
        refresh(uow, org, customer, subs[sub_id], now_for(uow, customer))
    uow.session.flush()
    detail = _detail(uow, migration)
    events.record(uow.session, org_id, "price_migration.canceled",
                  objects.price_migration(detail), uow.clock.now())
    uow.commit()
    return detail


def _cancel_entry(migration: m.PriceMigration, entry: m.PriceMigrationEntry,
                  sub: m.Subscription) -> bool:
    """Cancel a scheduled entry unless its period is invoiced already; True if its item's
    pending change was dropped."""
    item = next((i for i in sub.items if i.id == entry.subscription_item_id), None)
    if item is not None and _invoiced_through(sub, item) > entry.effective_at:
        return False
    entry.status = "canceled"
    if item is None or (item.migrate_to_price_id, item.migrate_at) != (
            migration.to_price_id, entry.effective_at):
        return False
    item.migrate_to_price_id = item.migrate_at = None
    item.migrate_to_price = None
    return True


def get_migration(uow: UnitOfWork, org_id: str, migration_id: str) -> Detail:
    """The migration with the first page of its entries."""
    return _detail(uow, scoping.get(uow.session, m.PriceMigration, org_id, migration_id))


def list_migrations(uow: UnitOfWork, org_id: str, *, status: str | None = None,
                    **page: Any) -> scoping.Page:
    """The organization's migrations, newest first; each row a `Detail` with a few entries."""
    query = select(m.PriceMigration).where(m.PriceMigration.org_id == org_id)
    if status:
        query = query.where(m.PriceMigration.status == status)
    result = scoping.paginate(uow.session, query, m.PriceMigration, **page)
    return scoping.Page([_detail(uow, row, EMBEDDED_ENTRIES_IN_LIST) for row in result.rows],
                        result.has_more)


def list_entries(uow: UnitOfWork, org_id: str, migration_id: str, *,
                 status: str | None = None, **page: Any) -> tuple[str, scoping.Page]:
    """The migration's entries, newest first, and their currency."""
    migration = scoping.get(uow.session, m.PriceMigration, org_id, migration_id)
    query = select(m.PriceMigrationEntry).where(
        m.PriceMigrationEntry.migration_id == migration.id)
    if status:
        query = query.where(m.PriceMigrationEntry.status == status)
    return _currency(uow, migration), scoping.paginate(uow.session, query,
                                                       m.PriceMigrationEntry, **page)


def _organization(uow: UnitOfWork, org_id: str) -> m.Organization:
    org = uow.session.get(m.Organization, org_id)
    assert org is not None
    return org


def _currency(uow: UnitOfWork, migration: m.PriceMigration) -> str:
    price = uow.session.get(m.Price, migration.from_price_id)
    assert price is not None
    return price.currency


def _detail(uow: UnitOfWork, migration: m.PriceMigration,
            limit: int = EMBEDDED_ENTRIES) -> Detail:
    page = scoping.paginate(uow.session, select(m.PriceMigrationEntry).where(
        m.PriceMigrationEntry.migration_id == migration.id), m.PriceMigrationEntry, limit=limit)
    return Detail(migration, _currency(uow, migration), page.rows, page.has_more)


def _plan(uow: UnitOfWork, org: m.Organization, from_price: Any, to_price: Any,
          notice_date: Any, subscription_ids: list[Any] | None, *, lock: bool) -> Plan:
    old = scoping.get(uow.session, m.Price, org.id, from_price, param="from_price")
    new = scoping.get(uow.session, m.Price, org.id, to_price, param="to_price")
    _check_prices(old, new)
    notice = _notice_date(notice_date, uow.clock.now())
    moves: list[Move] = []
    skipped: list[Skip] = []
    for param, sub, customer in _chosen(uow, org.id, old, subscription_ids, lock=lock):
        outcome = _move(org, customer, sub, old, new, notice, now_for(uow, customer), param)
        if isinstance(outcome, Move):
            moves.append(outcome)
        else:
            skipped.append(outcome)
    return Plan(old, new, notice, moves, skipped)


def _check_prices(old: m.Price, new: m.Price) -> None:
    """The new price must bill like the old one: recurring, same currency, interval and
    usage type."""
    if new.id == old.id:
        raise InvalidRequest("to_price must differ from from_price.", param="to_price")
    for price, param in ((old, "from_price"), (new, "to_price")):
        if price.type != "recurring":
            raise InvalidRequest("A price migration moves subscriptions between recurring "
                                 "prices; this price is one-time.", param=param)
    if not new.active:
        raise InvalidRequest("The price is archived.", param="to_price")
    if new.currency != old.currency:
        raise InvalidRequest(f"to_price is in {new.currency.upper()}, from_price in "
                             f"{old.currency.upper()}; a subscription's currency cannot "
                             "change.", param="to_price", code="currency_mismatch")
    if (new.recurring_interval, new.recurring_interval_count) != (
            old.recurring_interval, old.recurring_interval_count):
        raise InvalidRequest(f"to_price must recur as from_price does (every "
                             f"{old.recurring_interval_count} {old.recurring_interval}).",
                             param="to_price")
    if new.recurring_usage_type != old.recurring_usage_type:
        raise InvalidRequest(f"to_price must be {old.recurring_usage_type}, as from_price is.",
                             param="to_price")


def _notice_date(value: Any, now: datetime) -> datetime:
    notice = now if value == "now" else parse_timestamp(value, "notice_date")
    if notice < now:
        raise InvalidRequest("notice_date must not be in the past.", param="notice_date")
    if notice > now + MAX_NOTICE:
        raise InvalidRequest(f"notice_date is at most {MAX_NOTICE.days} days ahead.",
                             param="notice_date")
    return notice


def _chosen(uow: UnitOfWork, org_id: str, price: m.Price, ids: list[Any] | None, *,
            lock: bool) -> list[tuple[str | None, m.Subscription, m.Customer]]:
    """The subscriptions to consider, each with the parameter that named it (None: chosen by
    default) and its customer. With `lock`, the customers are locked first, as billing does,
    and the subscriptions read after that."""
    if ids is None:
        held = select(m.SubscriptionItem.subscription_id).where(
            m.SubscriptionItem.org_id == org_id, m.SubscriptionItem.price_id == price.id,
            m.SubscriptionItem.ended_at.is_(None))
        rows = [(row[0], row[1]) for row in uow.session.execute(
            select(m.Subscription.id, m.Subscription.customer_id).where(
                m.Subscription.org_id == org_id, m.Subscription.status.not_in(ENDED),
                m.Subscription.id.in_(held)).order_by(m.Subscription.id)
            .limit(MAX_SUBSCRIPTIONS + 1))]
        if len(rows) > MAX_SUBSCRIPTIONS:
            raise InvalidRequest(f"More than {MAX_SUBSCRIPTIONS} subscriptions hold this price; "
                                 "migrate them in batches, listing `subscriptions`.",
                                 param="subscriptions")
        params: list[str | None] = [None] * len(rows)
    else:
        rows = _listed(uow, org_id, ids)
        params = [f"subscriptions[{index}]" for index in range(len(rows))]
    customers = _customers(uow, {customer_id for _, customer_id in rows}, lock=lock)
    subs = _subscriptions(uow, {sub_id for sub_id, _ in rows})
    return [(param, subs[sub_id], customers[customer_id])
            for param, (sub_id, customer_id) in zip(params, rows, strict=True)]


def _listed(uow: UnitOfWork, org_id: str, ids: Any) -> list[tuple[str, str]]:
    """(subscription id, customer id) of each listed subscription, in the caller's order."""
    if not isinstance(ids, list) or not ids or len(ids) > MAX_LISTED:
        raise InvalidRequest(f"subscriptions lists 1 to {MAX_LISTED} subscription ids.",
                             param="subscriptions")
    seen: set[str] = set()
    for index, sub_id in enumerate(ids):
        if not isinstance(sub_id, str) or not sub_id or "\x00" in sub_id:
            raise NotFound(f"No such subscription: {sub_id!r}", param=f"subscriptions[{index}]")
        if sub_id in seen:
            raise InvalidRequest("Each subscription may be listed once.",
                                 param=f"subscriptions[{index}]")
        seen.add(sub_id)
    found = {row[0]: row[1] for row in uow.session.execute(
        select(m.Subscription.id, m.Subscription.customer_id).where(
            m.Subscription.org_id == org_id, m.Subscription.id.in_(ids)))}
    for index, sub_id in enumerate(ids):
        if sub_id not in found:
            raise NotFound(f"No such subscription: '{sub_id}'", param=f"subscriptions[{index}]")
    return [(sub_id, found[sub_id]) for sub_id in ids]


def _customers(uow: UnitOfWork, ids: set[str], *, lock: bool) -> dict[str, m.Customer]:
    query = select(m.Customer).where(m.Customer.id.in_(ids)).order_by(m.Customer.id)
    if lock:
        query = query.with_for_update()
    return {row.id: row for row in uow.session.scalars(
        query.execution_options(populate_existing=True))}


def _subscriptions(uow: UnitOfWork, ids: set[str]) -> dict[str, m.Subscription]:
    return {row.id: row for row in uow.session.scalars(
        select(m.Subscription).where(m.Subscription.id.in_(ids))
        .execution_options(populate_existing=True))}


def _move(org: m.Organization, customer: m.Customer, sub: m.Subscription, old: m.Price,
          new: m.Price, notice: datetime, customer_now: datetime,
          param: str | None) -> Move | Skip:
    """How the migration treats one subscription; raises when a listed one cannot move."""
    item = next((i for i in sub.items if i.price_id == old.id and i.ended_at is None), None)
    if item is None:
        raise InvalidRequest(f"Subscription {sub.id} has no current item on {old.id}.",
                             param=param)
    if sub.status in ENDED:
        return Skip(sub, "ended", "The subscription has ended.")
    if any(i.phase_start is not None for i in sub.items):
        if param is not None:
            raise InvalidRequest(f"Subscription {sub.id} follows a subscription schedule; "
                                 "its phases set its prices.", param=param)
        return Skip(sub, "follows_schedule", "The subscription follows a subscription "
                                             "schedule; its phases set its prices.")
    if new.customer_id is not None and new.customer_id != sub.customer_id:
        raise InvalidRequest(f"{new.id} is another customer's contract price; subscription "
                             f"{sub.id} belongs to {sub.customer_id}.",
                             param=param or "to_price")
    if item.migrate_at is not None:
        if item.migrate_to_price_id == new.id and item.migrate_quantity is None:
            return Skip(sub, "already_migrating", "The item already moves to this price.")
        raise ResourceConflict(f"Subscription item {item.id} already has a pending change "
                               f"(from {item.migrate_at.isoformat()}); cancel it first.",
                               param=param or "from_price")
    effective_at = _first_renewal(org, customer, sub, item, max(notice, customer_now))
    if effective_at is None:
        if sub.paused_at is not None:
            return Skip(sub, "paused", "The subscription is paused.")
        return Skip(sub, "ends_before_renewal", "The subscription ends before its first "
                                                "renewal after the notice date.")
    return Move(sub, item, _full_period_amount(old, item.quantity),
                _full_period_amount(new, item.quantity), effective_at)


def _invoiced_through(sub: m.Subscription, item: m.SubscriptionItem) -> datetime:
    """Up to when the item's charges are invoiced: licensed fees in advance, usage after."""
    if item.price.recurring_usage_type == "metered":
        mark = sub.usage_billed_through
    else:
        mark = sub.billed_through
    return mark or sub.start_date


def _first_renewal(org: m.Organization, customer: m.Customer, sub: m.Subscription,
                   item: m.SubscriptionItem, after: datetime) -> datetime | None:
    """The start of the first regular service period at or after `after` that is not
    invoiced yet, or None when service ends (or pauses) before one."""
    after = max(after, _invoiced_through(sub, item))
    for period in domain.service_periods(terms_of(org, customer, sub)):
        if period.kind == "regular" and period.start >= after:
            return period.start
    return None


def _full_period_amount(price: m.Price, quantity: int) -> int:
    """What a whole period of the price costs at `quantity`; 0 for a metered price, whose
    amount depends on the usage."""
    if price.recurring_usage_type == "metered":
        return 0
    return round_minor(pricing.total(pricing.price(model_of(price), Decimal(quantity))))

