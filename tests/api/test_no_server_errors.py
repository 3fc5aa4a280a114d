"""Hostile but well-formed input is a 4xx naming the parameter, never a 5xx (a 5xx is a bug).

Values outside what the database or the calendar can hold (amounts beyond 64 bits, times past
the year 9999, strings longer than their column, NUL characters) must be refused up front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .helpers import (
    assert_error,
    create_customer,
    create_price,
    ok,
    snapshot,
    ts,
)

BIG = 10**20  # beyond a signed 64-bit integer
FAR = 10**12  # Unix seconds in the year 33658
YEAR_9999 = 253402300799  # 9999-12-31 23:59:59 UTC: periods after it cannot be computed


@dataclass(frozen=True)
class World:
    customer: str
    recurring_price: str


@pytest.fixture
def world(api: TestClient) -> World:
    return World(create_customer(api)["id"], create_price(api)["id"])





def _sub(w: World, **fields: Any) -> dict[str, Any]:
    return {"customer": w.customer, "items": [{"price": w.recurring_price}], **fields}


def _one_time(**fields: Any) -> dict[str, Any]:
    return {"product_data": {"name": "Setup"}, "currency": "eur", "unit_amount": 100,
            **fields}


# (id, method, path, body from the world, the parameter a 4xx must name, marks)
CASES: list[Any] = [
    pytest.param("POST", "/v1/invoiceitems",
                 lambda w: {"customer": w.customer, "amount": BIG, "currency": "eur"},
                 {"amount"}, id="invoiceitem-amount-beyond-int64"),
    pytest.param("POST", "/v1/invoiceitems",
                 lambda w: {"customer": w.customer, "unit_amount": 10**18, "quantity": 10,
                            "currency": "eur"},
                 {"unit_amount", "quantity"}, id="invoiceitem-total-beyond-int64"),
    pytest.param("POST", "/v1/customers/{customer}/balance_transactions",
                 lambda w: {"amount": -BIG, "currency": "eur"}, {"amount"},
                 id="balance-beyond-int64"),
    pytest.param("POST", "/v1/subscriptions",
                 lambda w: {"customer": w.customer,
                            "items": [{"price": w.recurring_price, "quantity": 2**62}]},
                 {"items[0][quantity]"}, id="subscription-quantity-beyond-int64"),
    pytest.param("POST", "/v1/prices", lambda w: _one_time(unit_amount=10**70),
                 {"unit_amount"}, id="price-unit-amount-71-digits"),
    pytest.param("POST", "/v1/subscriptions", lambda w: _sub(w, start_date=FAR),
                 {"start_date"}, id="subscription-start-date-year-33658"),
    pytest.param("POST", "/v1/subscriptions", lambda w: _sub(w, start_date=YEAR_9999),
                 {"start_date"}, id="subscription-start-date-end-of-9999"),
    pytest.param("POST", "/v1/subscriptions", lambda w: _sub(w, trial_end=FAR),
                 {"trial_end"}, id="subscription-trial-end-far"),
    pytest.param("POST", "/v1/subscriptions", lambda w: _sub(w, billing_cycle_anchor=FAR),
                 {"billing_cycle_anchor"}, id="subscription-anchor-far"),
    pytest.param("POST", "/v1/subscriptions", lambda w: _sub(w, cancel_at=FAR),
                 {"cancel_at"}, id="subscription-cancel-at-far"),
    pytest.param("POST", "/v1/subscriptions", lambda w: _sub(w, backdate_start_date=FAR),
                 {"backdate_start_date"}, id="subscription-backdate-far"),
    pytest.param("POST", "/v1/test_clocks", lambda w: {"frozen_time": FAR},
                 {"frozen_time"}, id="test-clock-year-33658"),
    pytest.param("POST", "/v1/prices", lambda w: _one_time(nickname="n" * 300),
                 {"nickname"}, id="price-nickname-300-chars"),
    pytest.param("POST", "/v1/prices", lambda w: _one_time(lookup_key="k" * 300),
                 {"lookup_key"}, id="price-lookup-key-300-chars"),
    pytest.param("POST", "/v1/prices", lambda w: _one_time(product_data={"name": "p" * 300}),
                 {"product_data[name]"}, id="price-product-name-300-chars"),
    pytest.param("POST", "/v1/test_clocks",
                 lambda w: {"frozen_time": ts(2026, 1, 1), "name": "c" * 300},
                 {"name"}, id="test-clock-name-300-chars"),
    pytest.param("POST", "/v1/customers", lambda w: {"name": "Ada\x00Lovelace"},
                 {"name"}, id="customer-name-with-nul"),
    pytest.param("POST", "/v1/customers/{customer}", lambda w: {"email": "a\x00@b.example"},
                 {"email"}, id="customer-email-with-nul"),
    pytest.param("GET", "/v1/customers?email=a%00b", None,
                 {"email"}, id="customer-list-filter-with-nul"),
    pytest.param("GET", "/v1/customers/cus_a%00b", None,
                 {"id"}, id="customer-id-with-nul"),
    pytest.param("GET", "/v1/invoices?starting_after=in_%00", None,
                 {"starting_after"}, id="cursor-with-nul"),
    # Values just inside the limits are fine.
    pytest.param("POST", "/v1/invoiceitems",
                 lambda w: {"customer": w.customer, "amount": 10**12, "currency": "eur"},
                 set(), id="invoiceitem-amount-10-to-the-12"),
    pytest.param("POST", "/v1/customers", lambda w: {"name": "n" * 200}, set(),
                 id="customer-name-200-chars"),
    pytest.param("POST", "/v1/subscriptions", lambda w: _sub(w, start_date=ts(2099, 1, 1)),
                 set(), id="subscription-starting-in-2099"),
]


@pytest.mark.parametrize(("method", "path", "body", "params"), CASES)
def test_hostile_input_is_never_a_server_error(api: TestClient, world: World, method: str,
                                               path: str, body: Any,
                                               params: set[str]) -> None:
    before = snapshot(api)
    response = api.request(method, path.format(customer=world.customer),
                           json=body(world) if body else None)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = assert_error(response, response.status_code, type_="invalid_request_error")
        assert error["param"] in params, error
        assert snapshot(api) == before


def test_a_manual_invoice_with_an_absurd_days_until_due_never_fails_later(
        api: TestClient, world: World) -> None:
    ok(api.post("/v1/invoiceitems", json={"customer": world.customer, "amount": 100,
                                          "currency": "eur"}))
    response = api.post("/v1/invoices", json={"customer": world.customer,
                                              "days_until_due": 10**7})
    if response.status_code == 200:
        response = api.post(f"/v1/invoices/{response.json()['id']}/finalize")
    assert response.status_code < 500, response.text


def test_absurd_organization_terms_never_fail_billing_later(api: TestClient,
                                                            world: World) -> None:
    responses = [api.post("/v1/organization", json={"days_until_due": 10**7,
                                                    "draft_grace_seconds": 10**12})]
    responses.append(api.post("/v1/subscriptions", json={
        "customer": world.customer, "items": [{"price": world.recurring_price}],
        "collection_method": "send_invoice"}))
    for response in responses:
        assert response.status_code < 500, response.text
