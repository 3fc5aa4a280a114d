"""Idempotency-Key: a retried POST replays the first response and never acts twice."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kassa.services import organizations

from .helpers import assert_error, auth, count, create_customer, create_price, ok, snapshot


def test_same_key_and_body_replays_the_first_response_and_creates_one_customer(
        api: TestClient) -> None:
    body = {"name": "Ada", "email": "ada@example.com"}
    first = api.post("/v1/customers", json=body, headers={"Idempotency-Key": "create-ada"})
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    events = count(api, "/v1/events")
    second = api.post("/v1/customers", json=body, headers={"Idempotency-Key": "create-ada"})
    assert second.status_code == 200, second.text
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert [c["id"] for c in ok(api.get("/v1/customers"))["data"]] == [first.json()["id"]]
    assert count(api, "/v1/events") == events


def test_same_key_with_another_body_is_409_and_does_nothing(api: TestClient) -> None:
    first = ok(api.post("/v1/customers", json={"name": "Ada"},
                        headers={"Idempotency-Key": "k1"}))
    before = snapshot(api)
    for path, body in (("/v1/customers", {"name": "Bob"}),
                       ("/v1/prices", {"product_data": {"name": "Pro"}, "currency": "eur",
                                       "unit_amount": 100})):
        response = api.post(path, json=body, headers={"Idempotency-Key": "k1"})
        assert_error(response, 409, code="idempotency_key_reused", type_="idempotency_error")
    assert snapshot(api) == before
    assert ok(api.get(f"/v1/customers/{first['id']}"))["name"] == "Ada"


def test_a_refused_request_replays_the_same_error(api: TestClient) -> None:
    headers = {"Idempotency-Key": "bad-currency"}
    first = api.post("/v1/customers", json={"currency": "xyz"}, headers=headers)
    assert_error(first, 400, code="currency_invalid", param="currency")
    second = api.post("/v1/customers", json={"currency": "xyz"}, headers=headers)
    assert second.status_code == 400
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert count(api, "/v1/customers") == 0


def test_a_replayed_subscription_bills_once(api: TestClient) -> None:
    price = create_price(api)
    customer = create_customer(api)
    body = {"customer": customer["id"], "items": [{"price": price["id"]}],
            "collection_method": "send_invoice"}
    first = ok(api.post("/v1/subscriptions", json=body, headers={"Idempotency-Key": "sub-1"}))
    second = api.post("/v1/subscriptions", json=body, headers={"Idempotency-Key": "sub-1"})
    assert second.status_code == 200, second.text
    assert second.json() == first
    assert count(api, "/v1/subscriptions") == 1
    assert count(api, "/v1/invoices") == 1


def test_keys_are_scoped_per_organization(
        api: TestClient, other_org: organizations.NewOrganization) -> None:
    body = {"name": "Ada"}
    ours = ok(api.post("/v1/customers", json=body, headers={"Idempotency-Key": "shared"}))
    theirs_response = api.post("/v1/customers", json=body,
                               headers={"Idempotency-Key": "shared",
                                        **auth(other_org.secret_key)})
    theirs = ok(theirs_response)
    assert "Idempotent-Replayed" not in theirs_response.headers
    assert theirs["id"] != ours["id"]
    assert [c["id"] for c in ok(api.get("/v1/customers"))["data"]] == [ours["id"]]
    assert [c["id"] for c in ok(api.get("/v1/customers",
                                        headers=auth(other_org.secret_key)))["data"]] \
        == [theirs["id"]]


def test_different_keys_create_different_objects(api: TestClient) -> None:
    a = ok(api.post("/v1/customers", json={"name": "Ada"}, headers={"Idempotency-Key": "a"}))
    b = ok(api.post("/v1/customers", json={"name": "Ada"}, headers={"Idempotency-Key": "b"}))
    assert a["id"] != b["id"]
    assert count(api, "/v1/customers") == 2


def test_a_get_ignores_the_key(api: TestClient) -> None:
    create_customer(api)
    for _ in range(2):
        response = api.get("/v1/customers", headers={"Idempotency-Key": "get"})
        assert response.status_code == 200
        assert "Idempotent-Replayed" not in response.headers


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_empty_or_overlong_key_is_refused(api: TestClient, key: str) -> None:
    before = snapshot(api)
    response = api.post("/v1/customers", json={"name": "Ada"}, headers={"Idempotency-Key": key})
    assert_error(response, 400, code="idempotency_key_invalid")
    assert snapshot(api) == before


def test_a_key_of_255_characters_is_accepted(api: TestClient) -> None:
    ok(api.post("/v1/customers", json={"name": "Ada"}, headers={"Idempotency-Key": "k" * 255}))
    assert count(api, "/v1/customers") == 1
