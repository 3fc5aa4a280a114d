"""Coupons and promotion codes through the API, with amounts worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def _world(api):
    clock = ok(api.post("/v1/test_clocks", json={"frozen_time": ts(2026, 1, 1)}))
    customer = ok(api.post("/v1/customers", json={"name": "Bo", "timezone": "UTC",
                                                   "test_clock": clock["id"]}))
    pro = ok(api.post("/v1/prices", json={"product_data": {"name": "Pro"}, "currency": "eur",
                                           "unit_amount": 9900,
                                           "recurring": {"interval": "month"}}))
    seats = ok(api.post("/v1/prices", json={"product_data": {"name": "Seats"},
                                             "currency": "eur", "unit_amount": 1250,
                                             "recurring": {"interval": "month"}}))
    return clock, customer, pro, seats


def _invoices(api, customer):
    data = ok(api.get("/v1/invoices", params={"customer": customer["id"], "limit": 100}))
    return sorted(data["data"], key=lambda i: i["created"])


def test_repeating_percent_off_lasts_its_months_and_shows_on_every_line(api):
    clock, customer, pro, seats = _world(api)
    ok(api.post("/v1/coupons", json={"id": "LAUNCH20", "percent_off": 20,
                                      "duration": "repeating", "duration_in_months": 3}))
    ok(api.post("/v1/subscriptions", json={
        "customer": customer["id"], "coupon": "LAUNCH20", "collection_method": "send_invoice",
        "items": [{"price": pro["id"]}, {"price": seats["id"], "quantity": 3}]}))
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance", json={"frozen_time": ts(2026, 5, 2)}))
    invoices = _invoices(api, customer)
    # Jan, Feb, Mar: 20% off (9900 + 3 x 1250 = 13650; 20% = 1980 + 750 = 2730) -> 10920.
    # From Apr 1 (three months after Jan 1) the discount has ended -> 13650.
    assert [i["total"] for i in invoices] == [10920, 10920, 10920, 13650, 13650]
    first = invoices[0]
    assert [line["discount_amount"] for line in first["lines"]["data"]] == [1980, 750]
    assert first["subtotal"] == 13650 and first["total_discount"] == 2730
    assert first["total_discount_amounts"][0]["amount"] == 2730


def test_amount_off_once_is_spread_over_lines_and_used_once(api):
    clock, customer, pro, seats = _world(api)
    ok(api.post("/v1/coupons", json={"id": "WELCOME", "amount_off": 1000, "currency": "eur",
                                      "duration": "once"}))
    ok(api.post("/v1/promotion_codes", json={"coupon": "WELCOME", "code": "HELLO-BO"}))
    ok(api.post(f"/v1/customers/{customer['id']}", json={"promotion_code": "hello-bo"}))
    ok(api.post("/v1/subscriptions", json={
        "customer": customer["id"], "collection_method": "send_invoice",
        "items": [{"price": pro["id"]}, {"price": seats["id"], "quantity": 1}]}))
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance", json={"frozen_time": ts(2026, 2, 2)}))
    first, second = _invoices(api, customer)
    # 1000 off 9900 + 1250 = 11150, in proportion: 9900/11150*1000 = 887.89 -> 888,
    # 1250/11150*1000 = 112.11 -> 112 (largest remainder); the lines add up to 1000.
    assert [line["discount_amount"] for line in first["lines"]["data"]] == [888, 112]
    assert first["total"] == 10150
    assert second["total"] == 11150  # once: the next invoice is full price


def test_coupon_restricted_to_a_product_discounts_only_its_lines(api):
    _clock, customer, pro, seats = _world(api)
    ok(api.post("/v1/coupons", json={"id": "SEATS50", "percent_off": "50", "duration":
                                      "forever", "applies_to": {"products": [seats["product"]]}}))
    ok(api.post("/v1/subscriptions", json={
        "customer": customer["id"], "coupon": "SEATS50", "collection_method": "send_invoice",
        "items": [{"price": pro["id"]}, {"price": seats["id"], "quantity": 3}]}))
    [invoice] = _invoices(api, customer)
    assert [line["discount_amount"] for line in invoice["lines"]["data"]] == [0, 1875]
    assert invoice["total"] == 9900 + 3750 - 1875


def test_limits_and_bad_input_are_clear_errors(api):
    _clock, customer, _pro, _seats = _world(api)
    ok(api.post("/v1/coupons", json={"id": "ONE", "percent_off": 10, "max_redemptions": 1}))
    ok(api.post(f"/v1/customers/{customer['id']}", json={"coupon": "ONE"}))
    other = ok(api.post("/v1/customers", json={"name": "Cy"}))
    used_up = api.post(f"/v1/customers/{other['id']}", json={"coupon": "ONE"})
    assert used_up.status_code == 400
    assert used_up.json()["error"]["code"] == "coupon_used_up"
    for body, param in [({"percent_off": 0}, "percent_off"),
                        ({"percent_off": 101}, "percent_off"),
                        ({"amount_off": 500}, "currency"),
                        ({"percent_off": 10, "amount_off": 5}, "percent_off"),
                        ({"percent_off": 10, "duration": "repeating"}, "duration_in_months"),
                        ({"percent_off": 10, "id": "ONE"}, "id")]:
        response = api.post("/v1/coupons", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["param"] == param, response.json()
    missing = api.post(f"/v1/customers/{other['id']}", json={"promotion_code": "NOPE"})
    assert missing.json()["error"]["param"] == "promotion_code"
