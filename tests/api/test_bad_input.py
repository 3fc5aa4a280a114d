"""Bad input is refused with a 4xx envelope naming the parameter, and writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kassa.services import organizations

from .helpers import (
    assert_error,
    auth,
    create_customer,
    create_price,
    ok,
    snapshot,
    subscribe,
    ts,
)


@dataclass(frozen=True)
class World:
    eur_price: str
    usd_price: str
    one_time_price: str
    customer: str  # billed in EUR: it has a EUR subscription
    fresh_customer: str  # no currency yet
    foreign_customer: str  # belongs to another organization
    foreign_price: str
    foreign_product: str
    foreign_clock: str


@pytest.fixture
def world(api: TestClient, other_org: organizations.NewOrganization) -> World:
    eur = create_price(api)
    usd = create_price(api, currency="usd", name="Pro US")
    one_time = create_price(api, unit_amount=500, interval=None, name="Setup")
    customer = create_customer(api)
    subscribe(api, customer["id"], eur["id"], collection_method="send_invoice")
    fresh = create_customer(api, name="Bob")
    theirs = auth(other_org.secret_key)
    foreign_customer = ok(api.post("/v1/customers", json={"name": "Eve"}, headers=theirs))
    foreign_price = ok(api.post("/v1/prices", headers=theirs, json={
        "product_data": {"name": "Theirs"}, "currency": "eur", "unit_amount": 100,
        "recurring": {"interval": "month"}}))
    foreign_clock = ok(api.post("/v1/test_clocks", json={"frozen_time": ts(2026, 1, 1)},
                                headers=theirs))
    return World(eur["id"], usd["id"], one_time["id"], customer["id"], fresh["id"],
                 foreign_customer["id"], foreign_price["id"], foreign_price["product"],
                 foreign_clock["id"])


def _price(**fields: Any) -> dict[str, Any]:
    return {"product_data": {"name": "Pro"}, "currency": "eur", "unit_amount": 1999,
            "recurring": {"interval": "month"}, **fields}


def _recurring(**fields: Any) -> dict[str, Any]:
    return _price(recurring={"interval": "month", **fields})


Case = tuple[str, str, str, Any, int, str, str | None]

# (case, method, path, body built from the world, status, code, param)
PRICE_CASES: list[Case] = [
    ("price-unknown-currency", "POST", "/v1/prices", lambda w: _price(currency="xyz"),
     400, "currency_invalid", "currency"),
    ("price-currency-not-a-string", "POST", "/v1/prices", lambda w: _price(currency=978),
     400, "parameter_invalid", "currency"),
    ("price-currency-missing", "POST", "/v1/prices",
     lambda w: {"product_data": {"name": "Pro"}, "unit_amount": 5},
     400, "parameter_missing", "currency"),
    ("price-negative-amount", "POST", "/v1/prices", lambda w: _price(unit_amount=-1),
     400, "parameter_invalid", "unit_amount"),
    ("price-fractional-amount", "POST", "/v1/prices", lambda w: _price(unit_amount=19.5),
     400, "parameter_invalid", "unit_amount"),
    ("price-amount-as-string", "POST", "/v1/prices", lambda w: _price(unit_amount="1999"),
     400, "parameter_invalid", "unit_amount"),
    ("price-amount-as-bool", "POST", "/v1/prices", lambda w: _price(unit_amount=True),
     400, "parameter_invalid", "unit_amount"),
    ("price-float-decimal", "POST", "/v1/prices",
     lambda w: _price(unit_amount=None, unit_amount_decimal=19.5),
     400, "parameter_invalid", "unit_amount_decimal"),
    ("price-both-amounts", "POST", "/v1/prices",
     lambda w: _price(unit_amount_decimal="19.99"),
     400, "parameter_invalid", "unit_amount_decimal"),
    ("price-interval-count-zero", "POST", "/v1/prices", lambda w: _recurring(interval_count=0),
     400, "parameter_invalid", "recurring[interval_count]"),
    ("price-interval-count-13-months", "POST", "/v1/prices",
     lambda w: _recurring(interval_count=13),
     400, "parameter_invalid", "recurring[interval_count]"),
    ("price-unknown-interval", "POST", "/v1/prices",
     lambda w: _price(recurring={"interval": "fortnight"}),
     400, "parameter_invalid", "recurring[interval]"),
    ("price-interval-missing", "POST", "/v1/prices", lambda w: _price(recurring={}),
     400, "parameter_missing", "recurring[interval]"),
    ("price-product-data-name-missing", "POST", "/v1/prices",
     lambda w: _price(product_data={}), 400, "parameter_missing", "product_data[name]"),
    ("price-foreign-product", "POST", "/v1/prices",
     lambda w: {"product": w.foreign_product, "currency": "eur", "unit_amount": 5},
     404, "resource_missing", "product"),
    ("price-unknown-field", "POST", "/v1/prices", lambda w: _price(colour="red"),
     400, "parameter_unknown", "colour"),
    ("price-unknown-nested-field", "POST", "/v1/prices",
     lambda w: _recurring(aggregate_usage="sum"),
     400, "parameter_unknown", "recurring[aggregate_usage]"),
]

CUSTOMER_CASES: list[Case] = [
    ("customer-unknown-currency", "POST", "/v1/customers", lambda w: {"currency": "xyz"},
     400, "currency_invalid", "currency"),
    ("customer-invalid-vat-id", "POST", "/v1/customers", lambda w: {"vat_id": "NL123"},
     400, "tax_id_invalid", "vat_id"),
    ("customer-vat-id-bad-check-digits", "POST", "/v1/customers",
     lambda w: {"vat_id": "NL004495446B01"}, 400, "tax_id_invalid", "vat_id"),
    ("customer-invalid-country", "POST", "/v1/customers", lambda w: {"country": "XX"},
     400, "parameter_invalid", "country"),
    ("customer-alpha3-country", "POST", "/v1/customers", lambda w: {"country": "NLD"},
     400, "parameter_invalid", "country"),
    ("customer-invalid-address-country", "POST", "/v1/customers",
     lambda w: {"address": {"country": "XX"}}, 400, "parameter_invalid", "address[country]"),
    ("customer-invalid-timezone", "POST", "/v1/customers", lambda w: {"timezone": "Mars/Base"},
     400, "parameter_invalid", "timezone"),
    ("customer-invalid-locale", "POST", "/v1/customers", lambda w: {"locale": "xx-nowhere"},
     400, "parameter_invalid", "locale"),
    ("customer-invalid-email", "POST", "/v1/customers", lambda w: {"email": "not-an-email"},
     400, "parameter_invalid", "email"),
    ("customer-unknown-field", "POST", "/v1/customers", lambda w: {"nmae": "Ada"},
     400, "parameter_unknown", "nmae"),
    ("customer-foreign-test-clock", "POST", "/v1/customers",
     lambda w: {"test_clock": w.foreign_clock}, 404, "resource_missing", "test_clock"),
    ("customer-update-invalid-timezone", "POST", "/v1/customers/{customer}",
     lambda w: {"timezone": "Europe/Nowhere"}, 400, "parameter_invalid", "timezone"),
    ("balance-other-currency", "POST", "/v1/customers/{customer}/balance_transactions",
     lambda w: {"amount": -100, "currency": "usd"}, 400, "parameter_invalid", "currency"),
    ("balance-zero", "POST", "/v1/customers/{customer}/balance_transactions",
     lambda w: {"amount": 0, "currency": "eur"}, 400, "parameter_invalid", "amount"),
    ("balance-unknown-currency", "POST", "/v1/customers/{fresh_customer}/balance_transactions",
     lambda w: {"amount": -100, "currency": "xyz"}, 400, "currency_invalid", "currency"),
]

SUBSCRIPTION_CASES: list[Case] = [
    ("subscription-customer-missing", "POST", "/v1/subscriptions",
     lambda w: {"items": [{"price": w.eur_price}]}, 400, "parameter_missing", "customer"),
    ("subscription-no-items", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.fresh_customer, "items": []}, 400, "parameter_invalid", "items"),
    ("subscription-trial-end-before-start", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.fresh_customer, "items": [{"price": w.eur_price}],
                "trial_end": ts(2025, 12, 1)}, 400, "parameter_invalid", "trial_end"),
    ("subscription-trial-end-at-start", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.fresh_customer, "items": [{"price": w.eur_price}],
                "trial_end": ts(2026, 1, 1, 9)}, 400, "parameter_invalid", "trial_end"),
    ("subscription-trial-zero-days", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.fresh_customer, "items": [{"price": w.eur_price}],
                "trial_period_days": 0}, 400, "parameter_invalid", "trial_period_days"),
    ("subscription-foreign-customer", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.foreign_customer, "items": [{"price": w.eur_price}]},
     404, "resource_missing", "customer"),
    ("subscription-foreign-price", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.fresh_customer, "items": [{"price": w.foreign_price}]},
     404, "resource_missing", "items[0][price]"),
    ("subscription-price-in-other-currency", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.customer, "items": [{"price": w.usd_price}]},
     400, "currency_mismatch", "items[0][price]"),
    ("subscription-items-in-two-currencies", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.fresh_customer,
                "items": [{"price": w.eur_price}, {"price": w.usd_price}]},
     400, "parameter_invalid", "items[1][price]"),
    ("subscription-one-time-price", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.fresh_customer, "items": [{"price": w.one_time_price}]},
     400, "parameter_invalid", "items[0][price]"),
    ("subscription-negative-quantity", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.fresh_customer, "items": [{"price": w.eur_price,
                                                          "quantity": -1}]},
     400, "parameter_invalid", "items[0][quantity]"),
    ("subscription-unknown-collection-method", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.fresh_customer, "items": [{"price": w.eur_price}],
                "collection_method": "by_pigeon"},
     400, "parameter_invalid", "collection_method"),
    ("subscription-days-until-due-when-charging", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.fresh_customer, "items": [{"price": w.eur_price}],
                "days_until_due": 30}, 400, "parameter_invalid", "days_until_due"),
    ("subscription-anchor-too-far", "POST", "/v1/subscriptions",
     lambda w: {"customer": w.fresh_customer, "items": [{"price": w.eur_price}],
                "billing_cycle_anchor": ts(2026, 3, 15)},
     400, "parameter_invalid", "billing_cycle_anchor"),
]

OTHER_CASES: list[Case] = [
    ("invoiceitem-foreign-customer", "POST", "/v1/invoiceitems",
     lambda w: {"customer": w.foreign_customer, "amount": 500, "currency": "eur"},
     404, "resource_missing", "customer"),
    ("invoiceitem-no-currency", "POST", "/v1/invoiceitems",
     lambda w: {"customer": w.fresh_customer, "amount": 500},
     400, "parameter_invalid", "currency"),
    ("invoiceitem-fractional-amount", "POST", "/v1/invoiceitems",
     lambda w: {"customer": w.fresh_customer, "amount": 5.5, "currency": "eur"},
     400, "parameter_invalid", "amount"),
    ("invoice-foreign-customer", "POST", "/v1/invoices",
     lambda w: {"customer": w.foreign_customer}, 404, "resource_missing", "customer"),
    ("test-clock-negative-time", "POST", "/v1/test_clocks", lambda w: {"frozen_time": -1},
     400, "parameter_invalid", "frozen_time"),
    ("test-clock-time-as-string", "POST", "/v1/test_clocks",
     lambda w: {"frozen_time": "2026-01-01"}, 400, "parameter_invalid", "frozen_time"),
    ("organization-bad-number-format", "POST", "/v1/organization",
     lambda w: {"invoice_number_format": "{prefix}-{year}"},
     400, "parameter_invalid", "invoice_number_format"),
]


GROUPS = {"prices": PRICE_CASES, "customers": CUSTOMER_CASES,
          "subscriptions": SUBSCRIPTION_CASES, "invoices-clocks-organization": OTHER_CASES}


@pytest.mark.parametrize("group", GROUPS)
def test_bad_input_is_refused_naming_the_parameter_and_writes_nothing(
        api: TestClient, world: World, group: str) -> None:
    """Each case in one database (they must write nothing, which is what is checked)."""
    before = snapshot(api)
    customer_before = ok(api.get(f"/v1/customers/{world.customer}"))
    failures = []
    for case, method, path, body, status, code, param in GROUPS[group]:
        url = path.format(customer=world.customer, fresh_customer=world.fresh_customer)
        response = api.request(method, url, json=body(world))
        try:
            assert_error(response, status, code=code, param=param,
                         type_="invalid_request_error")
            assert snapshot(api) == before, "something was written"
        except AssertionError as exc:
            failures.append(f"{case}: {exc}")
            before = snapshot(api)
    assert ok(api.get(f"/v1/customers/{world.customer}")) == customer_before
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("country", [
    "ZZ",  # Babel's "Unknown Region"
    "EU",  # Babel's "European Union": a region, not a country
])
def test_pseudo_territories_are_not_countries(api: TestClient, country: str) -> None:
    before = snapshot(api)
    assert_error(api.post("/v1/customers", json={"country": country}), 400,
                 code="parameter_invalid", param="country")
    assert snapshot(api) == before


def test_a_known_country_is_accepted_and_upper_cased(api: TestClient) -> None:
    customer = create_customer(api, country="nl", vat_id="NL 0044.95445.B01")
    assert customer["country"] == "NL"
    assert customer["vat_id"] == "NL004495445B01"


NOT_AN_OBJECT = [
    (b"{bad", "json_invalid"),
    (b'{"name": "Ada",}', "json_invalid"),
    (b"{'name': 'Ada'}", "json_invalid"),
    (b"[1, 2]", "body_invalid"),
    (b"[]", "body_invalid"),
    (b'"Ada"', "body_invalid"),
    (b"42", "body_invalid"),
    (b"null", "body_invalid"),
]


def test_a_body_that_is_not_a_json_object_is_refused(api: TestClient) -> None:
    before = snapshot(api)
    for content, code in NOT_AN_OBJECT:
        for path in ("/v1/customers", "/v1/prices"):
            response = api.post(path, content=content,
                                headers={"content-type": "application/json"})
            assert_error(response, 400, code=code, param=None, type_="invalid_request_error")
    assert snapshot(api) == before


def test_an_empty_body_means_no_parameters(api: TestClient) -> None:
    response = api.post("/v1/customers", content=b"",
                        headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "customer"
    assert_error(api.post("/v1/prices"), 400, code="parameter_missing", param="currency",
                 type_="invalid_request_error")


BAD_AUTHORIZATION = [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer sk_live_not_a_key",
                     "Bearer pk_live_123", "sk_live_missing_scheme"]


def test_no_or_an_invalid_api_key_is_401_and_writes_nothing(api: TestClient) -> None:
    before = snapshot(api)
    for header in BAD_AUTHORIZATION:
        client = TestClient(api.app, raise_server_exceptions=False)
        if header is not None:
            client.headers["Authorization"] = header
        for response in (client.get("/v1/customers"),
                         client.post("/v1/customers", json={"name": "Mallory"}),
                         client.post("/v1/customers", json={"name": "Mallory"},
                                     headers={"Idempotency-Key": "k-401"})):
            assert_error(response, 401, code="api_key_invalid", type_="authentication_error")
    assert snapshot(api) == before


def test_an_unknown_route_answers_with_the_envelope(api: TestClient) -> None:
    for method, path in (("GET", "/v1/nope"), ("POST", "/v1/nope"), ("GET", "/nope"),
                         ("GET", "/v2/customers"), ("GET", "/v1/customers/cus_1/nope")):
        assert_error(api.request(method, path), 404, code="resource_missing", param=None,
                     type_="invalid_request_error")
    assert_error(api.delete("/v1/customers"), 405, code="method_not_allowed", param=None,
                 type_="invalid_request_error")


LISTS = ["/v1/customers", "/v1/products", "/v1/prices", "/v1/subscriptions", "/v1/invoices",
         "/v1/invoiceitems", "/v1/test_clocks", "/v1/events"]


def test_list_limit_outside_1_to_100_is_refused(api: TestClient) -> None:
    for path in LISTS:
        for limit in ("0", "101", "-1", "ten", "1.5"):
            assert_error(api.get(path, params={"limit": limit}), 400,
                         code="parameter_invalid", param="limit",
                         type_="invalid_request_error")
        for limit in ("1", "100"):
            assert ok(api.get(path, params={"limit": limit}))["object"] == "list"


def test_unknown_object_ids_are_404_naming_the_id(api: TestClient) -> None:
    for path in ("/v1/customers/cus_nope", "/v1/prices/price_nope", "/v1/products/prod_nope",
                 "/v1/subscriptions/sub_nope", "/v1/invoices/in_nope",
                 "/v1/test_clocks/clock_nope", "/v1/events/evt_nope"):
        assert_error(api.get(path), 404, code="resource_missing", param="id",
                     type_="invalid_request_error")
