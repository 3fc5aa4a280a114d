"""Invoices: one-off items, manual invoices, finalization with gapless numbers, and the
status changes finance makes by hand (paid out of band, void, uncollectible)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from kassa.core.clock import parse_timestamp
from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.ids import new_id, secret_token
from kassa.core.money import normalize_currency, round_minor
from kassa.domain import invoices as domain
from kassa.domain import numbering, pricing
from kassa.services import (
    discounts,
    emails,
    events,
    objects,
    prefetch,
    scoping,
    sequences,
    taxes,
)
from kassa.services.catalog import model_of, parse_unit_amount
from kassa.services.customers import now_for, record_balance_change
from kassa.services.organizations import timezone_of
from kassa.services.schedule import collection_pause, refresh
from kassa.services.usage_billing import reprice_usage
from kassa.store import models as m
from kassa.store import rows
from kassa.store.uow import UnitOfWork

COLLECTION_METHODS = ("charge_automatically", "send_invoice")


def recompute(invoice: m.Invoice) -> None:
    """Totals of a draft from its lines: exact sums, never rounded here. `total` is what the
    lines come to after their discounts, plus the tax of tax-exclusive lines (an inclusive
    line's amount already holds its tax)."""
    result = domain.totals((line.amount for line in invoice.lines), tax=invoice.tax or 0,
                           discount=sum(line.discount_amount or 0 for line in invoice.lines),
                           total_excluding_tax=invoice.total_excluding_tax)
    due = max(result.total, 0)
    rows.assign(invoice, subtotal=result.subtotal, total=result.total,
                total_discount=result.discount, amount_due=due,
                amount_remaining=due - invoice.amount_paid)


def compose(uow: UnitOfWork, invoice: m.Invoice, at: datetime) -> None:
    """Apply the customer's discounts to a draft's lines, then tax, then total it."""
    discounts.apply(uow, invoice, invoice.lines, at)
    taxes.apply(uow, invoice, invoice.lines, at)
    recompute(invoice)
    batch = prefetch.of(uow.session)
    if batch is not None and invoice.id is not None:
        batch.composed[invoice.id] = at


def subscription_draft(uow: UnitOfWork, customer: m.Customer, sub: m.Subscription, *,
                       currency: str, billing_reason: str, billing_at: datetime,
                       period_start: datetime, period_end: datetime,
                       auto_finalize_at: datetime | None, now: datetime,
                       pending: bool = True) -> m.Invoice:
    """A new, empty draft invoice of a subscription, collected the subscription's way; added
    to the session unless not `pending` (a billing batch writes it, services/prefetch.py)."""
    collection = sub.collection_method
    invoice = rows.built(m.Invoice, dict(
        id=new_id("in"), org_id=customer.org_id, customer_id=customer.id,
        subscription_id=sub.id, status="draft", currency=currency, amount_paid=0,
        billing_reason=billing_reason, collection_method=collection,
        days_until_due=sub.days_until_due if collection == "send_invoice" else None,
        billing_at=billing_at, period_start=period_start, period_end=period_end,
        auto_advance=True, auto_finalize_at=auto_finalize_at, metadata_={}, created=now))
    set_committed_value(invoice, "lines", [])  # none yet: known without asking the database
    if pending:
        uow.session.add(invoice)
    return invoice


def item_line(item: m.InvoiceItem, position: int) -> m.InvoiceLine:
    """The invoice line that carries a one-off item, or a proration of a subscription item
    (a `subscription` line, so it stays in that item's ledger)."""
    return m.InvoiceLine(
        id=new_id("il"), org_id=item.org_id, position=position,
        type="subscription" if item.proration else "invoiceitem",
        subscription_id=item.subscription_id, subscription_item_id=item.subscription_item_id,
        invoice_item_id=item.id, price_id=item.price_id, description=item.description,
        quantity=item.quantity, unit_amount_decimal=item.unit_amount_decimal,
        amount=item.amount, currency=item.currency, period_start=item.period_start,
        period_end=item.period_end, proration=bool(item.proration),
        proration_fraction=item.proration_fraction)


def pending_items(uow: UnitOfWork, customer: m.Customer, currency: str, *,
                  subscription_id: str | None = None) -> list[m.InvoiceItem]:
    """The customer's one-off items in `currency` that wait for an invoice (only those of
    one subscription, if given)."""
    batch = prefetch.of(uow.session)
    if batch is not None and batch.covers(customer.id):
        return [item for item in batch.items.get(customer.id, [])
                if item.invoice_id is None and item.currency == currency
                and subscription_id in (None, item.subscription_id)]
    query = select(m.InvoiceItem).where(
        m.InvoiceItem.customer_id == customer.id, m.InvoiceItem.invoice_id.is_(None),
        m.InvoiceItem.currency == currency)
    if subscription_id is not None:
        query = query.where(m.InvoiceItem.subscription_id == subscription_id)
    with uow.session.no_autoflush:  # pending items are flushed rows; nothing to flush first
        return list(uow.session.scalars(query.order_by(m.InvoiceItem.id)))


def pending_lines(uow: UnitOfWork, customer: m.Customer, currency: str, *,
                  start: int) -> list[m.InvoiceLine]:
    """Lines the pending items would become on the next invoice (nothing is changed)."""
    return [item_line(item, start + i)
            for i, item in enumerate(pending_items(uow, customer, currency))]


def attach_pending_items(uow: UnitOfWork, customer: m.Customer, invoice: m.Invoice, *,
                         subscription_id: str | None = None) -> None:
    """Move the customer's pending one-off items in the invoice's currency onto it."""
    for item in pending_items(uow, customer, invoice.currency,
                              subscription_id=subscription_id):
        item.invoice_id = invoice.id
        invoice.lines.append(item_line(item, len(invoice.lines)))


def create_invoice_item(uow: UnitOfWork, org_id: str, *, customer: str,
                        currency: str | None = None, amount: int | None = None,
                        unit_amount: int | None = None, unit_amount_decimal: str | None = None,
                        price: str | None = None, quantity: int = 1,
                        description: str | None = None, invoice: str | None = None,
                        period: dict[str, int] | None = None,
                        metadata: dict[str, Any] | None = None) -> m.InvoiceItem:
    """A one-off charge (positive) or credit (negative `amount`) for the next invoice.

    Given `invoice`, the item goes on that draft invoice instead.
    """
    cust = scoping.get(uow.session, m.Customer, org_id, customer, param="customer")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise InvalidRequest("quantity must be a positive integer.", param="quantity")
    price_row = None
    if price is not None:
        price_row = scoping.get(uow.session, m.Price, org_id, price, param="price")
        if price_row.type != "one_time":
            raise InvalidRequest("An invoice item's price must be a one-time price.",
                                 param="price")
        if price_row.billing_scheme == "percentage":
            raise InvalidRequest("A percentage price bills metered transactions, not an "
                                 "invoice item.", param="price")
        # Tiers and packages decide the total; the line's unit price is its average.
        total = pricing.total(pricing.price(model_of(price_row), Decimal(quantity)))
        unit = total / quantity
        currency = currency or price_row.currency
        description = description or price_row.product.name
    elif amount is not None:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidRequest("amount must be an integer in minor units.", param="amount")
        if quantity != 1 or unit_amount is not None or unit_amount_decimal is not None:
            raise InvalidRequest("Give amount, or unit_amount with quantity, not both.",
                                 param="amount")
        unit = Decimal(amount)
    else:
        unit = parse_unit_amount(unit_amount, unit_amount_decimal)  # type: ignore[assignment]
    if currency is None:
        raise InvalidRequest("currency is required.", param="currency")
    currency = normalize_currency(currency)
    if price_row is not None and price_row.currency != currency:
        raise InvalidRequest("The price is in another currency.", param="price")
    now = now_for(uow, cust)
    start = end = now
    if period is not None:
        start, end = _period(period)
    row = m.InvoiceItem(
        id=new_id("ii"), org_id=org_id, customer_id=cust.id, price_id=price_row and price_row.id,
        currency=currency, description=description or "One-off charge", quantity=quantity,
        unit_amount_decimal=unit, amount=round_minor(unit * quantity) if price_row is None
        else round_minor(total), period_start=start,
        period_end=end, metadata_=metadata or {}, created=now)
    uow.session.add(row)
    if invoice is not None:
        target = scoping.get(uow.session, m.Invoice, org_id, invoice, param="invoice")
        if target.status != "draft" or target.customer_id != cust.id \
                or target.currency != currency:
            raise InvalidRequest("Items can be added only to a draft invoice of the same "
                                 "customer and currency.", param="invoice")
        row.invoice_id = target.id
        target.lines.append(item_line(row, len(target.lines)))
        compose(uow, target, now)
    events.record(uow.session, org_id, "invoiceitem.created", objects.invoice_item(row), now)
    uow.commit()
    return row


def _period(period: Any) -> tuple[datetime, datetime]:
    if not isinstance(period, dict) or not {"start", "end"} <= set(period):
        raise InvalidRequest("period needs start and end.", param="period")
    start = parse_timestamp(period["start"], "period[start]")
    end = parse_timestamp(period["end"], "period[end]")
    if end < start:
        raise InvalidRequest("period end is before its start.", param="period[end]")
    return start, end


def create_invoice(uow: UnitOfWork, org_id: str, *, customer: str,
                   currency: str | None = None, collection_method: str = "send_invoice",
                   days_until_due: int | None = None, auto_advance: bool = True,
                   description: str | None = None,
                   pending_invoice_items_behavior: str = "include",
                   metadata: dict[str, Any] | None = None) -> m.Invoice:
    """A manual draft invoice for a customer, holding their pending items by default."""
    org = uow.session.get(m.Organization, org_id)
    assert org is not None
    cust = scoping.get(uow.session, m.Customer, org_id, customer, param="customer")
    if collection_method not in COLLECTION_METHODS:
        raise InvalidRequest(f"collection_method must be one of {', '.join(COLLECTION_METHODS)}.",
                             param="collection_method")
    if pending_invoice_items_behavior not in ("include", "exclude"):
        raise InvalidRequest("pending_invoice_items_behavior must be include or exclude.",
                             param="pending_invoice_items_behavior")
    if days_until_due is not None and (collection_method != "send_invoice"
                                       or not 0 <= days_until_due <= 365):
        raise InvalidRequest("days_until_due is 0 to 365 days, for send_invoice invoices.",
                             param="days_until_due")
    currency = normalize_currency(currency or cust.currency or org.default_currency)
    now = now_for(uow, cust)
    invoice = m.Invoice(
        id=new_id("in"), org_id=org_id, customer_id=cust.id, status="draft", currency=currency,
        amount_paid=0,
        billing_reason="manual", collection_method=collection_method,
        days_until_due=(org.days_until_due if days_until_due is None else days_until_due)
        if collection_method == "send_invoice" else None,
        period_start=now, period_end=now, auto_advance=auto_advance,
        auto_finalize_at=now + timedelta(seconds=org.draft_grace_seconds) if auto_advance
        else None, description=description, metadata_=metadata or {}, created=now)
    invoice.lines = []
    uow.session.add(invoice)
    if pending_invoice_items_behavior == "include":
        attach_pending_items(uow, cust, invoice)
    compose(uow, invoice, now)
    events.record(uow.session, org_id, "invoice.created", objects.invoice(invoice), now)
    uow.commit()
    return invoice


def next_number(uow: UnitOfWork, org: m.Organization, issued_at: datetime,
                document: numbering.Document = "invoice", *,
                target: m.Invoice | None = None) -> str:
    """Take the next number of the organization's series for invoices or credit notes.

    The series' row stays locked until the transaction ends (services/sequences.py): a
    concurrent finalization waits, and a rollback gives the number back, so numbers are
    never skipped or repeated.

    In a billing batch, an invoice's number (`target`'s) is only given out: it stands for
    the next number until the batch writes, and the batch takes all it gave out then, in
    one statement per series (`prefetch.take_numbers`), so the series is locked only for
    the batch's writes and commit rather than from its first invoice on.
    """
    issued_on = issued_at.astimezone(timezone_of(org)).date()
    prefix = numbering.document_prefix(document, org.invoice_prefix)
    number_format = org.invoice_number_format
    series = numbering.document_series(document, number_format, org.invoice_prefix, issued_on)
    batch = prefetch.of(uow.session)
    if batch is not None and target is not None:
        return batch.give_number(org.id, series, target, lambda number: numbering.format_number(
            number_format, prefix, number, issued_on))
    number = sequences.take(uow.session, org.id, series, 1)
    return numbering.format_number(number_format, prefix, number, issued_on)


def finalize(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
             now: datetime) -> None:
    """Draft -> open: number it, freeze the customer's details, apply the balance, set due date.

    An invoice with nothing to pay is paid at once. Records `invoice.finalized` (and
    `invoice.paid`). The caller holds the customer's row lock, refreshes the subscriptions
    the invoice bills, and commits.
    """
    prepare(uow, org, customer, invoice, now)
    issue(uow, org, customer, invoice, now)


def prepare(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
            now: datetime) -> None:
    """The first half of `finalize`: the draft's amounts as they will be issued (usage
    repriced, discounts and tax applied, a `once` discount used up). It takes no number."""
    if invoice.status != "draft":
        raise InvalidState(f"Invoice {invoice.id} is {invoice.status}, not a draft.")
    # A draft this billing batch composed at this very moment is not counted and composed
    # again: the same rows would give the same lines (unless closing its usage reorders them).
    batch = prefetch.of(uow.session)
    fresh = batch is not None and batch.composed.get(invoice.id) == now
    order = [line.id for line in invoice.lines]
    reprice_usage(uow, org, customer, invoice, recount=not fresh)
    if not fresh or order != [line.id for line in invoice.lines]:
        compose(uow, invoice, now)
    discounts.consume_once(uow, invoice, now)


def issue(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
          now: datetime) -> None:
    """The second half of `finalize`, on a `prepare`d draft: the balance applied, the number
    taken, the invoice open (or paid), its events and e-mail.

    In a billing batch, the number is only given out (`next_number`) and taken when the
    batch writes; until then, the events and e-mails built from the invoice carry what
    stands for it, and the batch puts the number in its place.
    """
    applied = domain.apply_balance(invoice.total, customer.balance)
    if applied.applied:
        # A credit invoice (unused time credited beyond what it charges) adds to the balance.
        credit = invoice.total < 0
        record_balance_change(uow, customer, -applied.applied,
                              "invoice_credit" if credit else "applied_to_invoice",
                              description="Credit for unused time and other credits on this "
                              "invoice" if credit else None, invoice_id=invoice.id)
    number = next_number(uow, org, now, target=invoice)
    rows.assign(invoice, starting_balance=applied.starting_balance,
                ending_balance=applied.ending_balance, amount_due=applied.amount_due,
                amount_remaining=applied.amount_due - invoice.amount_paid, number=number,
                status="open", finalized_at=now, hosted_token=secret_token(),
                auto_finalize_at=None, customer_name=customer.name,
                customer_email=customer.email, customer_address=dict(customer.address or {}),
                customer_vat_id=customer.vat_id)
    if invoice.collection_method == "send_invoice":
        rows.assign(invoice, due_date=domain.due_date(now, invoice.days_until_due or 0),
                    next_dunning_at=now)  # its reminders (services/dunning.py)
    events.record(uow.session, org.id, "invoice.finalized", objects.invoice(invoice), now)
    if invoice.amount_due == 0:
        emails.invoice_issued(uow, org, customer, invoice)
        mark_paid(uow, org, invoice, now)
        return
    # A subscription whose collection is paused collects nothing: its invoice is written off
    # or voided at once, as the pause says, and not sent.
    sub = rows.held(uow.session, m.Subscription, invoice.subscription_id) \
        if invoice.subscription_id else None
    behavior = collection_pause(sub, now)
    if behavior == "mark_uncollectible":
        write_off(uow, org, invoice, now)
    elif behavior == "void":
        void(uow, org, customer, invoice, now)
    else:
        emails.invoice_issued(uow, org, customer, invoice)
        if invoice.collection_method == "charge_automatically":
            invoice.next_payment_attempt = now  # collected right after (services/payments.py)


def mark_paid(uow: UnitOfWork, org: m.Organization, invoice: m.Invoice, now: datetime) -> None:
    """Open -> paid: nothing remains to be paid. Records `invoice.paid`."""
    invoice.amount_paid = invoice.amount_due
    invoice.amount_remaining = 0
    invoice.status = "paid"
    invoice.paid_at = now
    invoice.next_payment_attempt = invoice.payment_failed_at = None
    if invoice.subscription_id:
        sub = uow.session.get(m.Subscription, invoice.subscription_id)
        if sub is not None and sub.awaiting_first_payment and sub.latest_invoice_id == invoice.id:
            sub.awaiting_first_payment = False
    events.record(uow.session, org.id, "invoice.paid", objects.invoice(invoice), now)
    emails.payment_receipt(uow, org, invoice)


def refresh_subscriptions(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                          invoice: m.Invoice, now: datetime) -> None:
    """Bring the subscriptions an invoice bills up to date after its status changed."""
    subscription_ids = {line.subscription_id for line in invoice.lines if line.subscription_id}
    for sub_id in sorted(subscription_ids):
        sub = uow.session.get(m.Subscription, sub_id)
        if sub is not None:
            refresh(uow, org, customer, sub, now)


def charge_in_flight(session: Session, invoice_id: str) -> bool:
    """Whether a charge of the invoice is still under way (processing, or awaiting the
    customer's authentication)."""
    return session.scalar(select(m.Payment.id).where(
        m.Payment.invoice_id == invoice_id,
        m.Payment.status.in_(("processing", "requires_action"))).limit(1)) is not None


def load(uow: UnitOfWork, org_id: str, invoice_id: str, *,
         param: str = "id") -> tuple[m.Organization, m.Invoice, m.Customer, datetime]:
    """An invoice to change, its organization, its customer locked, and the customer's now."""
    invoice = scoping.get(uow.session, m.Invoice, org_id, invoice_id, param=param)
    org = uow.session.get(m.Organization, org_id)
    # The customer's row lock serializes everything that touches their invoices and balance.
    customer = uow.session.get(m.Customer, invoice.customer_id, with_for_update=True)
    assert org is not None and customer is not None
    uow.session.refresh(invoice)
    return org, invoice, customer, now_for(uow, customer)


def finalize_invoice(uow: UnitOfWork, org_id: str, invoice_id: str) -> m.Invoice:
    """Finalize a draft now (POST /v1/invoices/{id}/finalize)."""
    org, invoice, customer, now = load(uow, org_id, invoice_id)
    finalize(uow, org, customer, invoice, now)
    refresh_subscriptions(uow, org, customer, invoice, now)
    uow.commit()
    return invoice


def void_invoice(uow: UnitOfWork, org_id: str, invoice_id: str) -> m.Invoice:
    """Open -> void. Credit balance the invoice used goes back to the customer."""
    org, invoice, customer, now = load(uow, org_id, invoice_id)
    if invoice.status not in ("open", "uncollectible"):
        raise InvalidState(f"Invoice is {invoice.status}; only open or uncollectible invoices "
                           "can be voided.")
    if invoice.amount_paid:
        raise InvalidState("Invoice has payments; issue a credit note instead of voiding it.",
                           code="invoice_has_payments")
    if uow.session.scalar(select(m.CreditNote.id).where(
            m.CreditNote.invoice_id == invoice.id, m.CreditNote.status == "issued").limit(1)):
        raise InvalidState("Invoice has credit notes; credit what remains instead of voiding "
                           "it.", code="invoice_has_credit_notes")
    void(uow, org, customer, invoice, now)
    refresh_subscriptions(uow, org, customer, invoice, now)
    uow.commit()
    return invoice


def void(uow: UnitOfWork, org: m.Organization, customer: m.Customer, invoice: m.Invoice,
         now: datetime) -> None:
    """Open or uncollectible -> void; the credit balance it used goes back to the customer.
    Records `invoice.voided`; the caller checks the status and commits."""
    used = invoice.starting_balance - (invoice.ending_balance or 0)
    if used:
        record_balance_change(uow, customer, used, "invoice_voided", invoice_id=invoice.id)
    invoice.status = "void"
    invoice.voided_at = now
    invoice.amount_remaining = 0
    events.record(uow.session, org.id, "invoice.voided", objects.invoice(invoice), now)


def mark_uncollectible(uow: UnitOfWork, org_id: str, invoice_id: str) -> m.Invoice:
    org, invoice, customer, now = load(uow, org_id, invoice_id)
    if invoice.status != "open":
        raise InvalidState(f"Invoice is {invoice.status}; only open invoices can be marked "
                           "uncollectible.")
    write_off(uow, org, invoice, now)
    refresh_subscriptions(uow, org, customer, invoice, now)
    uow.commit()
    return invoice


def write_off(uow: UnitOfWork, org: m.Organization, invoice: m.Invoice, now: datetime) -> None:
    """Open -> uncollectible: no more automatic charges (a payment is still taken, and a
    new payment method is still tried). Records `invoice.marked_uncollectible`; the caller
    commits."""
    invoice.status = "uncollectible"
    invoice.marked_uncollectible_at = now
    invoice.next_payment_attempt = None
    events.record(uow.session, org.id, "invoice.marked_uncollectible",
                  objects.invoice(invoice), now)


def delete_draft(uow: UnitOfWork, org_id: str, invoice_id: str) -> m.Invoice:
    """Delete a manual draft; its items return to pending. Subscription drafts are voided
    after finalization instead, so their periods stay accounted for."""
    invoice = scoping.get(uow.session, m.Invoice, org_id, invoice_id, lock=True)
    if invoice.status != "draft" or invoice.billing_reason != "manual":
        raise InvalidState("Only manual draft invoices can be deleted.")
    for item in uow.session.scalars(select(m.InvoiceItem).where(
            m.InvoiceItem.invoice_id == invoice.id)):
        item.invoice_id = None
    for line in list(invoice.lines):
        uow.session.delete(line)
    uow.session.delete(invoice)
    uow.commit()
    return invoice


def list_invoices(uow: UnitOfWork, org_id: str, *, customer: str | None = None,
                  subscription: str | None = None, status: str | None = None,
                  **page: Any) -> scoping.Page:
    query = select(m.Invoice).where(m.Invoice.org_id == org_id)
    if customer:
        query = query.where(m.Invoice.customer_id == customer)
    if subscription:
        query = query.where(m.Invoice.subscription_id == subscription)
    if status:
        query = query.where(m.Invoice.status == status)
    return scoping.paginate(uow.session, query, m.Invoice, **page)
