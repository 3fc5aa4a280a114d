"""The dashboard's money pages: invoices, payments, credit notes and bank transactions, each a
list with filters (status, customer, days) and pages; an invoice with its payments, refunds,
credit notes, dunning and timeline; a bank transaction with its suggestions.

The changes (each a POST form, allowed by role; services/operators.py): void an invoice,
mark it uncollectible or paid out of band, retry its payment now, e-mail a payment
reminder, issue a credit note, void a credit note, refund a payment, and match a bank
transaction to an invoice by hand or set it aside. Each calls the service the API calls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from kassa.config import Kassa
from kassa.core.errors import InvalidRequest, InvalidState, NotFound
from kassa.domain import credit_notes as credit_note_rules
from kassa.services import (
    credit_notes,
    dashboard,
    invoices,
    payments,
    reconciliation,
    refunds,
)
from kassa.services.operators import Staff
from kassa.store import models as m
from kassa.store.uow import UnitOfWork
from kassa.web.dashboard import (
    Fields,
    Missing,
    Signed,
    act,
    amount_field,
    field,
    frame,
    owned,
    page,
    paging,
    problem,
)
from kassa.web.dashboard_customers import method_label
from kassa.web.portal import DOCUMENTS, SECURITY_HEADERS, KassaDep

router = APIRouter(include_in_schema=False)

NOTICES = {
    "voided": "The invoice was voided.",
    "uncollectible": "The invoice was marked uncollectible.",
    "paid": "The invoice was marked paid out of band.",
    "charge_succeeded": "The payment succeeded.",
    "charge_failed": "The charge failed; the payments below say why.",
    "charge_processing": "The charge is being processed (a direct debit takes a few days).",
    "charge_requires_action": "The customer's bank asks them to authenticate the payment.",
    "reminded": "The payment reminder was e-mailed to the customer.",
    "credited": "The credit note was issued.",
    "credit_note_voided": "The credit note was voided.",
    "refunded": "The payment was refunded.",
    "matched": "The bank transaction was matched.",
    "ignored": "The bank transaction was set aside.",
}
First = Annotated[str, Query(alias="from")]
Last = Annotated[str, Query(alias="to")]


# --- the lists ---------------------------------------------------------------------------------

def _list(request: Request, kassa: Kassa, who: Staff, model: Any, template: str,
          current: str, statuses: Sequence[str], given: dict[str, str]) -> Response:
    """A list page: the filters checked (a wrong one: the page with the reason, 400), one
    page of rows, links to the newer and older pages."""
    cursors = {name: given.pop(name) for name in ("starting_after", "ending_before")}
    with kassa.uow() as uow:
        values = frame(uow, kassa, who, current)
        values["statuses"] = statuses
        try:
            wanted = dashboard.filters(statuses, status=given["status"],
                                       customer=given["customer"], first=given["from"],
                                       last=given["to"])
            found = dashboard.page_of(uow, model, who.org_id, wanted, values["zone"],
                                      **cursors)
        except InvalidRequest as exc:
            values.update(error=exc.message, error_param=exc.param)
            return page(template, status=400, **values, filters=dashboard.Filters(), rows=[],
                        names={}, links={})
        names = dashboard.customer_names(uow, who.org_id,
                                         [row.customer_id for row in found.rows])
        return page(template, **values, filters=wanted, rows=found.rows, names=names,
                    links=paging(request, found, wanted.query(), **cursors))


@router.get("/dashboard/invoices")
def invoice_list(request: Request, kassa: KassaDep, who: Signed, status: str = "",
                 customer: str = "", first: First = "", last: Last = "",
                 starting_after: str = "", ending_before: str = "") -> Response:
    return _list(request, kassa, who, m.Invoice, "invoices.html", "invoices",
                 dashboard.INVOICE_STATUSES, {
                     "status": status, "customer": customer, "from": first, "to": last,
                     "starting_after": starting_after, "ending_before": ending_before})


@router.get("/dashboard/payments")
def payment_list(request: Request, kassa: KassaDep, who: Signed, status: str = "",
                 customer: str = "", first: First = "", last: Last = "",
                 starting_after: str = "", ending_before: str = "") -> Response:
    return _list(request, kassa, who, m.Payment, "payments.html", "payments",
                 dashboard.PAYMENT_STATUSES, {
                     "status": status, "customer": customer, "from": first, "to": last,
                     "starting_after": starting_after, "ending_before": ending_before})


@router.get("/dashboard/credit_notes")
def credit_note_list(request: Request, kassa: KassaDep, who: Signed, status: str = "",
                     customer: str = "", first: First = "", last: Last = "",
                     starting_after: str = "", ending_before: str = "") -> Response:
    return _list(request, kassa, who, m.CreditNote, "credit_notes.html", "credit_notes",
                 dashboard.CREDIT_NOTE_STATUSES, {
                     "status": status, "customer": customer, "from": first, "to": last,
                     "starting_after": starting_after, "ending_before": ending_before})


@router.get("/dashboard/bank_transactions")
def bank_transaction_list(request: Request, kassa: KassaDep, who: Signed, status: str = "",
                          customer: str = "", first: First = "", last: Last = "",
                          starting_after: str = "", ending_before: str = "") -> Response:
    return _list(request, kassa, who, m.BankTransaction, "bank_transactions.html", "bank",
                 dashboard.BANK_STATUSES, {
                     "status": status, "customer": customer, "from": first, "to": last,
                     "starting_after": starting_after, "ending_before": ending_before})


# --- an invoice --------------------------------------------------------------------------------

@router.get("/dashboard/invoices/{invoice_id}")
def invoice_page(invoice_id: str, kassa: KassaDep, who: Signed, done: str = "") -> Response:
    with kassa.uow() as uow:
        return _invoice_page(uow, kassa, who, invoice_id, notice=NOTICES.get(done))


def _invoice_page(uow: UnitOfWork, kassa: Kassa, who: Staff, invoice_id: str, *,
                  notice: str | None = None, error: str | None = None,
                  error_param: str | None = None, status: int = 200,
                  sent: dict[str, str] | None = None) -> Response:
    try:
        seen = dashboard.invoice_overview(uow, who.org_id, invoice_id)
    except NotFound as exc:
        raise Missing(exc.message) from None
    values = frame(uow, kassa, who, "invoices")
    values.update(notice=notice, error=error, error_param=error_param)
    invoice = seen.invoice
    due = invoice.status in ("open", "uncollectible") and invoice.amount_remaining > 0
    # What can be done to the invoice in its state; of that, what the role may is shown.
    can = {"void": invoice.status in ("open", "uncollectible"),
           "mark_uncollectible": invoice.status == "open", "mark_paid": due,
           "retry_payment": due and seen.default_method is not None,
           "send_reminder": due and invoice.due_date is not None and bool(seen.customer.email),
           "credit_note": invoice.status in credit_note_rules.CREDITABLE_STATUSES}
    shown = {action: possible and who.may(INVOICE_ACTIONS[action][0])
             for action, possible in can.items()}
    return page("invoice.html", status=status, **values, seen=seen, i=invoice, shown=shown,
                sent=sent or {}, credit_reasons=credit_note_rules.REASONS,
                refund_reasons=refunds.REASONS, method_label=method_label)


def _void(kassa: Kassa, who: Staff, invoice_id: str, fields: Fields) -> str:
    with kassa.uow() as uow:
        invoices.void_invoice(uow, who.org_id, invoice_id)
    return "voided"


def _mark_uncollectible(kassa: Kassa, who: Staff, invoice_id: str, fields: Fields) -> str:
    with kassa.uow() as uow:
        invoices.mark_uncollectible(uow, who.org_id, invoice_id)
    return "uncollectible"


def _mark_paid(kassa: Kassa, who: Staff, invoice_id: str, fields: Fields) -> str:
    """What remains was paid outside Kassa (a `manual` payment is recorded)."""
    with kassa.uow() as uow:
        invoice: m.Invoice = owned(uow, m.Invoice, who, invoice_id)
        if invoice.status not in ("open", "uncollectible"):
            raise InvalidState(f"Invoice is {invoice.status}; only open or uncollectible "
                               "invoices can be marked paid.")
        payments.pay_invoice(uow, who.org_id, invoice_id, paid_out_of_band=True)
    return "paid"


def _retry_payment(kassa: Kassa, who: Staff, invoice_id: str, fields: Fields) -> str:
    """Charge the customer's default payment method now (as POST /v1/invoices/{id}/pay);
    the outcome, a decline too, is recorded on the invoice and shown."""
    with kassa.uow() as uow:
        dashboard.collectable(uow, who.org_id, invoice_id)
    payment = payments.collect_invoice(kassa.session_factory, kassa.clock, kassa.gateways,
                                       invoice_id, force=True)
    if payment is None:
        raise InvalidState("A charge of this invoice is already in progress.")
    return f"charge_{payment.status}"


def _send_reminder(kassa: Kassa, who: Staff, invoice_id: str, fields: Fields) -> str:
    with kassa.uow() as uow:
        dashboard.send_reminder(uow, who.org_id, invoice_id)
    return "reminded"


def _credit_note(kassa: Kassa, who: Staff, invoice_id: str, fields: Fields) -> str:
    """A credit note for an amount; on an open invoice it first reduces what is due, the
    rest goes to the customer's balance or was settled outside Kassa."""
    with kassa.uow() as uow:
        invoice: m.Invoice = owned(uow, m.Invoice, who, invoice_id)
        params: dict[str, Any] = {
            "invoice": invoice.id, "amount": amount_field(fields, "amount", invoice.currency),
            "reason": field(fields, "reason", 40) or None,
            "memo": field(fields, "memo", 500) or None}
        settle = field(fields, "settle", 20) or "credit"
        if settle == "outside":
            planned = credit_notes.preview_credit_note(uow, who.org_id, **params)
            if planned.amount > planned.pre_payment_amount:
                params["out_of_band_amount"] = planned.amount - planned.pre_payment_amount
        elif settle != "credit":
            raise InvalidRequest("Choose how the credit note is settled.", param="settle")
        credit_notes.create_credit_note(uow, who.org_id, **params)
    return "credited"


