"""What the operator dashboard reads: counts for its home page, customers found by name,
e-mail or id, everything about one customer (the "customer 360"), the lists of invoices,
payments, credit notes and bank transactions with their filters, the catalog; and the one
thing an operator does that no other service offers: a payment reminder sent by hand.

Everything is read within one organization (the operator's): an id of another one is "not
found" (services/scoping.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, or_, select

from kassa.core.clock import parse_day
from kassa.core.errors import InvalidRequest, InvalidState
from kassa.services import emails, invoices, portal, scoping, self_service
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

PAGE_SIZE = 25
RECENT = 25  # rows of each kind on the customer page
TIMELINE = 100
MAX_SEARCH = 200
RUNNING = ("active", "trialing", "past_due")
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
PAYMENT_STATUSES = ("processing", "requires_action", "succeeded", "failed", "returned")
CREDIT_NOTE_STATUSES = ("issued", "void")
BANK_STATUSES = ("unmatched", "matched", "returned", "ignored")


def counts(uow: UnitOfWork, org_id: str) -> dict[str, int]:
    """How many customers, running subscriptions and open invoices the organization has."""
    def count(model: Any, *where: Any) -> int:
        return uow.session.scalar(select(func.count()).select_from(model).where(
            model.org_id == org_id, *where)) or 0

    return {"customers": count(m.Customer, m.Customer.deleted.is_(False)),
            "active_subscriptions": count(m.Subscription, m.Subscription.status.in_(RUNNING)),
            "open_invoices": count(m.Invoice, m.Invoice.status == "open")}


# --- lists ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    """A list's filters: status, customer, and the days from and to (both included)."""

    status: str | None = None
    customer: str | None = None
    first: date | None = None
    last: date | None = None

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for the links to other pages of the list)."""
        given = {"status": self.status, "customer": self.customer,
                 "from": self.first.isoformat() if self.first else None,
                 "to": self.last.isoformat() if self.last else None}
        return {name: value for name, value in given.items() if value}


def filters(statuses: Sequence[str], *, status: str = "", customer: str = "", first: str = "",
            last: str = "") -> Filters:
    """The filters given on a list page, checked (InvalidRequest naming the one at fault)."""
    status, customer = status.strip(), customer.strip()
    if status and status not in statuses:
        raise InvalidRequest(f"Status is one of {', '.join(statuses)}.", param="status")
    if len(customer) > 40:
        raise InvalidRequest("A customer id has at most 40 characters.", param="customer")
    days = {}
    for name, value in (("from", first.strip()), ("to", last.strip())):
        if value:
            if len(value) != 10:
                raise InvalidRequest(f"{name} is a day such as 2026-03-01.", param=name)
            days[name] = parse_day(value, name)
    if "from" in days and "to" in days and days["from"] > days["to"]:
        raise InvalidRequest("The first day comes after the last.", param="from")
    return Filters(status or None, customer or None, days.get("from"), days.get("to"))


def _cursor(value: str, name: str) -> str | None:
    if len(value) > 100:
        raise InvalidRequest(f"{name} is an id.", param=name)
    return value or None


def page_of(uow: UnitOfWork, model: Any, org_id: str, wanted: Filters, zone: tzinfo, *,
            starting_after: str = "", ending_before: str = "") -> scoping.Page:
    """One page (newest first) of the organization's invoices, payments, credit notes or
    bank transactions that pass the filters; days are the organization's (bank
    transactions: their booking day)."""
    query = select(model).where(model.org_id == org_id)
    if wanted.status:
        query = query.where(model.status == wanted.status)
    if wanted.customer:
        query = query.where(model.customer_id == wanted.customer)
    if model is m.BankTransaction:
        if wanted.first:
            query = query.where(model.booking_date >= wanted.first)
        if wanted.last:
            query = query.where(model.booking_date <= wanted.last)
    else:
        if wanted.first:
            query = query.where(model.created >= _midnight(wanted.first, zone))
        if wanted.last:
            query = query.where(model.created < _midnight(wanted.last + timedelta(days=1),
                                                          zone))
    return scoping.paginate(uow.session, query, model, limit=PAGE_SIZE,
                            starting_after=_cursor(starting_after, "starting_after"),
                            ending_before=_cursor(ending_before, "ending_before"))


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, zone)


def search_customers(uow: UnitOfWork, org_id: str, text: str, *, starting_after: str = "",
                     ending_before: str = "") -> scoping.Page:
    """Customers whose name or e-mail contains `text` (any case), or whose id or external id
    it is; all of them when it is empty. Newest first."""
    text = text.strip()
    if len(text) > MAX_SEARCH:
        raise InvalidRequest(f"Search for at most {MAX_SEARCH} characters.", param="q")
    query = select(m.Customer).where(m.Customer.org_id == org_id,
                                     m.Customer.deleted.is_(False))
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%") \
            .replace("_", "\\_") + "%"
        query = query.where(or_(func.lower(m.Customer.name).like(pattern, escape="\\"),
                                func.lower(m.Customer.email).like(pattern, escape="\\"),
                                m.Customer.id == text, m.Customer.external_id == text))
    return scoping.paginate(uow.session, query, m.Customer, limit=PAGE_SIZE,
                            starting_after=_cursor(starting_after, "starting_after"),
                            ending_before=_cursor(ending_before, "ending_before"))


def customer_names(uow: UnitOfWork, org_id: str, ids: Sequence[str | None]) -> dict[str, str]:
    """The names (else e-mails, else ids) of the customers `ids`, for lists."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = uow.session.execute(select(m.Customer.id, m.Customer.name, m.Customer.email).where(
        m.Customer.org_id == org_id, m.Customer.id.in_(wanted)))
    return {row.id: row.name or row.email or row.id for row in rows}


