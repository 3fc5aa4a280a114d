"""Tenants are sealed in the dashboard: an operator sees only their organization's objects;
any id of another organization is a 404 page, for reading and for every action (with a valid
form and the most powerful role), and changes nothing; lists and searches never show
another organization's rows."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.helpers import auth, create_customer, create_price, list_all, ok, subscribe
from dashboard.world import PASSWORD, add_operator, browser, post, sent_invoice, sign_in
from kassa.config import Kassa
from kassa.services import operators
from kassa.services.organizations import NewOrganization


def _theirs(api: TestClient, kassa: Kassa, other: NewOrganization) -> dict[str, Any]:
    """One of each object, in the other organization."""
    headers = auth(other.secret_key)
    customer = ok(api.post("/v1/customers", json={"name": "Globex Buyer",
                                                  "email": "buyer@globex.example"},
                           headers=headers))
    ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                             "token": "pm_card_visa"}, headers=headers))
    price = ok(api.post("/v1/prices", json={"product_data": {"name": "Globex Plan"},
                                            "currency": "eur", "unit_amount": 4000,
                                            "recurring": {"interval": "month"}},
                        headers=headers))
    paid = ok(api.post("/v1/subscriptions", json={"customer": customer["id"],
                                                  "items": [{"price": price["id"]}]},
                       headers=headers))["latest_invoice"]
    sent = ok(api.post("/v1/subscriptions", json={
        "customer": customer["id"], "items": [{"price": price["id"]}],
        "collection_method": "send_invoice", "days_until_due": 7},
        headers=headers))["latest_invoice"]
    [payment] = ok(api.get("/v1/payments", params={"invoice": paid}, headers=headers))["data"]
    note = ok(api.post("/v1/credit_notes", json={"invoice": sent, "amount": 500},
                       headers=headers))
    email = add_operator(kassa, other.organization.id, "finance", "their-finance@globex.example")
    with kassa.uow() as uow:
        [operator] = operators.list_operators(uow, other.organization.id)
    return {"customer": customer["id"], "paid": paid, "sent": sent, "payment": payment["id"],
            "note": note["id"], "operator": operator.id, "operator_email": email,
            "headers": headers, "org": other.organization.id}


def _state(api: TestClient, kassa: Kassa, theirs: dict[str, Any]) -> Any:
    headers = theirs["headers"]
    with kassa.uow() as uow:
        staff = [(o.role, o.active) for o in operators.list_operators(uow, theirs["org"])]
    return (ok(api.get(f"/v1/customers/{theirs['customer']}", headers=headers))["balance"],
            [(i["id"], i["status"], i["amount_remaining"])
             for i in list_all(api, "/v1/invoices", headers=headers)],
            [(p["id"], p["amount_refunded"]) for p in list_all(api, "/v1/payments",
                                                                headers=headers)],
            [(n["id"], n["status"]) for n in list_all(api, "/v1/credit_notes",
                                                        headers=headers)],
            len(list_all(api, "/v1/email_messages", headers=headers)), staff)


def test_another_organizations_objects_are_not_found_and_never_changed(
        api: TestClient, kassa: Kassa, org: NewOrganization,
        other_org: NewOrganization) -> None:
    theirs = _theirs(api, kassa, other_org)
    client = browser(kassa)
    assert sign_in(client, add_operator(kassa, org.organization.id, "admin")).status_code == 303
    for path in (f"/dashboard/customers/{theirs['customer']}",
                 f"/dashboard/invoices/{theirs['sent']}",
                 f"/dashboard/invoices/{theirs['paid']}/pdf",
                 f"/dashboard/credit_notes/{theirs['note']}/pdf"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "Not found" in page.text and "Globex" not in page.text
    before = _state(api, kassa, theirs)
    for path, fields in (
            (f"/dashboard/invoices/{theirs['sent']}/void", {}),
            (f"/dashboard/invoices/{theirs['sent']}/mark_uncollectible", {}),
            (f"/dashboard/invoices/{theirs['sent']}/mark_paid", {}),
            (f"/dashboard/invoices/{theirs['sent']}/send_reminder", {}),
            (f"/dashboard/invoices/{theirs['sent']}/retry_payment", {}),
            (f"/dashboard/invoices/{theirs['sent']}/credit_note", {"amount": "1"}),
            (f"/dashboard/credit_notes/{theirs['note']}/void", {}),
            (f"/dashboard/payments/{theirs['payment']}/refund", {}),
            (f"/dashboard/customers/{theirs['customer']}/credit", {"amount": "5"}),
            (f"/dashboard/operators/{theirs['operator']}/role", {"role": "support"}),
            (f"/dashboard/operators/{theirs['operator']}/deactivate", {})):
        answer = post(client, path, **fields)
        assert answer.status_code == 404, (path, answer.status_code, answer.text[-1500:])
    assert _state(api, kassa, theirs) == before
    # their operator still signs in to their own organization only
    assert sign_in(browser(kassa), theirs["operator_email"], PASSWORD).status_code == 303
    assert not [e for e in ok(api.get("/v1/audit_log", headers=theirs["headers"]))["data"]
                if e["actor"]["type"] == "operator"]


def test_lists_and_searches_show_only_the_operators_organization(
        api: TestClient, kassa: Kassa, org: NewOrganization,
        other_org: NewOrganization) -> None:
    theirs = _theirs(api, kassa, other_org)
    ours = sent_invoice(api, name="Acme Buyer")
    mine = create_customer(api, name="Card Buyer")
    ok(api.post("/v1/payment_methods", json={"customer": mine["id"], "token": "pm_card_visa"}))
    subscribe(api, mine["id"], create_price(api)["id"])
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "support"))
    assert "Globex" not in client.get("/dashboard/customers", params={"q": "globex"}).text
    assert "No customers found." in client.get(
        "/dashboard/customers", params={"q": theirs["customer"]}).text
    assert "Acme Buyer" in client.get("/dashboard/customers", params={"q": "acme"}).text
    for path in ("/dashboard/invoices", "/dashboard/payments", "/dashboard/credit_notes",
                 "/dashboard/bank_transactions", "/dashboard/catalog", "/dashboard/operators"):
        page = client.get(path)
        assert page.status_code == 200, path
        for their_id in (theirs["customer"], theirs["sent"], theirs["paid"], theirs["note"],
                         theirs["payment"], "Globex", "their-finance"):
            assert their_id not in page.text, (path, their_id)
    assert ours["id"] in client.get("/dashboard/invoices").text
    # filtering by their customer finds nothing of theirs
    assert "No invoices found." in client.get(
        "/dashboard/invoices", params={"customer": theirs["customer"]}).text
    home = client.get("/dashboard").text
    assert 'id="count-customers">2<' in home and 'id="count-open-invoices">1<' in home
