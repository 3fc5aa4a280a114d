"""Every price model through the HTTP API, on a test clock, with invoices worked out by hand.

Each usage scenario: a customer (timezone UTC, external id "acct-42") on a test clock that
starts on 2026-03-01, a monthly subscription starting then, March's events sent on
2026-03-31, and the clock advanced into April, when March's usage is invoiced in arrears.
Amounts are in cents.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.helpers import HOUR, assert_error, count, invoices_of, ok, ts
from kassa.api import create_app
from kassa.services import organizations

MARCH = ts(2026, 3, 1)


# --- scenario helpers -----------------------------------------------------------------------

def _customer(api: TestClient) -> tuple[str, str]:
    """(test clock id, customer id) of a UTC customer on a clock at 2026-03-01."""
    clock = ok(api.post("/v1/test_clocks", json={"frozen_time": MARCH}))
    customer = ok(api.post("/v1/customers", json={
        "name": "Ada", "external_id": "acct-42", "timezone": "UTC", "test_clock": clock["id"]}))
    return clock["id"], customer["id"]


def _meter(api: TestClient, event_name: str, formula: str, **options: Any) -> str:
    return ok(api.post("/v1/billing/meters", json={
        "display_name": event_name, "event_name": event_name,
        "default_aggregation": {"formula": formula}, **options}))["id"]


def _price(api: TestClient, name: str, meter: str | None = None, **fields: Any) -> str:
    recurring: dict[str, Any] = {"interval": "month"}
    if meter is not None:
        recurring.update(usage_type="metered", meter=meter)
    return ok(api.post("/v1/prices", json={"product_data": {"name": name}, "currency": "eur",
                                           "recurring": recurring, **fields}))["id"]


def _subscribe(api: TestClient, customer: str, price: str, quantity: int = 1) -> None:
    ok(api.post("/v1/subscriptions", json={
        "customer": customer, "collection_method": "send_invoice",
        "items": [{"price": price, "quantity": quantity}]}))


def _events(event_name: str, *values: Any, key: str = "value",
            customer: str = "acct-42") -> list[dict[str, Any]]:
    """One event per value, spread evenly over 2026-03-01 01:00 to 03-30 01:00 in value
    order, sent shuffled (time order must come from the timestamps, not the request)."""
    step = 29 * 24 * HOUR // len(values)
    events = [{"identifier": f"{event_name}-{i}", "event_name": event_name,
               "timestamp": MARCH + HOUR + i * step,
               "payload": {"customer": customer, key: value}}
              for i, value in enumerate(values)]
    random.Random(7).shuffle(events)
    return events


def _send(api: TestClient, clock: str, events: list[dict[str, Any]]) -> None:
    """Move the clock to 2026-03-31 12:00 and send the events (all accepted)."""
    ok(api.post(f"/v1/test_clocks/{clock}/advance", json={"frozen_time": ts(2026, 3, 31, 12)}))
    result = ok(api.post("/v1/billing/meter_events/batch", json={"events": events}))
    assert (result["accepted"], result["rejected"]) == (len(events), 0), result


def _april_invoice(api: TestClient, clock: str, customer: str) -> dict[str, Any]:
    """Advance into April; the invoice that bills March's usage (finalized)."""
    ok(api.post(f"/v1/test_clocks/{clock}/advance", json={"frozen_time": ts(2026, 4, 1, 2)}))
    invoice = invoices_of(api, customer)[-1]
    assert invoice["status"] == "open"
    assert invoice["period_start"] <= ts(2026, 3, 1) and invoice["period_end"] >= ts(2026, 4, 1)
    return invoice


def _lines(invoice: dict[str, Any]) -> list[tuple[str, int, int, int | None]]:
    """(type, quantity, amount, tier) of each line."""
    return [(line["type"], line["quantity"], line["amount"], line["tier"])
            for line in invoice["lines"]["data"]]


def _usage_summary(api: TestClient, meter: str, customer: str) -> str:
    data = ok(api.get(f"/v1/billing/meters/{meter}/event_summaries", params={
        "customer": customer, "start_time": MARCH, "end_time": ts(2026, 4, 1)}))["data"]
    [summary] = data
    return summary["aggregated_value"]


# --- usage-based prices ----------------------------------------------------------------------

