"""Dunning: chasing an unpaid invoice by its customer's dunning policy (domain/dunning.py).

An invoice enters dunning when an automatic charge of it fails, or when a `send_invoice`
invoice passes its due date unpaid; a `DunningCase` records its way through:

- a failed charge schedules the next retry (`invoice.next_payment_attempt`, made by the
  collection pass) or, after a hard decline, stops retrying; either way the customer is told
  why, with a link to pay the invoice, a link to give another payment method (which is
  charged at once) and what happens when (`payment_failed`);
- a `send_invoice` invoice gets its reminders before, on and after its due date;
- some days past due the subscription's service is suspended: schedule.refresh derives
  `suspended_at` from the open cases, so a payment restores service in its own transaction;
- when dunning gives up, the policy's final action (cancel the subscription, write the
  invoice off, or leave it past due);
- money that pays the invoice ends the case as recovered at once (`received`); a void, a
  credit note or a write-off by hand ends it as closed (on the next pass).

Every step is appended to the case's `steps` and recorded as a `dunning.step` event. `run_due`
is the pass over what fell due; it runs with the collection pass (services/collection.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from kassa.core.clock import Clock, to_unix
from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.ids import new_id
from kassa.domain import dunning as domain
from kassa.services import emails, events, invoices, objects, scoping, subscriptions, validation
from kassa.services import subscription_changes as changes
from kassa.services.customers import now_for
from kassa.services.organizations import get_organization, timezone_of
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

log = logging.getLogger("kassa.dunning")

RECHECK = timedelta(days=1)  # dunning would give up while a charge is still under way
CASE_STATUSES = ("active", "recovered", "exhausted", "closed")
MAX_REPORT_DAYS = 5 * 366


# --- policies -------------------------------------------------------------------------------

def create_policy(uow: UnitOfWork, org_id: str, *, name: str, is_default: bool = False,
                  metadata: dict[str, Any] | None = None, **settings: Any) -> m.DunningPolicy:
    """A policy; `is_default` makes it the one of every customer without their own."""
    policy = domain.check_policy(settings)
    row = m.DunningPolicy(id=new_id("dp"), org_id=org_id, name=_name(name), is_default=False,
                          active=True, settings=domain.policy_fields(policy),
                          metadata_=validation.merge_metadata({}, metadata or {}),
                          created=uow.clock.now())
    uow.session.add(row)
    if is_default:
        _make_default(uow, row)
    uow.session.flush()
    events.record(uow.session, org_id, "dunning_policy.created", policy_object(row),
                  row.created)
    uow.commit()
    return row


def update_policy(uow: UnitOfWork, org_id: str, policy_id: str, *, name: str | None = None,
                  is_default: bool | None = None, active: bool | None = None,
                  metadata: dict[str, Any] | None = None, **settings: Any) -> m.DunningPolicy:
    """Change a policy. Open cases follow the change from their next step on; an archived
    (`active: false`) policy keeps serving its customers but cannot be assigned to more."""
    row = scoping.get(uow.session, m.DunningPolicy, org_id, policy_id, lock=True)
    before = policy_object(row)
    if settings:
        row.settings = domain.policy_fields(domain.check_policy(settings, policy_of(row)))
    if name is not None:
        row.name = _name(name)
    if active is not None:
        if not active and (row.is_default or is_default):
            raise InvalidState("The default policy stays active: make another one the "
                               "default first.", param="active")
        row.active = active
    if is_default:
        if not row.active:
            raise InvalidState("An archived policy cannot be the default.", param="is_default")
        _make_default(uow, row)
    elif is_default is False:
        row.is_default = False  # the built-in policy is the default again
    if metadata is not None:
        row.metadata_ = validation.merge_metadata(row.metadata_, metadata)
    after = policy_object(row)
    events.record(uow.session, org_id, "dunning_policy.updated", after, uow.clock.now(),
                  {k: v for k, v in before.items() if after.get(k) != v})
    uow.commit()
    return row


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("A dunning policy needs a name.", param="name")
    return value.strip()


def _make_default(uow: UnitOfWork, row: m.DunningPolicy) -> None:
    # The organization's row lock makes concurrent "make default" requests take turns.
    uow.session.get(m.Organization, row.org_id, with_for_update=True)
    uow.session.execute(update(m.DunningPolicy).where(
        m.DunningPolicy.org_id == row.org_id, m.DunningPolicy.id != row.id,
        m.DunningPolicy.is_default.is_(True)).values(is_default=False))
    row.is_default = True


def list_policies(uow: UnitOfWork, org_id: str, *, active: bool | None = None,
                  **page: Any) -> scoping.Page:
    query = select(m.DunningPolicy).where(m.DunningPolicy.org_id == org_id)
    if active is not None:
        query = query.where(m.DunningPolicy.active.is_(active))
    return scoping.paginate(uow.session, query, m.DunningPolicy, **page)


def policy_of(row: m.DunningPolicy | None) -> domain.Policy:
    """The policy a row stores; None is the built-in default."""
    return domain.DEFAULT_POLICY if row is None else domain.check_policy(row.settings)


def policy_object(row: m.DunningPolicy) -> dict[str, Any]:
    return {"id": row.id, "object": "dunning_policy", "name": row.name,
            "is_default": row.is_default, "active": row.active, **row.settings,
            "metadata": row.metadata_, "created": to_unix(row.created)}


def default_policy_object() -> dict[str, Any]:
    """The built-in policy, in force for customers when no policy is the default."""
    return {"id": None, "object": "dunning_policy", "name": "Built-in default",
            "is_default": True, "active": True, **domain.policy_fields(domain.DEFAULT_POLICY),
            "metadata": {}, "created": None}


def policy_row(session: Session, customer: m.Customer) -> m.DunningPolicy | None:
    """The customer's policy: their own, else the organization's default (None: built-in)."""
    if customer.dunning_policy_id:
        row = session.get(m.DunningPolicy, customer.dunning_policy_id)
        if row is not None:
            return row
    return default_policy(session, customer.org_id)


def default_policy(session: Session, org_id: str) -> m.DunningPolicy | None:
    """The organization's default policy (None: the built-in one is in force)."""
    return session.scalars(select(m.DunningPolicy).where(
        m.DunningPolicy.org_id == org_id, m.DunningPolicy.is_default.is_(True))).first()