# --- one customer ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Moment:
    """One line of a timeline: an event, or an audit-log entry (a change someone made)."""

    id: str
    at: datetime
    kind: str  # event | audit
    title: str
    object_id: str | None
    actor: str  # "api_key key_...", "operator op_...", "system"
    changes: list[tuple[str, str, str]]  # field, before, after


@dataclass
class CustomerOverview:
    """Everything about one customer, newest first where there are many."""

    customer: m.Customer
    subscriptions: list[m.Subscription]
    history: dict[str, list[Moment]]  # subscription id -> its events, oldest first
    invoices: list[m.Invoice]
    payments: list[m.Payment]
    refunds: list[m.Refund]
    credit_notes: list[m.CreditNote]
    balance_transactions: list[m.BalanceTransaction]
    dunning_cases: list[m.DunningCase]
    payment_methods: list[m.PaymentMethod]
    usage: list[self_service.MeterUsage]
    timeline: list[Moment] = field(default_factory=list)


def customer_overview(uow: UnitOfWork, org_id: str, customer_id: str) -> CustomerOverview:
    """The customer 360: profile, subscriptions with their history, invoices, payments and
    refunds, credit notes, balance and its transactions, dunning, payment methods, this
    period's usage, and a timeline of the events and audit entries about them."""
    customer = scoping.get(uow.session, m.Customer, org_id, customer_id, param="customer")

    def newest(model: Any, *where: Any, limit: int = RECENT) -> list[Any]:
        return list(uow.session.scalars(select(model).where(model.org_id == org_id, *where)
                                        .order_by(model.id.desc()).limit(limit)))

    subs = newest(m.Subscription, m.Subscription.customer_id == customer.id, limit=100)
    payment_rows = newest(m.Payment, m.Payment.customer_id == customer.id)
    overview = CustomerOverview(
        customer=customer, subscriptions=subs, history=subscription_history(uow, org_id, subs),
        invoices=newest(m.Invoice, m.Invoice.customer_id == customer.id),
        payments=payment_rows,
        refunds=newest(m.Refund, m.Refund.payment_id.in_([p.id for p in payment_rows])),
        credit_notes=newest(m.CreditNote, m.CreditNote.customer_id == customer.id),
        balance_transactions=newest(m.BalanceTransaction,
                                    m.BalanceTransaction.customer_id == customer.id),
        dunning_cases=newest(m.DunningCase, m.DunningCase.customer_id == customer.id),
        payment_methods=newest(m.PaymentMethod, m.PaymentMethod.customer_id == customer.id),
        usage=usage_this_period(uow, org_id, customer.id))
    overview.timeline = timeline(uow, org_id, _about(overview))
    return overview


def _about(overview: CustomerOverview) -> list[str]:
    """The ids of the objects that are the customer's."""
    rows: list[Any] = [overview.customer, *overview.subscriptions, *overview.invoices,
                       *overview.payments, *overview.refunds, *overview.credit_notes,
                       *overview.dunning_cases, *overview.payment_methods]
    return [row.id for row in rows]


def subscription_history(uow: UnitOfWork, org_id: str,
                         subs: Sequence[m.Subscription]) -> dict[str, list[Moment]]:
    """Each subscription's `customer.subscription.*` events, oldest first."""
    found: dict[str, list[Moment]] = defaultdict(list)
    if not subs:
        return found
    for event in uow.session.scalars(select(m.Event).where(
            m.Event.org_id == org_id, m.Event.object_id.in_([s.id for s in subs]),
            m.Event.type.like("customer.subscription.%")).order_by(m.Event.id)):
        found[event.object_id].append(_event_moment(event))
    return found