def test_volume_tiered_metered_price_bills_every_message_at_the_tier_of_the_total(api):
    # Stripe's volume pricing (docs.stripe.com/products-prices/pricing-models#volume-based-
    # pricing): 1-100 messages at 5 c, 101-1,000 at 4 c + 2.00 flat, beyond at 3 c.
    # 250 messages in March -> all 250 in tier 2: 250 x 4 + 200 = 1,200.
    clock, customer = _customer(api)
    meter = _meter(api, "message", "count")
    price = _price(api, "Messages", meter, billing_scheme="tiered", tiers_mode="volume", tiers=[
        {"up_to": 100, "unit_amount": 5}, {"up_to": 1000, "unit_amount": 4, "flat_amount": 200},
        {"up_to": "inf", "unit_amount": 3}])
    _subscribe(api, customer, price)
    assert invoices_of(api, customer) == []  # nothing is billed in advance
    _send(api, clock, _events("message", *[1] * 250))
    assert _usage_summary(api, meter, customer) == "250"
    preview = ok(api.get("/v1/invoices/upcoming", params={"customer": customer}))
    assert preview["total"] == 1200

    invoice = _april_invoice(api, clock, customer)
    assert _lines(invoice) == [("usage", 250, 1200, 2)]
    assert invoice["lines"]["data"][0]["description"] == "Messages (tier 2: 101–1000)"
    assert invoice["total"] == 1200


def test_percentage_price_takes_a_cut_of_each_transaction_with_free_events_and_clamps(api):
    # A payment platform's cut, Stripe's card fee shape (stripe.com/pricing: 2.9% + 30 c)
    # with Lago's percentage options (docs.getlago.com/guide/plans/charges/charge-models/
    # percentage): first transaction free, each fee kept within 0.50 and 5.00.
    # March's transactions in time order (sent shuffled):
    #   $100.00  free (first event)                          0
    #   $100.00  10,000 x 2.9% + 30 = 320                  320
    #   $5.00       500 x 2.9% + 30 = 44.5 -> minimum 50    50
    #   $1000.00 100,000 x 2.9% + 30 = 2,930 -> maximum    500
    #   $20.00    2,000 x 2.9% + 30 = 88                    88
    #                                                      958
    clock, customer = _customer(api)
    meter = _meter(api, "payment", "sum", value_settings={"event_payload_key": "amount"})
    price = _price(api, "Payments", meter, billing_scheme="percentage", percentage={
        "rate": "2.9", "fixed_fee": "30", "free_events": 1, "minimum_fee": "50",
        "maximum_fee": "500"})
    _subscribe(api, customer, price)
    _send(api, clock, _events("payment", 10_000, 10_000, 500, 100_000, 2_000, key="amount"))
    assert _usage_summary(api, meter, customer) == "122500"  # the volume, summed

    invoice = _april_invoice(api, clock, customer)
    assert _lines(invoice) == [("usage", 5, 958, None)]
    assert invoice["total"] == 958


def test_percentage_free_units_span_transactions_and_the_line_rounds_once_half_up(api):
    # The first $150.00 of volume carries no percentage; the fixed fee still applies:
    #   $100.00  all waived           0 + 30 =  30
    #   $100.00  5,000 charged      145 + 30 = 175
    #   $100.00                     290 + 30 = 320
    #   $5.00                      14.5 + 30 = 44.5
    #                                         569.5 -> 570 (half-up, once for the line)
    clock, customer = _customer(api)
    meter = _meter(api, "payment", "sum", value_settings={"event_payload_key": "amount"})
    price = _price(api, "Payments", meter, billing_scheme="percentage", percentage={
        "rate": "2.9", "fixed_fee": "30", "free_units": "15000"})
    _subscribe(api, customer, price)
    _send(api, clock, _events("payment", 10_000, 10_000, 10_000, 500, key="amount"))
    invoice = _april_invoice(api, clock, customer)
    assert _lines(invoice) == [("usage", 4, 570, None)]


