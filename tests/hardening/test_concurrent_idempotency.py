"""Identical requests sent at the same moment with one Idempotency-Key, through a real HTTP
server: one effect, and every caller gets the same answer (the duplicates wait for the first
request and replay it)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.helpers import count, create_customer, create_price, ok
from kassa.services.organizations import NewOrganization


def at_once(base: str, secret: str, path: str, body: dict[str, Any],
            copies: int = 4) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": f"k-{path}-{copies}"}
    start = threading.Barrier(copies)

    def send(_: int) -> httpx.Response:
        start.wait()
        return httpx.post(f"{base}{path}", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(copies) as pool:
        return list(pool.map(send, range(copies)))


def test_identical_concurrent_requests_have_one_effect_and_one_answer(
        api: TestClient, live_server: str, org: NewOrganization) -> None:
    customer = create_customer(api)
    price = create_price(api)
    ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                             "token": "pm_card_visa"}))
    cases = [
        ("/v1/customers", {"name": "Concurrent"}, "/v1/customers"),
        ("/v1/products", {"name": "Concurrent"}, "/v1/products"),
        ("/v1/dunning_policies", {"name": "Concurrent"}, "/v1/dunning_policies"),
        ("/v1/subscriptions", {"customer": customer["id"], "items": [{"price": price["id"]}]},
         "/v1/subscriptions"),
        ("/v1/invoiceitems", {"customer": customer["id"], "amount": 500, "currency": "eur"},
         "/v1/invoiceitems"),
    ]
    for path, body, listing in cases:
        before = count(api, listing)
        answers = at_once(live_server, org.secret_key, path, body)
        assert {r.status_code for r in answers} == {200}, [r.text for r in answers]
        assert len({r.content for r in answers}) == 1, path
        assert sum(r.headers.get("idempotent-replayed") == "true" for r in answers) == 3
        assert count(api, listing) == before + 1, path
