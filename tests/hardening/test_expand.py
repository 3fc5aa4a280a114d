"""`expand[]`: an id replaced by the object, on one object and on lists, never another
organization's, and a property that cannot be expanded is a 400."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.helpers import assert_error, create_customer, create_price, ok, subscribe


def test_ids_expand_into_their_objects(api: TestClient) -> None:
    customer = create_customer(api, name="Ada")
    ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                             "token": "pm_card_visa"}))
    sub = subscribe(api, customer["id"], create_price(api)["id"])
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}",
                         params={"expand[]": ["customer", "subscription"]}))
    assert (invoice["customer"]["object"], invoice["customer"]["name"]) == ("customer", "Ada")
    assert invoice["subscription"]["id"] == sub["id"]
    listed = ok(api.get("/v1/invoices", params={"expand[]": "data.customer"}))
    assert all(row["customer"]["object"] == "customer" for row in listed["data"])
    got = ok(api.get(f"/v1/subscriptions/{sub['id']}", params={"expand[]": "latest_invoice"}))
    assert got["latest_invoice"]["id"] == sub["latest_invoice"]
    [payment] = ok(api.get("/v1/payments", params={"expand[]": ["data.invoice",
                                                               "data.payment_method"]}))["data"]
    assert payment["invoice"]["object"] == "invoice"
    assert payment["payment_method"]["card"]["last4"] == "4242"
    plain = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    assert plain["customer"] == customer["id"]


def test_what_cannot_be_expanded_is_a_400(api: TestClient) -> None:
    customer = create_customer(api)
    sub = subscribe(api, customer["id"], create_price(api)["id"],
                    collection_method="send_invoice")
    for path in ("total", "customer.address", "lines", "data.customer"):
        assert_error(api.get(f"/v1/invoices/{sub['latest_invoice']}",
                             params={"expand[]": path}), 400, param="expand[]")
    assert_error(api.get("/v1/invoices", params={"expand[]": "customer"}), 400,
                 param="expand[]")
    assert_error(api.get("/v1/invoices", params={"expand[]": ["data.customer"] * 11}), 400)


def test_credit_notes_refunds_prices_and_dunning_cases_expand_too(api: TestClient) -> None:
    customer = create_customer(api, name="Ada")
    ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                             "token": "pm_card_visa"}))
    price = create_price(api, 2000, name="Pro")
    sub = subscribe(api, customer["id"], price["id"])
    [payment] = ok(api.get("/v1/payments", params={"customer": customer["id"]}))["data"]
    refund = ok(api.post("/v1/refunds", json={"payment": payment["id"], "amount": 500}))
    got = ok(api.get(f"/v1/refunds/{refund['id']}", params={"expand[]": ["payment"]}))
    assert (got["payment"]["id"], got["payment"]["object"]) == (payment["id"], "payment")
    [listed] = ok(api.get("/v1/refunds", params={"expand[]": "data.payment"}))["data"]
    assert listed["payment"]["amount"] == 2000
    note = ok(api.post("/v1/credit_notes", json={"invoice": sub["latest_invoice"],
                                                 "amount": 300, "refund_amount": 0,
                                                 "credit_amount": 300}))
    got = ok(api.get(f"/v1/credit_notes/{note['id']}",
                     params={"expand[]": ["invoice", "customer"]}))
    assert (got["invoice"]["id"], got["customer"]["name"]) == (sub["latest_invoice"], "Ada")
    listed_notes = ok(api.get("/v1/credit_notes", params={"invoice": sub["latest_invoice"],
                                                          "expand[]": "data.customer"}))
    assert listed_notes["data"][0]["customer"]["object"] == "customer"
    assert ok(api.get(f"/v1/prices/{price['id']}", params={"expand[]": "product"}))[
        "product"]["name"] == "Pro"
    assert all(row["product"]["object"] == "product" for row in ok(api.get(
        "/v1/prices", params={"expand[]": "data.product"}))["data"])

    declined = create_customer(api, name="Bo", email="bo@example.com")
    ok(api.post("/v1/payment_methods", json={"customer": declined["id"],
                                             "token": "pm_card_chargeDeclined"}))
    subscribe(api, declined["id"], price["id"])
    [case] = ok(api.get("/v1/dunning_cases", params={
        "customer": declined["id"], "expand[]": ["data.invoice", "data.subscription"]}))["data"]
    assert case["invoice"]["status"] == "open" and case["subscription"]["object"] == \
        "subscription"
    assert ok(api.get(f"/v1/dunning_cases/{case['id']}", params={"expand[]": "customer"}))[
        "customer"]["name"] == "Bo"
    assert_error(api.get(f"/v1/refunds/{refund['id']}", params={"expand[]": "amount"}), 400,
                 param="expand[]")
