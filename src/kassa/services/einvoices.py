"""E-invoices: finalized invoices and issued credit notes as Peppol BIS 3.0 UBL documents."""

from __future__ import annotations

from kassa.adapters.documents import ubl
from kassa.core.errors import InvalidState
from kassa.services import scoping
from kassa.services.organizations import timezone_of
from kassa.store import models as m
from kassa.store.uow import UnitOfWork


def _parties(uow: UnitOfWork, org_id: str,
             customer_id: str) -> tuple[m.Organization, m.Customer]:
    org = uow.session.get(m.Organization, org_id)
    customer = uow.session.get(m.Customer, customer_id)
    assert org is not None and customer is not None
    return org, customer


def invoice_ubl(uow: UnitOfWork, org_id: str, invoice_id: str) -> bytes:
    """The organization's invoice `invoice_id` as UBL XML; InvalidState for a draft."""
    invoice = scoping.get(uow.session, m.Invoice, org_id, invoice_id)
    if invoice.status == "draft":
        raise InvalidState("The invoice is a draft: finalize it first.", param="id")
    org, customer = _parties(uow, org_id, invoice.customer_id)
    return ubl.invoice_xml(invoice, org, customer, zone=timezone_of(org, customer))


def credit_note_ubl(uow: UnitOfWork, org_id: str, credit_note_id: str) -> bytes:
    """The organization's credit note `credit_note_id` as UBL XML."""
    note = scoping.get(uow.session, m.CreditNote, org_id, credit_note_id)
    if note.number is None:
        raise InvalidState("The credit note has no number yet.", param="id")
    invoice = scoping.get(uow.session, m.Invoice, org_id, note.invoice_id)
    org, customer = _parties(uow, org_id, note.customer_id)
    return ubl.credit_note_xml(note, invoice, org, customer, zone=timezone_of(org, customer))
