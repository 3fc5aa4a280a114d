"""The customer credit balance (Stripe's sign: negative is credit) and how invoices use it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .helpers import START, create_customer, create_price, event_types, ok, subscribe

T0 = int(START.timestamp())
AMOUNTS = ("total", "starting_balance", "ending_balance", "amount_due", "amount_paid",
           "amount_remaining", "status")


def _credit(api: TestClient, customer: str, amount: int) -> dict[str, object]:
    return ok(api.post(f"/v1/customers/{customer}/balance_transactions",
                       json={"amount": amount, "currency": "eur",
                             "description": "Goodwill"}))


def _balance(api: TestClient, customer: str) -> int:
    return int(ok(api.get(f"/v1/customers/{customer}"))["balance"])


def _transactions(api: TestClient, customer: str) -> list[tuple[object, ...]]:
    """(type, amount, ending_balance, invoice), oldest first."""
    page = ok(api.get(f"/v1/customers/{customer}/balance_transactions"))
    return [(t["type"], t["amount"], t["ending_balance"], t["invoice"])
            for t in reversed(page["data"])]


def test_a_credit_sets_the_balance_and_the_customer_currency(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    transaction = _credit(api, customer, -1500)
    assert {k: transaction[k] for k in ("object", "customer", "amount", "currency", "type",
                                        "description", "invoice", "ending_balance",
                                        "created")} == {
        "object": "customer_balance_transaction", "customer": customer, "amount": -1500,
        "currency": "eur", "type": "adjustment", "description": "Goodwill", "invoice": None,
        "ending_balance": -1500, "created": T0}
    after = ok(api.get(f"/v1/customers/{customer}"))
    assert (after["balance"], after["currency"]) == (-1500, "eur")


def test_a_credit_smaller_than_the_first_invoice_reduces_the_amount_due(
        api: TestClient) -> None:
    customer = create_customer(api)["id"]
    _credit(api, customer, -1500)
    sub = subscribe(api, customer, create_price(api)["id"], collection_method="send_invoice")
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    assert {k: invoice[k] for k in AMOUNTS} == {
        "total": 1999, "starting_balance": -1500, "ending_balance": 0, "amount_due": 499,
        "amount_paid": 0, "amount_remaining": 499, "status": "open"}
    assert _balance(api, customer) == 0
    assert _transactions(api, customer) == [("adjustment", -1500, -1500, None),
                                             ("applied_to_invoice", 1500, 0, invoice["id"])]

    paid = ok(api.post(f"/v1/invoices/{invoice['id']}/pay", json={"paid_out_of_band": True}))
    assert (paid["amount_paid"], paid["amount_remaining"], paid["status"]) == (499, 0, "paid")


def test_a_credit_larger_than_the_invoice_pays_it_and_the_rest_stays_credit(
        api: TestClient) -> None:
    customer = create_customer(api)["id"]
    _credit(api, customer, -5000)
    sub = subscribe(api, customer, create_price(api)["id"], collection_method="send_invoice")
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    assert {k: invoice[k] for k in AMOUNTS} == {
        "total": 1999, "starting_balance": -5000, "ending_balance": -3001, "amount_due": 0,
        "amount_paid": 0, "amount_remaining": 0, "status": "paid"}
    assert invoice["paid"] is True
    assert invoice["status_transitions"]["paid_at"] == T0
    assert _balance(api, customer) == -3001
    assert _transactions(api, customer)[-1] == ("applied_to_invoice", 1999, -3001,
                                                invoice["id"])
    assert event_types(api, object_id=invoice["id"]) == ["invoice.created",
                                                         "invoice.finalized", "invoice.paid"]


def test_a_debit_is_added_to_the_next_invoice(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    _credit(api, customer, 300)  # positive: the customer owes it
    sub = subscribe(api, customer, create_price(api)["id"], collection_method="send_invoice")
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    assert {k: invoice[k] for k in AMOUNTS} == {
        "total": 1999, "starting_balance": 300, "ending_balance": 0, "amount_due": 2299,
        "amount_paid": 0, "amount_remaining": 2299, "status": "open"}
    assert _balance(api, customer) == 0


def test_voiding_an_invoice_gives_back_the_credit_it_used(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    _credit(api, customer, -1500)
    sub = subscribe(api, customer, create_price(api)["id"], collection_method="send_invoice")
    ok(api.post(f"/v1/invoices/{sub['latest_invoice']}/void"))
    assert _balance(api, customer) == -1500
    assert _transactions(api, customer)[-1] == ("invoice_voided", -1500, -1500,
                                                sub["latest_invoice"])


def test_a_manual_invoice_uses_the_credit_at_finalization_not_before(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    _credit(api, customer, -200)
    ok(api.post("/v1/invoiceitems", json={"customer": customer, "amount": 500,
                                          "currency": "eur"}))
    draft = ok(api.post("/v1/invoices", json={"customer": customer}))
    assert (draft["total"], _balance(api, customer)) == (500, -200)
    final = ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    assert {k: final[k] for k in AMOUNTS} == {
        "total": 500, "starting_balance": -200, "ending_balance": 0, "amount_due": 300,
        "amount_paid": 0, "amount_remaining": 300, "status": "open"}
    assert _balance(api, customer) == 0