def test_unique_count_meter_bills_each_active_user_once(api):
    # Per active user: u1 is active 10 times, u2 3 times, u3 and u4 once; u1 and u2 are also
    # reported by customer id instead of external id; u5 was only active in February.
    # 4 active users x 3.00 = 1,200.
    clock, customer = _customer(api)
    meter = _meter(api, "active_user", "unique_count",
                   value_settings={"event_payload_key": "user_id"})
    price = _price(api, "Active users", meter, unit_amount=300)
    _subscribe(api, customer, price)
    users = ["u1"] * 10 + ["u2"] * 3 + ["u3", "u4"]
    events = _events("active_user", *users, key="user_id")
    events += _events("active_user", "u1", "u2", key="user_id", customer=customer)
    for index, event in enumerate(events[-2:]):
        event["identifier"] = f"by-id-{index}"
    events.append({"identifier": "february", "event_name": "active_user",
                   "timestamp": ts(2026, 2, 28, 23), "payload": {"customer": "acct-42",
                                                                 "user_id": "u5"}})
    _send(api, clock, events)
    assert _usage_summary(api, meter, customer) == "4"

    invoice = _april_invoice(api, clock, customer)
    assert _lines(invoice) == [("usage", 4, 1200, None)]
    assert invoice["lines"]["data"][0]["description"] == "Active users usage"


def test_max_meter_bills_peak_storage(api):
    # Peak storage: readings 120, 450.5, 300 and 80 GB; the peak 450.5 GB at 10 c = 4,505.
    clock, customer = _customer(api)
    meter = _meter(api, "storage", "max", value_settings={"event_payload_key": "gb"})
    price = _price(api, "Storage", meter, unit_amount=10)
    _subscribe(api, customer, price)
    _send(api, clock, _events("storage", 120, "450.5", 300, 80, key="gb"))
    assert _usage_summary(api, meter, customer) == "450.5"

    invoice = _april_invoice(api, clock, customer)
    [line] = invoice["lines"]["data"]
    assert (line["quantity"], line["quantity_decimal"], line["amount"]) == (450, "450.5", 4505)


def test_latest_meter_bills_the_last_reading_of_the_period(api):
    # A gauge of seats in use: 10, then 25, then 17 (sent shuffled); the latest is 17,
    # at 2.00 = 3,400 (not the peak 25, nor the sum 52).
    clock, customer = _customer(api)
    meter = _meter(api, "seats_in_use", "latest")
    price = _price(api, "Seats in use", meter, unit_amount=200)
    _subscribe(api, customer, price)
    _send(api, clock, _events("seats_in_use", 10, 25, 17))
    assert _usage_summary(api, meter, customer) == "17"

    invoice = _april_invoice(api, clock, customer)
    assert _lines(invoice) == [("usage", 17, 3400, None)]


def test_metered_package_price_bills_started_packages_of_usage(api):
    # Lago's package charge (docs.getlago.com/guide/plans/charges/charge-models/package):
    # 5.00 per started 100 API calls. March: 400 + 600 + 50 = 1,050 calls -> 11 packages
    # (10.5 rounded up) = 5,500.
    clock, customer = _customer(api)
    meter = _meter(api, "api_call", "sum")
    price = _price(api, "API calls", meter, unit_amount=500,
                   transform_quantity={"divide_by": 100, "round": "up"})
    _subscribe(api, customer, price)
    _send(api, clock, _events("api_call", 400, 600, 50))
    invoice = _april_invoice(api, clock, customer)
    assert [line["amount"] for line in invoice["lines"]["data"]] == [5500]
    assert invoice["total"] == 5500


def test_first_tier_flat_amount_is_billed_for_a_period_without_usage(api):
    # Stripe: the first tier's flat amount is charged even at zero usage. A platform fee of
    # 9.00 folded into tier 1 (1-1,000 calls free), then 0.1 c a call. No calls in March:
    # 9.00.
    clock, customer = _customer(api)
    meter = _meter(api, "api_call", "sum")
    price = _price(api, "API calls", meter, billing_scheme="tiered", tiers_mode="graduated",
                   tiers=[{"up_to": 1000, "flat_amount": 900},
                          {"up_to": "inf", "unit_amount_decimal": "0.1"}])
    _subscribe(api, customer, price)
    invoice = _april_invoice(api, clock, customer)
    assert _lines(invoice) == [("usage", 0, 900, 1)]
    assert invoice["total"] == 900


# --- licensed prices, billed in advance ----------------------------------------------------

