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
