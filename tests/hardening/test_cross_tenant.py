"""The attacker's test: every operation of the OpenAPI schema that names an object in its
path is called by one organization with the ids of another organization's objects. The
answer is always a 4xx (404 for reads and deletes), it never carries the other
organization's data, and nothing of theirs changes."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from api.helpers import auth, ok
from kassa.services.organizations import NewOrganization


def _their_world(api: TestClient, key: dict[str, str]) -> dict[str, str]:
    """Objects of every kind in the other organization; their ids by kind."""
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return ok(api.post(path, json=body, headers=key))  # type: ignore[no-any-return]

    clock = post("/v1/test_clocks", {"frozen_time": 1767258000})
    customer = post("/v1/customers", {"name": "Their customer", "email": "t@globex.example",
                                      "test_clock": clock["id"]})
    method = post("/v1/payment_methods", {"customer": customer["id"], "token": "pm_card_visa"})
    product = post("/v1/products", {"name": "Their product"})
    price = post("/v1/prices", {"product": product["id"], "currency": "eur",
                                "unit_amount": 1000, "recurring": {"interval": "month"}})
    sub = post("/v1/subscriptions", {"customer": customer["id"],
                                     "items": [{"price": price["id"]}]})
    invoice = sub["latest_invoice"]
    payment = ok(api.get("/v1/payments", params={"invoice": invoice}, headers=key))["data"][0]
    refund = post("/v1/refunds", {"payment": payment["id"], "amount": 100})
    note = ok(api.get("/v1/credit_notes", headers=key))["data"][0]
    coupon = post("/v1/coupons", {"percent_off": 10, "duration": "once"})
    promo = post("/v1/promotion_codes", {"coupon": coupon["id"], "code": "THEIRS10"})
    meter = post("/v1/billing/meters", {"display_name": "Calls", "event_name": "calls",
                                        "default_aggregation": {"formula": "sum"}})
    feature = post("/v1/entitlements/features", {"name": "F", "lookup_key": "their_f"})
    attached = post(f"/v1/products/{product['id']}/features",
                    {"entitlement_feature": feature["id"]})
    tax_rate = post("/v1/tax_rates", {"display_name": "GST", "tax_type": "gst",
                                      "country": "AU", "percentage": 10})
    policy = post("/v1/dunning_policies", {"name": "Theirs"})
    endpoint = post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/x",
                                              "enabled_events": ["*"]})
    event = ok(api.get("/v1/events", headers=key))["data"][0]
    message = ok(api.get("/v1/email_messages", headers=key))["data"][0]
    ids = {"clock": clock["id"], "customer": customer["id"], "method": method["id"],
           "product": product["id"], "price": price["id"], "subscription": sub["id"],
           "invoice": invoice, "payment": payment["id"], "refund": refund["id"],
           "credit_note": note["id"], "coupon": coupon["id"], "promotion_code": promo["id"],
           "meter": meter["id"], "feature": feature["id"], "product_feature": attached["id"],
           "tax_rate": tax_rate["id"], "policy": policy["id"], "endpoint": endpoint["id"],
           "event": event["id"], "message": message["id"]}
    return ids


def _snapshot(api: TestClient, key: dict[str, str], ids: dict[str, str]) -> dict[str, Any]:
    """What the other organization sees of its objects (ids and statuses)."""
    paths = {"customer": "/v1/customers/{}", "subscription": "/v1/subscriptions/{}",
             "invoice": "/v1/invoices/{}", "payment": "/v1/payments/{}",
             "price": "/v1/prices/{}", "product": "/v1/products/{}",
             "coupon": "/v1/coupons/{}", "policy": "/v1/dunning_policies/{}",
             "endpoint": "/v1/webhook_endpoints/{}", "method": "/v1/payment_methods/{}",
             "credit_note": "/v1/credit_notes/{}", "tax_rate": "/v1/tax_rates/{}"}
    return {kind: ok(api.get(path.format(ids[kind]), headers=key))
            for kind, path in paths.items()}


def test_no_operation_reaches_another_organizations_objects(
        api: TestClient, other_org: NewOrganization) -> None:
    key = auth(other_org.secret_key)
    ids = _their_world(api, key)
    before = _snapshot(api, key, ids)
    schema = api.get("/openapi.json").json()
    tried = 0
    for path, operations in schema["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        if not path.startswith("/v1/") or not names:
            continue
        for method in operations:
            for their_id in ids.values():
                url = path
                for name in names:
                    url = url.replace("{" + name + "}", their_id)
                response = api.request(method.upper(), url, json={} if method == "post"
                                       else None)
                tried += 1
                assert 400 <= response.status_code < 500, (method, url, response.text)
                if method in ("get", "delete") and response.status_code != 404:
                    # only a required query parameter left out may come first
                    error = response.json()["error"]
                    assert error["code"] == "parameter_missing" and error["param"] not in \
                        names, (method, url, response.text)
                others = set(ids.values()) - {their_id}
                assert not any(other in response.text for other in others), (method, url)
                if response.status_code != 404:
                    assert their_id not in response.text.replace(
                        f"'{their_id}'", ""), (method, url, response.text)
    assert tried > 1000
    assert _snapshot(api, key, ids) == before
