"""Subscriptions of one customer that renew at the same moment share one invoice."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .helpers import (
    DAY,
    HOUR,
    advance,
    assert_error,
    create_clock,
    create_customer,
    create_price,
    invoices_of,
    ok,
    subscribe,
    ts,
)

JAN_1 = ts(2026, 1, 1, 9)


def _setup(api: TestClient) -> tuple[str, str, dict[str, str]]:
    clock = create_clock(api, JAN_1)["id"]
    customer = create_customer(api, test_clock=clock, timezone="UTC")["id"]
    prices = {"pro": create_price(api)["id"], "seats": create_price(api, 500, name="Seats")["id"]}
    return clock, customer, prices


def test_two_subscriptions_with_one_anchor_renew_on_one_invoice(api: TestClient) -> None:
    clock, customer, prices = _setup(api)
    anchor = ts(2026, 2, 1)
    pro = subscribe(api, customer, prices["pro"], billing_cycle_anchor=anchor,
                    collection_method="send_invoice")
    seats = ok(api.post("/v1/subscriptions", json={
        "customer": customer, "items": [{"price": prices["seats"], "quantity": 3}],
        "billing_cycle_anchor": anchor, "collection_method": "send_invoice"}))
    assert pro["current_period_end"] == seats["current_period_end"] == anchor

    # Each starts with its own prorated invoice: Jan 1 09:00 to Feb 1 is 735/744 of January.
    created = invoices_of(api, customer)
    assert [(i["subscription"], i["total"], i["number"], i["billing_reason"])
            for i in created] == [(pro["id"], 1975, "ACME-000001", "subscription_create"),
                                  (seats["id"], 1482, "ACME-000002", "subscription_create")]
    assert [line["proration"] for i in created for line in i["lines"]["data"]] == [True, True]

    # A USD subscription cannot join: the customer is billed in EUR.
    usd = create_price(api, currency="usd", name="Pro US")["id"]
    assert_error(api.post("/v1/subscriptions", json={"customer": customer,
                                                     "items": [{"price": usd}]}),
                 400, code="currency_mismatch", param="items[0][price]")

    advance(api, clock, anchor + 2 * HOUR)
    invoices = invoices_of(api, customer)
    assert len(invoices) == 3
    renewal = invoices[-1]
    assert {k: renewal[k] for k in ("status", "number", "billing_reason", "currency", "total",
                                    "amount_due", "period_start", "period_end", "due_date",
                                    "created")} == {
        "status": "open", "number": "ACME-000003", "billing_reason": "subscription_cycle",
        "currency": "eur", "total": 3499, "amount_due": 3499, "period_start": anchor,
        "period_end": ts(2026, 3, 1), "due_date": anchor + HOUR + 14 * DAY, "created": anchor}
    assert [(line["subscription"], line["description"], line["amount"], line["period"])
            for line in renewal["lines"]["data"]] == [
        (pro["id"], "1 × Pro", 1999, {"start": anchor, "end": ts(2026, 3, 1)}),
        (seats["id"], "3 × Seats", 1500, {"start": anchor, "end": ts(2026, 3, 1)})]
    for sub in (pro, seats):
        assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["latest_invoice"] == renewal["id"]

    advance(api, clock, ts(2026, 3, 1, 2))
    invoices = invoices_of(api, customer)
    assert [(i["number"], i["total"], len(i["lines"]["data"])) for i in invoices[3:]] == [
        ("ACME-000004", 3499, 2)]


def test_subscriptions_with_different_anchors_renew_on_separate_invoices(
        api: TestClient) -> None:
    clock, customer, prices = _setup(api)
    pro = subscribe(api, customer, prices["pro"], billing_cycle_anchor=ts(2026, 2, 1),
                    collection_method="send_invoice")
    seats = subscribe(api, customer, prices["seats"], billing_cycle_anchor=ts(2026, 1, 15),
                      collection_method="send_invoice")
    advance(api, clock, ts(2026, 2, 1, 2))
    renewals = [i for i in invoices_of(api, customer)
                if i["billing_reason"] == "subscription_cycle"]
    assert [(i["subscription"], i["period_start"], i["total"], i["number"],
             [line["subscription"] for line in i["lines"]["data"]]) for i in renewals] == [
        (seats["id"], ts(2026, 1, 15), 500, "ACME-000003", [seats["id"]]),
        (pro["id"], ts(2026, 2, 1), 1999, "ACME-000004", [pro["id"]])]