# --- a case's way through -------------------------------------------------------------------

def payment_failed(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                   invoice: m.Invoice, payment: m.Payment, now: datetime) -> m.DunningCase:
    """A charge of the invoice failed: open its case (or go on with it), plan the next retry
    or stop retrying after a hard decline, tell the customer, and give up after the last
    scheduled retry."""
    case = latest_case(uow.session, invoice.id)
    if case is None or case.status in ("recovered", "closed"):
        case = _open(uow, org, customer, invoice, started_at=now,
                     decline_code=payment.decline_code, method_type=payment.method_type)
    case.failed_attempts += 1
    case.last_decline_code = payment.decline_code
    hard = payment.decline_type == "hard"
    policy = _policy(uow.session, case)
    retry = None
    if case.status == "active":
        retry = domain.next_retry(policy, case.started_at, timezone_of(org, customer), now,
                                  domain.Decline(payment.decline_code, hard))
        case.retries_stopped = "hard_decline" if hard else None
    invoice.next_payment_attempt = case.next_retry_at = retry
    _step(uow, org, case, "attempt_failed", now, attempt=payment.attempt,
          decline_code=payment.decline_code, decline_type=payment.decline_type,
          next_retry=to_unix(retry) if retry else None)
    gives_up = case.status == "active" and retry is None and not hard
    _tell_failed(uow, org, customer, invoice, case, policy, payment, retry, now,
                 last=gives_up or case.status != "active")
    if gives_up:
        _give_up(uow, org, customer, invoice, case, policy, now)
    elif case.status == "active":
        _plan(uow, org, customer, invoice, case, policy, now)
    return case


