"""SEPA Direct Debit through the organization's own bank (the `bank` gateway): the debits due
go into a pain.008 file, and the bank's answers come back as files.

- `create_file`: every `bank` debit that is processing and in no file yet, for a collection
  date (default: two days from now), as one pain.008.001.08 file (FRST for a mandate's first
  debit, RCUR after), XSD-checked, kept in the file store. The end-to-end id of each debit is
  Kassa's payment id, so every answer finds its payment.
- A debit in a file counts as collected the day after its collection date: the file gives
  its reference that date, and the payment checks ask the `bank` gateway as any other
  (adapters/gateways/bank_debit.py). The bank reports no success, only failures.
- `import_status_report`: a pain.002 rejection (e.g. AM04, MD06) fails a debit not yet
  collected, or reverses one that was (the invoice is open again). A camt.053 return does
  the same (services/reconciliation.py).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from kassa.adapters.bank import sepa
from kassa.adapters.files import FileStore
from kassa.adapters.gateways.bank_debit import in_file
from kassa.adapters.gateways.base import ChargeResult, decline_type
from kassa.core.errors import InvalidRequest
from kassa.core.ids import new_id
from kassa.services import events, payments
from kassa.services.customers import now_for
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

GATEWAY = "bank"
LEAD_DAYS = 2


def create_file(uow: UnitOfWork, files: FileStore, org_id: str, *,
                collection_date: date | None = None) -> tuple[str, bytes, int]:
    """(file id, pain.008 XML, number of debits) for every bank debit waiting for a file."""
    org = uow.session.get(m.Organization, org_id)
    assert org is not None
    creditor_id = payments.settings_of(org).get("sepa_creditor_id")
    if not creditor_id or not org.iban:
        raise InvalidRequest("A SEPA Direct Debit file needs the organization's IBAN and its "
                             "SEPA creditor identifier (payment_settings[sepa_creditor_id]).",
                             param="payment_settings[sepa_creditor_id]")
    now = uow.clock.now()
    when = collection_date or (now + timedelta(days=LEAD_DAYS)).date()
    if when < now.date():
        raise InvalidRequest("The collection date has passed.", param="collection_date")
    rows = list(uow.session.execute(
        select(m.Payment, m.PaymentMethod, m.Customer, m.Invoice)
        .join(m.PaymentMethod, m.PaymentMethod.id == m.Payment.payment_method_id)
        .join(m.Customer, m.Customer.id == m.Payment.customer_id)
        .join(m.Invoice, m.Invoice.id == m.Payment.invoice_id)
        .where(m.Payment.org_id == org_id, m.Payment.gateway == GATEWAY,
               m.Payment.status == "processing")
        .order_by(m.Payment.created, m.Payment.id).with_for_update(of=m.Payment)))
    waiting = [row for row in rows if "sepa_file" not in (row[0].metadata_ or {})]
    if not waiting:
        raise InvalidRequest("No SEPA Direct Debits are waiting for a file.",
                             code="sepa_nothing_to_collect")
    collections = []
    for payment, method, customer, invoice in waiting:
        first = uow.session.scalar(select(m.Payment.id).where(
            m.Payment.payment_method_id == method.id, m.Payment.id != payment.id,
            m.Payment.status.in_(("succeeded", "returned"))).limit(1)) is None
        signed = method.mandate_signed_at or method.created
        collections.append(sepa.Collection(
            end_to_end_id=payment.id, amount=payment.amount,
            debtor_name=customer.name or customer.email or customer.id,
            debtor_iban=method.gateway_ref, debtor_bic=None,
            mandate_id=method.mandate_reference or method.id, mandate_date=signed.date(),
            sequence="FRST" if first else "RCUR", collection_date=when,
            remittance=f"Invoice {invoice.number}"))
    file_id = new_id("sdf")
    try:
        xml = sepa.direct_debit_file(
            sepa.Creditor(name=org.legal_name or org.name, iban=org.iban, bic=None,
                          creditor_id=creditor_id),
            collections, message_id=file_id[:35], created=now)
    except ValueError as exc:
        raise InvalidRequest(f"The direct debit file cannot be made: {exc}",
                             param="payment_settings[sepa_creditor_id]") from None
    files.write(f"{org_id}/sepa/{file_id}.xml", xml)
    for payment, *_ in waiting:
        payment.metadata_ = {**(payment.metadata_ or {}), "sepa_file": file_id}
        payment.gateway_ref = in_file(payment.gateway_ref or payment.id, when)
    events.record(uow.session, org_id, "sepa_debit_file.created",
                  {"id": file_id, "object": "sepa_debit_file", "debits": len(waiting),
                   "amount": sum(p.amount for p, *_ in waiting),
                   "collection_date": when.isoformat()}, now)
    uow.commit()
    return file_id, xml, len(waiting)


def import_status_report(uow: UnitOfWork, org_id: str, data: bytes) -> dict[str, Any]:
    """Apply a pain.002: every rejected debit fails (or, if already counted as collected,
    is reversed and its invoice reopened). One transaction."""
    try:
        entries = sepa.parse_payment_status_report(data)
    except ValueError as exc:
        raise InvalidRequest(f"The status report cannot be read: {exc}", param="file",
                             code="status_report_invalid") from None
    counts: dict[str, Any] = {"object": "sepa_status_report", "entries": len(entries),
                              "rejected": 0, "accepted": 0, "unknown": 0}
    for entry in entries:
        payment = uow.session.scalars(select(m.Payment).where(
            m.Payment.org_id == org_id, m.Payment.id == entry.original_end_to_end_id)).first()
        if payment is None:
            counts["unknown"] += 1
            continue
        if entry.status != "RJCT":
            counts["accepted"] += 1
            continue
        customer = uow.session.get(m.Customer, payment.customer_id, with_for_update=True)
        assert customer is not None
        code = entry.reason_code or "rejected"
        payments.apply_status(uow, payment, ChargeResult(
            ref=payment.gateway_ref or "", status="failed", amount=payment.amount,
            currency=payment.currency, decline_code=code, decline_type=decline_type(code),
            message=f"Rejected by the bank ({code})"), now_for(uow, customer))
        counts["rejected"] += 1
    uow.commit()
    return counts