def timeline(uow: UnitOfWork, org_id: str, object_ids: Sequence[str]) -> list[Moment]:
    """The newest events and audit-log entries about the objects, newest first."""
    events = uow.session.scalars(select(m.Event).where(
        m.Event.org_id == org_id, m.Event.object_id.in_(object_ids))
        .order_by(m.Event.id.desc()).limit(TIMELINE))
    entries = uow.session.scalars(select(m.AuditEntry).where(
        m.AuditEntry.org_id == org_id, m.AuditEntry.object_id.in_(object_ids))
        .order_by(m.AuditEntry.id.desc()).limit(TIMELINE))
    moments = [_event_moment(e) for e in events] + [_audit_moment(a) for a in entries]
    # Ids sort by creation after their prefix: a request's audit entry comes after (here:
    # above) the events it wrote.
    return sorted(moments, key=lambda moment: (moment.at, moment.id.split("_", 1)[-1]),
                  reverse=True)[:TIMELINE]


def _actor(actor: dict[str, Any] | None) -> str:
    return f"{actor.get('type')} {actor.get('id')}" if actor else "system"


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return "(changed)"
    return str(value)


def _event_moment(event: m.Event) -> Moment:
    obj = event.data.get("object") or {}
    previous = event.data.get("previous_attributes") or {}
    return Moment(event.id, event.created, "event", event.type, event.object_id,
                  _actor(event.actor),
                  [(name, _text(before), _text(obj.get(name)))
                   for name, before in previous.items()])


def _audit_moment(entry: m.AuditEntry) -> Moment:
    changed = [(f"{change.get('object')}.{name}", _text(diff.get("before")),
                _text(diff.get("after")))
               for change in entry.changes for name, diff in (change.get("changes") or {})
               .items() if isinstance(diff, dict)]
    return Moment(entry.id, entry.created, "audit", f"{entry.method} {entry.path}",
                  entry.object_id, f"{entry.actor_type} {entry.actor_id}", changed)


def usage_this_period(uow: UnitOfWork, org_id: str,
                      customer_id: str) -> list[self_service.MeterUsage]:
    """Per metered item of the customer's running subscriptions: usage so far this period,
    as the customer's portal shows it (the same reading)."""
    # The portal's reading is bound to a visitor; this one is the customer looked at.
    seen_as = portal.Visitor("", org_id, customer_id, None, None)
    return self_service.current_usage(uow, seen_as, portal.subscriptions_of(uow, seen_as))


# --- one invoice, one bank transaction -------------------------------------------------------

@dataclass
class InvoiceOverview:
    invoice: m.Invoice
    customer: m.Customer
    payments: list[m.Payment]
    refunds: dict[str, list[m.Refund]]  # payment id -> its refunds
    credit_notes: list[m.CreditNote]
    dunning_case: m.DunningCase | None
    default_method: m.PaymentMethod | None
    timeline: list[Moment]


def invoice_overview(uow: UnitOfWork, org_id: str, invoice_id: str) -> InvoiceOverview:
    """An invoice with its customer, payments and their refunds, credit notes, its latest
    dunning case and its timeline."""
    invoice = scoping.get(uow.session, m.Invoice, org_id, invoice_id, param="invoice")
    customer = uow.session.get(m.Customer, invoice.customer_id)
    assert customer is not None

    def rows(model: Any, *where: Any) -> list[Any]:
        return list(uow.session.scalars(select(model).where(model.org_id == org_id, *where)
                                        .order_by(model.id.desc())))

    payment_rows = rows(m.Payment, m.Payment.invoice_id == invoice.id)
    refunds: dict[str, list[m.Refund]] = defaultdict(list)
    for refund in rows(m.Refund, m.Refund.payment_id.in_([p.id for p in payment_rows])):
        refunds[refund.payment_id].append(refund)
    notes = rows(m.CreditNote, m.CreditNote.invoice_id == invoice.id)
    cases = rows(m.DunningCase, m.DunningCase.invoice_id == invoice.id)
    method = uow.session.get(m.PaymentMethod, customer.default_payment_method_id) \
        if customer.default_payment_method_id else None
    ids = [invoice.id, *(p.id for p in payment_rows), *(n.id for n in notes),
           *(c.id for c in cases)]
    return InvoiceOverview(invoice, customer, payment_rows, refunds, notes,
                           cases[0] if cases else None,
                           method if method and method.status == "attached" else None,
                           timeline(uow, org_id, ids))


def find_invoice(uow: UnitOfWork, org_id: str, reference: str) -> m.Invoice:
    """The organization's invoice with this id or number (NotFound)."""
    reference = reference.strip()
    found = uow.session.scalars(select(m.Invoice).where(
        m.Invoice.org_id == org_id, m.Invoice.number == reference)).first() \
        if reference and len(reference) <= 60 else None
    return found or scoping.get(uow.session, m.Invoice, org_id, reference, param="invoice")


