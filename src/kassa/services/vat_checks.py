"""Checking customers' VAT ids with the EU's VIES, and keeping the answer on the customer."""

from __future__ import annotations

from kassa.adapters.vies import VatChecker
from kassa.core.errors import InvalidRequest
from kassa.domain import vat_ids
from kassa.services import customers, events, objects, scoping
from kassa.store import models as m
from kassa.store.uow import UnitOfWork


def check_customer_vat(uow: UnitOfWork, org_id: str, customer_id: str,
                       checker: VatChecker) -> m.Customer:
    """Ask `checker` about the customer's VAT id and record the answer (`vat_status`,
    `vat_checked_at`) with a `customer.vat_checked` event.

    No transaction stays open while the register is asked. A checker that asks nobody
    (`DisabledChecker`) changes nothing; an answer about an id the customer no longer has is
    dropped. Raises InvalidRequest when the customer has no VAT id VIES could check.
    """
    customer = scoping.get(uow.session, m.Customer, org_id, customer_id)
    vat_id = customer.vat_id
    if not vat_id:
        raise InvalidRequest("The customer has no VAT id to check.", param="vat_id")
    parts = vat_ids.vies_parts(vat_id, customers.now_for(uow, customer).date())
    if parts is None:
        raise InvalidRequest(f"VIES checks the VAT ids of EU member states and Northern "
                             f"Ireland only, not {vat_id[:2]}.", param="vat_id")
    uow.rollback()  # ends the read: the register may take seconds to answer
    status = checker.check(*parts)

    customer = scoping.get(uow.session, m.Customer, org_id, customer_id, lock=True)
    if status == "unchecked" or customer.vat_id != vat_id:
        return customer
    before = customer.vat_status
    at = customers.now_for(uow, customer)
    customer.vat_status, customer.vat_checked_at = status, at
    previous = {"vat_status": before} if before != status else None
    events.record(uow.session, org_id, "customer.vat_checked", objects.customer(customer), at,
                  previous)
    uow.commit()
    return customer