def test_package_seat_price_bills_whole_packs_in_advance(api):
    # Stripe's package pricing (docs.stripe.com/products-prices/pricing-models#package-pricing,
    # transform_quantity): seats sold in packs of 5 at 25.00 a pack. 12 seats -> 3 packs
    # (2.4 rounded up) = 7,500, on the first invoice and again at renewal.
    clock, customer = _customer(api)
    price = _price(api, "Seats", unit_amount=2500,
                   transform_quantity={"divide_by": 5, "round": "up"})
    _subscribe(api, customer, price, quantity=12)
    [first] = invoices_of(api, customer)
    [line] = first["lines"]["data"]
    assert (line["type"], line["amount"], line["description"]) == ("subscription", 7500,
                                                                   "12 × Seats")
    assert first["total"] == 7500

    ok(api.post(f"/v1/test_clocks/{clock}/advance", json={"frozen_time": ts(2026, 4, 1, 2)}))
    assert [invoice["total"] for invoice in invoices_of(api, customer)] == [7500, 7500]


def test_package_seat_price_rounding_down_does_not_bill_a_partial_pack(api):
    # Packs of 5 rounded down: 12 seats -> 2 packs = 5,000.
    _clock, customer = _customer(api)
    price = _price(api, "Seats", unit_amount=2500,
                   transform_quantity={"divide_by": 5, "round": "down"})
    _subscribe(api, customer, price, quantity=12)
    assert [invoice["total"] for invoice in invoices_of(api, customer)] == [5000]


def test_graduated_seat_price_bills_one_line_per_tier_in_advance(api):
    # Stripe's graduated pricing on seats: 1-5 at 10.00 plus 20.00 flat, 6-20 at 8.00, then
    # 5.00. 12 seats:  tier 1: 5 x 1,000 + 2,000 = 7,000
    #                  tier 2: 7 x   800         = 5,600
    #                                             12,600
    clock, customer = _customer(api)
    price = _price(api, "Seats", billing_scheme="tiered", tiers_mode="graduated", tiers=[
        {"up_to": 5, "unit_amount": 1000, "flat_amount": 2000}, {"up_to": 20,
                                                                  "unit_amount": 800},
        {"up_to": "inf", "unit_amount": 500}])
    _subscribe(api, customer, price, quantity=12)
    [first] = invoices_of(api, customer)
    assert _lines(first) == [("subscription", 5, 7000, 1), ("subscription", 7, 5600, 2)]
    assert [line["description"] for line in first["lines"]["data"]] == [
        "Seats (tier 1: 1–5)", "Seats (tier 2: 6–20)"]
    assert first["total"] == 12_600

    ok(api.post(f"/v1/test_clocks/{clock}/advance", json={"frozen_time": ts(2026, 4, 1, 2)}))
    assert [invoice["total"] for invoice in invoices_of(api, customer)] == [12_600, 12_600]


# --- one-time prices on invoice items --------------------------------------------------------

def test_one_time_package_price_on_an_invoice_item_bills_whole_packs(api):
    # Stripe allows transform_quantity on one-time prices: 12 seats in packs of 5 at 25.00
    # -> 3 packs = 7,500 (once billed as 12 x 25.00 = 30,000).
    _clock, customer = _customer(api)
    price = ok(api.post("/v1/prices", json={
        "product_data": {"name": "Seat packs"}, "currency": "eur", "unit_amount": 2500,
        "transform_quantity": {"divide_by": 5, "round": "up"}}))
    item = ok(api.post("/v1/invoiceitems", json={"customer": customer, "price": price["id"],
                                                 "quantity": 12}))
    assert item["amount"] == 7500


def test_one_time_tiered_price_is_priced_by_its_tiers_or_refused(api):
    # Either refuse tiers on a one-time price (as Stripe does), or price the invoice item by
    # its tiers: 12 units graduated = 5 x 1,000 + 2,000 + 7 x 800 = 12,600. Never 0 (as it
    # once was: the item took the price's unit_amount, which a tiered price has none of).
    _clock, customer = _customer(api)
    response = api.post("/v1/prices", json={
        "product_data": {"name": "Setup"}, "currency": "eur", "billing_scheme": "tiered",
        "tiers_mode": "graduated", "tiers": [
            {"up_to": 5, "unit_amount": 1000, "flat_amount": 2000},
            {"up_to": "inf", "unit_amount": 800}]})
    if response.status_code == 400:
        return
    item = ok(api.post("/v1/invoiceitems", json={"customer": customer,
                                                 "price": ok(response)["id"],
                                                 "quantity": 12}))
    assert item["amount"] == 12_600


