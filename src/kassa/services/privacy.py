"""A customer's personal data under the GDPR: everything Kassa holds about them, exported as
one JSON document (the right of access and portability), and their erasure (the right to be
forgotten) within what tax law keeps.

Erasure replaces the customer's name, e-mail, address, phone-like details, VAT and Peppol ids,
external id and metadata; blanks the display data of their payment methods (which are
detached); redacts their e-mails in the outbox and the customer objects in events and the
audit log. Invoices and credit notes keep the buyer's name, address and VAT id they were
issued with (an invoice must show them for as long as it is kept: ten years in the
Netherlands and Germany), and so do payments and everything the books are made of. A
customer with subscriptions still running is not erased: they end first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from kassa.core.clock import to_unix
from kassa.core.errors import InvalidState
from kassa.services import dunning, events, objects, payments, scoping
from kassa.services.customers import now_for
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

ERASED = "[erased]"
PERSONAL_FIELDS = ("name", "email", "address", "phone", "vat_id", "peppol_id", "external_id",
                   "metadata", "shipping")


def export(uow: UnitOfWork, org_id: str, customer_id: str) -> dict[str, Any]:
    """Everything held about the customer, as the API shows each object."""
    customer = scoping.get(uow.session, m.Customer, org_id, customer_id)
    session = uow.session

    def rows(model: Any, *where: Any) -> list[Any]:
        return list(session.scalars(select(model).where(model.org_id == org_id, *where)
                                    .order_by(model.id)))

    subs = rows(m.Subscription, m.Subscription.customer_id == customer.id)
    invoices = rows(m.Invoice, m.Invoice.customer_id == customer.id)
    payment_rows = rows(m.Payment, m.Payment.customer_id == customer.id)
    now = now_for(uow, customer)
    return {
        "object": "customer_export", "exported_at": to_unix(uow.clock.now()),
        "customer": objects.customer(customer),
        "balance_transactions": [objects.balance_transaction(t) for t in rows(
            m.BalanceTransaction, m.BalanceTransaction.customer_id == customer.id)],
        "subscriptions": [objects.subscription(s) for s in subs],
        "invoices": [objects.invoice(i) for i in invoices],
        "credit_notes": [objects.credit_note(n) for n in rows(
            m.CreditNote, m.CreditNote.customer_id == customer.id)],
        "payments": [payments.to_object(p) for p in payment_rows],
        "refunds": [_refund(r) for r in rows(
            m.Refund, m.Refund.payment_id.in_([p.id for p in payment_rows]))],
        "payment_methods": [payments.method_object(pm, now) for pm in rows(
            m.PaymentMethod, m.PaymentMethod.customer_id == customer.id)],
        "dunning_cases": [dunning.case_object(c) for c in rows(
            m.DunningCase, m.DunningCase.customer_id == customer.id)],
        "emails": [{"id": e.id, "kind": e.kind, "to": e.to_address, "subject": e.subject,
                    "text": e.text_body, "status": e.status, "created": to_unix(e.created)}
                   for e in rows(m.EmailMessage, m.EmailMessage.customer_id == customer.id)],
        "events": [objects.event(e) for e in rows(
            m.Event, m.Event.object_id.in_(_object_ids(customer, subs, invoices)))],
    }


def _refund(row: m.Refund) -> dict[str, Any]:
    return {"id": row.id, "object": "refund", "payment": row.payment_id,
            "amount": row.amount, "currency": row.currency, "status": row.status,
            "created": to_unix(row.created)}


def _object_ids(customer: m.Customer, subs: list[m.Subscription],
                invoices: list[m.Invoice]) -> list[str]:
    return [customer.id, *(s.id for s in subs), *(i.id for i in invoices)]


def erase(uow: UnitOfWork, org_id: str, customer_id: str) -> m.Customer:
    """Replace the customer's personal data everywhere but in what tax law keeps."""
    customer = scoping.get(uow.session, m.Customer, org_id, customer_id, lock=True)
    running = uow.session.scalar(select(m.Subscription.id).where(
        m.Subscription.customer_id == customer.id,
        m.Subscription.status.not_in(("canceled", "incomplete_expired"))).limit(1))
    if running is not None:
        raise InvalidState(f"Subscription {running} is still running: cancel it before "
                           "erasing the customer.", code="customer_has_subscriptions")
    now = now_for(uow, customer)
    customer.name, customer.email, customer.address = ERASED, None, {}
    customer.vat_id = customer.peppol_id = customer.external_id = None
    customer.metadata_ = {}
    customer.erased_at = uow.clock.now()
    customer.default_payment_method_id = None
    for method in uow.session.scalars(select(m.PaymentMethod).where(
            m.PaymentMethod.customer_id == customer.id)):
        method.status, method.detached_at = "detached", method.detached_at or now
        for name in (*payments.DISPLAY_FIELDS, "mandate_reference"):
            setattr(method, name, None)
    for mail in uow.session.scalars(select(m.EmailMessage).where(
            m.EmailMessage.customer_id == customer.id)):
        mail.to_address, mail.subject, mail.text_body, mail.html_body = \
            ERASED, ERASED, ERASED, None
        if mail.status == "pending":
            mail.status = "failed"  # never sent to an address that is gone
    for event in uow.session.scalars(select(m.Event).where(
            m.Event.org_id == org_id, or_(m.Event.object_id == customer.id,
                                          m.Event.type.like("customer.%")))):
        event.data = _redacted(event.data, customer.id)
    for entry in uow.session.scalars(select(m.AuditEntry).where(
            m.AuditEntry.org_id == org_id, m.AuditEntry.object_id == customer.id)):
        entry.changes = [_redacted(change, customer.id) for change in entry.changes]
    events.record(uow.session, org_id, "customer.erased", objects.customer(customer), now)
    uow.commit()
    return customer


def _redacted(data: Any, customer_id: str) -> Any:
    """`data` with the personal fields of the customer's object replaced, wherever it sits
    (an event's object and previous attributes, an audit change)."""
    if isinstance(data, list):
        return [_redacted(item, customer_id) for item in data]
    if not isinstance(data, dict):
        return data
    mine = data.get("id") == customer_id or data.get("object") == customer_id
    out = {}
    for key, value in data.items():
        if mine and key in PERSONAL_FIELDS:
            out[key] = ERASED if value not in (None, {}, []) else value
        elif mine and key == "changes" and isinstance(value, dict):
            out[key] = {field: ({"before": ERASED, "after": ERASED}
                                if field in PERSONAL_FIELDS else change)
                        for field, change in value.items()}
        elif key == "previous_attributes" and isinstance(value, dict) and \
                (data.get("object") or {}).get("id") == customer_id:
            out[key] = {field: ERASED if field in PERSONAL_FIELDS else change
                        for field, change in value.items()}
        else:
            out[key] = _redacted(value, customer_id)
    return out

