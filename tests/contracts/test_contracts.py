"""Contracts: ramp deals on a subscription schedule, customer-specific prices, a committed
minimum spend trued up at period end, and yearly prices cheaper than twelve months."""

from __future__ import annotations

from datetime import UTC, datetime


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def _clock_customer(api, name="Delta"):
    clock = ok(api.post("/v1/test_clocks", json={"frozen_time": ts(2026, 1, 1)}))
    customer = ok(api.post("/v1/customers", json={"name": name, "timezone": "UTC",
                                                   "test_clock": clock["id"]}))
    return clock, customer


def _totals(api, customer):
    data = ok(api.get("/v1/invoices", params={"customer": customer["id"], "limit": 100}))
    return [i["total"] for i in sorted(data["data"], key=lambda i: i["period_start"])]


def test_ramp_deal_bills_10_seats_at_8_then_25_seats_at_7_50(api):
    clock, customer = _clock_customer(api)
    seat = ok(api.post("/v1/products", json={"name": "Seat"}))
    early = ok(api.post("/v1/prices", json={"product": seat["id"], "currency": "eur",
                                             "unit_amount": 800, "customer": customer["id"],
                                             "recurring": {"interval": "month"}}))
    later = ok(api.post("/v1/prices", json={"product": seat["id"], "currency": "eur",
                                             "unit_amount": 750, "customer": customer["id"],
                                             "recurring": {"interval": "month"}}))
    schedule = ok(api.post("/v1/subscription_schedules", json={
        "customer": customer["id"], "collection_method": "send_invoice",
        "phases": [{"items": [{"price": early["id"], "quantity": 10}], "iterations": 6},
                   {"items": [{"price": later["id"], "quantity": 25}]}]}))
    assert [p["start_date"] for p in schedule["phases"]] == [ts(2026, 1, 1), ts(2026, 7, 1)]
    assert schedule["status"] == "active"
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance", json={"frozen_time": ts(2026, 9, 2)}))
    # Jan..Jun: 10 x 8.00 = 80.00; Jul..Sep: 25 x 7.50 = 187.50
    assert _totals(api, customer) == [8000] * 6 + [18750] * 3
    sub = ok(api.get(f"/v1/subscriptions/{schedule['subscription']}"))
    assert [(i["price"]["id"], i["quantity"]) for i in sub["items"]["data"]] == \
        [(later["id"], 25)]
    again = ok(api.get(f"/v1/subscription_schedules/{schedule['id']}"))
    assert again["current_phase"]["start_date"] == ts(2026, 7, 1)


def test_a_schedule_that_ends_with_its_last_phase_cancels_the_subscription(api):
    clock, customer = _clock_customer(api)
    price = ok(api.post("/v1/prices", json={"product_data": {"name": "Pilot"},
                                             "currency": "eur", "unit_amount": 1000,
                                             "recurring": {"interval": "month"}}))
    schedule = ok(api.post("/v1/subscription_schedules", json={
        "customer": customer["id"], "end_behavior": "cancel",
        "collection_method": "send_invoice",
        "phases": [{"items": [{"price": price["id"]}], "iterations": 3}]}))
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance", json={"frozen_time": ts(2026, 6, 2)}))
    assert _totals(api, customer) == [1000, 1000, 1000]
    sub = ok(api.get(f"/v1/subscriptions/{schedule['subscription']}"))
    assert sub["status"] == "canceled" and sub["ended_at"] == ts(2026, 4, 1)


def test_a_contract_price_is_reserved_to_its_customer(api):
    _, customer = _clock_customer(api)
    other = ok(api.post("/v1/customers", json={"name": "Other"}))
    price = ok(api.post("/v1/prices", json={"product_data": {"name": "Deal"},
                                             "currency": "eur", "unit_amount": 1,
                                             "customer": customer["id"],
                                             "recurring": {"interval": "month"}}))
    response = api.post("/v1/subscriptions", json={"customer": other["id"],
                                                    "items": [{"price": price["id"]}]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "items[0][price]"


def test_committed_minimum_spend_is_trued_up_at_period_end(api):
    """Commit 500.00 a month; a 100.00 base fee plus 0.10 per call. January has 1,000 calls
    (100.00), so the true-up is 500.00 - 100.00 - 100.00 = 300.00 on the Feb 1 invoice."""
    clock, customer = _clock_customer(api)
    meter = ok(api.post("/v1/billing/meters", json={
        "display_name": "Calls", "event_name": "call",
        "default_aggregation": {"formula": "count"}}))
    base = ok(api.post("/v1/prices", json={"product_data": {"name": "Base"}, "currency": "eur",
                                            "unit_amount": 10000,
                                            "recurring": {"interval": "month"}}))
    calls = ok(api.post("/v1/prices", json={
        "product_data": {"name": "Calls"}, "currency": "eur", "unit_amount": 10,
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]}}))
    ok(api.post("/v1/subscriptions", json={
        "customer": customer["id"], "minimum_amount": 50000,
        "collection_method": "send_invoice",
        "items": [{"price": base["id"]}, {"price": calls["id"]}]}))
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance", json={"frozen_time": ts(2026, 1, 20)}))
    events = [{"identifier": f"c{i}", "event_name": "call", "timestamp": ts(2026, 1, 2) + i,
               "payload": {"customer": customer["id"]}} for i in range(1000)]
    result = ok(api.post("/v1/billing/meter_events/batch", json={"events": events}))
    assert result["accepted"] == 1000
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance", json={"frozen_time": ts(2026, 2, 2)}))
    invoices = ok(api.get("/v1/invoices", params={"customer": customer["id"]}))["data"]
    february = max(invoices, key=lambda i: i["period_end"])
    lines = [(line["type"], line["amount"]) for line in february["lines"]["data"]]
    assert lines == [("subscription", 10000), ("usage", 10000), ("minimum", 30000)]


def test_a_yearly_price_can_be_cheaper_than_twelve_months(api):
    clock, customer = _clock_customer(api)
    product = ok(api.post("/v1/products", json={"name": "Team"}))
    ok(api.post("/v1/prices", json={"product": product["id"], "currency": "eur",
                                     "unit_amount": 2000, "recurring": {"interval": "month"}}))
    yearly = ok(api.post("/v1/prices", json={"product": product["id"], "currency": "eur",
                                              "unit_amount": 20000,  # two months free
                                              "recurring": {"interval": "year"}}))
    ok(api.post("/v1/subscriptions", json={"customer": customer["id"],
                                            "collection_method": "send_invoice",
                                            "items": [{"price": yearly["id"]}]}))
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance", json={"frozen_time": ts(2026, 12, 31)}))
    assert _totals(api, customer) == [20000]  # one invoice for the year, 10 x the month
