"""Metered billing end to end, with a worked example computed by hand.

A hybrid plan: a licensed base fee of 49.00 EUR a month billed in advance, and API calls
billed in arrears at graduated rates — the first 1,000 calls free, calls 1,001–10,000 at half
a cent, beyond that 0.2 cents (the shape of the graduated examples in Stripe's and Lago's
pricing docs). March has 12,500 calls:

    tier 1:  1,000 × 0.0   =     0.00
    tier 2:  9,000 × 0.5 c =    45.00
    tier 3:  2,500 × 0.2 c =     5.00
    usage                  =    50.00 EUR, plus April's base fee 49.00 => invoice 99.00 EUR
"""

from __future__ import annotations

from datetime import UTC, datetime


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def _setup(api):
    clock = ok(api.post("/v1/test_clocks", json={"frozen_time": ts(2026, 3, 1)}))
    customer = ok(api.post("/v1/customers", json={"name": "Ada", "external_id": "acct-42",
                                                   "timezone": "UTC",
                                                   "test_clock": clock["id"]}))
    meter = ok(api.post("/v1/billing/meters", json={
        "display_name": "API calls", "event_name": "api_call",
        "default_aggregation": {"formula": "sum"}}))
    base = ok(api.post("/v1/prices", json={
        "product_data": {"name": "Platform"}, "currency": "eur", "unit_amount": 4900,
        "recurring": {"interval": "month"}}))
    calls = ok(api.post("/v1/prices", json={
        "product_data": {"name": "API calls"}, "currency": "eur",
        "billing_scheme": "tiered", "tiers_mode": "graduated",
        "tiers": [{"up_to": 1000, "unit_amount": 0},
                  {"up_to": 10000, "unit_amount_decimal": "0.5"},
                  {"up_to": "inf", "unit_amount_decimal": "0.2"}],
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]}}))
    sub = ok(api.post("/v1/subscriptions", json={
        "customer": customer["id"], "collection_method": "send_invoice",
        "items": [{"price": base["id"]}, {"price": calls["id"]}]}))
    return clock, customer, meter, sub


def _march_events(customer_ref: str, prefix: str = "e") -> list[dict]:
    # 125 events of 100 calls, spread over March (every ~6 hours).
    return [{"identifier": f"{prefix}{i}", "event_name": "api_call",
             "timestamp": ts(2026, 3, 1) + i * 21_000,
             "payload": {"customer": customer_ref, "value": 100}} for i in range(125)]


def test_hybrid_invoice_carries_next_base_fee_and_last_months_graduated_usage(api):
    clock, customer, _meter, _sub = _setup(api)
    first = ok(api.get("/v1/invoices", params={"customer": customer["id"]}))["data"]
    assert [inv["total"] for inv in first] == [4900]  # March base fee only, no usage yet

    api.post(f"/v1/test_clocks/{clock['id']}/advance", json={"frozen_time": ts(2026, 3, 31, 12)})
    result = ok(api.post("/v1/billing/meter_events/batch",
                         json={"events": _march_events("acct-42")}))
    assert (result["accepted"], result["duplicate"], result["rejected"]) == (125, 0, 0)
    again = ok(api.post("/v1/billing/meter_events/batch",
                        json={"events": _march_events(customer["id"])}))
    assert (again["accepted"], again["duplicate"]) == (0, 125)  # counted once

    preview = ok(api.get("/v1/invoices/upcoming", params={"customer": customer["id"]}))
    assert preview["total"] == 9900

    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance",
                json={"frozen_time": ts(2026, 4, 1, 2)}))
    invoices = ok(api.get("/v1/invoices", params={"customer": customer["id"]}))["data"]
    april = invoices[0]
    assert april["status"] == "open"
    amounts = [(line["type"], line["amount"], line["quantity"]) for line in
               april["lines"]["data"]]
    assert amounts == [("subscription", 4900, 1), ("usage", 0, 1000), ("usage", 4500, 9000),
                       ("usage", 500, 2500)]
    assert april["total"] == 9900


def test_late_events_count_until_the_invoice_is_finalized_then_are_refused(api):
    clock, customer, _meter, _sub = _setup(api)
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance",
                json={"frozen_time": ts(2026, 3, 31, 12)}))
    ok(api.post("/v1/billing/meter_events/batch", json={"events": _march_events("acct-42")}))
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance",
                json={"frozen_time": ts(2026, 4, 1, 0, 30)}))  # renewal draft, 1 h grace
    draft = ok(api.get("/v1/invoices", params={"customer": customer["id"]}))["data"][0]
    assert draft["status"] == "draft"
    late = {"identifier": "late-1", "event_name": "api_call", "timestamp": ts(2026, 3, 31, 23),
            "payload": {"customer": "acct-42", "value": 100}}
    assert ok(api.post("/v1/billing/meter_events", json=late))["status"] == "accepted"
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance",
                json={"frozen_time": ts(2026, 4, 1, 2)}))
    final = ok(api.get(f"/v1/invoices/{draft['id']}"))
    assert final["status"] == "open"
    assert final["total"] == 9900 + 100 * 2 // 10  # 100 more calls at 0.2 c in tier 3
    too_late = {**late, "identifier": "late-2"}
    response = api.post("/v1/billing/meter_events", json=too_late)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "period_invoiced"