def received(uow: UnitOfWork, org: m.Organization, invoice: m.Invoice, now: datetime, *,
             attempt: int | None) -> None:
    """Money was received on the invoice: paid in full, its case is recovered (and every
    suspension lifts as the caller refreshes the subscriptions); a part payment is a step."""
    case = latest_case(uow.session, invoice.id)
    if case is None or case.status not in ("active", "exhausted"):
        return
    if invoice.status != "paid":
        _step(uow, org, case, "partial_payment", now,
              amount_remaining=invoice.amount_remaining)
        return
    case.status, case.ended_at = "recovered", now
    case.recovered_attempt = attempt
    case.next_retry_at = None
    invoice.next_dunning_at = None
    _step(uow, org, case, "recovered", now, attempt=attempt)


def in_dunning(session: Session, customer_id: str) -> bool:
    """Whether an automatically collected invoice of the customer is in dunning."""
    return session.scalar(select(m.DunningCase.id).where(
        m.DunningCase.customer_id == customer_id, m.DunningCase.status == "active",
        m.DunningCase.collection_method == "charge_automatically").limit(1)) is not None


def latest_case(session: Session, invoice_id: str) -> m.DunningCase | None:
    return session.scalars(select(m.DunningCase).where(
        m.DunningCase.invoice_id == invoice_id).order_by(
        m.DunningCase.started_at.desc(), m.DunningCase.id.desc()).limit(1)).first()


def _open(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice, *,
          started_at: datetime, decline_code: str | None, method_type: str) -> m.DunningCase:
    row = policy_row(uow.session, customer)
    policy = policy_of(row)
    case = m.DunningCase(
        id=new_id("dun"), org_id=org.id, customer_id=customer.id, invoice_id=invoice.id,
        subscription_id=invoice.subscription_id, policy_id=row.id if row else None,
        collection_method=invoice.collection_method, currency=invoice.currency,
        amount=invoice.amount_remaining, status="active", started_at=started_at,
        decline_code=decline_code, last_decline_code=decline_code, method_type=method_type,
        failed_attempts=0, suspend_at=domain.suspend_at(policy, started_at),
        give_up_at=domain.give_up_at(policy, invoice.collection_method, started_at,
                                     timezone_of(org, customer)),
        canceled_subscriptions=0, steps=[], created=uow.clock.now())
    uow.session.add(case)
    return case


def _policy(session: Session, case: m.DunningCase) -> domain.Policy:
    row = session.get(m.DunningPolicy, case.policy_id) if case.policy_id else None
    return policy_of(row)


def _step(uow: UnitOfWork, org: m.Organization, case: m.DunningCase, kind: str,
          now: datetime, **details: Any) -> None:
    case.steps = [*case.steps, {"type": kind, "at": to_unix(now), **details}]
    events.record(uow.session, org.id, "dunning.step", case_object(case), now)


def _took(case: m.DunningCase, kind: str) -> bool:
    return any(step["type"] == kind for step in case.steps)


def _tell_failed(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                 invoice: m.Invoice, case: m.DunningCase, policy: domain.Policy,
                 payment: m.Payment, retry: datetime | None, now: datetime, *,
                 last: bool) -> None:
    emails.payment_failed(
        uow, org, customer, invoice, reason=payment.failure_message or payment.decline_code,
        next_attempt_at=retry, attempt=payment.attempt,
        hard=payment.decline_type == "hard",
        **_ahead(None if last else case, policy, now))


def _ahead(case: m.DunningCase | None, policy: domain.Policy,
           now: datetime) -> dict[str, datetime | None]:
    """What the customer is warned of: the suspension and the cancellation still to come
    in an active case (`suspend_on`, `cancel_on`; None when not)."""
    if case is None or case.status != "active":
        return {"suspend_on": None, "cancel_on": None}
    cancels = policy.final_action == "cancel_subscription"
    return {"suspend_on": case.suspend_at if case.suspend_at and case.suspend_at > now
            else None,
            "cancel_on": case.give_up_at if cancels and case.give_up_at
            and case.give_up_at > now else None}


