"""GET /v1/invoices/upcoming previews the next invoice exactly, and writes nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from .helpers import (
    assert_error,
    create_customer,
    create_price,
    ok,
    snapshot,
    subscribe,
    ts,
)

FEB_1 = ts(2026, 2, 1, 9)  # 10:00 in Amsterdam, the organization's timezone
MAR_1 = ts(2026, 3, 1, 9)


def _without_line_ids(invoice: dict[str, Any]) -> dict[str, Any]:
    lines = [{k: v for k, v in line.items() if k != "id"} for line in invoice["lines"]["data"]]
    return {**invoice, "lines": {**invoice["lines"], "data": lines}}


def test_upcoming_invoice_shows_the_next_period_and_writes_nothing(api: TestClient) -> None:
    price = create_price(api)
    customer = create_customer(api)["id"]
    sub = subscribe(api, customer, price["id"], collection_method="send_invoice")
    before = snapshot(api)

    upcoming = ok(api.get("/v1/invoices/upcoming", params={"customer": customer}))
    again = ok(api.get("/v1/invoices/upcoming", params={"customer": customer}))

    # A preview's line ids are made up for each preview; everything else is the same.
    assert _without_line_ids(upcoming) == _without_line_ids(again)
    assert snapshot(api) == before
    assert {k: upcoming[k] for k in (
        "id", "object", "customer", "subscription", "status", "number", "currency",
        "billing_reason", "collection_method", "period_start", "period_end", "subtotal", "tax",
        "total", "starting_balance", "ending_balance", "amount_due", "amount_paid",
        "amount_remaining")} == {
        "id": None, "object": "invoice", "customer": customer, "subscription": sub["id"],
        "status": "draft", "number": None, "currency": "eur", "billing_reason": "upcoming",
        "collection_method": "send_invoice", "period_start": FEB_1, "period_end": MAR_1,
        "subtotal": 1999, "tax": 0, "total": 1999, "starting_balance": 0,
        "ending_balance": 0, "amount_due": 1999, "amount_paid": 0, "amount_remaining": 1999}
    [line] = upcoming["lines"]["data"]
    assert {k: line[k] for k in ("type", "subscription", "subscription_item", "price",
                                 "description", "quantity", "unit_amount_decimal", "amount",
                                 "currency", "period", "proration")} == {
        "type": "subscription", "subscription": sub["id"],
        "subscription_item": sub["items"]["data"][0]["id"], "price": price["id"],
        "description": "1 × Pro", "quantity": 1, "unit_amount_decimal": "1999",
        "amount": 1999, "currency": "eur", "period": {"start": FEB_1, "end": MAR_1},
        "proration": False}


def test_upcoming_invoice_includes_pending_items_and_the_balance(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    subscribe(api, customer, create_price(api)["id"], create_price(api, 500, name="Seats")["id"],
              collection_method="send_invoice")
    ok(api.post("/v1/invoiceitems", json={"customer": customer, "amount": 250,
                                          "currency": "eur", "description": "Extra storage"}))
    ok(api.post(f"/v1/customers/{customer}/balance_transactions",
                json={"amount": -1000, "currency": "eur"}))
    before = snapshot(api)
    upcoming = ok(api.get("/v1/invoices/upcoming", params={"customer": customer}))
    assert snapshot(api) == before
    assert [(line["type"], line["amount"]) for line in upcoming["lines"]["data"]] == [
        ("subscription", 1999), ("subscription", 500), ("invoiceitem", 250)]
    assert {k: upcoming[k] for k in ("subtotal", "total", "starting_balance",
                                     "ending_balance", "amount_due")} == {
        "subtotal": 2749, "total": 2749, "starting_balance": -1000, "ending_balance": 0,
        "amount_due": 1749}
    assert ok(api.get(f"/v1/customers/{customer}"))["balance"] == -1000
    assert ok(api.get("/v1/invoiceitems", params={"pending": "true"}))["data"][0]["invoice"] \
        is None


def test_upcoming_invoice_after_a_trial_is_the_first_paid_period(api: TestClient) -> None:
    customer = create_customer(api, timezone="UTC")["id"]
    subscribe(api, customer, create_price(api)["id"], trial_period_days=14)
    upcoming = ok(api.get("/v1/invoices/upcoming", params={"customer": customer}))
    trial_end = ts(2026, 1, 15, 9)
    assert (upcoming["period_start"], upcoming["period_end"], upcoming["total"]) == (
        trial_end, ts(2026, 2, 15, 9), 1999)


def test_upcoming_invoice_without_a_subscription_is_refused(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    response = api.get("/v1/invoices/upcoming", params={"customer": customer})
    assert response.status_code in (400, 404)  # Stripe answers 404
    assert_error(response, response.status_code, code="invoice_upcoming_none")
    assert_error(api.get("/v1/invoices/upcoming", params={"customer": "cus_nope"}), 404,
                 code="resource_missing", param="customer")
    assert_error(api.get("/v1/invoices/upcoming"), 400, code="parameter_missing",
                 param="customer")
