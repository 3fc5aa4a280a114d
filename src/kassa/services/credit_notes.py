"""Credit notes: corrections of finalized invoices (Stripe's `credit_notes`).

A credit note on an open invoice first reduces what remains to be paid; what exceeds that,
and every credit note on a paid invoice, is credited to the customer's balance, refunded,
or settled outside Kassa. Credit notes are numbered in their own gapless series
(ACME-CN-000001). Voiding one reverses its effects exactly.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from kassa.core.errors import InvalidRequest
from kassa.core.ids import new_id
from kassa.domain import credit_notes as domain
from kassa.services import emails, events, invoices, objects, scoping
from kassa.services.customers import record_balance_change
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

MAX_LINES = 100
_PARAMS = frozenset({"invoice", "lines", "amount", "reason", "memo", "credit_amount",
                     "refund_amount", "out_of_band_amount", "metadata"})
_LINE_FIELDS = frozenset({"type", "invoice_line", "quantity", "amount", "description",
                          "unit_amount"})


@dataclass(frozen=True)
class _Prepared:
    org: m.Organization
    invoice: m.Invoice
    customer: m.Customer
    now: datetime
    plan: domain.Plan


def preview_credit_note(uow: UnitOfWork, org_id: str, **params: Any) -> m.CreditNote:
    """The credit note `create_credit_note` would make with these parameters, unsaved
    (no id, no number); nothing is written."""
    return _build(_prepare(uow, org_id, params), params, stored=False)


def create_credit_note(uow: UnitOfWork, org_id: str, **params: Any) -> m.CreditNote:
    """Issue a credit note on an open or paid invoice (POST /v1/credit_notes).

    Parameters as Stripe's: `invoice`, `lines` or `amount`, `reason`, `memo`,
    `credit_amount`, `refund_amount`, `out_of_band_amount`, `metadata`. Records
    `credit_note.created`, and `invoice.updated` (and `invoice.paid`) when it reduces what
    remains to be paid on the invoice.
    """
    prepared = _prepare(uow, org_id, params)
    org, invoice, customer, now = (prepared.org, prepared.invoice, prepared.customer,
                                   prepared.now)
    note = _build(prepared, params, stored=True)
    note.number = invoices.next_number(uow, org, now, "credit_note")
    uow.session.add(note)
    events.record(uow.session, org_id, "credit_note.created", objects.credit_note(note), now)
    emails.credit_note_issued(uow, org, customer, invoice, note)
    if note.pre_payment_amount:
        _update_invoice(uow, org, customer, invoice, domain.apply_pre_payment(
            _amounts(invoice), note.pre_payment_amount), now)
    if note.credit_amount:
        customer.currency = customer.currency or invoice.currency
        record_balance_change(
            uow, customer, -note.credit_amount, "credit_note", f"Credit note {note.number}",
            invoice_id=invoice.id,
            transaction_id=objects.credit_note_balance_transaction_id(note.id))
    # `refund_amount` is only recorded here: paying it back through the payment gateway
    # comes with payments. Until then it caps later refunds and forbids voiding the note.
    uow.commit()
    return note


def void_credit_note(uow: UnitOfWork, org_id: str, credit_note_id: str) -> m.CreditNote:
    """Void a credit note and reverse its effects exactly: the balance credit is taken back
    and the invoice is due again by the pre-payment amount (an invoice it had settled is
    open again). A credit note with a refund cannot be voided. Records
    `credit_note.voided`."""
    note = scoping.get(uow.session, m.CreditNote, org_id, credit_note_id)
    org, invoice, customer, now = invoices.load(uow, org_id, note.invoice_id)
    uow.session.refresh(note)  # read again under the customer's lock
    domain.check_voidable(note.status, note.refund_amount, invoice.status)
    note.status = "void"
    note.voided_at = now
    events.record(uow.session, org_id, "credit_note.voided", objects.credit_note(note), now)
    if note.credit_amount:
        record_balance_change(uow, customer, note.credit_amount, "credit_note_voided",
                              f"Credit note {note.number} voided", invoice_id=invoice.id)
    if note.pre_payment_amount:
        _update_invoice(uow, org, customer, invoice, domain.restore_pre_payment(
            _amounts(invoice), note.pre_payment_amount), now)
    uow.commit()
    return note


def get_credit_note(uow: UnitOfWork, org_id: str, credit_note_id: str) -> m.CreditNote:
    """The organization's credit note `credit_note_id`, or NotFound."""
    return scoping.get(uow.session, m.CreditNote, org_id, credit_note_id)


