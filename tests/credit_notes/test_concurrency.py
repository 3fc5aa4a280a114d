"""Credit notes issued at the same time: the customer's lock serializes them, so an invoice
is never credited beyond its total and numbers have no gaps and no duplicates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from api.helpers import create_customer
from kassa.config import Kassa
from kassa.core.errors import InvalidRequest
from kassa.services import credit_notes, organizations

from .helpers import balance, paid_invoice


def test_concurrent_credit_notes_never_over_credit_and_number_without_gaps(
        api: TestClient, kassa: Kassa, org: organizations.NewOrganization) -> None:
    customer = create_customer(api)["id"]
    invoices = [paid_invoice(api, customer)["id"] for _ in range(2)]

    def issue(invoice_id: str) -> str | None:
        try:
            with kassa.uow() as uow:
                return credit_notes.create_credit_note(
                    uow, org.organization.id, invoice=invoice_id, amount=3000).number
        except InvalidRequest:
            return None

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(issue, invoices * 6))
    issued = sorted(number for number in numbers if number)
    # 3 × 30.00 fit in each 100.00 invoice; a fourth would exceed it.
    assert issued == [f"ACME-CN-{n:06d}" for n in range(1, 7)]
    assert balance(api, customer) == -18000