def _plan(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
          case: m.DunningCase | None, policy: domain.Policy, now: datetime) -> None:
    """Set the next moment the pass looks at the invoice: its next reminder, its due date,
    its suspension or the moment dunning gives up, whichever is first."""
    moments: list[datetime] = []
    if invoice.collection_method == "send_invoice" and invoice.due_date is not None:
        moments += [moment for _, moment in _reminders(org, customer, invoice, policy)
                    if moment > now]
        if case is None:
            moments.append(invoice.due_date)
    if case is not None and case.status == "active":
        if case.suspend_at is not None and not _took(case, "suspended"):
            moments.append(case.suspend_at)
        if case.give_up_at is not None:
            moments.append(case.give_up_at)
    ahead = [moment for moment in moments if moment > now]
    invoice.next_dunning_at = min(ahead) if ahead else None


def _reminders(org: m.Organization, customer: m.Customer, invoice: m.Invoice,
               policy: domain.Policy) -> list[tuple[int, datetime]]:
    """The invoice's reminders that come after it was sent."""
    assert invoice.due_date is not None
    sent = invoice.finalized_at or invoice.created
    return [(days, moment) for days, moment in domain.reminder_moments(
        policy, invoice.due_date, timezone_of(org, customer)) if moment >= sent]


def _remind(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
            case: m.DunningCase | None, policy: domain.Policy, now: datetime) -> None:
    """Send the latest reminder that fell due (those missed while nothing ran are not sent
    in a burst). Each is sent once."""
    due = [(days, moment) for days, moment in _reminders(org, customer, invoice, policy)
           if moment <= now]
    if not due:
        return
    days, moment = due[-1]
    sent = emails.invoice_reminder(uow, org, customer, invoice, days=days,
                                   **_ahead(case, policy, now))
    if case is not None and sent is not None and moment >= case.started_at and not any(
            step["type"] == "reminder" and step.get("days") == days for step in case.steps):
        _step(uow, org, case, "reminder", now, days=days)


def _suspend(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
             case: m.DunningCase, now: datetime) -> None:
    _step(uow, org, case, "suspended", now)
    invoices.refresh_subscriptions(uow, org, customer, invoice, now)
    emails.service_suspended(uow, org, customer, invoice, case.id)


def _give_up(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
             case: m.DunningCase, policy: domain.Policy, now: datetime) -> None:
    """Dunning ends without the invoice paid: the policy's final action."""
    case.status, case.ended_at = "exhausted", now
    case.final_action = policy.final_action
    invoice.next_payment_attempt = case.next_retry_at = None
    invoice.next_dunning_at = None
    if policy.final_action == "cancel_subscription":
        case.canceled_subscriptions = _cancel_subscriptions(uow, org, customer, invoice, now)
    elif policy.final_action == "mark_uncollectible" and invoice.status == "open":
        invoices.write_off(uow, org, invoice, now)
        invoices.refresh_subscriptions(uow, org, customer, invoice, now)
    _step(uow, org, case, "final_action", now, action=policy.final_action)


def _cancel_subscriptions(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                          invoice: m.Invoice, now: datetime) -> int:
    """End the subscriptions the invoice bills now, for non-payment; returns how many."""
    ids = {line.subscription_id for line in invoice.lines if line.subscription_id}
    if invoice.subscription_id:
        ids.add(invoice.subscription_id)
    canceled = 0
    for sub_id in sorted(ids):
        sub = uow.session.get(m.Subscription, sub_id)
        if sub is None or sub.ended_at is not None \
                or sub.status in ("canceled", "incomplete_expired"):
            continue
        ctx = changes.Context(org, customer, sub, now)
        before = objects.subscription(sub)
        changes.cancel_now(uow, ctx)
        sub.cancellation_reason = "payment_failed"
        subscriptions.record_change(uow, ctx, before)
        canceled += 1
    return canceled


# --- the pass -------------------------------------------------------------------------------