def list_credit_notes(uow: UnitOfWork, org_id: str, *, invoice: str | None = None,
                      customer: str | None = None, **page: Any) -> scoping.Page:
    """The organization's credit notes, newest first, optionally of one invoice or customer."""
    query = select(m.CreditNote).where(m.CreditNote.org_id == org_id)
    if invoice:
        query = query.where(m.CreditNote.invoice_id == invoice)
    if customer:
        query = query.where(m.CreditNote.customer_id == customer)
    return scoping.paginate(uow.session, query, m.CreditNote, **page)


def credited_amounts(uow: UnitOfWork, org_id: str, invoice_id: str) -> dict[str, int]:
    """Stripe's `pre_payment_credit_notes_amount` and `post_payment_credit_notes_amount` of
    an invoice: what its issued credit notes took off before and after payment."""
    pre, total = uow.session.execute(
        select(func.coalesce(func.sum(m.CreditNote.pre_payment_amount), 0),
               func.coalesce(func.sum(m.CreditNote.amount), 0))
        .where(m.CreditNote.org_id == org_id, m.CreditNote.invoice_id == invoice_id,
               m.CreditNote.status != "void")).one()
    return {"pre_payment_credit_notes_amount": int(pre),
            "post_payment_credit_notes_amount": int(total) - int(pre)}


def _prepare(uow: UnitOfWork, org_id: str, params: dict[str, Any]) -> _Prepared:
    """Load the invoice with its customer locked and decide the credit note."""
    unknown = sorted(set(params) - _PARAMS)
    if unknown:
        raise InvalidRequest(f"Received unknown parameter: {unknown[0]}.", param=unknown[0])
    if params.get("invoice") is None:
        raise InvalidRequest("Missing required parameter: invoice.", param="invoice")
    for name in ("amount", "credit_amount", "refund_amount", "out_of_band_amount"):
        _check_integer(params.get(name), name)
    org, row, customer, now = invoices.load(uow, org_id, params["invoice"], param="invoice")
    plan = domain.plan(_invoice(row), _credited(uow, row),
                       lines=_line_requests(params.get("lines")), amount=params.get("amount"),
                       reason=params.get("reason"), credit=params.get("credit_amount"),
                       refund=params.get("refund_amount"),
                       out_of_band=params.get("out_of_band_amount"))
    if plan.settlement.credit and customer.currency not in (None, row.currency):
        raise InvalidRequest(
            f"The customer's balance is in {customer.currency.upper()}, the invoice in "
            f"{row.currency.upper()}; settle the credit note with refund_amount or "
            "out_of_band_amount instead.", param="credit_amount")
    return _Prepared(org, row, customer, now, plan)


def _build(prepared: _Prepared, params: dict[str, Any], *, stored: bool) -> m.CreditNote:
    """The credit note row of a plan; without ids unless it is to be stored."""
    invoice, plan, settlement = prepared.invoice, prepared.plan, prepared.plan.settlement
    categories = {line.id: (line.tax_category, line.tax_rate) for line in invoice.lines
                  if line.tax_category}
    note = m.CreditNote(
        id=new_id("cn") if stored else None, org_id=invoice.org_id,
        customer_id=invoice.customer_id, invoice_id=invoice.id, number=None,
        status="issued", type=plan.type, currency=invoice.currency,
        reason=params.get("reason"), memo=params.get("memo"),
        subtotal=plan.subtotal, tax=plan.tax, total=plan.amount, amount=plan.amount,
        pre_payment_amount=settlement.pre_payment, credit_amount=settlement.credit,
        refund_amount=settlement.refund, out_of_band_amount=settlement.out_of_band,
        metadata_=params.get("metadata") or {}, created=prepared.now, voided_at=None)
    note.lines = [m.CreditNoteLine(
        id=new_id("cnli") if stored else None, org_id=invoice.org_id, position=position,
        type=line.type, invoice_line_id=line.invoice_line, description=line.description,
        quantity=line.quantity, unit_amount_decimal=line.unit_amount, amount=line.amount,
        tax_amount=line.tax_amount, tax_category=taxed[0] if taxed else None,
        tax_rate=taxed[1] if taxed else None)
        for position, line in enumerate(plan.lines)
        for taxed in [categories.get(line.invoice_line or "")]]
    return note


