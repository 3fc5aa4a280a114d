"""Tenants are sealed: another organization's objects are invisible, as if they did not exist."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kassa.services import organizations

from .helpers import (
    assert_error,
    auth,
    create_clock,
    create_customer,
    create_price,
    list_all,
    ok,
    snapshot,
    subscribe,
    ts,
)


@pytest.fixture
def ours(api: TestClient) -> dict[str, Any]:
    """Organization A's objects: a customer with a subscription, invoices, a clock, events."""
    price = create_price(api)
    customer = create_customer(api)
    sub = subscribe(api, customer["id"], price["id"], collection_method="send_invoice")
    item = ok(api.post("/v1/invoiceitems", json={"customer": customer["id"], "amount": 500,
                                                 "currency": "eur"}))
    draft = ok(api.post("/v1/invoices", json={"customer": customer["id"]}))
    clock = create_clock(api, ts(2026, 1, 1))
    event = ok(api.get("/v1/events", params={"limit": 1}))["data"][0]
    return {"price": price, "product": price["product"], "customer": customer, "sub": sub,
            "invoice": sub["latest_invoice"], "item": item, "draft": draft, "clock": clock,
            "event": event}


def test_another_organization_cannot_read_or_change_our_objects(
        api: TestClient, other_org: organizations.NewOrganization,
        ours: dict[str, Any]) -> None:
    theirs = auth(other_org.secret_key)
    before = snapshot(api)
    invoice_before = ok(api.get(f"/v1/invoices/{ours['invoice']}"))
    draft_before = ok(api.get(f"/v1/invoices/{ours['draft']['id']}"))
    customer_before = ok(api.get(f"/v1/customers/{ours['customer']['id']}"))
    sub_before = ok(api.get(f"/v1/subscriptions/{ours['sub']['id']}"))
    cus, sub, inv = ours["customer"]["id"], ours["sub"]["id"], ours["invoice"]
    draft, clock = ours["draft"]["id"], ours["clock"]["id"]

    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/v1/customers/{cus}", None),
        ("POST", f"/v1/customers/{cus}", {"name": "Hijacked"}),
        ("GET", f"/v1/customers/{cus}/balance_transactions", None),
        ("POST", f"/v1/customers/{cus}/balance_transactions", {"amount": -100,
                                                               "currency": "eur"}),
        ("GET", f"/v1/products/{ours['product']}", None),
        ("GET", f"/v1/prices/{ours['price']['id']}", None),
        ("GET", f"/v1/subscriptions/{sub}", None),
        ("POST", f"/v1/subscriptions/{sub}", {"cancel_at_period_end": True}),
        ("DELETE", f"/v1/subscriptions/{sub}", None),
        ("GET", f"/v1/invoices/{inv}", None),
        ("POST", f"/v1/invoices/{inv}/pay", {"paid_out_of_band": True}),
        ("POST", f"/v1/invoices/{inv}/void", None),
        ("POST", f"/v1/invoices/{inv}/mark_uncollectible", None),
        ("POST", f"/v1/invoices/{draft}/finalize", None),
        ("DELETE", f"/v1/invoices/{draft}", None),
        ("GET", f"/v1/test_clocks/{clock}", None),
        ("GET", f"/v1/test_helpers/test_clocks/{clock}", None),
        ("POST", f"/v1/test_clocks/{clock}/advance", {"frozen_time": ts(2027, 1, 1)}),
        ("GET", f"/v1/events/{ours['event']['id']}", None),
    ]
    for method, path, body in attempts:
        response = api.request(method, path, json=body, headers=theirs)
        assert_error(response, 404, code="resource_missing", param="id")

    creations: list[tuple[str, dict[str, Any], str]] = [
        ("/v1/subscriptions", {"customer": cus, "items": [{"price": ours["price"]["id"]}]},
         "customer"),
        ("/v1/invoiceitems", {"customer": cus, "amount": 100, "currency": "eur"}, "customer"),
        ("/v1/invoices", {"customer": cus}, "customer"),
        ("/v1/customers", {"test_clock": clock}, "test_clock"),
        ("/v1/prices", {"product": ours["product"], "currency": "eur", "unit_amount": 1},
         "product"),
    ]
    for path, body, param in creations:
        assert_error(api.post(path, json=body, headers=theirs), 404, code="resource_missing",
                     param=param)
    assert_error(api.get("/v1/invoices/upcoming", params={"customer": cus}, headers=theirs),
                 404, code="resource_missing", param="customer")

    # Their own customer cannot use our price, nor have items put on our draft.
    their_customer = ok(api.post("/v1/customers", json={"name": "Eve"}, headers=theirs))
    assert_error(api.post("/v1/subscriptions", headers=theirs, json={
        "customer": their_customer["id"], "items": [{"price": ours["price"]["id"]}]}),
        404, code="resource_missing", param="items[0][price]")
    assert_error(api.post("/v1/invoiceitems", headers=theirs, json={
        "customer": their_customer["id"], "amount": 100, "currency": "eur", "invoice": draft}),
        404, code="resource_missing", param="invoice")

    assert snapshot(api) == before
    assert ok(api.get(f"/v1/invoices/{inv}")) == invoice_before
    assert ok(api.get(f"/v1/invoices/{draft}")) == draft_before
    assert ok(api.get(f"/v1/customers/{cus}")) == customer_before
    assert ok(api.get(f"/v1/subscriptions/{sub}")) == sub_before


