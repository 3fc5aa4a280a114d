"""Portal sessions over HTTP: a link opens one session once; the session is bound to its
customer (another customer's invoice is not found), ends at logout, at expiry and when its
API key is revoked; forms need their CSRF token; changes are made as the portal customer."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.helpers import (
    assert_error,
    auth,
    create_customer,
    create_price,
    ok,
    shared_app,
    subscribe,
)
from kassa.config import Kassa
from kassa.core.clock import FrozenClock


def portal_link(api: TestClient, customer: str, **body: Any) -> str:
    made = ok(api.post("/v1/billing_portal/sessions", json={"customer": customer, **body}))
    assert made["object"] == "billing_portal.session"
    return str(made["url"]).split("://", 1)[1].split("/", 1)[1]  # the path


def browser(kassa: Kassa) -> TestClient:
    return TestClient(shared_app(kassa), base_url="https://billing.example")


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


def test_a_link_opens_a_session_once_for_its_customer_only(api: TestClient,
                                                           kassa: Kassa) -> None:
    ada = create_customer(api, name="Ada", email="ada@example.com")
    bob = create_customer(api, name="Bob")
    ada_invoice = subscribe(api, ada["id"], create_price(api)["id"],
                            collection_method="send_invoice")["latest_invoice"]
    bob_invoice = subscribe(api, bob["id"], create_price(api)["id"],
                            collection_method="send_invoice")["latest_invoice"]
    path = portal_link(api, ada["id"], return_url="https://app.example/account")
    client = browser(kassa)
    opened = client.get("/" + path, follow_redirects=False)
    assert (opened.status_code, opened.headers["location"]) == (303, "/portal")
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/portal" in cookie
    page = client.get("/portal")
    assert page.status_code == 200 and "Ada" in page.text and "Bob" not in page.text
    assert "<th scope=\"col\">Billed every</th>" in page.text and "<td>month</td>" in page.text
    policy = page.headers["content-security-policy"]  # htmx works under it (Chromium tests)
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "https://app.example/account" in page.text
    assert client.get(f"/portal/invoices/{ada_invoice}/pdf").headers[
        "content-type"] == "application/pdf"
    assert client.get(f"/portal/invoices/{bob_invoice}/pdf").status_code == 404
    # the link worked once
    assert browser(kassa).get("/" + path, follow_redirects=False).status_code == 401


def test_sessions_end_at_logout_expiry_and_key_revocation(
        api: TestClient, kassa: Kassa, clock: FrozenClock) -> None:
    customer = create_customer(api, name="Ada")
    client = browser(kassa)
    client.get("/" + portal_link(api, customer["id"]))
    page = client.get("/portal")
    assert client.post("/portal/logout", data={"csrf_token": "wrong"}).status_code == 400
    client.post("/portal/logout", data={"csrf_token": csrf(page.text)})
    assert client.get("/portal").status_code == 401

    client = browser(kassa)
    client.get("/" + portal_link(api, customer["id"]))
    clock.move_to(clock.now() + timedelta(hours=1, seconds=1))
    assert client.get("/portal").status_code == 401

    key = ok(api.post("/v1/api_keys", json={"name": "Portal"}))
    client = browser(kassa)
    made = ok(api.post("/v1/billing_portal/sessions", json={"customer": customer["id"]},
                       headers=auth(key["secret"])))
    client.get("/" + made["url"].split("/", 3)[3])
    assert client.get("/portal").status_code == 200
    ok(api.delete(f"/v1/api_keys/{key['id']}"))
    assert client.get("/portal").status_code == 401
    # a link of a key that stopped working opens nothing
    stale = ok(api.post("/v1/api_keys", json={}))
    link = ok(api.post("/v1/billing_portal/sessions", json={"customer": customer["id"]},
                       headers=auth(stale["secret"])))["url"].split("/", 3)[3]
    ok(api.delete(f"/v1/api_keys/{stale['id']}"))
    assert browser(kassa).get("/" + link, follow_redirects=False).status_code == 401


def test_billing_details_change_with_csrf_and_are_audited_as_the_customer(
        api: TestClient, kassa: Kassa) -> None:
    customer = create_customer(api, name="Ada", email="ada@example.com")
    client = browser(kassa)
    client.get("/" + portal_link(api, customer["id"]))
    token = csrf(client.get("/portal/details").text)
    form = {"name": "Ada Lovelace", "email": "ada@example.com", "line1": "1 Main St",
            "postal_code": "1011 AB", "city": "Amsterdam", "country": "NL",
            "vat_id": "NL000099998B57"}
    assert client.post("/portal/details", data={**form, "csrf_token": "x"}).status_code == 400
    refused = client.post("/portal/details", data={**form, "vat_id": "NL123",
                                                   "csrf_token": token})
    assert refused.status_code == 400 and 'aria-invalid="true"' in refused.text
    assert ok(api.get(f"/v1/customers/{customer['id']}"))["name"] == "Ada"
    saved = client.post("/portal/details", data={**form, "csrf_token": token},
                        follow_redirects=False)
    assert saved.status_code == 303
    after = ok(api.get(f"/v1/customers/{customer['id']}"))
    assert (after["name"], after["vat_id"], after["address"]["city"]) == (
        "Ada Lovelace", "NL000099998B57", "Amsterdam")
    [entry] = [e for e in ok(api.get("/v1/audit_log"))["data"]
               if e["request"]["path"] == "/portal/details"]
    assert entry["actor"] == {"type": "portal_customer", "id": customer["id"]}
    assert entry["changes"][0]["changes"]["name"] == {"before": "Ada", "after": "Ada Lovelace"}


def test_portal_sessions_refuse_bad_input(api: TestClient) -> None:
    assert_error(api.post("/v1/billing_portal/sessions", json={"customer": "cus_nope"}), 404)
    customer = create_customer(api)
    assert_error(api.post("/v1/billing_portal/sessions",
                          json={"customer": customer["id"], "return_url": "javascript:x"}),
                 400, param="return_url")


def test_payment_methods_are_the_customers_own(api: TestClient, kassa: Kassa) -> None:
    ada = create_customer(api, name="Ada")
    bob = create_customer(api, name="Bob")
    first = ok(api.post("/v1/payment_methods", json={"customer": ada["id"],
                                                     "token": "pm_card_visa"}))
    second = ok(api.post("/v1/payment_methods", json={"customer": ada["id"],
                                                      "token": "pm_card_mastercard"}))
    bobs = ok(api.post("/v1/payment_methods", json={"customer": bob["id"],
                                                    "token": "pm_card_visa"}))
    client = browser(kassa)
    client.get("/" + portal_link(api, ada["id"]))
    page = client.get("/portal/payment_methods")
    assert "4242" in page.text and "4444" in page.text
    token = csrf(page.text)
    for path in (f"/portal/payment_methods/{bobs['id']}/remove",
                 f"/portal/payment_methods/{bobs['id']}/default",
                 f"/portal/payment_methods/{first['id']}/explode"):
        assert client.post(path, data={"csrf_token": token}).status_code == 404
    assert ok(api.get(f"/v1/payment_methods/{bobs['id']}"))["status"] == "attached"
    assert client.post(f"/portal/payment_methods/{second['id']}/default",
                       data={"csrf_token": "nope"}).status_code == 400
    client.post(f"/portal/payment_methods/{second['id']}/default", data={"csrf_token": token})
    client.post(f"/portal/payment_methods/{first['id']}/remove", data={"csrf_token": token})
    assert ok(api.get(f"/v1/payment_methods/{first['id']}"))["status"] == "detached"
    assert "4242" not in client.get("/portal/payment_methods").text
    # a token coming back without this session's state attaches nothing
    assert client.get("/portal/payment_methods/added",
                      params={"token": "pm_card_visa", "state": "forged"}).status_code == 400
    assert len(ok(api.get("/v1/payment_methods", params={"customer": ada["id"]}))["data"]) == 1
    actors = {e["actor"]["type"] for e in ok(api.get("/v1/audit_log"))["data"]
              if e["request"]["path"].startswith("/portal/")}
    assert actors == {"portal_customer"}


def test_malformed_forms_and_unknown_addresses_are_pages_not_json(api: TestClient,
                                                                  kassa: Kassa) -> None:
    customer = create_customer(api, name="Ada", email="ada@example.com")
    client = browser(kassa)
    client.get("/" + portal_link(api, customer["id"]))
    token = csrf(client.get("/portal/details").text)
    too_long = client.post("/portal/details", data={"csrf_token": token, "name": "x" * 201})
    assert too_long.status_code == 400
    assert too_long.headers["content-type"].startswith("text/html")
    assert "That could not be done." in too_long.text and "name" in too_long.text
    assert ok(api.get(f"/v1/customers/{customer['id']}"))["name"] == "Ada"
    missing = client.get("/portal/nowhere/at/all")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(
        "text/html")
    assert api.get("/v1/nowhere").json()["error"]["code"] == "resource_missing"  # API: JSON
