"""The Mollie gateway, driven through the official SDK against a local server that answers
with Mollie's own example responses (the SDK's test fixtures), changed per test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from kassa.adapters.gateways.base import GatewayError, SignatureError
from kassa.adapters.gateways.mollie import MollieGateway

from .fake_api import FakeAPI, mollie_response

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
CUSTOMER, MANDATE, PAYMENT = "cst_8wmqcHMN4U", "mdt_h3gAaD5zP", "tr_7UhSN1zuXS"
WEBHOOK = "https://kassa.example/v1/webhooks/mollie"


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI(content_type="application/hal+json") as server:
        yield server


@pytest.fixture
def gateway(api: FakeAPI) -> MollieGateway:
    return MollieGateway("test_kassa0000000000000000000000", base_url=api.url,
                         webhook_url=WEBHOOK)


def payment(status: str, **changes: Any) -> dict[str, Any]:
    """Mollie's example payment, without the example's chargeback unless a test adds one."""
    example = mollie_response("payment_single", status=status)
    example.pop("amountChargedBack")
    example["_links"].pop("chargebacks")
    return {**example, **changes}


def chargeback(code: str, description: str) -> dict[str, Any]:
    return mollie_response("payment_chargeback_single", amount={"currency": "EUR",
                                                                "value": "10.00"},
                           reason={"code": code, "description": description})


def charge(gateway: MollieGateway, **changes: Any) -> Any:
    args: dict[str, Any] = {
        "customer_ref": CUSTOMER, "method_ref": MANDATE, "amount": 1000, "currency": "EUR",
        "idempotency_key": "charge-inv-1", "description": "Invoice KA-0001",
        "metadata": {"invoice": "in_1"}}
    return gateway.charge(**{**args, **changes})


def webhook(gateway: MollieGateway, payment_id: str = PAYMENT) -> Any:
    return gateway.parse_webhook(body=f"id={payment_id}".encode(),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"},
                                 now=NOW)


# Customers, first payments and mandates

def test_create_customer_sends_the_idempotency_key(api: FakeAPI, gateway: MollieGateway) -> None:
    api.route("POST", "/v2/customers", (201, mollie_response("customer_new")))

    ref = gateway.create_customer(email="ada@example.com", name="Ada", idempotency_key="cus-k1")

    assert ref == CUSTOMER
    [sent] = api.sent("POST", "/v2/customers")
    assert sent.headers["idempotency-key"] == "cus-k1"
    assert sent.body == {"name": "Ada", "email": "ada@example.com"}
    assert sent.headers["authorization"] == "Bearer test_kassa0000000000000000000000"


def test_first_payment_returns_the_checkout_url(api: FakeAPI, gateway: MollieGateway) -> None:
    api.route("POST", "/v2/payments", (201, payment("open", sequenceType="first")))

    ref, url = gateway.first_payment(
        customer_ref=CUSTOMER, amount=1000, currency="EUR", description="Mandate for Ada",
        redirect_url="https://kassa.example/portal/return", idempotency_key="first-1")

    assert (ref, url) == (PAYMENT, "https://www.mollie.com/payscreen/select-method/7UhSN1zuXS")
    [sent] = api.sent("POST", "/v2/payments")
    assert sent.body == {
        "amount": {"currency": "EUR", "value": "10.00"}, "description": "Mandate for Ada",
        "sequenceType": "first", "customerId": CUSTOMER, "method": "ideal",
        "redirectUrl": "https://kassa.example/portal/return", "webhookUrl": WEBHOOK}
    assert sent.headers["idempotency-key"] == "first-1"


def test_sepa_mandate_becomes_sepa_debit_details(api: FakeAPI, gateway: MollieGateway) -> None:
    path = f"/v2/customers/{CUSTOMER}/mandates/{MANDATE}"
    api.route("GET", path, (200, mollie_response("customer_mandate_single")))

    method = gateway.attach_payment_method(customer_ref=CUSTOMER, token=MANDATE,
                                           idempotency_key="attach-1")

    assert (method.ref, method.type, method.last4, method.country, method.bank_code) == (
        MANDATE, "sepa_debit", "0000", "NL", "INGBNL2A")
    assert method.mandate_reference == "YOUR-COMPANY-MD1380"
    assert method.mandate_signed_at == datetime(2018, 5, 7, tzinfo=UTC)
    assert [r.path for r in api.requests] == [path]  # the customer itself is not fetched


def test_card_mandate_becomes_card_details(api: FakeAPI, gateway: MollieGateway) -> None:
    card = mollie_response("customer_mandate_single", method="creditcard", details={
        "cardHolder": "Ada Lovelace", "cardNumber": "6787", "cardLabel": "American Express",
        "cardFingerprint": "Jw9yb5Rk3cGUe1dV", "cardExpiryDate": "2029-12-31"})
    api.route("GET", f"/v2/customers/{CUSTOMER}/mandates/{MANDATE}", (200, card))

    method = gateway.attach_payment_method(customer_ref=CUSTOMER, token=MANDATE,
                                           idempotency_key="attach-2")

    assert (method.type, method.brand, method.last4) == ("card", "amex", "6787")
    assert (method.exp_month, method.exp_year) == (12, 2029)
    assert method.fingerprint == "Jw9yb5Rk3cGUe1dV"


def test_detach_revokes_the_mandate(api: FakeAPI, gateway: MollieGateway) -> None:
    path = f"/v2/customers/{CUSTOMER}/mandates/{MANDATE}"
    api.route("DELETE", path, (204, None))

    gateway.detach_payment_method(method_ref=MANDATE, customer_ref=CUSTOMER)

    assert len(api.sent("DELETE", path)) == 1


def test_detach_without_the_customer_is_refused(gateway: MollieGateway) -> None:
    with pytest.raises(GatewayError, match="customer"):
        gateway.detach_payment_method(method_ref=MANDATE)


# Recurring charges

def test_paid_recurring_charge_succeeds(api: FakeAPI, gateway: MollieGateway) -> None:
    api.route("POST", "/v2/payments", (201, payment("paid", paidAt="2026-01-01T09:00:00+00:00")))

    result = charge(gateway)

    assert (result.ref, result.status, result.amount, result.currency) == (
        PAYMENT, "succeeded", 1000, "eur")
    [sent] = api.sent("POST", "/v2/payments")
    assert sent.body == {
        "amount": {"currency": "EUR", "value": "10.00"}, "description": "Invoice KA-0001",
        "sequenceType": "recurring", "customerId": CUSTOMER, "mandateId": MANDATE,
        "metadata": {"invoice": "in_1"}, "webhookUrl": WEBHOOK}
    assert sent.headers["idempotency-key"] == "charge-inv-1"


def test_pending_sepa_debit_is_processing(api: FakeAPI, gateway: MollieGateway) -> None:
    api.route("POST", "/v2/payments", (201, payment("pending", method="directdebit")))

    assert charge(gateway).status == "processing"


@pytest.mark.parametrize(("details", "code", "kind"), [
    ({"bankReasonCode": "AM04", "bankReason": "Insufficient funds"}, "AM04", "soft"),
    ({"bankReasonCode": "MD01", "bankReason": "No mandate"}, "MD01", "hard"),
    ({"failureReason": "insufficient_funds", "failureMessage": "Not enough money"},
     "insufficient_funds", "soft"),
    ({"failureReason": "possible_fraud"}, "fraudulent", "hard"),
])
def test_failed_recurring_charge_carries_the_reason(
        api: FakeAPI, gateway: MollieGateway, details: dict[str, str], code: str,
        kind: str) -> None:
    api.route("POST", "/v2/payments", (201, payment("failed", details=details)))

    result = charge(gateway)

    assert (result.status, result.decline_code, result.decline_type) == ("failed", code, kind)


@pytest.mark.parametrize(("amount", "currency", "value"), [
    (1000, "EUR", "10.00"), (5, "EUR", "0.05"), (500, "JPY", "500"), (1234, "KWD", "1.234")])
def test_amounts_go_to_mollie_as_exact_strings(api: FakeAPI, gateway: MollieGateway,
                                               amount: int, currency: str, value: str) -> None:
    money = {"currency": currency, "value": value}
    api.route("POST", "/v2/payments", (201, payment("paid", amount=money)))

    result = charge(gateway, amount=amount, currency=currency)

    assert api.sent("POST", "/v2/payments")[0].body["amount"] == money
    assert (result.amount, result.currency) == (amount, currency.lower())


def test_retrieve_sees_a_chargeback_as_a_returned_debit(api: FakeAPI,
                                                        gateway: MollieGateway) -> None:
    returned = payment("paid", amountChargedBack={"currency": "EUR", "value": "10.00"},
                       _embedded={"chargebacks": [chargeback("MD06", "Refund request")]})
    api.route("GET", f"/v2/payments/{PAYMENT}", (200, returned))

    result = gateway.retrieve_charge(charge_ref=PAYMENT, now=NOW)

    assert (result.status, result.decline_code, result.message) == (
        "failed", "MD06", "Refund request")
    assert api.sent("GET", f"/v2/payments/{PAYMENT}")[0].query == {"embed": "chargebacks"}


def test_server_error_is_retryable(api: FakeAPI, gateway: MollieGateway) -> None:
    api.route("POST", "/v2/payments", (500, {"status": 500, "title": "Internal Server Error",
                                             "detail": "Something went wrong"}))

    with pytest.raises(GatewayError) as raised:
        charge(gateway)

    assert raised.value.retryable


def test_rejected_request_is_not_retryable(api: FakeAPI, gateway: MollieGateway) -> None:
    api.route("POST", "/v2/payments", (422, mollie_response("payment_rejected")))

    with pytest.raises(GatewayError) as raised:
        charge(gateway, amount=10**9)

    assert (raised.value.retryable, raised.value.code) == (False, "422")


# Refunds

def test_refund_is_created_on_the_payment(api: FakeAPI, gateway: MollieGateway) -> None:
    path = f"/v2/payments/{PAYMENT}/refunds"
    api.route("POST", path, (201, mollie_response("refund_single")))

    result = gateway.refund(charge_ref=PAYMENT, amount=595, currency="EUR",
                            idempotency_key="refund-1", reason="One photo book out of stock")

    assert (result.ref, result.status, result.amount) == ("re_4qqhO89gsT", "pending", 595)
    [sent] = api.sent("POST", path)
    assert sent.body == {"amount": {"currency": "EUR", "value": "5.95"},
                         "description": "One photo book out of stock"}
    assert sent.headers["idempotency-key"] == "refund-1"
    assert [r.path for r in api.requests] == [path]  # the payment itself is not fetched


# Webhooks

def test_webhook_for_an_unknown_payment_is_refused(api: FakeAPI, gateway: MollieGateway) -> None:
    missing = mollie_response("customer_doesnotexist",
                              detail="No payment exists with token tr_unknown1.")
    api.route("GET", "/v2/payments/tr_unknown1", (404, missing))

    with pytest.raises(SignatureError):
        webhook(gateway, "tr_unknown1")


def test_webhook_without_a_payment_id_is_refused(api: FakeAPI, gateway: MollieGateway) -> None:
    with pytest.raises(SignatureError):
        gateway.parse_webhook(body=b"hello=1", headers={}, now=NOW)
    assert api.requests == []


def test_webhook_is_verified_by_fetching_the_payment(api: FakeAPI,
                                                     gateway: MollieGateway) -> None:
    api.route("GET", f"/v2/payments/{PAYMENT}", (200, payment(
        "paid", sequenceType="first", paidAt="2026-01-01T08:59:00+00:00")))

    [event] = webhook(gateway)

    assert (event.type, event.charge_ref, event.method_ref) == (
        "payment.succeeded", PAYMENT, MANDATE)
    assert (event.amount, event.currency) == (1000, "eur")
    assert event.created == datetime(2026, 1, 1, 8, 59, tzinfo=UTC)
    assert api.sent("GET", f"/v2/payments/{PAYMENT}")[0].query == {
        "embed": "refunds,chargebacks"}


def test_replayed_webhook_gives_the_same_event_ids(api: FakeAPI,
                                                   gateway: MollieGateway) -> None:
    api.route("GET", f"/v2/payments/{PAYMENT}", (200, payment("paid")))

    first, again = webhook(gateway), webhook(gateway)

    assert [e.id for e in first] == [e.id for e in again] == [f"{PAYMENT}:paid"]


def test_webhook_for_a_failed_payment(api: FakeAPI, gateway: MollieGateway) -> None:
    api.route("GET", f"/v2/payments/{PAYMENT}", (200, payment(
        "failed", details={"bankReasonCode": "AC04", "bankReason": "Account closed"})))

    [event] = webhook(gateway)

    assert (event.id, event.type, event.decline_code, event.decline_type) == (
        f"{PAYMENT}:failed", "payment.failed", "AC04", "hard")


def test_webhook_for_a_chargeback_reports_the_return(api: FakeAPI,
                                                     gateway: MollieGateway) -> None:
    returned = payment("paid", amountChargedBack={"currency": "EUR", "value": "10.00"},
                       _embedded={"chargebacks": [chargeback("AM04", "Insufficient funds")]})
    api.route("GET", f"/v2/payments/{PAYMENT}", (200, returned))

    paid, returned_event = webhook(gateway)

    assert paid.id == f"{PAYMENT}:paid"  # already processed: a no-op
    assert (returned_event.id, returned_event.type) == (
        f"{PAYMENT}:returned:chb_n9z0tp", "payment.returned")
    assert (returned_event.reason, returned_event.decline_type, returned_event.amount) == (
        "AM04", "soft", 1000)


def test_webhook_for_a_settled_refund(api: FakeAPI, gateway: MollieGateway) -> None:
    refund = mollie_response("refund_single", status="refunded")
    api.route("GET", f"/v2/payments/{PAYMENT}", (200, payment(
        "paid", amountRefunded={"currency": "EUR", "value": "5.95"},
        _embedded={"refunds": [refund]})))

    _, event = webhook(gateway)

    assert (event.id, event.type, event.refund_ref, event.amount) == (
        f"{PAYMENT}:re_4qqhO89gsT:succeeded", "refund.succeeded", "re_4qqhO89gsT", 595)
