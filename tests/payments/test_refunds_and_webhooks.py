"""Refunds through the gateway with a credit note, the refund window, and inbound gateway
webhooks: verified, stored, applied once, rejected (401, stored) when forged."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.helpers import (
    advance,
    assert_error,
    create_clock,
    create_customer,
    create_price,
    ok,
    subscribe,
    ts,
)
from kassa.config import Kassa
from kassa.store import models as m


def _paid(api: TestClient, amount: int = 10000, **customer: Any) -> tuple[dict[str, Any], Any]:
    buyer = create_customer(api, **customer)
    ok(api.post("/v1/payment_methods", json={"customer": buyer["id"], "token": "pm_card_visa"}))
    invoice = subscribe(api, buyer["id"], create_price(api, amount)["id"])["latest_invoice"]
    [payment] = ok(api.get("/v1/payments", params={"invoice": invoice}))["data"]
    assert payment["status"] == "succeeded"
    return payment, invoice


def test_a_partial_refund_goes_through_the_gateway_with_a_credit_note(api: TestClient) -> None:
    payment, invoice = _paid(api)
    refund = ok(api.post("/v1/refunds", json={"payment": payment["id"], "amount": 2500,
                                              "reason": "requested_by_customer"}))
    assert (refund["status"], refund["amount"], refund["invoice"]) == (
        "succeeded", 2500, invoice)
    assert refund["gateway_reference"].startswith("re_sbx_")
    note = ok(api.get(f"/v1/credit_notes/{refund['credit_note']}"))
    assert (note["invoice"], note["total"], note["refund_amount"]) == (invoice, 2500, 2500)
    assert ok(api.get(f"/v1/payments/{payment['id']}"))["amount_refunded"] == 2500

    # Above what is left to refund: refused, nothing written.
    assert_error(api.post("/v1/refunds", json={"payment": payment["id"], "amount": 7501}),
                 400, code="amount_too_large", param="amount")
    rest = ok(api.post("/v1/refunds", json={"payment": payment["id"]}))
    assert rest["amount"] == 7500
    assert ok(api.get(f"/v1/payments/{payment['id']}"))["amount_refunded"] == 10000
    assert len(ok(api.get("/v1/refunds", params={"payment": payment["id"]}))["data"]) == 2
    assert_error(api.post("/v1/refunds", json={"payment": payment["id"], "amount": 1}), 400,
                 code="amount_too_large")


def test_the_refund_window_needs_an_operator_override(api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 1, 1))
    payment, _ = _paid(api, test_clock=clock["id"])
    advance(api, clock["id"], ts(2026, 1, 20))
    ok(api.post("/v1/refunds", json={"payment": payment["id"], "amount": 100}))
    advance(api, clock["id"], ts(2026, 2, 5))
    assert_error(api.post("/v1/refunds", json={"payment": payment["id"], "amount": 100}), 400,
                 code="refund_window_passed", param="override_reason")
    late = ok(api.post("/v1/refunds", json={"payment": payment["id"], "amount": 100,
                                            "override_reason": "Goodwill, ticket 4711"}))
    assert late["override_reason"] == "Goodwill, ticket 4711"


def test_a_failed_payment_is_not_refundable(api: TestClient) -> None:
    buyer = create_customer(api)
    ok(api.post("/v1/payment_methods", json={"customer": buyer["id"],
                                             "token": "pm_card_chargeDeclined"}))
    invoice = subscribe(api, buyer["id"], create_price(api)["id"])["latest_invoice"]
    [payment] = ok(api.get("/v1/payments", params={"invoice": invoice}))["data"]
    assert_error(api.post("/v1/refunds", json={"payment": payment["id"]}), 400,
                 code="charge_not_refundable")
    assert ok(api.get("/v1/refunds"))["data"] == []


def _webhook(api: TestClient, kassa: Kassa, org_id: str, event: dict[str, Any],
             headers: dict[str, str] | None = None) -> Any:
    body = json.dumps(event).encode()
    signed = headers if headers is not None else kassa.sandbox.sign_webhook(
        body, kassa.clock.now())
    return api.post(f"/webhooks/gateways/sandbox/{org_id}", content=body,
                    headers={**signed, "Authorization": ""})


def test_a_webhook_is_applied_once_and_a_forged_one_is_rejected_and_stored(
        api: TestClient, kassa: Kassa, org: Any) -> None:
    buyer = create_customer(api)
    ok(api.post("/v1/payment_methods", json={"customer": buyer["id"],
                                             "token": "pm_sepa_debit"}))
    invoice = subscribe(api, buyer["id"], create_price(api, 3000)["id"])["latest_invoice"]
    [payment] = ok(api.get("/v1/payments", params={"invoice": invoice}))["data"]
    assert payment["status"] == "processing"
    event = {"id": "evt_sbx_1", "type": "payment.succeeded",
             "data": {"charge_ref": payment["gateway_reference"], "amount": 3000}}
    org_id = org.organization.id

    first = ok(_webhook(api, kassa, org_id, event))
    assert (first["processed"], first["replayed"]) == (1, 0)
    assert ok(api.get(f"/v1/invoices/{invoice}"))["status"] == "paid"
    again = ok(_webhook(api, kassa, org_id, event))
    assert (again["processed"], again["replayed"]) == (0, 1)
    events = ok(api.get("/v1/events", params={"type": "invoice.paid"}))["data"]
    assert len(events) == 1

    forged = _webhook(api, kassa, org_id, {**event, "id": "evt_sbx_2"},
                      headers={"Sandbox-Signature": "t=1,v1=00"})
    assert forged.status_code == 401
    assert forged.json()["error"]["type"] == "signature_error"
    with kassa.uow() as uow:
        rows = list(uow.session.scalars(select(m.GatewayEventRecord).order_by(
            m.GatewayEventRecord.received_at, m.GatewayEventRecord.status)))
    assert sorted(row.status for row in rows) == ["processed", "rejected"]
    assert _webhook(api, kassa, "org_nope", event).status_code == 404


def test_a_webhook_body_is_the_sandbox_event_format(kassa: Kassa) -> None:
    # The test above builds its bodies by hand: they must be what the sandbox itself sends.
    from kassa.adapters.gateways.base import GatewayEvent
    from kassa.adapters.gateways.sandbox import event_body

    body = event_body(GatewayEvent(id="evt_x", type="payment.failed", charge_ref="ch_1",
                                   decline_code="AM04",
                                   created=datetime(2026, 1, 1, tzinfo=UTC)))
    [parsed] = kassa.sandbox.parse_webhook(body=body, headers=kassa.sandbox.sign_webhook(
        body, kassa.clock.now()), now=kassa.clock.now())
    assert (parsed.id, parsed.type, parsed.charge_ref, parsed.decline_code) == (
        "evt_x", "payment.failed", "ch_1", "AM04")


def test_a_dispute_is_recorded_against_the_payment_and_invoice_and_in_the_ledger(
        api: TestClient, kassa: Kassa, org: Any) -> None:
    payment, invoice = _paid(api, 5000)
    org_id = org.organization.id
    opened = {"id": "evt_sbx_d1", "type": "dispute.created",
              "data": {"charge_ref": payment["gateway_reference"], "dispute_ref": "dp_sbx_1",
                       "amount": 5000, "reason": "fraudulent", "status": "needs_response"}}
    assert ok(_webhook(api, kassa, org_id, opened))["processed"] == 1
    closed = {"id": "evt_sbx_d2", "type": "dispute.closed",
              "data": {"charge_ref": payment["gateway_reference"], "dispute_ref": "dp_sbx_1",
                       "status": "lost"}}
    assert ok(_webhook(api, kassa, org_id, closed))["processed"] == 1
    [dispute] = ok(api.get("/v1/disputes", params={"payment": payment["id"]}))["data"]
    assert (dispute["invoice"], dispute["amount"], dispute["reason"], dispute["status"]) == (
        invoice, 5000, "fraudulent", "lost")
    kinds = [e["type"] for e in ok(api.get("/v1/events", params={
        "type": "charge.dispute.*"}))["data"]]
    assert sorted(kinds) == ["charge.dispute.closed", "charge.dispute.created"]
    # The ledger: the money held by the gateway when the dispute opened, then lost.
    entries = ok(api.get("/v1/ledger/entries", params={"source": dispute["id"]}))["data"]
    assert [(e["kind"], [(line["account"], line["debit"], line["credit"])
                         for line in e["lines"]]) for e in reversed(entries)] == [
        ("dispute.opened", [("1160", 5000, 0), ("1100-SANDBOX", 0, 5000)]),
        ("dispute.lost", [("6400", 5000, 0), ("1160", 0, 5000)])]
    again = {**closed, "id": "evt_sbx_d3"}  # the same outcome told twice posts nothing more
    ok(_webhook(api, kassa, org_id, again))
    assert len(ok(api.get("/v1/ledger/entries", params={"source": dispute["id"]}))["data"]) == 2


def test_a_won_dispute_puts_the_money_back_and_an_inquiry_posts_nothing(
        api: TestClient, kassa: Kassa, org: Any) -> None:
    payment, _ = _paid(api, 4000)
    org_id = org.organization.id
    base = {"charge_ref": payment["gateway_reference"], "amount": 4000}
    for number, (kind, status) in enumerate((("dispute.created", "warning_needs_response"),
                                             ("dispute.updated", "needs_response"),
                                             ("dispute.closed", "won"))):
        ok(_webhook(api, kassa, org_id, {"id": f"evt_sbx_w{number}", "type": kind,
                                         "data": {**base, "dispute_ref": "dp_sbx_w",
                                                  "status": status}}))
    [dispute] = ok(api.get("/v1/disputes", params={"payment": payment["id"]}))["data"]
    entries = ok(api.get("/v1/ledger/entries", params={"source": dispute["id"]}))["data"]
    assert [(e["kind"], [(line["account"], line["debit"], line["credit"])
                         for line in e["lines"]]) for e in reversed(entries)] == [
        ("dispute.opened", [("1160", 4000, 0), ("1100-SANDBOX", 0, 4000)]),
        ("dispute.won", [("1100-SANDBOX", 4000, 0), ("1160", 0, 4000)])]


def test_a_signed_body_that_is_no_event_is_a_400_and_kept(
        api: TestClient, kassa: Kassa, org: Any) -> None:
    response = _webhook(api, kassa, org.organization.id, {"id": "x", "type": "no.such.thing",
                                                          "data": {}})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_invalid"
    with kassa.uow() as uow:
        [row] = list(uow.session.scalars(select(m.GatewayEventRecord)))
    assert row.status == "rejected"
