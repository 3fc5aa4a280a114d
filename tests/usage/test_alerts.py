"""Usage alerts: a threshold on a meter for one customer emits billing.alert.triggered once
per billing period, and again in the next period when crossed again."""

from __future__ import annotations

from datetime import UTC, datetime


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def _send(api, customer, prefix, count, day):
    events = [{"identifier": f"{prefix}{i}", "event_name": "gb", "timestamp": day + i,
               "payload": {"customer": customer["id"], "value": 10}} for i in range(count)]
    return ok(api.post("/v1/billing/meter_events/batch", json={"events": events}))


def test_alert_triggers_once_per_period(api):
    clock = ok(api.post("/v1/test_clocks", json={"frozen_time": ts(2026, 1, 1)}))
    customer = ok(api.post("/v1/customers", json={"name": "Al", "test_clock": clock["id"],
                                                   "timezone": "UTC"}))
    meter = ok(api.post("/v1/billing/meters", json={
        "display_name": "Transfer", "event_name": "gb",
        "default_aggregation": {"formula": "sum"}}))
    price = ok(api.post("/v1/prices", json={
        "product_data": {"name": "Transfer"}, "currency": "eur", "unit_amount": 5,
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]}}))
    ok(api.post("/v1/subscriptions", json={"customer": customer["id"],
                                            "items": [{"price": price["id"]}]}))
    ok(api.post("/v1/billing/alerts", json={"title": "1 TB transferred", "usage_threshold": {
        "gte": 1000, "meter": meter["id"], "customer": customer["id"]}}))
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance", json={"frozen_time": ts(2026, 1, 20)}))

    def triggered():
        return ok(api.get("/v1/events", params={"type": "billing.alert.triggered"}))["data"]

    _send(api, customer, "a", 99, ts(2026, 1, 2))  # 990 < 1000
    assert triggered() == []
    _send(api, customer, "b", 1, ts(2026, 1, 3))  # 1000: crosses
    _send(api, customer, "c", 50, ts(2026, 1, 4))  # stays above: no second alert
    events = triggered()
    [event] = events
    assert event["data"]["object"]["value"] == "1000"
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance", json={"frozen_time": ts(2026, 2, 20)}))
    _send(api, customer, "d", 100, ts(2026, 2, 2))  # February: crosses again
    assert len(triggered()) == 2