# --- bad input: a 400 naming the parameter, and nothing written -----------------------------

TIERED = {"billing_scheme": "tiered", "tiers_mode": "graduated"}
INF = {"up_to": "inf", "unit_amount": 1}
CARD_FEE = {"rate": "2.9", "fixed_fee": "30"}


def _stored(api: TestClient) -> tuple[int, int, int]:
    return (count(api, "/v1/prices"), count(api, "/v1/products"),
            count(api, "/v1/subscriptions", status="all"))


@pytest.mark.parametrize(("fields", "param"), [
    pytest.param({**TIERED, "tiers": [{"up_to": 10, "unit_amount": 1},
                                      {"up_to": 5, "unit_amount": 1}, INF]},
                 "tiers", id="tiers out of order"),
    pytest.param({**TIERED, "tiers": [{"up_to": 10, "unit_amount": 1},
                                      {"up_to": 10, "unit_amount": 1}, INF]},
                 "tiers", id="up_to not increasing"),
    pytest.param({**TIERED, "tiers": [{"up_to": 10, "unit_amount": 1},
                                      {"up_to": 20, "unit_amount": 1}]},
                 "tiers", id="no inf tier"),
    pytest.param({**TIERED, "tiers": [INF, {"up_to": 10, "unit_amount": 1}]},
                 "tiers", id="inf tier not last"),
    pytest.param({**TIERED, "tiers": [{"up_to": 10, "unit_amount": 1}, {"up_to": "inf"}]},
                 "tiers[1][unit_amount]", id="tier without an amount"),
    pytest.param({**TIERED, "tiers": [{"up_to": 0, "unit_amount": 1}, INF]},
                 "tiers[0][up_to]", id="up_to zero"),
    pytest.param({**TIERED, "tiers": [{"up_to": 10, "unit_amount": -1}, INF]},
                 "tiers[0][unit_amount]", id="negative tier amount"),
    pytest.param({**TIERED, "tiers": [{"up_to": 10, "unit_amount": 1,
                                       "unit_amount_decimal": "1"}, INF]},
                 "tiers[0][unit_amount_decimal]", id="tier amount given twice"),
    pytest.param({**TIERED, "tiers": []}, "tiers", id="empty tiers"),
    pytest.param({**TIERED}, "tiers", id="tiered without tiers"),
    pytest.param({"unit_amount": 100, "tiers_mode": "volume", "tiers": [INF]},
                 "tiers", id="tiers on a per-unit price"),
    pytest.param({**TIERED, "unit_amount": 100, "tiers": [INF]},
                 "unit_amount", id="unit_amount on a tiered price"),
    pytest.param({"billing_scheme": "tiered", "tiers": [INF]},
                 "tiers_mode", id="tiered without tiers_mode"),
    pytest.param({**TIERED, "tiers": [INF], "transform_quantity": {"divide_by": 5,
                                                                    "round": "up"}},
                 "transform_quantity", id="transform_quantity on a tiered price"),
    pytest.param({"unit_amount": 100, "transform_quantity": {"divide_by": 0, "round": "up"}},
                 "transform_quantity[divide_by]", id="divide_by zero"),
    pytest.param({"unit_amount": 100, "transform_quantity": {"divide_by": 5,
                                                             "round": "nearest"}},
                 "transform_quantity[round]", id="unknown package rounding"),
    pytest.param({"billing_scheme": "percentage", "metered": True,
                  "percentage": {**CARD_FEE, "rate": "100.5"}},
                 "percentage[rate]", id="rate above 100"),
    pytest.param({"billing_scheme": "percentage", "metered": True,
                  "percentage": {**CARD_FEE, "rate": "-1"}},
                 "percentage[rate]", id="negative rate"),
    pytest.param({"billing_scheme": "percentage", "metered": True,
                  "percentage": {**CARD_FEE, "minimum_fee": "500", "maximum_fee": "50"}},
                 "percentage[minimum_fee]", id="minimum fee above maximum fee"),
    pytest.param({"billing_scheme": "percentage", "metered": True,
                  "percentage": {**CARD_FEE, "fixed_fee": "-30"}},
                 "percentage[fixed_fee]", id="negative fixed fee"),
    pytest.param({"billing_scheme": "percentage", "metered": True},
                 "percentage", id="percentage price without terms"),
    pytest.param({"billing_scheme": "percentage", "percentage": CARD_FEE},
                 "recurring[usage_type]", id="percentage on a licensed price"),
    pytest.param({"unit_amount": 100, "metered": True, "percentage": CARD_FEE},
                 "percentage", id="percentage terms on a per-unit price"),
    pytest.param({**TIERED, "tiers": [INF], "metered": True, "percentage": CARD_FEE},
                 "percentage", id="percentage terms on a tiered price"),
    pytest.param({"billing_scheme": "percentage", "metered": True, "percentage": CARD_FEE,
                  "unit_amount": 50},
                 "unit_amount", id="unit_amount on a percentage price"),
    pytest.param({"billing_scheme": "percentage", "metered": True, "percentage": CARD_FEE,
                  "tiers_mode": "volume", "tiers": [INF]},
                 "tiers", id="tiers on a percentage price"),
    pytest.param({"billing_scheme": "percentage", "metered": True, "percentage": CARD_FEE,
                  "transform_quantity": {"divide_by": 5, "round": "up"}},
                 "transform_quantity", id="transform_quantity on a percentage price"),
    pytest.param({"unit_amount": 100, "recurring": {"interval": "month",
                                                    "usage_type": "metered"}},
                 "recurring[meter]", id="metered price without a meter"),
    pytest.param({"unit_amount": 100, "recurring": {"interval": "month", "meter": "METER"}},
                 "recurring[meter]", id="licensed price with a meter"),
])
def test_bad_price_is_refused_naming_the_parameter_and_writes_nothing(api, fields, param):
    meter = _meter(api, "api_call", "sum")
    body: dict[str, Any] = {"product_data": {"name": "Bad"}, "currency": "eur",
                            "recurring": {"interval": "month"}, **fields}
    if body.pop("metered", False):
        body["recurring"] = {"interval": "month", "usage_type": "metered", "meter": meter}
    if body["recurring"].get("meter") == "METER":
        body["recurring"]["meter"] = meter
    before = _stored(api)
    assert_error(api.post("/v1/prices", json=body), 400, param=param)
    assert _stored(api) == before


