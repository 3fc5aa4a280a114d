"""Events: every state change is in GET /v1/events, its data.object shaped as the resource."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from .helpers import (
    START,
    assert_error,
    create_customer,
    create_price,
    event_types,
    list_all,
    ok,
    subscribe,
)

T0 = int(START.timestamp())


def _events_by_type(api: TestClient) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in reversed(list_all(api, "/v1/events")):
        grouped.setdefault(event["type"], []).append(event)
    return grouped


def test_the_lifecycle_of_a_paid_subscription_invoice_is_in_the_events(api: TestClient) -> None:
    customer = create_customer(api)
    price = create_price(api)
    sub = subscribe(api, customer["id"], price["id"], collection_method="send_invoice")
    paid = ok(api.post(f"/v1/invoices/{sub['latest_invoice']}/pay",
                       json={"paid_out_of_band": True}))

    events = _events_by_type(api)
    for kind in ("customer.created", "customer.subscription.created",
                 "invoice.created", "invoice.finalized", "invoice.paid"):
        assert len(events.get(kind, [])) == 1, (kind, sorted(events))
        [event] = events[kind]
        assert event["object"] == "event" and event["id"].startswith("evt_")
        assert event["created"] == T0

    # data.object is the resource as GET returns it (at the time of the event).
    created_customer = events["customer.created"][0]["data"]["object"]
    assert created_customer == customer
    created_sub = events["customer.subscription.created"][0]["data"]["object"]
    now_sub = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert set(created_sub) == set(now_sub)
    assert {k: created_sub[k] for k in ("id", "object", "customer", "items", "status")} == {
        k: now_sub[k] for k in ("id", "object", "customer", "items", "status")}
    assert events["invoice.paid"][0]["data"]["object"] == paid

    invoice_events = {kind: events[kind][0]["data"]["object"]
                      for kind in ("invoice.created", "invoice.finalized", "invoice.paid")}
    assert {kind: (obj["id"], obj["object"], obj["status"], obj["number"])
            for kind, obj in invoice_events.items()} == {
        "invoice.created": (paid["id"], "invoice", "draft", None),
        "invoice.finalized": (paid["id"], "invoice", "open", "ACME-000001"),
        "invoice.paid": (paid["id"], "invoice", "paid", "ACME-000001")}
    for obj in invoice_events.values():
        assert set(obj) == set(paid)
        assert [line["amount"] for line in obj["lines"]["data"]] == [1999]

    one = ok(api.get(f"/v1/events/{events['invoice.paid'][0]['id']}"))
    assert one == events["invoice.paid"][0]


def test_events_list_newest_first_and_filter_by_type_and_object(api: TestClient) -> None:
    customer = create_customer(api)
    sub = subscribe(api, customer["id"], create_price(api)["id"],
                    collection_method="send_invoice")
    everything = list_all(api, "/v1/events")
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True)
    assert everything[-1]["type"] == "customer.created"

    invoice_events = list_all(api, "/v1/events", type="invoice.*")
    assert [e["type"] for e in reversed(invoice_events)] == ["invoice.created",
                                                             "invoice.finalized"]
    assert [e["type"] for e in list_all(api, "/v1/events", type="invoice.finalized")] == [
        "invoice.finalized"]
    assert event_types(api, object_id=customer["id"])[0] == "customer.created"
    assert {e["data"]["object"]["id"] for e in list_all(api, "/v1/events",
                                                        object_id=sub["latest_invoice"])} \
        == {sub["latest_invoice"]}


def test_an_update_event_names_the_previous_values(api: TestClient) -> None:
    customer = create_customer(api)
    updated = ok(api.post(f"/v1/customers/{customer['id']}",
                          json={"name": "Ada Lovelace", "metadata": {"plan": "gold"}}))
    [event] = list_all(api, "/v1/events", type="customer.updated")
    assert event["data"]["object"] == updated
    assert event["data"]["previous_attributes"] == {"name": "Ada", "metadata": {}}


def test_a_request_that_fails_records_no_event(api: TestClient) -> None:
    customer = create_customer(api)
    before = list_all(api, "/v1/events")
    assert_error(api.post(f"/v1/customers/{customer['id']}", json={"timezone": "Nowhere"}),
                 400, param="timezone")
    assert list_all(api, "/v1/events") == before


def test_creating_a_subscription_records_created_and_no_update(api: TestClient) -> None:
    customer = create_customer(api)
    sub = subscribe(api, customer["id"], create_price(api)["id"],
                    collection_method="send_invoice")
    assert event_types(api, object_id=sub["id"]) == ["customer.subscription.created"]


def test_price_created_event_names_the_product(api: TestClient) -> None:
    product = ok(api.post("/v1/products", json={"name": "Pro"}))
    for body in ({"product": product["id"]}, {"product_data": {"name": "Inline"}}):
        price = ok(api.post("/v1/prices", json={"currency": "eur", "unit_amount": 100,
                                                **body}))
        [event] = list_all(api, "/v1/events", object_id=price["id"])
        assert event["type"] == "price.created"
        assert event["data"]["object"] == price


def test_an_inline_product_records_product_created(api: TestClient) -> None:
    price = create_price(api)
    assert event_types(api, object_id=price["product"]) == ["product.created"]