def test_rejected_events_say_why_per_event(api):
    _clock, customer, meter, _sub = _setup(api)
    events = [
        {"identifier": "ok", "event_name": "api_call", "payload": {"customer": "acct-42",
                                                                    "value": 3}},
        {"identifier": "nometer", "event_name": "nope", "payload": {"customer": "acct-42",
                                                                     "value": 1}},
        {"identifier": "nocust", "event_name": "api_call", "payload": {"customer": "who",
                                                                        "value": 1}},
        {"identifier": "novalue", "event_name": "api_call", "payload": {"customer": "acct-42"}},
        {"identifier": "text", "event_name": "api_call", "payload": {"customer": "acct-42",
                                                                     "value": "many"}},
        {"identifier": "future", "event_name": "api_call", "timestamp": ts(2026, 3, 2),
         "payload": {"customer": "acct-42", "value": 1}},
    ]
    result = ok(api.post("/v1/billing/meter_events/batch", json={"events": events}))
    codes = {r["identifier"]: r.get("error", {}).get("code") for r in result["results"]}
    assert codes == {"ok": None, "nometer": "meter_unknown", "nocust": "customer_unknown",
                     "novalue": "value_missing", "text": "value_not_numeric",
                     "future": "timestamp_in_future"}
    summary = ok(api.get(f"/v1/billing/meters/{meter['id']}/event_summaries", params={
        "customer": customer["id"], "start_time": ts(2026, 3, 1),
        "end_time": ts(2026, 3, 2)}))
    assert [s["aggregated_value"] for s in summary["data"]] == ["3"]


def test_event_summaries_group_by_a_payload_key_and_respect_dimension_filters(api):
    clock = ok(api.post("/v1/test_clocks", json={"frozen_time": ts(2026, 3, 10)}))
    customer = ok(api.post("/v1/customers", json={"name": "Geo", "test_clock": clock["id"]}))
    meter = ok(api.post("/v1/billing/meters", json={
        "display_name": "Compute", "event_name": "compute",
        "default_aggregation": {"formula": "sum"}, "group_by": ["region"],
        "dimension_filters": {"tier": ["paid"]}}))
    events = [{"identifier": f"g{i}", "event_name": "compute", "timestamp": ts(2026, 3, 2) + i,
               "payload": {"customer": customer["id"], "value": value, "region": region,
                           "tier": tier}}
              for i, (value, region, tier) in enumerate([
                  (5, "eu", "paid"), (7, "eu", "paid"), (11, "us", "paid"),
                  (100, "us", "free")])]  # the free-tier event is stored, not counted
    result = ok(api.post("/v1/billing/meter_events/batch", json={"events": events}))
    assert result["accepted"] == 4
    summary = ok(api.get(f"/v1/billing/meters/{meter['id']}/event_summaries", params={
        "customer": customer["id"], "start_time": ts(2026, 3, 1), "end_time": ts(2026, 3, 3),
        "group_by": "region"}))["data"]
    assert [(s["group"]["region"], s["aggregated_value"]) for s in summary] == \
        [("eu", "12"), ("us", "11")]
    bad = api.get(f"/v1/billing/meters/{meter['id']}/event_summaries", params={
        "customer": customer["id"], "start_time": ts(2026, 3, 1), "end_time": ts(2026, 3, 3),
        "group_by": "color"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"


def test_fractional_values_are_exact_and_kept_as_numbers_in_the_payload(api):
    clock = ok(api.post("/v1/test_clocks", json={"frozen_time": ts(2026, 3, 10)}))
    customer = ok(api.post("/v1/customers", json={"name": "Frac", "test_clock": clock["id"]}))
    meter = ok(api.post("/v1/billing/meters", json={
        "display_name": "GB", "event_name": "gb_hours",
        "default_aggregation": {"formula": "sum"}}))
    body = b'{"events": [' + b",".join(
        b'{"identifier": "f%d", "event_name": "gb_hours", "timestamp": %d, '
        b'"payload": {"customer": "%s", "value": 0.1}}' % (i, ts(2026, 3, 2) + i,
                                                           customer["id"].encode())
        for i in range(3)) + b"]}"
    result = api.post("/v1/billing/meter_events/batch", content=body,
                      headers={"content-type": "application/json"})
    assert result.status_code == 200, result.text
    summary = ok(api.get(f"/v1/billing/meters/{meter['id']}/event_summaries", params={
        "customer": customer["id"], "start_time": ts(2026, 3, 1), "end_time": ts(2026, 3, 3)}))
    assert summary["data"][0]["aggregated_value"] == "0.3"  # not 0.30000000000000004
