"""The invoice lifecycle over HTTP: finalized numbering, due dates, payment out of band, void,
uncollectible, and manual invoices from one-off items."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from .helpers import (
    DAY,
    START,
    assert_error,
    count,
    create_customer,
    create_price,
    event_types,
    invoices_of,
    ok,
    subscribe,
    ts,
)

T0 = int(START.timestamp())


def _send_invoice_sub(api: TestClient, price: dict[str, Any], **fields: Any) -> dict[str, Any]:
    customer = create_customer(api)
    return subscribe(api, customer["id"], price["id"], collection_method="send_invoice",
                     **fields)


def _status(api: TestClient, invoice_id: str) -> str:
    return str(ok(api.get(f"/v1/invoices/{invoice_id}"))["status"])


def test_a_send_invoice_subscription_opens_a_numbered_invoice_due_in_14_days(
        api: TestClient) -> None:
    price = create_price(api)
    sub = _send_invoice_sub(api, price)
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))

    assert sub["status"] == "active"
    assert sub["days_until_due"] == 14
    assert (sub["current_period_start"], sub["current_period_end"]) == (T0, ts(2026, 2, 1, 9))
    assert {k: invoice[k] for k in (
        "status", "number", "currency", "billing_reason", "collection_method", "subscription",
        "customer", "subtotal", "tax", "total", "starting_balance", "ending_balance",
        "amount_due", "amount_paid", "amount_remaining", "due_date", "period_start",
        "period_end", "paid", "automatically_finalizes_at", "created")} == {
        "status": "open", "number": "ACME-000001", "currency": "eur",
        "billing_reason": "subscription_create", "collection_method": "send_invoice",
        "subscription": sub["id"], "customer": sub["customer"], "subtotal": 1999, "tax": 0,
        "total": 1999, "starting_balance": 0, "ending_balance": 0, "amount_due": 1999,
        "amount_paid": 0, "amount_remaining": 1999, "due_date": T0 + 14 * DAY,
        "period_start": T0, "period_end": ts(2026, 2, 1, 9), "paid": False,
        "automatically_finalizes_at": None, "created": T0}
    assert invoice["status_transitions"] == {"finalized_at": T0, "paid_at": None,
                                             "voided_at": None, "marked_uncollectible_at": None}
    assert invoice["customer_name"] == "Ada"
    assert invoice["customer_email"] == "ada@example.com"
    [line] = invoice["lines"]["data"]
    assert {k: line[k] for k in ("type", "subscription", "price", "description", "quantity",
                                 "unit_amount_decimal", "amount", "currency", "period",
                                 "proration")} == {
        "type": "subscription", "subscription": sub["id"], "price": price["id"],
        "description": "1 × Pro", "quantity": 1, "unit_amount_decimal": "1999",
        "amount": 1999, "currency": "eur",
        "period": {"start": T0, "end": ts(2026, 2, 1, 9)}, "proration": False}


def test_due_date_follows_the_subscription_then_the_organization_setting(
        api: TestClient) -> None:
    price = create_price(api)
    own_terms = _send_invoice_sub(api, price, days_until_due=7)
    assert ok(api.get(f"/v1/invoices/{own_terms['latest_invoice']}"))["due_date"] \
        == T0 + 7 * DAY
    assert ok(api.post("/v1/organization", json={"days_until_due": 30}))["days_until_due"] == 30
    org_terms = _send_invoice_sub(api, price)
    assert org_terms["days_until_due"] == 30
    assert ok(api.get(f"/v1/invoices/{org_terms['latest_invoice']}"))["due_date"] \
        == T0 + 30 * DAY


def test_paying_needs_a_payment_method_or_paid_out_of_band_and_happens_once(
        api: TestClient) -> None:
    sub = _send_invoice_sub(api, create_price(api))
    invoice_id = sub["latest_invoice"]
    for body in (None, {}, {"paid_out_of_band": False}):
        assert_error(api.post(f"/v1/invoices/{invoice_id}/pay", json=body), 400,
                     code="invoice_payment_method_missing", param="payment_method")
    assert _status(api, invoice_id) == "open"
    assert "invoice.paid" not in event_types(api, object_id=invoice_id)

    paid = ok(api.post(f"/v1/invoices/{invoice_id}/pay", json={"paid_out_of_band": True}))
    assert {k: paid[k] for k in ("status", "paid", "paid_out_of_band", "amount_due",
                                 "amount_paid", "amount_remaining", "number")} == {
        "status": "paid", "paid": True, "paid_out_of_band": True, "amount_due": 1999,
        "amount_paid": 1999, "amount_remaining": 0, "number": "ACME-000001"}
    assert paid["status_transitions"]["paid_at"] == T0
    assert event_types(api, object_id=invoice_id) == ["invoice.created", "invoice.finalized",
                                                      "invoice.paid"]

    assert_error(api.post(f"/v1/invoices/{invoice_id}/pay", json={"paid_out_of_band": True}),
                 400, code="invoice_already_paid")
    assert_error(api.post(f"/v1/invoices/{invoice_id}/void"), 400,
                 code="resource_invalid_state")
    assert_error(api.post(f"/v1/invoices/{invoice_id}/mark_uncollectible"), 400,
                 code="resource_invalid_state")
    assert ok(api.get(f"/v1/invoices/{invoice_id}")) == paid
    assert event_types(api, object_id=invoice_id).count("invoice.paid") == 1


def test_voiding_an_open_invoice_is_final(api: TestClient) -> None:
    sub = _send_invoice_sub(api, create_price(api))
    invoice_id = sub["latest_invoice"]
    void = ok(api.post(f"/v1/invoices/{invoice_id}/void"))
    assert {k: void[k] for k in ("status", "number", "total", "amount_due", "amount_paid",
                                 "amount_remaining", "paid")} == {
        "status": "void", "number": "ACME-000001", "total": 1999, "amount_due": 1999,
        "amount_paid": 0, "amount_remaining": 0, "paid": False}
    assert void["status_transitions"]["voided_at"] == T0
    assert event_types(api, object_id=invoice_id)[-1] == "invoice.voided"
    for action, body in (("pay", {"paid_out_of_band": True}), ("void", None),
                         ("mark_uncollectible", None), ("finalize", None)):
        assert_error(api.post(f"/v1/invoices/{invoice_id}/{action}", json=body), 400,
                     code="resource_invalid_state")
    assert _status(api, invoice_id) == "void"


def test_an_uncollectible_invoice_can_still_be_paid_out_of_band(api: TestClient) -> None:
    sub = _send_invoice_sub(api, create_price(api))
    invoice_id = sub["latest_invoice"]
    marked = ok(api.post(f"/v1/invoices/{invoice_id}/mark_uncollectible"))
    assert (marked["status"], marked["amount_remaining"]) == ("uncollectible", 1999)
    assert marked["status_transitions"]["marked_uncollectible_at"] == T0
    assert_error(api.post(f"/v1/invoices/{invoice_id}/mark_uncollectible"), 400,
                 code="resource_invalid_state")
    paid = ok(api.post(f"/v1/invoices/{invoice_id}/pay", json={"paid_out_of_band": True}))
    assert {k: paid[k] for k in ("status", "amount_paid", "amount_remaining")} == {
        "status": "paid", "amount_paid": 1999, "amount_remaining": 0}
    assert event_types(api, object_id=invoice_id) == [
        "invoice.created", "invoice.finalized", "invoice.marked_uncollectible", "invoice.paid"]


def test_an_uncollectible_invoice_can_be_voided(api: TestClient) -> None:
    sub = _send_invoice_sub(api, create_price(api))
    invoice_id = sub["latest_invoice"]
    ok(api.post(f"/v1/invoices/{invoice_id}/mark_uncollectible"))
    assert ok(api.post(f"/v1/invoices/{invoice_id}/void"))["status"] == "void"


def test_a_manual_invoice_holds_pending_items_and_is_numbered_after_subscriptions(
        api: TestClient) -> None:
    price = create_price(api)
    subs = [_send_invoice_sub(api, price) for _ in range(2)]
    customer = subs[0]["customer"]
    item = ok(api.post("/v1/invoiceitems", json={"customer": customer, "amount": 500,
                                                 "currency": "eur",
                                                 "description": "Onboarding"}))
    assert {k: item[k] for k in ("invoice", "amount", "currency", "quantity", "description",
                                 "unit_amount_decimal")} == {
        "invoice": None, "amount": 500, "currency": "eur", "quantity": 1,
        "description": "Onboarding", "unit_amount_decimal": "500"}
    assert [i["id"] for i in ok(api.get("/v1/invoiceitems",
                                        params={"pending": "true"}))["data"]] == [item["id"]]

    draft = ok(api.post("/v1/invoices", json={"customer": customer}))
    assert {k: draft[k] for k in ("status", "number", "billing_reason", "collection_method",
                                  "subscription", "subtotal", "total", "amount_due",
                                  "due_date", "automatically_finalizes_at")} == {
        "status": "draft", "number": None, "billing_reason": "manual",
        "collection_method": "send_invoice", "subscription": None, "subtotal": 500,
        "total": 500, "amount_due": 500, "due_date": None,
        "automatically_finalizes_at": T0 + 3600}
    [line] = draft["lines"]["data"]
    assert (line["type"], line["invoice_item"], line["amount"], line["description"]) == (
        "invoiceitem", item["id"], 500, "Onboarding")
    assert ok(api.get(f"/v1/invoiceitems?customer={customer}"))["data"][0]["invoice"] \
        == draft["id"]
    assert ok(api.get("/v1/invoiceitems", params={"pending": "true"}))["data"] == []

    final = ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    assert {k: final[k] for k in ("status", "number", "total", "amount_due", "due_date")} == {
        "status": "open", "number": "ACME-000003", "total": 500, "amount_due": 500,
        "due_date": T0 + 14 * DAY}
    assert sorted(i["number"] for i in invoices_of(api, customer)) == ["ACME-000001",
                                                                      "ACME-000003"]
    assert_error(api.post(f"/v1/invoices/{draft['id']}/finalize"), 400,
                 code="resource_invalid_state")


def test_a_negative_invoice_item_is_a_credit_on_the_invoice(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    for amount, description in ((500, "Onboarding"), (-200, "Goodwill credit")):
        ok(api.post("/v1/invoiceitems", json={"customer": customer, "amount": amount,
                                              "currency": "eur", "description": description}))
    draft = ok(api.post("/v1/invoices", json={"customer": customer}))
    assert [line["amount"] for line in draft["lines"]["data"]] == [500, -200]
    assert (draft["subtotal"], draft["total"], draft["amount_due"]) == (300, 300, 300)
    final = ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    assert (final["number"], final["total"], final["amount_due"]) == ("ACME-000001", 300, 300)


def test_a_manual_invoice_can_exclude_pending_items(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    ok(api.post("/v1/invoiceitems", json={"customer": customer, "amount": 700,
                                          "currency": "eur"}))
    draft = ok(api.post("/v1/invoices", json={"customer": customer,
                                              "pending_invoice_items_behavior": "exclude"}))
    assert (draft["lines"]["data"], draft["total"], draft["amount_due"]) == ([], 0, 0)
    assert len(ok(api.get("/v1/invoiceitems", params={"pending": "true"}))["data"]) == 1


def test_an_item_can_be_put_on_a_given_draft(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    ok(api.post("/v1/invoiceitems", json={"customer": customer, "amount": 700,
                                          "currency": "eur"}))
    draft = ok(api.post("/v1/invoices", json={"customer": customer}))
    item = ok(api.post("/v1/invoiceitems", json={"customer": customer, "unit_amount": 250,
                                                 "quantity": 3, "currency": "eur",
                                                 "invoice": draft["id"]}))
    assert (item["invoice"], item["amount"], item["unit_amount_decimal"]) == (
        draft["id"], 750, "250")
    draft = ok(api.get(f"/v1/invoices/{draft['id']}"))
    assert [line["amount"] for line in draft["lines"]["data"]] == [700, 750]
    assert (draft["subtotal"], draft["total"], draft["amount_due"]) == (1450, 1450, 1450)
    assert ok(api.get("/v1/invoiceitems", params={"pending": "true"}))["data"] == []
    final = ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    assert_error(api.post("/v1/invoiceitems", json={
        "customer": customer, "amount": 1, "currency": "eur", "invoice": final["id"]}),
        400, code="parameter_invalid", param="invoice")


def test_deleting_a_manual_draft_returns_its_items_to_pending(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    item = ok(api.post("/v1/invoiceitems", json={"customer": customer, "amount": 500,
                                                 "currency": "eur"}))
    draft = ok(api.post("/v1/invoices", json={"customer": customer}))
    assert ok(api.delete(f"/v1/invoices/{draft['id']}")) == {
        "id": draft["id"], "object": "invoice", "deleted": True}
    assert_error(api.get(f"/v1/invoices/{draft['id']}"), 404, code="resource_missing")
    assert ok(api.get("/v1/invoiceitems", params={"pending": "true"}))["data"][0]["id"] \
        == item["id"]
    assert count(api, "/v1/invoices") == 0


def test_paying_a_draft_out_of_band_finalizes_it_first(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    ok(api.post("/v1/invoiceitems", json={"customer": customer, "amount": 500,
                                          "currency": "eur"}))
    draft = ok(api.post("/v1/invoices", json={"customer": customer}))
    paid = ok(api.post(f"/v1/invoices/{draft['id']}/pay", json={"paid_out_of_band": True}))
    assert (paid["status"], paid["number"], paid["amount_paid"]) == ("paid", "ACME-000001", 500)
    assert event_types(api, object_id=draft["id"]) == ["invoice.created", "invoice.finalized",
                                                      "invoice.paid"]


def test_a_subscription_invoice_cannot_be_deleted(api: TestClient) -> None:
    sub = _send_invoice_sub(api, create_price(api))
    assert_error(api.delete(f"/v1/invoices/{sub['latest_invoice']}"), 400,
                 code="resource_invalid_state")
    assert _status(api, sub["latest_invoice"]) == "open"
