"""The Stripe gateway, driven through the official SDK against a local server that answers
with Stripe's own example objects (fixtures3.json), changed per test."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kassa.adapters.gateways.base import GatewayError, SignatureError
from kassa.adapters.gateways.stripe import StripeGateway

from .fake_api import FakeAPI, stripe_object

SECRET = "whsec_kassa_test"
NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
PI = "pi_3KassaTest0001"


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


@pytest.fixture
def gateway(api: FakeAPI) -> StripeGateway:
    return StripeGateway("sk_test_kassa", webhook_secret=SECRET, base_url=api.url,
                         max_network_retries=0)


def intent(status: str, **changes: Any) -> dict[str, Any]:
    fields = {"id": PI, "status": status, "amount": 2500, "currency": "eur",
              "customer": "cus_QXg1o8vcGmoR32", "payment_method": "pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
              "last_payment_error": None, "next_action": None}
    return stripe_object("payment_intent", **{**fields, **changes})


def card_error(code: str, decline_code: str | None, message: str) -> tuple[int, Any]:
    """Stripe's 402 for an off-session confirmation the issuer refused."""
    error = {"type": "card_error", "code": code, "decline_code": decline_code,
             "message": message, "charge": "ch_1PgafuB7WZ01zgkWXYmPNZs8"}
    failed = intent("requires_payment_method", last_payment_error=error)
    return 402, {"error": {**error, "payment_intent": failed}}


def charge(gateway: StripeGateway, **changes: Any) -> Any:
    args: dict[str, Any] = {
        "customer_ref": "cus_QXg1o8vcGmoR32", "method_ref": "pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
        "amount": 2500, "currency": "EUR", "idempotency_key": "charge-inv-1",
        "description": "Invoice KA-0001", "metadata": {"invoice": "in_1"}}
    return gateway.charge(**{**args, **changes})


# Customers and payment methods

def test_create_customer_sends_the_idempotency_key(api: FakeAPI, gateway: StripeGateway) -> None:
    api.route("POST", "/v1/customers", (200, stripe_object("customer")))

    ref = gateway.create_customer(email="ada@example.com", name="Ada", idempotency_key="cus-k1")

    assert ref == "cus_QXg1o8vcGmoR32"
    [sent] = api.sent("POST", "/v1/customers")
    assert sent.headers["idempotency-key"] == "cus-k1"
    assert sent.body == {"email": "ada@example.com", "name": "Ada"}
    assert sent.headers["authorization"] == "Bearer sk_test_kassa"


def test_attaching_a_card_keeps_display_data_only(api: FakeAPI, gateway: StripeGateway) -> None:
    path = "/v1/payment_methods/pm_1Pgc75B7WZ01zgkWlHVgdEGJ/attach"
    api.route("POST", path, (200, stripe_object("payment_method", customer="cus_1")))

    method = gateway.attach_payment_method(customer_ref="cus_1",
                                           token="pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
                                           idempotency_key="attach-1")

    assert (method.ref, method.type, method.brand, method.last4) == (
        "pm_1Pgc75B7WZ01zgkWlHVgdEGJ", "card", "visa", "4242")
    assert (method.exp_month, method.exp_year, method.country) == (8, 2030, "US")
    assert method.fingerprint == "AOB934RVNwzk6xtn"
    [sent] = api.sent("POST", path)
    assert sent.body == {"customer": "cus_1"}
    assert sent.headers["idempotency-key"] == "attach-1"


def test_attaching_a_sepa_debit_reads_the_signed_mandate(api: FakeAPI,
                                                         gateway: StripeGateway) -> None:
    account = {"bank_code": "37040044", "branch_code": "", "country": "DE",
               "fingerprint": "FxA9mHT3sN1aZCxY", "last4": "3000", "generated_from": None}
    sepa = stripe_object("payment_method", id="pm_sepa_1", type="sepa_debit", card=None,
                         sepa_debit=account)
    mandate = stripe_object("mandate", payment_method="pm_sepa_1")
    setup = stripe_object("setup_intent", status="succeeded", payment_method="pm_sepa_1",
                          mandate=mandate, last_setup_error=None, next_action=None)
    api.route("POST", "/v1/payment_methods/pm_sepa_1/attach", (200, sepa))
    api.route("GET", "/v1/setup_intents", (200, {
        "object": "list", "url": "/v1/setup_intents", "has_more": False, "data": [setup]}))

    method = gateway.attach_payment_method(customer_ref="cus_1", token="pm_sepa_1",
                                           idempotency_key="attach-2")

    assert (method.type, method.last4, method.country, method.bank_code) == (
        "sepa_debit", "3000", "DE", "37040044")
    assert method.fingerprint == "FxA9mHT3sN1aZCxY"
    assert method.mandate_reference == "123456789"
    assert method.mandate_signed_at == datetime.fromtimestamp(123456789, UTC)
    [listed] = api.sent("GET", "/v1/setup_intents")
    assert listed.query["payment_method"] == "pm_sepa_1"
    assert listed.query["expand[0]"] == "data.mandate"


