"""Invoices to credit, built through the API: one-off items on a manual invoice."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.helpers import count, list_all, ok


def open_invoice(api: TestClient, customer: str, *items: dict[str, Any]) -> Any:
    """A finalized (open) invoice of the customer with one line per item (default 100.00)."""
    for item in items or ({"amount": 10000},):
        ok(api.post("/v1/invoiceitems", json={"customer": customer, "currency": "eur",
                                              **item}))
    draft = ok(api.post("/v1/invoices", json={"customer": customer}))
    return ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))


def paid_invoice(api: TestClient, customer: str, *items: dict[str, Any]) -> Any:
    invoice = open_invoice(api, customer, *items)
    return ok(api.post(f"/v1/invoices/{invoice['id']}/pay", json={"paid_out_of_band": True}))


def credit(api: TestClient, invoice: str, **fields: Any) -> Any:
    return ok(api.post("/v1/credit_notes", json={"invoice": invoice, **fields}))


def invoice_of(api: TestClient, invoice: str) -> Any:
    return ok(api.get(f"/v1/invoices/{invoice}"))


def balance(api: TestClient, customer: str) -> int:
    return int(ok(api.get(f"/v1/customers/{customer}"))["balance"])


def balance_transactions(api: TestClient, customer: str) -> list[tuple[Any, ...]]:
    """(id, type, amount, ending_balance, invoice, description), oldest first."""
    rows = list_all(api, f"/v1/customers/{customer}/balance_transactions")
    return [(t["id"], t["type"], t["amount"], t["ending_balance"], t["invoice"],
             t["description"]) for t in reversed(rows)]


def written(api: TestClient, customer: str) -> dict[str, Any]:
    """Everything a credit note could write, to compare before and after a request."""
    return {"credit_notes": count(api, "/v1/credit_notes"),
            "events": count(api, "/v1/events"),
            "invoices": [(i["id"], i["status"], i["amount_due"], i["amount_remaining"],
                          i["amount_paid"]) for i in list_all(api, "/v1/invoices")],
            "balance": balance(api, customer),
            "balance_transactions": len(balance_transactions(api, customer))}