def test_another_organizations_lists_show_none_of_our_objects(
        api: TestClient, other_org: organizations.NewOrganization,
        ours: dict[str, Any]) -> None:
    theirs = auth(other_org.secret_key)
    cus = ours["customer"]["id"]
    for path, params in [("/v1/customers", {}), ("/v1/customers", {"email": "ada@example.com"}),
                         ("/v1/customers", {"test_clock": ours["clock"]["id"]}),
                         ("/v1/products", {}), ("/v1/prices", {}),
                         ("/v1/prices", {"product": ours["product"]}),
                         ("/v1/subscriptions", {"status": "all"}),
                         ("/v1/subscriptions", {"customer": cus}),
                         ("/v1/invoices", {}), ("/v1/invoices", {"customer": cus}),
                         ("/v1/invoices", {"subscription": ours["sub"]["id"]}),
                         ("/v1/invoiceitems", {}), ("/v1/invoiceitems", {"customer": cus}),
                         ("/v1/test_clocks", {}), ("/v1/test_helpers/test_clocks", {}),
                         ("/v1/events", {}), ("/v1/events", {"object_id": cus}),
                         ("/v1/events", {"type": "customer.*"})]:
        assert list_all(api, path, headers=theirs, **params) == [], (path, params)
    # ...while our own lists hold them.
    assert [c["id"] for c in list_all(api, "/v1/customers")] == [cus]
    assert len(list_all(api, "/v1/events", object_id=cus)) >= 1


def test_a_cursor_from_another_organization_reveals_nothing(
        api: TestClient, other_org: organizations.NewOrganization,
        ours: dict[str, Any]) -> None:
    theirs = auth(other_org.secret_key)
    their_customer = ok(api.post("/v1/customers", json={"name": "Eve"}, headers=theirs))
    for cursor in ("starting_after", "ending_before"):
        page = ok(api.get("/v1/customers", params={cursor: ours["customer"]["id"]},
                          headers=theirs))
        assert [c["id"] for c in page["data"]] in ([], [their_customer["id"]])


def test_each_organization_numbers_its_own_invoices(
        api: TestClient, other_org: organizations.NewOrganization,
        ours: dict[str, Any]) -> None:
    theirs = auth(other_org.secret_key)
    price = ok(api.post("/v1/prices", headers=theirs, json={
        "product_data": {"name": "Basic"}, "currency": "eur", "unit_amount": 900,
        "recurring": {"interval": "month"}}))
    customer = ok(api.post("/v1/customers", json={"name": "Eve"}, headers=theirs))
    sub = ok(api.post("/v1/subscriptions", headers=theirs, json={
        "customer": customer["id"], "items": [{"price": price["id"]}],
        "collection_method": "send_invoice"}))
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}", headers=theirs))
    assert invoice["number"] == "GLOB-000001"
    assert ok(api.get(f"/v1/invoices/{ours['invoice']}"))["number"] == "ACME-000001"
