"""Kassa with the Stripe gateway turned on (KASSA_STRIPE_* settings), Stripe's API stood in for
by a local server answering with Stripe's own example objects: a card attached through the API
is charged when the first invoice is finalized, and a signed `payment_intent.payment_failed`
webhook for a later charge marks it failed and the subscription past due."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.helpers import create_customer, create_price, ok, shared_app, subscribe
from gateways.fake_api import FakeAPI, stripe_object
from kassa.config import Kassa, Settings
from kassa.core.clock import FrozenClock
from kassa.services import organizations

SECRET = "whsec_end_to_end"
PI = "pi_3KassaEndToEnd1"


@pytest.fixture
def stripe_api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


@pytest.fixture
def stripe_kassa(database_url: str, tmp_path: Path, clock: FrozenClock,
                 stripe_api: FakeAPI) -> Iterator[Kassa]:
    instance = Kassa(Settings(data_dir=tmp_path / "data", database_url=database_url,
                              secret_key="test-pepper", stripe_api_key="sk_test_kassa",
                              stripe_webhook_secret=SECRET, stripe_api_base=stripe_api.url),
                     clock=clock)
    yield instance
    instance.engine.dispose()


def _intent(status: str, **changes: Any) -> dict[str, Any]:
    return stripe_object("payment_intent", **{
        "id": PI, "status": status, "amount": 4900, "currency": "eur",
        "customer": "cus_QXg1o8vcGmoR32", "payment_method": "pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
        "last_payment_error": None, "next_action": None, **changes})


def test_a_stripe_card_pays_and_a_failed_charge_webhook_is_applied(
        stripe_kassa: Kassa, stripe_api: FakeAPI) -> None:
    with stripe_kassa.uow() as uow:
        org = organizations.create_organization(
            uow, stripe_kassa.pepper, name="Acme Cloud", country="NL", automatic_tax=False,
            payment_settings={"default_gateway": "stripe"})
    stripe_api.route("POST", "/v1/customers",
                     (200, stripe_object("customer", id="cus_QXg1o8vcGmoR32")))
    stripe_api.route("POST", "/v1/payment_methods/pm_1Pgc75B7WZ01zgkWlHVgdEGJ/attach",
                     (200, stripe_object("payment_method", customer="cus_QXg1o8vcGmoR32")))
    stripe_api.route("POST", "/v1/payment_intents", (200, _intent("succeeded")))
    with TestClient(shared_app(stripe_kassa), raise_server_exceptions=False) as api:
        api.headers["Authorization"] = f"Bearer {org.secret_key}"
        customer = create_customer(api)
        method = ok(api.post("/v1/payment_methods", json={
            "customer": customer["id"], "token": "pm_1Pgc75B7WZ01zgkWlHVgdEGJ"}))
        assert (method["gateway"], method["card"]["brand"], method["card"]["last4"]) == (
            "stripe", "visa", "4242")
        sub = subscribe(api, customer["id"], create_price(api, 4900)["id"])
        invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
        assert invoice["status"] == "paid"
        [payment] = ok(api.get("/v1/payments", params={"invoice": invoice["id"]}))["data"]
        assert (payment["gateway"], payment["gateway_reference"]) == ("stripe", PI)
        [sent] = stripe_api.sent("POST", "/v1/payment_intents")
        assert sent.headers["idempotency-key"] == f"{invoice['id']}:1"
        assert sent.body["off_session"] == "true" and sent.body["amount"] == "4900"

        # Stripe later reports the charge failed (e.g. a dispute-free reversal in testing):
        error = {"type": "card_error", "code": "card_declined",
                 "decline_code": "insufficient_funds", "message": "Your card has insufficient "
                 "funds."}
        event = stripe_object("event", id="evt_e2e_1", type="payment_intent.payment_failed",
                              data={"object": _intent("requires_payment_method",
                                                      last_payment_error=error)})
        body = json.dumps(event).encode()
        stamp = int(stripe_kassa.clock.now().timestamp())
        signature = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body,
                             hashlib.sha256).hexdigest()
        url = f"/webhooks/gateways/stripe/{org.organization.id}"
        receipt = ok(api.post(url, content=body, headers={
            "Stripe-Signature": f"t={stamp},v1={signature}", "Authorization": ""}))
        assert receipt["processed"] == 1
        returned = ok(api.get(f"/v1/payments/{payment['id']}"))
        assert (returned["status"], returned["failure"]["decline_code"]) == (
            "returned", "insufficient_funds")
        assert ok(api.get(f"/v1/invoices/{invoice['id']}"))["status"] == "open"
        forged = api.post(url, content=body, headers={
            "Stripe-Signature": f"t={stamp},v1={'0' * 64}", "Authorization": ""})
        assert forged.status_code == 401