def test_detach_posts_to_the_payment_method(api: FakeAPI, gateway: StripeGateway) -> None:
    api.route("POST", "/v1/payment_methods/pm_1/detach",
              (200, stripe_object("payment_method", id="pm_1")))

    gateway.detach_payment_method(method_ref="pm_1")

    assert len(api.sent("POST", "/v1/payment_methods/pm_1/detach")) == 1


# Charges

def test_succeeded_charge_confirms_off_session(api: FakeAPI, gateway: StripeGateway) -> None:
    api.route("POST", "/v1/payment_intents", (200, intent("succeeded")))

    result = charge(gateway)

    assert (result.ref, result.status, result.amount, result.currency) == (
        PI, "succeeded", 2500, "eur")
    [sent] = api.sent("POST", "/v1/payment_intents")
    assert sent.headers["idempotency-key"] == "charge-inv-1"
    assert sent.body["confirm"] == "true" and sent.body["off_session"] == "true"
    assert (sent.body["amount"], sent.body["currency"]) == ("2500", "eur")
    assert sent.body["customer"] == "cus_QXg1o8vcGmoR32"
    assert sent.body["payment_method"] == "pm_1Pgc75B7WZ01zgkWlHVgdEGJ"
    assert sent.body["metadata[invoice]"] == "in_1"
    assert sent.body["description"] == "Invoice KA-0001"


def test_insufficient_funds_is_a_soft_decline(api: FakeAPI, gateway: StripeGateway) -> None:
    api.route("POST", "/v1/payment_intents", card_error(
        "card_declined", "insufficient_funds", "Your card has insufficient funds."))

    result = charge(gateway)

    assert (result.ref, result.status) == (PI, "failed")
    assert (result.decline_code, result.decline_type) == ("insufficient_funds", "soft")
    assert result.message == "Your card has insufficient funds."


def test_stolen_card_is_a_hard_decline(api: FakeAPI, gateway: StripeGateway) -> None:
    api.route("POST", "/v1/payment_intents",
              card_error("card_declined", "stolen_card", "Your card was declined."))

    result = charge(gateway)

    assert (result.status, result.decline_code, result.decline_type) == (
        "failed", "stolen_card", "hard")


def test_authentication_required_asks_for_the_customer(api: FakeAPI,
                                                       gateway: StripeGateway) -> None:
    api.route("POST", "/v1/payment_intents", card_error(
        "authentication_required", "authentication_required",
        "Your card was declined. This transaction requires authentication."))

    result = charge(gateway)

    assert (result.ref, result.status) == (PI, "requires_action")
    assert result.decline_code == "authentication_required"


def test_requires_action_gives_the_redirect_url(api: FakeAPI, gateway: StripeGateway) -> None:
    redirect = {"type": "redirect_to_url", "redirect_to_url": {
        "url": "https://hooks.stripe.com/3d_secure_2/hosted?x=1",
        "return_url": "https://kassa.example/return"}}
    api.route("POST", "/v1/payment_intents", (200, intent("requires_action",
                                                          next_action=redirect)))

    result = charge(gateway)

    assert result.status == "requires_action"
    assert result.next_action_url == "https://hooks.stripe.com/3d_secure_2/hosted?x=1"


def test_sepa_debit_charge_is_processing(api: FakeAPI, gateway: StripeGateway) -> None:
    api.route("POST", "/v1/payment_intents", (200, intent(
        "processing", payment_method_types=["sepa_debit"], processing=None)))

    result = charge(gateway, method_ref="pm_sepa_1")

    assert (result.status, result.decline_code) == ("processing", None)


def test_isk_amounts_go_to_stripe_with_two_zero_decimals(api: FakeAPI,
                                                         gateway: StripeGateway) -> None:
    api.route("POST", "/v1/payment_intents",
              (200, intent("succeeded", amount=50000, currency="isk")))

    result = charge(gateway, amount=500, currency="ISK")

    assert api.sent("POST", "/v1/payment_intents")[0].body["amount"] == "50000"
    assert result.amount == 500