def run_due(session_factory: sessionmaker[Session], clock: Clock, now: datetime, *,
            test_clock_id: str | None = None) -> int:
    """Every reminder, overdue invoice, suspension and final action due by `now` (each
    invoice in its own transaction; one that fails is logged and left for the next pass),
    and the cases of invoices voided, credited or written off by hand closed. Returns how
    many invoices it looked at."""
    with session_factory() as session:
        on_clock = (m.Customer.test_clock_id == test_clock_id) if test_clock_id \
            else m.Customer.test_clock_id.is_(None)
        due = list(session.scalars(
            select(m.Invoice.id).join(m.Customer, m.Customer.id == m.Invoice.customer_id)
            .where(m.Invoice.next_dunning_at <= now, on_clock)
            .order_by(m.Invoice.next_dunning_at, m.Invoice.id).limit(1000)))
        stale = list(session.scalars(
            select(m.DunningCase.id).join(m.Invoice, m.Invoice.id == m.DunningCase.invoice_id)
            .join(m.Customer, m.Customer.id == m.DunningCase.customer_id)
            .where(m.DunningCase.status == "active", m.Invoice.status != "open", on_clock)
            .limit(1000)))
    for invoice_id in due:
        try:
            with UnitOfWork(session_factory, clock) as uow:
                advance(uow, invoice_id)
        except Exception:
            log.exception("dunning invoice %s failed", invoice_id)
    for case_id in stale:
        with UnitOfWork(session_factory, clock) as uow:
            close(uow, case_id)
    return len(due)


def advance(uow: UnitOfWork, invoice_id: str) -> None:
    """Take the invoice's dunning steps that are due by its customer's now, and plan the
    next one."""
    invoice = uow.session.get(m.Invoice, invoice_id)
    if invoice is None:
        return
    customer = uow.session.get(m.Customer, invoice.customer_id, with_for_update=True)
    org = uow.session.get(m.Organization, invoice.org_id)
    assert customer is not None and org is not None
    uow.session.refresh(invoice)
    now = now_for(uow, customer)
    if invoice.next_dunning_at is None or invoice.next_dunning_at > now:
        return  # another worker took it
    invoice.next_dunning_at = None
    case = latest_case(uow.session, invoice.id)
    if invoice.status != "open" or invoice.amount_remaining <= 0:
        uow.commit()
        return
    policy = _policy(uow.session, case) if case is not None \
        else policy_of(policy_row(uow.session, customer))
    if invoice.collection_method == "send_invoice" and invoice.due_date is not None:
        if case is None and invoice.due_date <= now:
            case = _open(uow, org, customer, invoice, started_at=invoice.due_date,
                         decline_code=None, method_type="send_invoice")
            _step(uow, org, case, "overdue", now)
        _remind(uow, org, customer, invoice, case, policy, now)
    if case is not None and case.status == "active":
        if case.suspend_at is not None and case.suspend_at <= now \
                and not _took(case, "suspended"):
            _suspend(uow, org, customer, invoice, case, now)
        if case.give_up_at is not None and case.give_up_at <= now:
            if invoices.charge_in_flight(uow.session, invoice.id):
                invoice.next_dunning_at = now + RECHECK  # its outcome decides
                uow.commit()
                return
            _give_up(uow, org, customer, invoice, case, policy, now)
    _plan(uow, org, customer, invoice, case, policy, now)
    uow.commit()


def close(uow: UnitOfWork, case_id: str) -> None:
    """End the case of an invoice that stopped being open without being paid in money (a
    void, a credit note, a write-off by hand)."""
    case = uow.session.get(m.DunningCase, case_id)
    if case is None:
        return
    customer = uow.session.get(m.Customer, case.customer_id, with_for_update=True)
    org = uow.session.get(m.Organization, case.org_id)
    invoice = uow.session.get(m.Invoice, case.invoice_id)
    assert customer is not None and org is not None and invoice is not None
    uow.session.refresh(case)
    if case.status != "active" or invoice.status == "open":
        return
    now = now_for(uow, customer)
    case.status, case.ended_at, case.next_retry_at = "closed", now, None
    invoice.next_dunning_at = None
    _step(uow, org, case, "closed", now, invoice_status=invoice.status)
    uow.commit()


def next_due_at(session: Session, test_clock_id: str) -> datetime | None:
    """The earliest dunning step of a test clock's customers."""
    return session.scalars(select(m.Invoice.next_dunning_at).join(
        m.Customer, m.Customer.id == m.Invoice.customer_id).where(
        m.Customer.test_clock_id == test_clock_id, m.Invoice.next_dunning_at.is_not(None))
        .order_by(m.Invoice.next_dunning_at).limit(1)).first()


