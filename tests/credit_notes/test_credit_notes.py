"""Credit notes over HTTP, with amounts worked out by hand: crediting paid and open invoices,
per-line caps, custom lines, previews, voiding, numbering and the settlement split."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.helpers import START, create_customer, event_types, list_all, ok

from .helpers import (
    balance,
    balance_transactions,
    credit,
    invoice_of,
    open_invoice,
    paid_invoice,
    written,
)

T0 = int(START.timestamp())


@pytest.fixture
def customer(api: TestClient) -> str:
    return str(create_customer(api)["id"])


def test_a_credit_note_on_a_paid_invoice_credits_the_customer_balance(
        api: TestClient, customer: str) -> None:
    invoice = paid_invoice(api, customer)  # 100.00, paid
    note = credit(api, invoice["id"], amount=3000, reason="product_unsatisfactory",
                  memo="Two days of downtime", metadata={"ticket": "T-42"})

    assert {k: note[k] for k in (
        "object", "number", "invoice", "customer", "status", "type", "currency", "amount",
        "subtotal", "total", "pre_payment_amount", "credit_amount", "refund_amount",
        "out_of_band_amount", "reason", "memo", "created", "voided_at", "metadata")} == {
        "object": "credit_note", "number": "ACME-CN-000001", "invoice": invoice["id"],
        "customer": customer, "status": "issued", "type": "post_payment", "currency": "eur",
        "amount": 3000, "subtotal": 3000, "total": 3000, "pre_payment_amount": 0,
        "credit_amount": 3000, "refund_amount": 0, "out_of_band_amount": 0,
        "reason": "product_unsatisfactory", "memo": "Two days of downtime", "created": T0,
        "voided_at": None, "metadata": {"ticket": "T-42"}}
    assert note["id"].startswith("cn_") and note["lines"]["data"] == []
    assert balance(api, customer) == -3000
    assert balance_transactions(api, customer) == [
        (note["customer_balance_transaction"], "credit_note", -3000, -3000, invoice["id"],
         "Credit note ACME-CN-000001")]
    after = invoice_of(api, invoice["id"])  # a paid invoice is not changed
    assert (after["status"], after["amount_paid"], after["amount_remaining"]) == (
        "paid", 10000, 0)
    assert ok(api.get(f"/v1/credit_notes/{note['id']}")) == note
    assert event_types(api)[-1] == "credit_note.created"


def test_a_credit_note_on_an_open_invoice_reduces_what_remains_until_it_is_paid(
        api: TestClient, customer: str) -> None:
    invoice = open_invoice(api, customer)  # 100.00, open
    first = credit(api, invoice["id"], amount=4000)
    assert (first["type"], first["pre_payment_amount"], first["credit_amount"]) == (
        "pre_payment", 4000, 0)
    after = invoice_of(api, invoice["id"])
    assert {k: after[k] for k in ("status", "total", "amount_due", "amount_paid",
                                  "amount_remaining")} == {
        "status": "open", "total": 10000, "amount_due": 6000, "amount_paid": 0,
        "amount_remaining": 6000}

    before = written(api, customer)
    too_much = api.post("/v1/credit_notes", json={"invoice": invoice["id"], "amount": 7000})
    assert too_much.status_code == 400 and too_much.json()["error"]["param"] == "amount"
    assert "6000" in too_much.json()["error"]["message"]
    assert written(api, customer) == before

    second = credit(api, invoice["id"], amount=6000)
    assert (second["number"], second["pre_payment_amount"]) == ("ACME-CN-000002", 6000)
    paid = invoice_of(api, invoice["id"])
    assert {k: paid[k] for k in ("status", "paid", "amount_due", "amount_paid",
                                 "amount_remaining")} == {
        "status": "paid", "paid": True, "amount_due": 0, "amount_paid": 0,
        "amount_remaining": 0}
    assert paid["status_transitions"]["paid_at"] == T0
    assert balance(api, customer) == 0
    assert event_types(api)[-3:] == ["credit_note.created", "invoice.updated", "invoice.paid"]
    nothing_left = api.post("/v1/credit_notes", json={"invoice": invoice["id"], "amount": 1})
    assert nothing_left.status_code == 400


def test_credit_beyond_what_remains_on_an_open_invoice_goes_to_the_balance(
        api: TestClient, customer: str) -> None:
    ok(api.post(f"/v1/customers/{customer}/balance_transactions",
                json={"amount": -2000, "currency": "eur"}))
    invoice = open_invoice(api, customer)  # 100.00 less 20.00 credit: 80.00 due
    assert invoice["amount_due"] == 8000 and balance(api, customer) == 0
    note = credit(api, invoice["id"], amount=10000)
    assert {k: note[k] for k in ("type", "pre_payment_amount", "credit_amount")} == {
        "type": "pre_payment", "pre_payment_amount": 8000, "credit_amount": 2000}
    assert balance(api, customer) == -2000
    assert invoice_of(api, invoice["id"])["status"] == "paid"
    listed = ok(api.get("/v1/credit_notes", params={"invoice": invoice["id"]}))
    assert (listed["pre_payment_credit_notes_amount"],
            listed["post_payment_credit_notes_amount"]) == (8000, 2000)


def test_lines_are_capped_by_what_was_charged_after_the_discount(
        api: TestClient, customer: str) -> None:
    coupon = ok(api.post("/v1/coupons", json={"percent_off": 20, "duration": "forever"}))
    ok(api.post(f"/v1/customers/{customer}", json={"coupon": coupon["id"]}))
    invoice = paid_invoice(api, customer, {"unit_amount": 2500, "quantity": 4},
                           {"amount": 2000})
    seats, setup = invoice["lines"]["data"]
    assert (seats["amount"], seats["discount_amount"], setup["discount_amount"]) == (
        10000, 2000, 400)
    assert invoice["total"] == 9600

    one = credit(api, invoice["id"], lines=[{"type": "invoice_line_item",
                                             "invoice_line": seats["id"], "quantity": 1}])
    [line] = one["lines"]["data"]
    assert {k: line[k] for k in ("type", "invoice_line", "quantity", "unit_amount_decimal",
                                 "amount")} == {
        "type": "invoice_line_item", "invoice_line": seats["id"], "quantity": 1,
        "unit_amount_decimal": "2500", "amount": 2500}
    # 80.00 was charged for the seats; 25.00 is credited, so 3 more seats credit 55.00.
    over = api.post("/v1/credit_notes", json={"invoice": invoice["id"], "lines": [
        {"type": "invoice_line_item", "invoice_line": seats["id"], "amount": 5501}]})
    assert over.status_code == 400
    assert over.json()["error"]["param"] == "lines[0][amount]"
    rest = credit(api, invoice["id"], lines=[
        {"type": "invoice_line_item", "invoice_line": seats["id"], "quantity": 3},
        {"type": "invoice_line_item", "invoice_line": setup["id"]}])
    assert [line["amount"] for line in rest["lines"]["data"]] == [5500, 1600]
    assert rest["amount"] == 7100
    assert balance(api, customer) == -9600  # the whole invoice, exactly
    assert api.post("/v1/credit_notes", json={"invoice": invoice["id"], "lines": [
        {"type": "invoice_line_item", "invoice_line": setup["id"]}]}).status_code == 400


def test_a_quantity_credit_is_rounded_half_up_once(api: TestClient, customer: str) -> None:
    # A unit price of 33.335 (3333.5 cents): three units are 100.005, charged 100.01.
    invoice = paid_invoice(api, customer, {"unit_amount_decimal": "3333.5", "quantity": 3})
    [line] = invoice["lines"]["data"]
    assert line["amount"] == 10001
    one = credit(api, invoice["id"], lines=[
        {"type": "invoice_line_item", "invoice_line": line["id"], "quantity": 1}])
    assert one["amount"] == 3334  # 33.335 -> 33.34
    two = credit(api, invoice["id"], lines=[
        {"type": "invoice_line_item", "invoice_line": line["id"], "quantity": 2}])
    assert two["amount"] == 6667  # 66.67 exactly, not 2 × 33.34
    assert one["amount"] + two["amount"] == line["amount"]


def test_a_custom_line_credits_something_not_on_the_invoice(
        api: TestClient, customer: str) -> None:
    invoice = paid_invoice(api, customer)
    note = credit(api, invoice["id"], lines=[{"type": "custom_line_item",
                                              "description": "Goodwill for the outage",
                                              "unit_amount": 250, "quantity": 2}])
    [line] = note["lines"]["data"]
    assert {k: line[k] for k in ("type", "invoice_line", "description", "quantity",
                                 "unit_amount_decimal", "amount")} == {
        "type": "custom_line_item", "invoice_line": None,
        "description": "Goodwill for the outage", "quantity": 2, "unit_amount_decimal": "250",
        "amount": 500}
    assert note["amount"] == 500 and balance(api, customer) == -500


def test_a_preview_writes_nothing_and_takes_no_number(api: TestClient, customer: str) -> None:
    invoice = open_invoice(api, customer)
    body = {"invoice": invoice["id"], "amount": 4000, "reason": "duplicate"}
    before = written(api, customer)
    preview = ok(api.post("/v1/credit_notes/preview", json=body))
    assert written(api, customer) == before
    assert (preview["id"], preview["number"], preview["amount"],
            preview["pre_payment_amount"]) == (None, None, 4000, 4000)
    created = credit(api, invoice["id"], amount=4000, reason="duplicate")
    assert created["number"] == "ACME-CN-000001"
    different = {"id", "number"}
    assert {k: v for k, v in preview.items() if k not in different} \
        == {k: v for k, v in created.items() if k not in different}
    refused = api.post("/v1/credit_notes/preview", json={**body, "amount": 6001})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "amount"


def test_voiding_a_balance_credit_takes_it_back(api: TestClient, customer: str) -> None:
    invoice = paid_invoice(api, customer)
    note = credit(api, invoice["id"], amount=3000)
    voided = ok(api.post(f"/v1/credit_notes/{note['id']}/void"))
    assert (voided["status"], voided["voided_at"]) == ("void", T0)
    assert balance(api, customer) == 0
    assert [t[1:] for t in balance_transactions(api, customer)] == [
        ("credit_note", -3000, -3000, invoice["id"], "Credit note ACME-CN-000001"),
        ("credit_note_voided", 3000, 0, invoice["id"], "Credit note ACME-CN-000001 voided")]
    assert event_types(api)[-1] == "credit_note.voided"
    again = api.post(f"/v1/credit_notes/{note['id']}/void")
    assert again.status_code == 400 and "already void" in again.json()["error"]["message"]
    # A void credit note no longer counts: the whole invoice can be credited again.
    assert credit(api, invoice["id"], amount=10000)["number"] == "ACME-CN-000002"


def test_voiding_restores_what_remains_and_reopens_the_invoice_it_settled(
        api: TestClient, customer: str) -> None:
    invoice = open_invoice(api, customer)
    first = credit(api, invoice["id"], amount=4000)
    second = credit(api, invoice["id"], amount=6000)
    assert invoice_of(api, invoice["id"])["status"] == "paid"

    ok(api.post(f"/v1/credit_notes/{first['id']}/void"))
    reopened = invoice_of(api, invoice["id"])
    assert {k: reopened[k] for k in ("status", "amount_due", "amount_paid",
                                     "amount_remaining")} == {
        "status": "open", "amount_due": 4000, "amount_paid": 0, "amount_remaining": 4000}
    assert reopened["status_transitions"]["paid_at"] is None
    ok(api.post(f"/v1/credit_notes/{second['id']}/void"))
    assert {k: invoice_of(api, invoice["id"])[k] for k in (
        "status", "amount_due", "amount_remaining")} == {
        "status": "open", "amount_due": 10000, "amount_remaining": 10000}
    assert balance(api, customer) == 0
    paid = ok(api.post(f"/v1/invoices/{invoice['id']}/pay", json={"paid_out_of_band": True}))
    assert (paid["status"], paid["amount_paid"]) == ("paid", 10000)


def test_refunds_are_recorded_capped_by_what_was_paid_and_cannot_be_voided(
        api: TestClient, customer: str) -> None:
    invoice = paid_invoice(api, customer)
    refund = credit(api, invoice["id"], amount=3000, refund_amount=3000)
    assert (refund["refund_amount"], refund["credit_amount"],
            refund["customer_balance_transaction"]) == (3000, 0, None)
    assert balance(api, customer) == 0
    refused = api.post(f"/v1/credit_notes/{refund['id']}/void")
    assert refused.status_code == 400 and "refund" in refused.json()["error"]["message"]
    too_much = api.post("/v1/credit_notes", json={"invoice": invoice["id"], "amount": 7001,
                                                  "refund_amount": 7001})
    assert too_much.status_code == 400
    split = credit(api, invoice["id"], amount=7000, credit_amount=1000,
                   refund_amount=5000, out_of_band_amount=1000)
    assert {k: split[k] for k in ("credit_amount", "refund_amount",
                                  "out_of_band_amount")} == {
        "credit_amount": 1000, "refund_amount": 5000, "out_of_band_amount": 1000}
    assert balance(api, customer) == -1000


def test_credit_notes_are_numbered_gaplessly_in_their_own_series(
        api: TestClient, customer: str) -> None:
    first_invoice = paid_invoice(api, customer)
    second_invoice = paid_invoice(api, customer)
    assert credit(api, first_invoice["id"], amount=100)["number"] == "ACME-CN-000001"
    refused = api.post("/v1/credit_notes", json={"invoice": second_invoice["id"],
                                                 "amount": 10001})
    assert refused.status_code == 400  # a refused credit note takes no number
    assert credit(api, second_invoice["id"], amount=100)["number"] == "ACME-CN-000002"
    assert (first_invoice["number"], second_invoice["number"]) == ("ACME-000001",
                                                                   "ACME-000002")
    assert open_invoice(api, customer)["number"] == "ACME-000003"


def test_lists_filter_by_invoice_and_customer(api: TestClient, customer: str) -> None:
    other = create_customer(api, name="Bo")["id"]
    mine, theirs = paid_invoice(api, customer), paid_invoice(api, other)
    notes = [credit(api, mine["id"], amount=100), credit(api, mine["id"], amount=200),
             credit(api, theirs["id"], amount=300)]
    assert [n["id"] for n in list_all(api, "/v1/credit_notes")] == \
        [n["id"] for n in reversed(notes)]
    by_invoice = ok(api.get("/v1/credit_notes", params={"invoice": mine["id"], "limit": 1}))
    assert [n["id"] for n in by_invoice["data"]] == [notes[1]["id"]] and by_invoice["has_more"]
    assert (by_invoice["pre_payment_credit_notes_amount"],
            by_invoice["post_payment_credit_notes_amount"]) == (0, 300)
    assert [n["id"] for n in list_all(api, "/v1/credit_notes", customer=other)] == \
        [notes[2]["id"]]
    ok(api.post(f"/v1/credit_notes/{notes[0]['id']}/void"))
    assert ok(api.get("/v1/credit_notes", params={"invoice": mine["id"]}))[
        "post_payment_credit_notes_amount"] == 200


def test_the_credit_note_endpoints_are_documented(api: TestClient) -> None:
    paths = ok(api.get("/openapi.json"))["paths"]
    assert {"get", "post"} <= set(paths["/v1/credit_notes"])
    for path in ("/v1/credit_notes/preview", "/v1/credit_notes/{credit_note_id}",
                 "/v1/credit_notes/{credit_note_id}/void"):
        assert path in paths, path


def _events_of(api: TestClient, type_: str) -> list[dict[str, Any]]:
    return [e for e in list_all(api, "/v1/events") if e["type"] == type_]


def test_events_carry_the_credit_note_and_the_invoice_change(
        api: TestClient, customer: str) -> None:
    invoice = open_invoice(api, customer)
    note = credit(api, invoice["id"], amount=4000)
    [created] = _events_of(api, "credit_note.created")
    assert created["data"]["object"] == note
    [updated] = _events_of(api, "invoice.updated")
    assert updated["data"]["object"]["amount_remaining"] == 6000
    assert updated["data"]["previous_attributes"] == {"amount_due": 10000,
                                                      "amount_remaining": 10000}
