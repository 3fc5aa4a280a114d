"""Stripe: cards and SEPA Direct Debit through Stripe's official SDK.

The customer enters a card or an IBAN in Stripe Elements (usually confirming a SetupIntent),
which gives Kassa a PaymentMethod id (`pm_...`): that id is the token `attach_payment_method`
takes. Charges are PaymentIntents confirmed off-session; a SEPA debit stays `processing` until
the bank settles it.

Webhooks are verified per Stripe's documented scheme (`Stripe-Signature: t=...,v1=...`, an
HMAC-SHA256 of "t.payload" with the endpoint's secret) by the SDK's `WebhookSignature`, with
the age checked against Kassa's `now` rather than the SDK's wall clock.

This adapter is tested against a local HTTP server answering with Stripe's own example
objects (`fixtures3.json` from github.com/stripe/openapi), not against Stripe itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import stripe
from stripe.params import (
    CustomerCreateParams,
    PaymentIntentCreateParams,
    RefundCreateParams,
)

from kassa.adapters.gateways.base import (
    ChargeResult,
    EventType,
    GatewayError,
    GatewayEvent,
    MethodDetails,
    RefundResult,
    SignatureError,
    decline_type,
)
from kassa.core.money import exponent

WEBHOOK_TOLERANCE = timedelta(seconds=300)  # Stripe's default

# Stripe's minor units follow ISO 4217 except where Stripe keeps an older exponent for
# backwards compatibility (docs.stripe.com/currencies, "Special cases"): ISK amounts are
# sent with two decimals that are always 00.
_STRIPE_EXPONENT = {"isk": 2}

RefundStatus = Literal["succeeded", "pending", "failed"]

_REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})

_PAYMENT_EVENTS: dict[str, EventType] = {
    "payment_intent.succeeded": "payment.succeeded",
    "payment_intent.payment_failed": "payment.failed",
    "payment_intent.processing": "payment.processing",
    "payment_intent.requires_action": "payment.requires_action",
}
_DISPUTE_EVENTS: dict[str, EventType] = {
    "charge.dispute.created": "dispute.created",
    "charge.dispute.updated": "dispute.updated",
    "charge.dispute.closed": "dispute.closed",
}
_REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed",
                            "charge.refund.updated"})


class StripeGateway:
    name = "stripe"

    def __init__(self, api_key: str, *, webhook_secret: str, base_url: str | None = None,
                 max_network_retries: int = 2) -> None:
        # The SDK retries connection errors, 409s and 5xx with the same idempotency key,
        # which Stripe answers with the first outcome: safe for charges.
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": base_url} if base_url else None,
            max_network_retries=max_network_retries,
        )
        self._webhook_secret = webhook_secret

    def create_customer(self, *, email: str | None, name: str | None,
                        idempotency_key: str) -> str:
        params: CustomerCreateParams = {}
        if email is not None:
            params["email"] = email
        if name is not None:
            params["name"] = name
        with _translated_errors():
            customer = self._client.v1.customers.create(
                params, {"idempotency_key": idempotency_key})
        return customer.id

    def attach_payment_method(self, *, customer_ref: str, token: str,
                              idempotency_key: str) -> MethodDetails:
        with _translated_errors():
            method = self._client.v1.payment_methods.attach(
                token, {"customer": customer_ref}, {"idempotency_key": idempotency_key})
            mandate = self._mandate_of(method.id) if method.type == "sepa_debit" else None
        return _method_details(method.to_dict(), mandate)

    def detach_payment_method(self, *, method_ref: str, customer_ref: str | None = None) -> None:
        # `customer_ref` is not needed by Stripe; it is accepted for Mollie's sake.
        with _translated_errors():
            self._client.v1.payment_methods.detach(method_ref)

    def charge(self, *, customer_ref: str, method_ref: str, amount: int, currency: str,
               idempotency_key: str, description: str, metadata: Mapping[str, str],
               now: datetime | None = None) -> ChargeResult:
        params: PaymentIntentCreateParams = {
            "amount": _to_stripe(amount, currency),
            "currency": currency.lower(),
            "customer": customer_ref,
            "payment_method": method_ref,
            "confirm": True,
            "off_session": True,
            # Off-session there is no page to return to, so no redirect-based methods.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "description": description,
            "metadata": dict(metadata),
        }
        with _translated_errors():
            try:
                intent = self._client.v1.payment_intents.create(
                    params, {"idempotency_key": idempotency_key})
            except stripe.CardError as exc:  # a decline is an outcome, not an error
                return _declined(exc, amount, currency)
        return _charge_result(intent.to_dict())

    def retrieve_charge(self, *, charge_ref: str, now: datetime) -> ChargeResult:
        with _translated_errors():
            intent = self._client.v1.payment_intents.retrieve(charge_ref)
        return _charge_result(intent.to_dict())

    def refund(self, *, charge_ref: str, amount: int, currency: str, idempotency_key: str,
               reason: str | None) -> RefundResult:
        params: RefundCreateParams = {
            "payment_intent": charge_ref, "amount": _to_stripe(amount, currency)}
        if reason in _REFUND_REASONS:
            params["reason"] = reason
        elif reason:
            params["metadata"] = {"kassa_reason": reason}  # Stripe takes only three reasons
        with _translated_errors():
            refund = self._client.v1.refunds.create(params, {"idempotency_key": idempotency_key})
        return _refund_result(refund.to_dict())

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str],
                      now: datetime) -> list[GatewayEvent]:
        self._verify_signature(body, _header(headers, "Stripe-Signature"), now)
        event: dict[str, Any] = json.loads(body)
        return _normalize(event)

    def _verify_signature(self, body: bytes, header: str | None, now: datetime) -> None:
        # tolerance=None: the SDK checks only the HMAC; the age is checked against `now`.
        try:
            stripe.WebhookSignature.verify_header(body, header, self._webhook_secret, None)
        except stripe.SignatureVerificationError as exc:
            raise SignatureError(str(exc)) from exc
        assert header is not None  # verify_header refuses a missing header
        timestamp = int(next(p[2:] for p in header.split(",") if p.startswith("t=")))
        if datetime.fromtimestamp(timestamp, UTC) < now - WEBHOOK_TOLERANCE:
            raise SignatureError(f"Stripe webhook signed at {timestamp} is too old.")

    def _mandate_of(self, method_ref: str) -> dict[str, Any] | None:
        """The mandate the customer signed when setting up this SEPA method, if any."""
        intents = self._client.v1.setup_intents.list(
            {"payment_method": method_ref, "limit": 1, "expand": ["data.mandate"]})
        for intent in intents.data:
            if isinstance(intent.mandate, stripe.Mandate):
                return intent.mandate.to_dict()
        return None


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Stripe's exceptions as GatewayError; `retryable` when the same call may succeed."""
    try:
        yield
    except stripe.APIConnectionError as exc:
        raise GatewayError(f"Stripe could not be reached: {exc.user_message}",
                           code="api_connection_error", retryable=True) from exc
    except stripe.StripeError as exc:
        status = exc.http_status or 0
        retryable = (status >= 500 or status == 429 or exc.code == "lock_timeout")
        raise GatewayError(f"Stripe refused the request: {exc.user_message}",
                           code=exc.code, retryable=retryable) from exc