# --- reading --------------------------------------------------------------------------------

def case_object(case: m.DunningCase) -> dict[str, Any]:
    def ts(value: datetime | None) -> int | None:
        return to_unix(value) if value else None

    return {
        "id": case.id, "object": "dunning_case", "customer": case.customer_id,
        "invoice": case.invoice_id, "subscription": case.subscription_id,
        "policy": case.policy_id, "status": case.status,
        "collection_method": case.collection_method, "currency": case.currency,
        "amount": case.amount, "started_at": ts(case.started_at),
        "decline_code": case.decline_code, "last_decline_code": case.last_decline_code,
        "payment_method_type": case.method_type, "failed_attempts": case.failed_attempts,
        "retries_stopped": case.retries_stopped, "next_retry_at": ts(case.next_retry_at),
        "suspend_at": ts(case.suspend_at), "give_up_at": ts(case.give_up_at),
        "final_action": case.final_action,
        "canceled_subscriptions": case.canceled_subscriptions,
        "recovered_attempt": case.recovered_attempt, "ended_at": ts(case.ended_at),
        "steps": case.steps, "created": ts(case.created),
    }


def list_cases(uow: UnitOfWork, org_id: str, *, customer: str | None = None,
               invoice: str | None = None, status: str | None = None,
               **page: Any) -> scoping.Page:
    if status is not None and status not in CASE_STATUSES:
        raise InvalidRequest(f"status is one of {', '.join(CASE_STATUSES)}.", param="status")
    query = select(m.DunningCase).where(m.DunningCase.org_id == org_id)
    if customer:
        query = query.where(m.DunningCase.customer_id == customer)
    if invoice:
        query = query.where(m.DunningCase.invoice_id == invoice)
    if status:
        query = query.where(m.DunningCase.status == status)
    return scoping.paginate(uow.session, query, m.DunningCase, **page)


def report(uow: UnitOfWork, org_id: str, first_day: date, last_day: date) -> dict[str, Any]:
    """How the invoices that entered dunning from `first_day` to `last_day` (both included,
    in the organization's timezone) fared, followed to today (domain.report)."""
    if last_day < first_day:
        raise InvalidRequest("to is on or after from.", param="to")
    if (last_day - first_day).days > MAX_REPORT_DAYS:
        raise InvalidRequest("A report spans at most five years.", param="to")
    org = get_organization(uow.session, org_id)
    tz = timezone_of(org)
    start = datetime.combine(first_day, time(), tzinfo=tz)
    end = datetime.combine(last_day + timedelta(days=1), time(), tzinfo=tz)
    cases = list(uow.session.scalars(select(m.DunningCase).where(
        m.DunningCase.org_id == org_id, m.DunningCase.started_at >= start,
        m.DunningCase.started_at < end)))
    paid: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for invoice_id, at, amount in uow.session.execute(select(
            m.Payment.invoice_id, m.Payment.succeeded_at, m.Payment.amount).where(
            m.Payment.invoice_id.in_({case.invoice_id for case in cases}),
            m.Payment.org_id == org_id, m.Payment.status == "succeeded")) if cases else ():
        if at is not None:
            paid[invoice_id].append((at, amount))
    facts = [domain.CaseFacts(
        started_at=case.started_at, currency=case.currency, amount=case.amount,
        status=case.status, decline_code=case.decline_code, method_type=case.method_type,
        recovered_at=case.ended_at if case.status == "recovered" else None,
        recovered_amount=sum(amount for at, amount in paid[case.invoice_id]
                             if case.started_at <= at
                             and (case.ended_at is None or at <= case.ended_at)),
        recovered_attempt=case.recovered_attempt, final_action=case.final_action,
        canceled_subscriptions=case.canceled_subscriptions) for case in cases]
    return {"object": "dunning_report", "from": first_day.isoformat(),
            "to": last_day.isoformat(), **domain.report(facts)}
