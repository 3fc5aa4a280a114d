"""Automatic collection through the sandbox gateway, end to end through the API and a test
clock: a card that pays, soft and hard declines, 3-D Secure, a SEPA debit returned AM04 by the
bank (the invoice reopens), and payments recorded by hand."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.helpers import (
    advance,
    assert_error,
    create_clock,
    create_customer,
    create_price,
    invoices_of,
    ok,
    subscribe,
    ts,
)
from kassa.config import Kassa

DAY = 86400


def _customer_with(api: TestClient, token: str, **fields: Any) -> dict[str, Any]:
    customer = create_customer(api, **fields)
    method = ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                                      "token": token}))
    assert method["customer"] == customer["id"]
    return customer


def _payments(api: TestClient, invoice: str) -> list[dict[str, Any]]:
    return list(reversed(ok(api.get("/v1/payments", params={"invoice": invoice}))["data"]))


def _kinds(api: TestClient, customer: str) -> list[str]:
    rows = ok(api.get("/v1/email_messages", params={"customer": customer}))["data"]
    return sorted(row["kind"] for row in rows)


def test_a_card_pays_the_first_invoice_at_once(api: TestClient) -> None:
    customer = create_customer(api)
    method = ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                                      "token": "pm_card_visa"}))
    assert method["card"]["brand"] == "visa" and method["card"]["last4"] == "4242"
    assert method["card"]["expiry"] == "valid" and "number" not in method["card"]

    sub = subscribe(api, customer["id"], create_price(api, 2500)["id"])

    assert sub["status"] == "active"
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    assert (invoice["status"], invoice["amount_paid"], invoice["amount_remaining"]) == (
        "paid", 2500, 0)
    [payment] = _payments(api, invoice["id"])
    assert (payment["status"], payment["amount"], payment["method_type"], payment["gateway"],
            payment["attempt"]) == ("succeeded", 2500, "card", "sandbox", 1)
    assert payment["gateway_reference"].startswith("ch_sbx_")
    assert _kinds(api, customer["id"]) == ["invoice_issued", "payment_receipt"]


def test_a_soft_decline_leaves_the_invoice_open_and_the_renewal_past_due(
        api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 1, 1))
    customer = _customer_with(api, "pm_card_visa", test_clock=clock["id"])
    sub = subscribe(api, customer["id"], create_price(api, 2500)["id"])
    assert sub["status"] == "active"
    declining = ok(api.post("/v1/payment_methods", json={
        "customer": customer["id"], "token": "pm_card_chargeDeclinedInsufficientFunds",
        "set_default": True}))

    advance(api, clock["id"], ts(2026, 2, 1, 1))

    renewal = invoices_of(api, customer["id"])[-1]
    assert (renewal["status"], renewal["amount_remaining"]) == ("open", 2500)
    [payment] = _payments(api, renewal["id"])
    assert payment["payment_method"] == declining["id"]
    assert payment["status"] == "failed"
    assert payment["failure"]["decline_code"] == "insufficient_funds"
    assert payment["failure"]["type"] == "soft"
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "past_due"
    assert "payment_failed" in _kinds(api, customer["id"])

    # A working card, made the default, is tried at once and restores the subscription.
    visa = ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                                    "token": "pm_card_mastercard"}))
    ok(api.post(f"/v1/payment_methods/{visa['id']}/make_default"))
    advance(api, clock["id"], ts(2026, 2, 1, 2))
    assert ok(api.get(f"/v1/invoices/{renewal['id']}"))["status"] == "paid"
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "active"
    assert [p["status"] for p in _payments(api, renewal["id"])] == ["failed", "succeeded"]


def test_a_hard_decline_is_marked_hard_and_pay_answers_402(api: TestClient) -> None:
    customer = _customer_with(api, "pm_card_chargeDeclinedStolenCard")
    sub = subscribe(api, customer["id"], create_price(api)["id"])
    invoice = sub["latest_invoice"]
    [payment] = _payments(api, invoice)
    assert payment["failure"] == {"decline_code": "stolen_card", "type": "hard",
                                  "message": payment["failure"]["message"]}

    error = assert_error(api.post(f"/v1/invoices/{invoice}/pay"), 402,
                         code="stolen_card", type_="card_error")
    assert error["message"]
    assert [p["attempt"] for p in _payments(api, invoice)] == [1, 2]
    assert ok(api.get(f"/v1/invoices/{invoice}"))["status"] == "open"


def test_three_d_secure_waits_for_the_customer(api: TestClient, kassa: Kassa) -> None:
    customer = _customer_with(api, "pm_card_authenticationRequired")
    invoice = subscribe(api, customer["id"], create_price(api)["id"])["latest_invoice"]
    [payment] = _payments(api, invoice)
    assert payment["status"] == "requires_action"
    assert payment["next_action"]["url"].startswith(kassa.settings.public_url)
    assert ok(api.get(f"/v1/invoices/{invoice}"))["status"] == "open"
    assert_error(api.post(f"/v1/invoices/{invoice}/pay"), 400,
                 code="invoice_payment_in_progress")


def test_a_sepa_debit_settles_then_is_returned_am04_and_the_invoice_reopens(
        api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 3, 2))
    customer = _customer_with(api, "pm_sepa_debit_returned_AM04", test_clock=clock["id"])
    method = ok(api.get("/v1/payment_methods", params={"customer": customer["id"]}))["data"][0]
    assert method["type"] == "sepa_debit" and method["sepa_debit"]["mandate_reference"]
    invoice = subscribe(api, customer["id"], create_price(api, 4900)["id"])["latest_invoice"]
    assert [p["status"] for p in _payments(api, invoice)] == ["processing"]
    assert ok(api.get(f"/v1/invoices/{invoice}"))["status"] == "open"

    advance(api, clock["id"], ts(2026, 3, 4, 12))  # settled on day 2
    assert ok(api.get(f"/v1/invoices/{invoice}"))["status"] == "paid"

    advance(api, clock["id"], ts(2026, 3, 5, 12))  # returned by the bank on day 3
    [payment] = _payments(api, invoice)
    assert (payment["status"], payment["return_reason"]) == ("returned", "AM04")
    reopened = ok(api.get(f"/v1/invoices/{invoice}"))
    assert (reopened["status"], reopened["amount_paid"], reopened["amount_remaining"]) == (
        "open", 0, 4900)
    # dunning takes it from there: a new debit the next morning (services/dunning.py)
    [case] = ok(api.get("/v1/dunning_cases", params={"invoice": invoice}))["data"]
    assert (case["decline_code"], case["payment_method_type"]) == ("AM04", "sepa_debit")
    assert case["next_retry_at"] > payment["returned_at"]


def test_payments_recorded_by_hand_pay_in_parts(api: TestClient) -> None:
    customer = create_customer(api)
    invoice = subscribe(api, customer["id"], create_price(api, 10000)["id"],
                        collection_method="send_invoice", days_until_due=14)["latest_invoice"]
    first = ok(api.post("/v1/payments", json={"invoice": invoice, "amount": 4000,
                                              "method": "bank_transfer",
                                              "reference": "transfer 1"}))
    assert (first["status"], first["method_type"]) == ("succeeded", "bank_transfer")
    partly = ok(api.get(f"/v1/invoices/{invoice}"))
    assert (partly["status"], partly["amount_paid"], partly["amount_remaining"]) == (
        "open", 4000, 6000)
    assert_error(api.post("/v1/payments", json={"invoice": invoice, "amount": 6001}), 400,
                 param="amount")
    ok(api.post("/v1/payments", json={"invoice": invoice}))  # the rest
    paid = ok(api.get(f"/v1/invoices/{invoice}"))
    assert (paid["status"], paid["amount_paid"], paid["amount_remaining"]) == ("paid", 10000, 0)
    assert_error(api.post("/v1/payments", json={"invoice": invoice, "amount": 1}), 400,
                 param="invoice")


def test_a_detached_method_is_never_charged(api: TestClient) -> None:
    customer = _customer_with(api, "pm_card_visa")
    [method] = ok(api.get("/v1/payment_methods", params={"customer": customer["id"]}))["data"]
    ok(api.post(f"/v1/payment_methods/{method['id']}/detach"))
    assert_error(api.post(f"/v1/payment_methods/{method['id']}/detach"), 400,
                 code="payment_method_unexpected_state")
    invoice = subscribe(api, customer["id"], create_price(api)["id"])["latest_invoice"]
    assert _payments(api, invoice) == []
    assert_error(api.post(f"/v1/invoices/{invoice}/pay"), 400,
                 code="invoice_payment_method_missing")


def test_bad_tokens_and_other_tenants_are_refused(api: TestClient, other_org: Any) -> None:
    customer = create_customer(api)
    for token in ("pm_card_nonsense", "tok_forged.AAAA"):
        assert_error(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                                           "token": token}), 400,
                     param="token")
    assert_error(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                                       "token": "pm_card_visa",
                                                       "gateway": "stripe"}), 400,
                 code="gateway_unavailable")
    assert ok(api.get("/v1/payment_methods", params={"customer": customer["id"]}))["data"] == []
    other = {"Authorization": f"Bearer {other_org.secret_key}"}
    response = api.post("/v1/payment_methods", headers=other,
                        json={"customer": customer["id"], "token": "pm_card_visa"})
    assert response.status_code == 404


def test_payment_settings_are_checked_and_merged(api: TestClient) -> None:
    for bad, param in (({"refund_window_days": -1}, "payment_settings[refund_window_days]"),
                       ({"default_gateway": "paypal"}, "payment_settings[default_gateway]"),
                       ({"sepa_return_days": True}, "payment_settings[sepa_return_days]"),
                       ({"surprise": 1}, "payment_settings[surprise]")):
        assert_error(api.post("/v1/organization", json={"payment_settings": bad}), 400,
                     param=param)
    assert ok(api.get("/v1/organization"))["payment_settings"] == {
        "default_gateway": "sandbox", "refund_window_days": 30, "sepa_return_days": 14,
        "sepa_creditor_id": None}
    ok(api.post("/v1/organization", json={"payment_settings": {"refund_window_days": 60}}))
    ok(api.post("/v1/organization", json={"payment_settings": {"sepa_return_days": 20}}))
    assert ok(api.get("/v1/organization"))["payment_settings"] == {
        "default_gateway": "sandbox", "refund_window_days": 60, "sepa_return_days": 20,
        "sepa_creditor_id": None}


def test_a_card_that_has_expired_is_not_charged_but_declined_hard(
        api: TestClient, kassa: Kassa) -> None:
    clock = create_clock(api, ts(2026, 12, 10))
    customer = create_customer(api, test_clock=clock["id"])
    token = kassa.sandbox.tokenize_card("4242 4242 4242 4242", 12, 2026, "123",
                                        now=kassa.clock.now())
    method = ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                                      "token": token}))
    assert method["card"]["expiry"] == "expiring"
    sub = subscribe(api, customer["id"], create_price(api, 2500)["id"])
    assert sub["status"] == "active"

    advance(api, clock["id"], ts(2027, 1, 11))
    renewal = invoices_of(api, customer["id"])[-1]
    [payment] = _payments(api, renewal["id"])
    assert (payment["status"], payment["failure"]["decline_code"], payment["failure"]["type"],
            payment["gateway_reference"]) == ("failed", "expired_card", "hard", None)
    assert ok(api.get(f"/v1/payment_methods/{method['id']}"))["card"]["expiry"] == "expired"


def test_a_refused_pay_request_leaves_the_planned_retry(api: TestClient) -> None:
    customer = _customer_with(api, "pm_card_chargeDeclined")
    invoice = subscribe(api, customer["id"], create_price(api)["id"])["latest_invoice"]
    before = ok(api.get(f"/v1/invoices/{invoice}"))
    assert before["next_payment_attempt"] is not None  # dunning planned a retry
    [method] = ok(api.get("/v1/payment_methods", params={"customer": customer["id"]}))["data"]
    ok(api.post(f"/v1/payment_methods/{method['id']}/detach"))
    before = ok(api.get(f"/v1/invoices/{invoice}"))
    assert_error(api.post(f"/v1/invoices/{invoice}/pay"), 400,
                 code="invoice_payment_method_missing")
    assert ok(api.get(f"/v1/invoices/{invoice}")) == before  # a refused request writes nothing