def test_retrieving_a_failed_charge_reads_the_last_payment_error(
        api: FakeAPI, gateway: StripeGateway) -> None:
    error = {"type": "card_error", "code": "card_declined", "decline_code": "do_not_honor",
             "message": "Your card was declined."}
    api.route("GET", f"/v1/payment_intents/{PI}",
              (200, intent("requires_payment_method", last_payment_error=error)))

    result = gateway.retrieve_charge(charge_ref=PI, now=NOW)

    assert (result.status, result.decline_code, result.decline_type) == (
        "failed", "do_not_honor", "hard")


def test_retrieving_a_settled_sepa_debit(api: FakeAPI, gateway: StripeGateway) -> None:
    api.route("GET", f"/v1/payment_intents/{PI}", (200, intent("succeeded")))

    assert gateway.retrieve_charge(charge_ref=PI, now=NOW).status == "succeeded"


def test_server_error_is_retryable(api: FakeAPI, gateway: StripeGateway) -> None:
    api.route("POST", "/v1/payment_intents",
              (500, {"error": {"type": "api_error", "message": "Something went wrong."}}))

    with pytest.raises(GatewayError) as raised:
        charge(gateway)

    assert raised.value.retryable


def test_the_sdk_retries_a_server_error_with_the_same_idempotency_key(api: FakeAPI) -> None:
    gateway = StripeGateway("sk_test_kassa", webhook_secret=SECRET, base_url=api.url,
                            max_network_retries=1)
    api.route("POST", "/v1/payment_intents",
              (500, {"error": {"type": "api_error", "message": "Something went wrong."}}),
              (200, intent("succeeded")))

    assert charge(gateway).status == "succeeded"
    keys = [r.headers["idempotency-key"] for r in api.sent("POST", "/v1/payment_intents")]
    assert keys == ["charge-inv-1", "charge-inv-1"]


def test_invalid_request_is_not_retryable(api: FakeAPI, gateway: StripeGateway) -> None:
    api.route("POST", "/v1/payment_intents", (400, {"error": {
        "type": "invalid_request_error", "code": "resource_missing", "param": "payment_method",
        "message": "No such PaymentMethod: 'pm_gone'"}}))

    with pytest.raises(GatewayError) as raised:
        charge(gateway, method_ref="pm_gone")

    assert (raised.value.retryable, raised.value.code) == (False, "resource_missing")


# Refunds

def test_refund_sends_stripes_reason_and_maps_the_status(api: FakeAPI,
                                                        gateway: StripeGateway) -> None:
    api.route("POST", "/v1/refunds", (200, stripe_object(
        "refund", payment_intent=PI, amount=1000, currency="eur", status="pending")))

    result = gateway.refund(charge_ref=PI, amount=1000, currency="EUR",
                            idempotency_key="refund-1", reason="requested_by_customer")

    assert (result.ref, result.status, result.amount) == (
        "re_1Pgc72B7WZ01zgkWqPvrRrPE", "pending", 1000)
    [sent] = api.sent("POST", "/v1/refunds")
    assert sent.body == {"payment_intent": PI, "amount": "1000",
                         "reason": "requested_by_customer"}
    assert sent.headers["idempotency-key"] == "refund-1"


def test_refund_reason_stripe_does_not_know_goes_to_metadata(api: FakeAPI,
                                                             gateway: StripeGateway) -> None:
    api.route("POST", "/v1/refunds", (200, stripe_object("refund", payment_intent=PI)))

    result = gateway.refund(charge_ref=PI, amount=100, currency="USD",
                            idempotency_key="refund-2", reason="service_outage")

    assert result.status == "succeeded"
    body = api.sent("POST", "/v1/refunds")[0].body
    assert "reason" not in body and body["metadata[kassa_reason]"] == "service_outage"


# Webhooks

