"""Notices that announce what is about to happen to a subscription: its renewal
(`renewal_reminder`), the end of its trial (`trial_ending`) and a change scheduled for a later
moment (`plan_change_notice`: a price migration, a change at period end).

Each notice announces an event and falls due a number of days before it (the organization's
`email_settings`, see services/email_settings.py). `send_due` is part of refreshing a
subscription, so the billing run, a test clock and the API all send them on the same path. A
notice is sent when it is due and its event is still ahead: one whose moment passed while
nothing ran (a subscription created two days before a renewal that is announced seven days
ahead) goes out at once, and never after the event. Its dedupe key names the event, so each
goes out at most once however often the subscription is refreshed. The next moment a notice
falls due is part of the subscription's `next_action_at`, so that the billing run wakes up
then.

Not announced: the renewal of a subscription that ends (canceled, set to cancel at or before
the renewal), is paused, is not active (trialing, incomplete) or whose renewal is the end of
its trial (the trial notice covers that); by default only renewals of subscriptions billed
per year or longer (`renewal_reminders_for`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from kassa.core.clock import to_unix
from kassa.core.errors import InvalidRequest
from kassa.core.money import round_minor
from kassa.domain import pricing
from kassa.services import email_settings, email_texts, emails
from kassa.services.catalog import model_of
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

# Intervals of a year or longer: their subscriptions get a renewal reminder by default.
_YEAR_IN = {"day": 365, "week": 52, "month": 12, "year": 1}


@dataclass(frozen=True)
class Notice:
    """One notice: what it announces (`event_at`) and from when it is due."""

    kind: str
    dedupe_key: str
    due_at: datetime
    event_at: datetime
    # plan_change_notice: the items that change at `event_at`, and their migration entries.
    items: tuple[m.SubscriptionItem, ...] = ()
    entries: tuple[m.PriceMigrationEntry, ...] = ()


def send_due(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
             sub: m.Subscription, now: datetime) -> datetime | None:
    """Enqueue every notice of the subscription that is due by `now`, whose event is still
    ahead and that was not sent before. Returns the moment the next notice falls due (None
    when none will)."""
    upcoming = notices_of(uow, org, customer, sub)
    for notice in upcoming:
        if notice.due_at <= now < notice.event_at and not _sent(uow, org, notice.dedupe_key):
            _SEND[notice.kind](uow, org, customer, sub, notice, now)
    return min((n.due_at for n in upcoming if n.due_at > now), default=None)


def notices_of(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
               sub: m.Subscription) -> list[Notice]:
    """The notices the subscription has coming, as it stands (the organization's kinds
    turned off and customers without an e-mail address have none)."""
    settings = email_settings.effective(org.email_settings)
    if not customer.email or sub.ended_at is not None or sub.status in (
            "canceled", "incomplete_expired"):
        return []
    found = [_renewal(sub, settings), _trial(sub, settings),
             *_changes(uow, sub, settings)]
    return [n for n in found if n is not None and n.kind not in settings["disabled"]]


def _days(settings: dict[str, Any], key: str) -> timedelta:
    return timedelta(days=int(settings[key]))


def _ends_by(sub: m.Subscription, moment: datetime) -> bool:
    """The subscription is set to end at or before `moment`."""
    return sub.cancel_at is not None and sub.cancel_at <= moment


def _renewal(sub: m.Subscription, settings: dict[str, Any]) -> Notice | None:
    renewal = sub.current_period_end
    if (sub.status not in ("active", "past_due") or sub.cancel_at_period_end
            or sub.paused_at is not None or _ends_by(sub, renewal)
            or (sub.trial_end is not None and sub.trial_end >= renewal)):
        return None
    if settings["renewal_reminders_for"] == "yearly" and not _yearly(sub):
        return None
    return Notice("renewal_reminder", f"renewal_reminder:{sub.id}:{to_unix(renewal)}",
                  renewal - _days(settings, "renewal_reminder_days"), renewal)


def _yearly(sub: m.Subscription) -> bool:
    """Billed per year or longer."""
    return any(item.price.recurring_interval in _YEAR_IN
               and (item.price.recurring_interval_count or 1)
               >= _YEAR_IN[item.price.recurring_interval]
               for item in sub.items if item.ended_at is None)


def _trial(sub: m.Subscription, settings: dict[str, Any]) -> Notice | None:
    end = sub.trial_end
    if (end is None or sub.status != "trialing" or sub.cancel_at_period_end
            or sub.paused_at is not None or _ends_by(sub, end)):
        return None
    return Notice("trial_ending", f"trial_ending:{sub.id}:{to_unix(end)}",
                  end - _days(settings, "trial_ending_days"), end)


def _changes(uow: UnitOfWork, sub: m.Subscription,
             settings: dict[str, Any]) -> list[Notice]:
    """One notice per moment at which items change. A price migration's customers are told
    by its notice date at the latest (`notify_at`), and `change_notice_days` ahead if that
    is earlier."""
    changing = [item for item in sub.items if item.migrate_at is not None
                and item.ended_at is None and not _ends_by(sub, item.migrate_at)]
    if not changing:
        return []
    entries = {entry.subscription_item_id: entry for entry in uow.session.scalars(
        select(m.PriceMigrationEntry).where(
            m.PriceMigrationEntry.subscription_id == sub.id,
            m.PriceMigrationEntry.status == "scheduled"))}
    by_moment: dict[datetime, list[m.SubscriptionItem]] = defaultdict(list)
    for item in changing:
        assert item.migrate_at is not None
        by_moment[item.migrate_at].append(item)
    notices = []
    for moment, items in sorted(by_moment.items()):
        due = moment - _days(settings, "change_notice_days")
        told = tuple(entries[i.id] for i in items if i.id in entries)
        due = min([due, *(entry.notify_at for entry in told)])
        notices.append(Notice("plan_change_notice",
                              f"plan_change_notice:{sub.id}:{to_unix(moment)}", due, moment,
                              tuple(items), told))
    return notices


def _sent(uow: UnitOfWork, org: m.Organization, dedupe_key: str) -> bool:
    return uow.session.scalar(select(m.EmailMessage.id).where(
        m.EmailMessage.org_id == org.id, m.EmailMessage.dedupe_key == dedupe_key)) is not None


# --- the messages --------------------------------------------------------------------------

def _send_renewal(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                  sub: m.Subscription, notice: Notice, now: datetime) -> None:
    total = _invoice_total(uow, org, customer, sub, notice.event_at)
    emails.enqueue_rendered(
        uow, org, customer, "renewal_reminder", notice.dedupe_key,
        plan=emails.plan_name(org, sub), date=emails.date_text(org, customer, notice.event_at),
        amount=None if total is None else emails.amount_text(total, sub.currency,
                                                             _locale(org, customer)))


def _send_trial(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                sub: m.Subscription, notice: Notice, now: datetime) -> None:
    total = _invoice_total(uow, org, customer, sub, notice.event_at)
    amount = None if total is None else emails.amount_text(total, sub.currency,
                                                           _locale(org, customer))
    # Charged only when there is a method to charge; otherwise the invoice is e-mailed.
    charged = (sub.collection_method == "charge_automatically"
               and customer.default_payment_method_id is not None)
    emails.enqueue_rendered(
        uow, org, customer, "trial_ending", notice.dedupe_key,
        plan=emails.plan_name(org, sub), date=emails.date_text(org, customer, notice.event_at),
        charge=amount if charged else None, invoice_amount=None if charged else amount)


def _send_change(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                 sub: m.Subscription, notice: Notice, now: datetime) -> None:
    locale = _locale(org, customer)
    current = [item for item in sub.items if item.ended_at is None]
    before = [(item.price, item.quantity) for item in current]
    after = [(item.migrate_to_price or item.price,
              item.migrate_quantity if item.migrate_quantity is not None else item.quantity)
             if item in notice.items else (item.price, item.quantity) for item in current]
    old, new = _recurring_amount(before), _recurring_amount(after)
    first = after[0][0]
    values: dict[str, Any] = {
        "plan": emails.plan_name(org, sub),
        "date": emails.date_text(org, customer, notice.event_at),
        "per": email_texts.every(first.recurring_interval or "month",
                                 first.recurring_interval_count or 1, locale)}
    new_text = None if new is None else emails.amount_text(new, sub.currency, locale)
    if _described(before) == _described(after):  # the same plan at another price
        values.update(old_amount=None if old is None else emails.amount_text(
            old, sub.currency, locale), new_amount=new_text)
    else:
        values.update(from_plan=_described(before), to_plan=_described(after),
                      amount=new_text)
    sent = emails.enqueue_rendered(uow, org, customer, "plan_change_notice",
                                   notice.dedupe_key, **values)
    if sent is not None:
        for entry in notice.entries:
            entry.notified_at = now


_SEND = {"renewal_reminder": _send_renewal, "trial_ending": _send_trial,
         "plan_change_notice": _send_change}


def _locale(org: m.Organization, customer: m.Customer) -> str:
    return customer.locale or org.locale


def _described(lines: list[tuple[m.Price, int]]) -> str:
    """ "Pro", "Pro × 3, Support": the products and their quantities."""
    return ", ".join(price.product.name + (f" × {quantity}" if quantity != 1 else "")
                     for price, quantity in lines)


def _recurring_amount(lines: list[tuple[m.Price, int]]) -> int | None:
    """What a whole period costs (before tax and discounts); None when usage is part of it."""
    if any(price.recurring_usage_type == "metered" for price, _ in lines):
        return None
    return sum(round_minor(pricing.total(pricing.price(model_of(price), Decimal(quantity))))
               for price, quantity in lines)


def _invoice_total(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                   sub: m.Subscription, at: datetime) -> int | None:
    """The total of the invoice that bills the period starting at `at` (with tax and
    discounts, as billing will make it), when that is the subscription's next invoice."""
    # billing → schedule → notices: billing is only needed here, when a notice goes out.
    from kassa.services.billing import upcoming_invoice
    try:
        preview = upcoming_invoice(uow, org.id, customer.id, sub.id)
    except InvalidRequest:
        return None
    covers = preview["period_start"] <= to_unix(at) < preview["period_end"]
    return int(preview["total"]) if covers else None