def _stripe_factor(currency: str) -> int:
    """Stripe's minor units per Kassa (ISO 4217) minor unit: 1, or 100 for ISK."""
    iso = exponent(currency)
    return int(10 ** (_STRIPE_EXPONENT.get(currency.lower(), iso) - iso))


def _to_stripe(amount: int, currency: str) -> int:
    return amount * _stripe_factor(currency)


def _from_stripe(amount: int, currency: str) -> int:
    return amount // _stripe_factor(currency)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


# Stripe objects (as plain dicts: API answers and webhook payloads alike) to Kassa's types.
# Stripe leaves out fields that do not apply, hence `.get` throughout.

def _method_details(method: Mapping[str, Any],
                    mandate: Mapping[str, Any] | None) -> MethodDetails:
    kind = method.get("type")
    if kind == "card" and method.get("card"):
        card = method["card"]
        return MethodDetails(
            ref=method["id"], type="card", brand=card.get("brand"), last4=card.get("last4"),
            exp_month=card.get("exp_month"), exp_year=card.get("exp_year"),
            country=card.get("country"), fingerprint=card.get("fingerprint"))
    if kind == "sepa_debit" and method.get("sepa_debit"):
        account = method["sepa_debit"]
        mandate = mandate or {}
        reference = (mandate.get("payment_method_details") or {}).get("sepa_debit", {})
        accepted = (mandate.get("customer_acceptance") or {}).get("accepted_at")
        return MethodDetails(
            ref=method["id"], type="sepa_debit", last4=account.get("last4"),
            country=account.get("country"), bank_code=account.get("bank_code"),
            fingerprint=account.get("fingerprint"),
            mandate_reference=reference.get("reference"),
            mandate_signed_at=datetime.fromtimestamp(accepted, UTC) if accepted else None)
    raise GatewayError(f"Kassa does not take Stripe payment methods of type {kind!r}.",
                       code="payment_method_unsupported")