INVOICE_ACTIONS: dict[str, tuple[str, Callable[[Kassa, Staff, str, Fields], str]]] = {
    "void": ("invoice.void", _void),
    "mark_uncollectible": ("invoice.mark_uncollectible", _mark_uncollectible),
    "mark_paid": ("invoice.mark_paid", _mark_paid),
    "retry_payment": ("invoice.retry_payment", _retry_payment),
    "send_reminder": ("invoice.send_reminder", _send_reminder),
    "credit_note": ("credit_note.create", _credit_note),
}


@router.post("/dashboard/invoices/{invoice_id}/{action}")
def invoice_action(invoice_id: str, action: str, request: Request, kassa: KassaDep,
                   who: Signed, fields: Fields) -> Response:
    if action not in INVOICE_ACTIONS:
        raise Missing("That page does not exist.")
    permission, run = INVOICE_ACTIONS[action]

    def again(message: str, param: str | None) -> Response:
        with kassa.uow() as uow:
            return _invoice_page(uow, kassa, who, invoice_id, error=message,
                                 error_param=param, status=400, sent=dict(fields))

    return act(request, kassa, who, permission, fields, invoice_id,
               lambda: run(kassa, who, invoice_id, fields),
               done=f"/dashboard/invoices/{invoice_id}", again=again)


