"""Hostile input is answered cleanly, with the error envelope and nothing written: oversized
bodies (413, refused while being read), deep nesting, invalid UTF-8, SQL in every kind of
parameter, absurd limits and negative amounts."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.helpers import assert_error, create_customer, ok, snapshot

SQL = "x' OR '1'='1'; DROP TABLE customers; --"


def test_a_json_body_over_a_megabyte_is_413_and_changes_nothing(api: TestClient) -> None:
    before = snapshot(api)
    big = b'{"name": "a", "description": "' + b"x" * (1024 * 1024) + b'"}'
    assert_error(api.post("/v1/customers", content=big,
                          headers={"content-type": "application/json"}), 413,
                 code="request_too_large")
    assert_error(api.post("/v1/products", content=big), 413)  # no type declared: JSON
    assert snapshot(api) == before


def test_a_file_over_twenty_megabytes_is_413(api: TestClient) -> None:
    assert_error(api.post("/v1/bank_statements", content=b"x" * (20 * 1024 * 1024 + 1),
                          headers={"content-type": "application/octet-stream"}), 413)


def test_deep_nesting_and_invalid_utf8_are_400(api: TestClient) -> None:
    before = snapshot(api)
    for body in (b"[" * 50_000 + b"]" * 50_000, b'{"name": "\xff\xfe"}', b'{"name": ',
                 b'{"metadata": ' + b'{"a": ' * 500 + b"1" + b"}" * 500 + b"}"):
        response = api.post("/v1/customers", content=body,
                            headers={"content-type": "application/json"})
        assert response.status_code == 400, body[:40]
        assert set(response.json()["error"]) == {"type", "code", "message", "param"}
    assert snapshot(api) == before


def test_sql_in_ids_filters_cursors_and_fields_is_only_text(api: TestClient) -> None:
    customer = create_customer(api, name=SQL, metadata={"note": SQL})
    assert ok(api.get(f"/v1/customers/{customer['id']}"))["name"] == SQL
    assert_error(api.get(f"/v1/customers/{SQL}"), 404)
    assert_error(api.get(f"/v1/invoices/{SQL}/pdf"), 404)
    assert ok(api.get("/v1/customers", params={"starting_after": SQL}))["object"] == "list"
    assert ok(api.get("/v1/invoices", params={"customer": SQL, "status": "open"}))[
        "data"] == []
    assert ok(api.get("/v1/dunning_cases", params={"customer": SQL}))["data"] == []
    assert_error(api.get("/v1/reports/dunning", params={"from": SQL, "to": SQL}), 400)
    assert ok(api.get(f"/v1/customers/{customer['id']}"))["metadata"] == {"note": SQL}


def test_absurd_limits_and_negative_amounts_are_400(api: TestClient) -> None:
    for limit in ("0", "-1", "101", "10" * 40, "1e3", "ten"):
        assert_error(api.get("/v1/customers", params={"limit": limit}), 400, param="limit")
    customer = create_customer(api)
    before = snapshot(api)
    assert_error(api.post("/v1/invoiceitems", json={"customer": customer["id"],
                                                    "amount": 10**30, "currency": "eur"}), 400)
    assert_error(api.post("/v1/prices", json={"product": "prod_x", "currency": "eur",
                                              "unit_amount": -5}), 400)
    assert_error(api.post("/v1/payments", json={"invoice": "in_x", "amount": -100}), 400)
    assert snapshot(api) == before
