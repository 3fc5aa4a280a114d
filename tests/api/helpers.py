"""Small helpers for the HTTP tests: timestamps, error assertions, object factories."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from kassa.api import create_app
from kassa.config import Kassa

ON_POSTGRES = bool(os.environ.get("KASSA_TEST_DATABASE_URL"))
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
HOUR = 3600
DAY = 24 * HOUR


def ts(*args: int) -> int:
    """Unix seconds of a UTC date: ts(2026, 2, 1, 9) is 2026-02-01 09:00 UTC."""
    return int(datetime(*args, tzinfo=UTC).timestamp())


def auth(secret_key: str) -> dict[str, str]:
    """Headers that make a request as another organization."""
    return {"Authorization": f"Bearer {secret_key}"}


def ok(response: Response) -> Any:
    """The JSON of a 200 response (fails with the body otherwise)."""
    assert response.status_code == 200, response.text
    return response.json()


UNCHECKED: Any = object()


def assert_error(response: Response, status: int, *, code: str | None = None,
                 param: str | None = UNCHECKED, type_: str | None = None) -> dict[str, Any]:
    """The response is the error envelope with `status`, `code`, `param` and `type_` (each
    checked only when given; `param=None` checks that no parameter is named)."""
    assert 400 <= status < 500
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"type", "code", "message", "param"}, error
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if param is not UNCHECKED:
        assert error["param"] == param, error
    if type_ is not None:
        assert error["type"] == type_, error
    return error


def list_all(api: TestClient, path: str, headers: dict[str, str] | None = None,
             **params: Any) -> list[dict[str, Any]]:
    """Every object of a list endpoint, following starting_after to the end."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 100}
        if cursor:
            query["starting_after"] = cursor
        page = ok(api.get(path, params=query, headers=headers))
        rows.extend(page["data"])
        if not page["has_more"]:
            return rows
        cursor = page["data"][-1]["id"]


def count(api: TestClient, path: str, **params: Any) -> int:
    return len(list_all(api, path, **params))


def snapshot(api: TestClient) -> dict[str, int]:
    """How many of each object the organization has; compared before and after a request."""
    return {
        "customers": count(api, "/v1/customers"),
        "products": count(api, "/v1/products"),
        "prices": count(api, "/v1/prices"),
        "subscriptions": count(api, "/v1/subscriptions", status="all"),
        "invoices": count(api, "/v1/invoices"),
        "invoiceitems": count(api, "/v1/invoiceitems"),
        "test_clocks": count(api, "/v1/test_clocks"),
        "events": count(api, "/v1/events"),
    }


def create_price(api: TestClient, unit_amount: int = 1999, currency: str = "eur",
                 interval: str | None = "month", name: str = "Pro", **extra: Any) -> Any:
    body: dict[str, Any] = {"product_data": {"name": name}, "currency": currency,
                            "unit_amount": unit_amount, **extra}
    if interval is not None:
        body["recurring"] = {"interval": interval}
    return ok(api.post("/v1/prices", json=body))


def create_customer(api: TestClient, **fields: Any) -> Any:
    return ok(api.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com",
                                              **fields}))


def subscribe(api: TestClient, customer: str, *prices: str, **fields: Any) -> Any:
    """A subscription with one item per price (quantity 1)."""
    return ok(api.post("/v1/subscriptions", json={
        "customer": customer, "items": [{"price": p} for p in prices], **fields}))


def create_clock(api: TestClient, frozen_time: int) -> Any:
    return ok(api.post("/v1/test_clocks", json={"frozen_time": frozen_time}))


def advance(api: TestClient, clock_id: str, frozen_time: int) -> Any:
    clock = ok(api.post(f"/v1/test_clocks/{clock_id}/advance",
                        json={"frozen_time": frozen_time}))
    assert clock["frozen_time"] == frozen_time and clock["status"] == "ready", clock
    return clock


def invoices_of(api: TestClient, customer: str) -> list[dict[str, Any]]:
    """The customer's invoices, oldest first."""
    return list(reversed(list_all(api, "/v1/invoices", customer=customer)))


def event_types(api: TestClient, **params: Any) -> list[str]:
    """Event types, oldest first."""
    return [e["type"] for e in reversed(list_all(api, "/v1/events", **params))]


_apps: dict[str, FastAPI] = {}


def shared_app(kassa: Kassa) -> FastAPI:
    """The application, built once per session (building its routes costs ~0.4 s) and
    pointed at this test's Kassa: handlers find it in `app.state`. The sandbox gateway's
    pages keep the first instance's gateway, which every test's (same key, same public URL)
    equals."""
    key = f"{kassa.settings.secret_key}|{kassa.settings.public_url}"
    if key not in _apps:
        _apps[key] = create_app(kassa)
    app = _apps[key]
    app.state.kassa = kassa
    return app
