"""GDPR: a customer's data exported as one document, and erased everywhere except in what tax
law keeps (the invoices show the buyer they were issued to)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from api.helpers import assert_error, create_customer, create_price, ok, subscribe
from kassa.config import Kassa
from kassa.store import models as m


def _paying_customer(api: TestClient) -> tuple[dict, dict]:
    customer = create_customer(api, name="Ada Lovelace", email="ada@example.com",
                               address={"line1": "12 Analytical Row", "city": "London",
                                        "country": "GB"},
                               metadata={"crm": "A-1"})
    ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                             "token": "pm_card_visa"}))
    sub = subscribe(api, customer["id"], create_price(api, 2500)["id"])
    ok(api.post(f"/v1/customers/{customer['id']}", json={"name": "Ada King"}))
    return customer, sub


def test_the_export_holds_everything_about_the_customer(api: TestClient) -> None:
    customer, sub = _paying_customer(api)
    other = create_customer(api, name="Someone else")
    export = ok(api.get(f"/v1/customers/{customer['id']}/export"))
    assert export["customer"]["name"] == "Ada King"
    assert [s["id"] for s in export["subscriptions"]] == [sub["id"]]
    assert [i["id"] for i in export["invoices"]] == [sub["latest_invoice"]]
    assert export["payments"][0]["status"] == "succeeded"
    assert export["payment_methods"][0]["card"]["last4"] == "4242"
    assert {e["kind"] for e in export["emails"]} >= {"invoice_issued", "payment_receipt"}
    assert {"customer.created", "customer.updated"} <= {e["type"] for e in export["events"]}
    assert other["id"] not in json.dumps(export)
    assert_error(api.get("/v1/customers/cus_nope/export"), 404)


def test_erasure_removes_personal_data_but_invoices_keep_the_buyer(
        api: TestClient, kassa: Kassa) -> None:
    customer, sub = _paying_customer(api)
    assert_error(api.post(f"/v1/customers/{customer['id']}/erase"), 400,
                 code="customer_has_subscriptions")
    ok(api.post(f"/v1/subscriptions/{sub['id']}/cancel"))

    erased = ok(api.post(f"/v1/customers/{customer['id']}/erase"))

    assert (erased["name"], erased["email"], erased["address"], erased["metadata"]) == (
        "[erased]", None, None, {})
    assert erased["erased_at"] is not None
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    assert invoice["customer_name"] == "Ada Lovelace"  # as issued: tax law keeps it
    assert invoice["amount_paid"] == 2500
    export = json.dumps(ok(api.get(f"/v1/customers/{customer['id']}/export"))
                        ["customer"])
    assert "Ada" not in export and "ada@example.com" not in export
    with kassa.uow() as uow:
        mails = uow.session.query(m.EmailMessage).filter_by(customer_id=customer["id"]).all()
        assert mails and all(mail.to_address == "[erased]" and "Ada" not in mail.text_body
                             for mail in mails)
        for event in uow.session.query(m.Event).filter_by(object_id=customer["id"]):
            assert "Ada" not in json.dumps(event.data) and "Analytical" not in json.dumps(
                event.data)
        methods = uow.session.query(m.PaymentMethod).filter_by(customer_id=customer["id"])
        assert all(pm.last4 is None and pm.status == "detached" for pm in methods)
    audit = ok(api.get("/v1/audit_log", params={"resource": customer["id"]}))["data"]
    assert audit and "Ada" not in json.dumps(audit)
    assert_error(api.post(f"/v1/customers/{customer['id']}", json={"name": "Back"}), 400,
                 code="customer_erased")