def signed(event: dict[str, Any], *, at: datetime = NOW,
           secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    """The body and headers Stripe sends: v1 = HMAC-SHA256 of "{t}.{body}"."""
    body = json.dumps(event).encode()
    timestamp = int(at.timestamp())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                         hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={timestamp},v1={signature}"}


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return stripe_object("event", id="evt_kassa_1", type=kind, data={"object": obj})


def test_webhook_with_a_correct_signature_is_normalized(gateway: StripeGateway) -> None:
    body, headers = signed(event("payment_intent.succeeded", intent("succeeded")))

    [normalized] = gateway.parse_webhook(body=body, headers=headers, now=NOW)

    assert (normalized.id, normalized.type, normalized.charge_ref) == (
        "evt_kassa_1", "payment.succeeded", PI)
    assert (normalized.amount, normalized.currency) == (2500, "eur")
    assert normalized.created == datetime.fromtimestamp(1234567890, UTC)


def test_webhook_signed_with_another_secret_is_refused(gateway: StripeGateway) -> None:
    body, headers = signed(event("payment_intent.succeeded", intent("succeeded")),
                           secret="whsec_someone_else")

    with pytest.raises(SignatureError):
        gateway.parse_webhook(body=body, headers=headers, now=NOW)


def test_webhook_with_a_tampered_body_is_refused(gateway: StripeGateway) -> None:
    body, headers = signed(event("payment_intent.succeeded", intent("succeeded")))

    with pytest.raises(SignatureError):
        gateway.parse_webhook(body=body.replace(b"2500", b"9500"), headers=headers, now=NOW)


def test_webhook_signed_long_ago_is_refused(gateway: StripeGateway) -> None:
    body, headers = signed(event("payment_intent.succeeded", intent("succeeded")),
                           at=NOW - timedelta(minutes=6))

    with pytest.raises(SignatureError, match="too old"):
        gateway.parse_webhook(body=body, headers=headers, now=NOW)
    assert gateway.parse_webhook(body=body, headers=headers, now=NOW - timedelta(minutes=2))


def test_webhook_without_a_signature_is_refused(gateway: StripeGateway) -> None:
    body, _ = signed(event("payment_intent.succeeded", intent("succeeded")))

    with pytest.raises(SignatureError):
        gateway.parse_webhook(body=body, headers={}, now=NOW)


def test_signature_header_name_is_case_insensitive(gateway: StripeGateway) -> None:
    body, headers = signed(event("payment_intent.processing", intent("processing")))

    [normalized] = gateway.parse_webhook(
        body=body, headers={"stripe-signature": headers["Stripe-Signature"]}, now=NOW)

    assert normalized.type == "payment.processing"


def test_payment_failed_event_carries_the_decline(gateway: StripeGateway) -> None:
    error = {"type": "card_error", "code": "card_declined", "decline_code": "lost_card",
             "message": "Your card was declined."}
    body, headers = signed(event("payment_intent.payment_failed",
                                 intent("requires_payment_method", last_payment_error=error)))

    [normalized] = gateway.parse_webhook(body=body, headers=headers, now=NOW)

    assert (normalized.type, normalized.charge_ref) == ("payment.failed", PI)
    assert (normalized.decline_code, normalized.decline_type) == ("lost_card", "hard")


def test_dispute_created_points_at_the_payment_intent(gateway: StripeGateway) -> None:
    dispute = stripe_object("dispute", payment_intent=PI, currency="eur")
    body, headers = signed(event("charge.dispute.created", dispute))

    [normalized] = gateway.parse_webhook(body=body, headers=headers, now=NOW)

    assert (normalized.type, normalized.dispute_ref, normalized.charge_ref) == (
        "dispute.created", "dp_1Pgc71B7WZ01zgkWMevJiAUx", PI)
    assert (normalized.amount, normalized.reason, normalized.status) == (
        1000, "general", "warning_needs_response")


def test_refund_event_is_normalized(gateway: StripeGateway) -> None:
    body, headers = signed(event("refund.updated", stripe_object("refund", payment_intent=PI)))

    [normalized] = gateway.parse_webhook(body=body, headers=headers, now=NOW)

    assert (normalized.type, normalized.refund_ref, normalized.charge_ref) == (
        "refund.succeeded", "re_1Pgc72B7WZ01zgkWqPvrRrPE", PI)


def test_inactive_mandate_means_revoked(gateway: StripeGateway) -> None:
    mandate = stripe_object("mandate", status="inactive", payment_method="pm_sepa_1")
    body, headers = signed(event("mandate.updated", mandate))

    [normalized] = gateway.parse_webhook(body=body, headers=headers, now=NOW)

    assert (normalized.type, normalized.method_ref) == ("mandate.revoked", "pm_sepa_1")


def test_a_card_updated_by_the_network_carries_its_new_expiry(gateway: StripeGateway) -> None:
    card = stripe_object("payment_method")
    card["card"] = {**card["card"], "exp_month": 11, "exp_year": 2031, "last4": "0077"}
    body, headers = signed(event("payment_method.automatically_updated", card))

    [normalized] = gateway.parse_webhook(body=body, headers=headers, now=NOW)

    assert (normalized.type, normalized.method_ref) == ("payment_method.updated", card["id"])
    assert normalized.method is not None
    assert (normalized.method.exp_month, normalized.method.exp_year,
            normalized.method.last4) == (11, 2031, "0077")


def test_events_kassa_does_not_act_on_are_ignored(gateway: StripeGateway) -> None:
    body, headers = signed(stripe_object("event"))  # the example is a plan.created

    assert gateway.parse_webhook(body=body, headers=headers, now=NOW) == []