def _decline_code(error: Mapping[str, Any] | None) -> str | None:
    """The most specific reason Stripe gives: the issuer's decline code, else the error code."""
    if not error:
        return None
    return error.get("decline_code") or error.get("code")


def _charge_result(intent: Mapping[str, Any]) -> ChargeResult:
    ref, status, currency = intent["id"], intent["status"], intent["currency"]
    amount = _from_stripe(intent["amount"], currency)
    if status == "succeeded":
        return ChargeResult(ref=ref, status="succeeded", amount=amount, currency=currency)
    if status in ("processing", "requires_capture", "requires_confirmation"):
        return ChargeResult(ref=ref, status="processing", amount=amount, currency=currency)
    if status == "requires_action":
        return ChargeResult(ref=ref, status="requires_action", amount=amount, currency=currency,
                            next_action_url=_action_url(intent.get("next_action")),
                            message="The customer must authenticate this payment.")
    # requires_payment_method after a failed attempt, or canceled.
    error = intent.get("last_payment_error") or {}
    code = _decline_code(error) or intent.get("cancellation_reason")
    return _failed_or_action(intent, code, error.get("message"))


def _declined(exc: stripe.CardError, amount: int, currency: str) -> ChargeResult:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error: dict[str, Any] = body.get("error") or {}
    code = _decline_code(error) or exc.code
    if error.get("payment_intent"):
        return _failed_or_action(error["payment_intent"], code, error.get("message"))
    if not error.get("charge"):
        raise GatewayError(f"Stripe declined without naming the payment: {exc.user_message}",
                           code=code) from exc
    return ChargeResult(ref=error["charge"], status="failed", amount=amount,
                        currency=currency.lower(), decline_code=code,
                        decline_type=decline_type(code), message=error.get("message"))


def _failed_or_action(intent: Mapping[str, Any], code: str | None,
                      message: str | None) -> ChargeResult:
    """An off-session attempt that did not go through: `authentication_required` asks for
    the customer (3-D Secure, on-session); every other code is a decline."""
    ref, currency = intent["id"], intent["currency"]
    amount = _from_stripe(intent["amount"], currency)
    if code == "authentication_required":
        return ChargeResult(ref=ref, status="requires_action", amount=amount, currency=currency,
                            decline_code=code, message=message,
                            next_action_url=_action_url(intent.get("next_action")))
    return ChargeResult(ref=ref, status="failed", amount=amount, currency=currency,
                        decline_code=code, decline_type=decline_type(code), message=message)


def _action_url(action: Mapping[str, Any] | None) -> str | None:
    """Where the customer completes the payment: a 3-D Secure redirect, or the hosted page
    of the next action (`hosted_verification_url`, `hosted_voucher_url`...)."""
    details = (action or {}).get((action or {}).get("type") or "")
    if not isinstance(details, dict):
        return None
    if isinstance(details.get("url"), str):
        return str(details["url"])
    return next((str(v) for k, v in details.items()
                 if k.startswith("hosted_") and k.endswith("_url") and v), None)