def suggested_invoices(uow: UnitOfWork, org_id: str,
                       transaction: m.BankTransaction) -> list[m.Invoice]:
    """The invoices reconciliation suggested for an unmatched transaction, best first."""
    ids = [s.get("invoice") for s in transaction.suggestions or [] if isinstance(s, dict)]
    rows = {i.id: i for i in uow.session.scalars(select(m.Invoice).where(
        m.Invoice.org_id == org_id, m.Invoice.id.in_([i for i in ids if i])))}
    return [rows[i] for i in ids if i in rows]


def payments_of_transaction(uow: UnitOfWork, org_id: str,
                            transaction_id: str) -> list[m.Payment]:
    """The payments a bank transaction was matched to."""
    return list(uow.session.scalars(select(m.Payment).where(
        m.Payment.org_id == org_id, m.Payment.bank_transaction_id == transaction_id)
        .order_by(m.Payment.id)))


def collectable(uow: UnitOfWork, org_id: str, invoice_id: str) -> m.Invoice:
    """The invoice, if it can be charged now on its customer's default payment method;
    otherwise InvalidState saying why."""
    invoice = scoping.get(uow.session, m.Invoice, org_id, invoice_id, param="invoice")
    if invoice.status not in ("open", "uncollectible") or invoice.amount_remaining <= 0:
        raise InvalidState(f"Invoice is {invoice.status}; only an open or uncollectible "
                           "invoice with something left to pay can be charged.")
    customer = uow.session.get(m.Customer, invoice.customer_id)
    method = uow.session.get(m.PaymentMethod, customer.default_payment_method_id) \
        if customer and customer.default_payment_method_id else None
    if method is None or method.status != "attached":
        raise InvalidState("The customer has no default payment method to charge.",
                           param="payment_method")
    if invoices.charge_in_flight(uow.session, invoice.id):
        raise InvalidState("A charge of this invoice is already in progress.")
    return invoice


# --- a reminder sent by hand ------------------------------------------------------------------

def send_reminder(uow: UnitOfWork, org_id: str, invoice_id: str) -> m.EmailMessage:
    """E-mail the customer the reminder of an invoice sent to them, now: before or on its due
    date a reminder, after it the overdue notice (services/emails.py). Each of those goes
    once per day relative to the due date, so one the dunning policy already sent today is
    not sent again (InvalidState)."""
    org, invoice, customer, now = invoices.load(uow, org_id, invoice_id, param="invoice")
    if invoice.status not in ("open", "uncollectible") or invoice.amount_remaining <= 0:
        raise InvalidState(f"Invoice is {invoice.status}; reminders are of invoices with "
                           "something left to pay.")
    if invoice.due_date is None:
        raise InvalidState("This invoice is charged automatically and has no due date; retry "
                           "the payment instead (a failed charge e-mails the customer).")
    if not customer.email:
        raise InvalidState("The customer has no e-mail address.", param="email")
    earlier = set(uow.session.scalars(select(m.EmailMessage.id).where(
        m.EmailMessage.org_id == org_id, m.EmailMessage.customer_id == customer.id)))
    days = (now.date() - invoice.due_date.date()).days
    message = emails.invoice_reminder(uow, org, customer, invoice, days=days)
    if message is None:
        raise InvalidState("The organization has turned this e-mail off.")
    if message.id in earlier:
        raise InvalidState("This reminder was already sent today "
                           f"({message.created:%Y-%m-%d %H:%M} UTC).")
    uow.commit()
    return message


# --- the catalog ------------------------------------------------------------------------------

@dataclass
class Catalog:
    products: list[m.Product]
    prices: dict[str, list[m.Price]]  # product id -> its prices
    meters: list[m.Meter]
    coupons: list[m.Coupon]
    promotion_codes: dict[str, list[m.PromotionCode]]  # coupon id -> its codes


def catalog(uow: UnitOfWork, org_id: str, limit: int = 500) -> Catalog:
    """The organization's products with their prices, meters and coupons with their codes
    (newest first, at most `limit` of each)."""
    def rows(model: Any) -> list[Any]:
        return list(uow.session.scalars(select(model).where(model.org_id == org_id)
                                        .order_by(model.created.desc(), model.id.desc())
                                        .limit(limit)))

    prices: dict[str, list[m.Price]] = defaultdict(list)
    for price in rows(m.Price):
        prices[price.product_id].append(price)
    codes: dict[str, list[m.PromotionCode]] = defaultdict(list)
    for code in rows(m.PromotionCode):
        codes[code.coupon_id].append(code)
    return Catalog(rows(m.Product), prices, rows(m.Meter), rows(m.Coupon), codes)