@router.get("/dashboard/invoices/{invoice_id}/pdf")
def invoice_pdf(invoice_id: str, kassa: KassaDep, who: Signed) -> Response:
    return _document("invoices", invoice_id, kassa, who)


@router.get("/dashboard/credit_notes/{credit_note_id}/pdf")
def credit_note_pdf(credit_note_id: str, kassa: KassaDep, who: Signed) -> Response:
    return _document("credit_notes", credit_note_id, kassa, who)


def _document(kind: str, object_id: str, kassa: Kassa, who: Staff) -> Response:
    """The PDF of one of the organization's invoices or credit notes (as the customer gets
    it)."""
    with kassa.uow() as uow:
        row = owned(uow, m.Invoice if kind == "invoices" else m.CreditNote, who, object_id)
        number = row.number
        refusal = "A draft has no PDF yet." if number is None else None
        if number is not None:
            try:
                content = DOCUMENTS[kind, "pdf"](uow, kassa, who.org_id, object_id)
                uow.commit()  # a PDF rendered for the first time is stored
            except InvalidState as exc:
                refusal = exc.message
    if refusal is not None:  # answered once the unit of work is closed
        return problem(kassa, who, 409, "No document", refusal)
    return Response(content, media_type="application/pdf", headers={
        **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{number}.pdf"'})


# --- payments and credit notes -----------------------------------------------------------------

@router.post("/dashboard/payments/{payment_id}/refund")
def refund_payment(payment_id: str, request: Request, kassa: KassaDep, who: Signed,
                   fields: Fields) -> Response:
    """Refund all or part of a payment through the gateway that took it (a credit note
    records it); after the refund window only with a reason."""
    back = {"url": "/dashboard/payments", "invoice": ""}

    def run() -> str:
        with kassa.uow() as uow:
            payment: m.Payment = owned(uow, m.Payment, who, payment_id)
            if payment.invoice_id:
                back.update(url=f"/dashboard/invoices/{payment.invoice_id}",
                            invoice=payment.invoice_id)
            amount = amount_field(fields, "amount", payment.currency, required=False)
            reason = field(fields, "reason", 40) or None
            override = field(fields, "override_reason", 500) or None
        refunds.create_refund(kassa.session_factory, kassa.clock, kassa.gateways, who.org_id,
                              payment_id=payment_id, amount=amount, reason=reason,
                              override_reason=override)
        return "refunded"

    def again(message: str, param: str | None) -> Response:
        if not back["invoice"]:
            return problem(kassa, who, 400, "The refund was refused", message)
        with kassa.uow() as uow:
            return _invoice_page(uow, kassa, who, back["invoice"], error=message,
                                 error_param=param, status=400, sent=dict(fields))

    return act(request, kassa, who, "payment.refund", fields, payment_id, run,
               done=lambda: back["url"], again=again)


@router.post("/dashboard/credit_notes/{credit_note_id}/void")
def void_credit_note(credit_note_id: str, request: Request, kassa: KassaDep, who: Signed,
                     fields: Fields) -> Response:
    """Void a credit note: its effects are reversed exactly (services/credit_notes.py)."""
    back = {"invoice": ""}

    def run() -> str:
        with kassa.uow() as uow:
            note: m.CreditNote = owned(uow, m.CreditNote, who, credit_note_id)
            back["invoice"] = note.invoice_id
        with kassa.uow() as uow:
            credit_notes.void_credit_note(uow, who.org_id, credit_note_id)
        return "credit_note_voided"

    def again(message: str, param: str | None) -> Response:
        with kassa.uow() as uow:
            return _invoice_page(uow, kassa, who, back["invoice"], error=message,
                                 error_param=param, status=400)

    return act(request, kassa, who, "credit_note.void", fields, credit_note_id, run,
               done=lambda: f"/dashboard/invoices/{back['invoice']}", again=again)


# --- a bank transaction --------------------------------------------------------------------------

@router.get("/dashboard/bank_transactions/{transaction_id}")
def bank_transaction_page(transaction_id: str, kassa: KassaDep, who: Signed,
                          done: str = "") -> Response:
    with kassa.uow() as uow:
        return _bank_page(uow, kassa, who, transaction_id, notice=NOTICES.get(done))


def _bank_page(uow: UnitOfWork, kassa: Kassa, who: Staff, transaction_id: str, *,
               notice: str | None = None, error: str | None = None,
               error_param: str | None = None, status: int = 200,
               sent: dict[str, str] | None = None) -> Response:
    transaction: m.BankTransaction = owned(uow, m.BankTransaction, who, transaction_id)
    values = frame(uow, kassa, who, "bank")
    values.update(notice=notice, error=error, error_param=error_param)
    suggested = dashboard.suggested_invoices(uow, who.org_id, transaction)
    names = dashboard.customer_names(uow, who.org_id, [transaction.customer_id,
                                                       *(i.customer_id for i in suggested)])
    return page("bank_transaction.html", status=status, **values, t=transaction,
                suggested=suggested, names=names, sent=sent or {},
                matched=dashboard.payments_of_transaction(uow, who.org_id, transaction.id))


@router.post("/dashboard/bank_transactions/{transaction_id}/match")
def match_bank_transaction(transaction_id: str, request: Request, kassa: KassaDep,
                           who: Signed, fields: Fields) -> Response:
    """Match an unmatched credit to one invoice (by number or id); what it pays beyond the
    invoice goes to the customer's credit balance."""
    def run() -> str:
        with kassa.uow() as uow:
            transaction: m.BankTransaction = owned(uow, m.BankTransaction, who,
                                                   transaction_id)
            try:
                invoice = dashboard.find_invoice(uow, who.org_id,
                                                 field(fields, "invoice", 60))
            except NotFound:
                raise InvalidRequest("No invoice has this number or id.",
                                     param="invoice") from None
            amount = amount_field(fields, "amount", transaction.currency, required=False)
            reconciliation.match(uow, who.org_id, transaction.id, invoices=[
                {"invoice": invoice.id, **({"amount": amount} if amount else {})}])
        return "matched"

    def again(message: str, param: str | None) -> Response:
        with kassa.uow() as uow:
            return _bank_page(uow, kassa, who, transaction_id, error=message,
                              error_param=param, status=400, sent=dict(fields))

    return act(request, kassa, who, "bank_transaction.match", fields, transaction_id, run,
               done=f"/dashboard/bank_transactions/{transaction_id}", again=again)


@router.post("/dashboard/bank_transactions/{transaction_id}/ignore")
def ignore_bank_transaction(transaction_id: str, request: Request, kassa: KassaDep,
                            who: Signed, fields: Fields) -> Response:
    """Set an entry aside: it is not a customer's payment."""
    def run() -> str:
        with kassa.uow() as uow:
            reconciliation.ignore(uow, who.org_id, transaction_id)
        return "ignored"

    def again(message: str, param: str | None) -> Response:
        with kassa.uow() as uow:
            return _bank_page(uow, kassa, who, transaction_id, error=message,
                              error_param=param, status=400)

    return act(request, kassa, who, "bank_transaction.ignore", fields, transaction_id, run,
               done=f"/dashboard/bank_transactions/{transaction_id}", again=again)