def test_a_metered_price_cannot_use_another_organizations_meter(api, kassa):
    with kassa.uow() as uow:
        globex = organizations.create_organization(uow, kassa.pepper, name="Globex")
    with TestClient(create_app(kassa), raise_server_exceptions=False) as other:
        other.headers["Authorization"] = f"Bearer {globex.secret_key}"
        foreign = _meter(other, "api_call", "sum")
        before_other = count(other, "/v1/prices")
    before = _stored(api)
    response = api.post("/v1/prices", json={
        "product_data": {"name": "Calls"}, "currency": "eur", "unit_amount": 1,
        "recurring": {"interval": "month", "usage_type": "metered", "meter": foreign}})
    assert_error(response, 404, param="recurring[meter]")
    assert _stored(api) == before
    with TestClient(create_app(kassa), raise_server_exceptions=False) as other:
        other.headers["Authorization"] = f"Bearer {globex.secret_key}"
        assert count(other, "/v1/prices") == before_other


def test_a_missing_meter_is_not_found(api):
    response = api.post("/v1/prices", json={
        "product_data": {"name": "Calls"}, "currency": "eur", "unit_amount": 1,
        "recurring": {"interval": "month", "usage_type": "metered", "meter": "mtr_nope"}})
    assert_error(response, 404, param="recurring[meter]")


def test_negative_subscription_quantity_is_refused(api):
    _clock, customer = _customer(api)
    price = _price(api, "Seats", unit_amount=2500,
                   transform_quantity={"divide_by": 5, "round": "up"})
    before = _stored(api)
    response = api.post("/v1/subscriptions", json={
        "customer": customer, "items": [{"price": price, "quantity": -1}]})
    assert_error(response, 400, param="items[0][quantity]")
    assert _stored(api) == before
    assert invoices_of(api, customer) == []