def _refund_status(status: str | None) -> RefundStatus:
    if status == "succeeded":
        return "succeeded"
    if status in ("failed", "canceled"):
        return "failed"
    return "pending"  # pending, requires_action


def _refund_result(refund: Mapping[str, Any]) -> RefundResult:
    return RefundResult(ref=refund["id"], status=_refund_status(refund.get("status")),
                        amount=_from_stripe(refund["amount"], refund["currency"]),
                        failure_reason=refund.get("failure_reason"))


# Webhooks: one Stripe event in, zero or more Kassa events out.

def _normalize(event: dict[str, Any]) -> list[GatewayEvent]:
    kind: str = event.get("type", "")
    obj: dict[str, Any] = event.get("data", {}).get("object", {})
    common: dict[str, Any] = {
        "id": event["id"], "raw": event,
        "created": datetime.fromtimestamp(event["created"], UTC) if "created" in event else None}
    if kind.startswith("payment_intent."):
        return _payment_event(kind, obj, common)
    if kind in _DISPUTE_EVENTS:
        amount, currency = _money(obj)
        return [GatewayEvent(
            type=_DISPUTE_EVENTS[kind], dispute_ref=obj["id"],
            charge_ref=obj.get("payment_intent") or obj.get("charge"), amount=amount,
            currency=currency, reason=obj.get("reason"), status=obj.get("status"), **common)]
    if kind in _REFUND_EVENTS:
        return _refund_events([obj], common)
    if kind == "charge.refunded":
        # Older API versions embed the charge's refunds; newer ones send refund.* events.
        refunds = (obj.get("refunds") or {}).get("data") or []
        return _refund_events(refunds, common, one_of_many=True)
    if kind == "mandate.updated" and obj.get("status") == "inactive":
        return [GatewayEvent(type="mandate.revoked", method_ref=obj.get("payment_method"),
                             **common)]
    if kind in ("payment_method.updated", "payment_method.automatically_updated"):
        # The card updater's new expiry or number: Kassa refreshes its display data.
        try:
            details: MethodDetails | None = _method_details(obj, None)
        except GatewayError:
            details = None
        return [GatewayEvent(type="payment_method.updated", method_ref=obj.get("id"),
                             method=details, **common)]
    return []  # an event Kassa does not act on


def _payment_event(kind: str, intent: dict[str, Any],
                   common: dict[str, Any]) -> list[GatewayEvent]:
    event_type = _PAYMENT_EVENTS.get(kind)
    if event_type is None:
        return []
    error = intent.get("last_payment_error") or {}
    code = _decline_code(error) if event_type == "payment.failed" else None
    if code == "authentication_required":
        event_type = "payment.requires_action"
    amount, currency = _money(intent)
    return [GatewayEvent(
        type=event_type, charge_ref=intent.get("id"), amount=amount, currency=currency,
        decline_code=code, decline_type=decline_type(code) if code else None,
        reason=error.get("message") if code else None, **common)]


def _refund_events(refunds: list[dict[str, Any]], common: dict[str, Any], *,
                   one_of_many: bool = False) -> list[GatewayEvent]:
    events = []
    for refund in refunds:
        status = _refund_status(refund.get("status"))
        if status == "pending":
            continue
        amount, currency = _money(refund)
        event_id = f"{common['id']}:{refund['id']}" if one_of_many else common["id"]
        events.append(GatewayEvent(
            **{**common, "id": event_id},
            type="refund.succeeded" if status == "succeeded" else "refund.failed",
            refund_ref=refund["id"], charge_ref=refund.get("payment_intent") or
            refund.get("charge"), amount=amount, currency=currency,
            reason=refund.get("failure_reason")))
    return events


def _money(obj: Mapping[str, Any]) -> tuple[int | None, str | None]:
    currency = obj.get("currency")
    amount = obj.get("amount")
    if currency is None or amount is None:
        return amount, currency
    return _from_stripe(int(amount), currency), currency