def _check_integer(value: Any, param: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidRequest(f"{param} must be an integer in minor units.", param=param)


def _line_requests(lines: Any) -> list[domain.LineRequest]:
    if lines is None:
        return []
    if not isinstance(lines, list) or len(lines) > MAX_LINES:
        raise InvalidRequest(f"lines must be a list of at most {MAX_LINES} lines.",
                             param="lines")
    requests = []
    for index, line in enumerate(lines):
        if not isinstance(line, dict) or not set(line) <= _LINE_FIELDS:
            raise InvalidRequest(f"Unknown or malformed line: {line!r}.",
                                 param=f"lines[{index}]")
        for name in ("quantity", "amount", "unit_amount"):
            _check_integer(line.get(name), f"lines[{index}][{name}]")
        requests.append(domain.LineRequest(**line))
    return requests


def _invoice(invoice: m.Invoice) -> domain.Invoice:
    return domain.Invoice(
        id=invoice.id, status=invoice.status, total=invoice.total,
        amount_paid=invoice.amount_paid, amount_remaining=invoice.amount_remaining,
        lines=tuple(domain.InvoiceLine(
            id=line.id, description=line.description, quantity=line.quantity,
            unit_amount=line.unit_amount_decimal, amount=line.amount,
            discount_amount=line.discount_amount or 0, tax_amount=line.tax_amount or 0,
            inclusive=line.tax_behavior == "inclusive") for line in invoice.lines),
        tax=invoice.tax or 0)


def _credited(uow: UnitOfWork, invoice: m.Invoice) -> domain.Credited:
    """What the invoice's issued credit notes already credited, in all and per line."""
    notes = uow.session.scalars(select(m.CreditNote).where(
        m.CreditNote.org_id == invoice.org_id, m.CreditNote.invoice_id == invoice.id,
        m.CreditNote.status != "void")).all()
    by_line: defaultdict[str, int] = defaultdict(int)
    for note in notes:
        for line in note.lines:
            if line.invoice_line_id:
                by_line[line.invoice_line_id] += line.amount
    return domain.Credited(total=sum(note.amount for note in notes),
                           refunded=sum(note.refund_amount for note in notes),
                           by_line=dict(by_line))


def _amounts(invoice: m.Invoice) -> domain.InvoiceAmounts:
    return domain.InvoiceAmounts(invoice.status, invoice.amount_due, invoice.amount_remaining)


def _update_invoice(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                    invoice: m.Invoice, after: domain.InvoiceAmounts, now: datetime) -> None:
    """Give the invoice the amounts a credit note left it with. Records `invoice.updated`,
    and `invoice.paid` when nothing remains to be paid."""
    before, status = objects.invoice(invoice), invoice.status
    invoice.amount_due, invoice.amount_remaining = after.amount_due, after.amount_remaining
    reopened = invoice.status == "paid" and after.status == "open"
    if reopened:
        invoice.status, invoice.paid_at = "open", None
    current = objects.invoice(invoice)
    events.record(uow.session, org.id, "invoice.updated", current, now,
                  {k: v for k, v in before.items() if current.get(k) != v})
    if invoice.status == "open" and after.status == "paid":
        invoices.mark_paid(uow, org, invoice, now)
    if invoice.status != status:
        invoices.refresh_subscriptions(uow, org, customer, invoice, now)
