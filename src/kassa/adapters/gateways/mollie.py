"""Mollie: SEPA Direct Debit and cards through a mandate, with Mollie's official SDK.

Mollie's recurring flow differs from Stripe's: the customer makes a *first payment*
(iDEAL, Bancontact, or a card on Mollie Checkout, `first_payment`) which creates a mandate
(`mdt_...`); Kassa then charges that mandate off-session with *recurring* payments. The
mandate id is the token `attach_payment_method` takes and the method ref `charge` uses.

Mollie signs no webhooks: it posts only `id=tr_...`, and the webhook is verified by fetching
that payment from the API (an id Mollie does not know is refused). Mollie has no event ids,
so each normalized event's id is derived from the fact it reports (the payment's status, a
refund's status, a chargeback): a replayed webhook yields the same ids and changes nothing.

Amounts go to Mollie as exact decimal strings ("10.00", "500" for JPY).

This adapter is tested against a local HTTP server answering with Mollie's own example
responses (the SDK's test fixtures), not against Mollie itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qs

from mollie.api.client import Client
from mollie.api.error import (
    IdentifierError,
    NotFoundError,
    RequestError,
    RequestSetupError,
    ResponseError,
    ResponseHandlingError,
)
from mollie.api.objects.customer import Customer
from mollie.api.objects.payment import Payment

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
from kassa.core.money import exponent, to_major

# Mollie's card failure reasons in the (Stripe) vocabulary of base.HARD_DECLINES; the others
# (insufficient_funds, card_declined, refused_by_issuer...) are kept as Mollie names them.
_CARD_FAILURES = {
    "card_expired": "expired_card",
    "invalid_card_number": "incorrect_number",
    "invalid_card_type": "card_not_supported",
    "possible_fraud": "fraudulent",
}
_CARD_BRANDS = {"american express": "amex", "diners club": "diners"}
_FAILED = frozenset({"failed", "expired", "canceled"})
_STATUS_TIMES = {"paid": "paidAt", "failed": "failedAt", "expired": "expiredAt",
                 "canceled": "canceledAt"}


class MollieGateway:
    name = "mollie"

    def __init__(self, api_key: str, *, base_url: str | None = None,
                 webhook_url: str | None = None) -> None:
        # The SDK retries only failed connections (nothing was sent), never an answer.
        self._client = Client()
        if base_url:
            self._client.set_api_endpoint(base_url)
        self._client.set_api_key(api_key)
        self._webhook_url = webhook_url

    def create_customer(self, *, email: str | None, name: str | None,
                        idempotency_key: str) -> str:
        data = {k: v for k, v in {"name": name, "email": email}.items() if v is not None}
        with _translated_errors():
            customer = self._client.customers.create(data, idempotency_key=idempotency_key)
        return str(customer.id)

    def first_payment(self, *, customer_ref: str, amount: int, currency: str,
                      description: str, redirect_url: str, idempotency_key: str,
                      webhook_url: str | None = None,
                      method: str | None = "ideal") -> tuple[str, str]:
        """Start the payment that creates a mandate: (payment id, checkout URL to send the
        customer to). `method` is a Mollie method (ideal, creditcard, bancontact...) or None
        to let the customer choose on Mollie's page."""
        data: dict[str, Any] = {
            "amount": _mollie_amount(amount, currency), "description": description,
            "sequenceType": "first", "customerId": customer_ref, "redirectUrl": redirect_url}
        if method:
            data["method"] = method
        if webhook_url or self._webhook_url:
            data["webhookUrl"] = webhook_url or self._webhook_url
        with _translated_errors():
            payment = self._client.payments.create(data, idempotency_key=idempotency_key)
        if not payment.checkout_url:
            raise GatewayError(f"Mollie gave no checkout URL for payment {payment.id}.")
        return str(payment.id), str(payment.checkout_url)

    def attach_payment_method(self, *, customer_ref: str, token: str,
                              idempotency_key: str) -> MethodDetails:
        """`token` is the mandate id (`mdt_...`) a first payment created: Mollie mandates
        exist already, so attaching reads the mandate's display data."""
        with _translated_errors():
            mandate = _customer(self._client, customer_ref).mandates.get(token)
        if mandate.get("status") == "invalid":
            raise GatewayError(f"Mollie mandate {token} is invalid.", code="mandate_invalid")
        return _method_details(mandate)

    def detach_payment_method(self, *, method_ref: str, customer_ref: str | None = None) -> None:
        """Revoke the mandate. Mollie's mandates live under their customer, so the customer's
        id is required here."""
        if customer_ref is None:
            raise GatewayError("Revoking a Mollie mandate needs the customer's id.",
                               code="customer_required")
        with _translated_errors():
            _customer(self._client, customer_ref).mandates.delete(method_ref)

    def charge(self, *, customer_ref: str, method_ref: str, amount: int, currency: str,
               idempotency_key: str, description: str, metadata: Mapping[str, str],
               now: datetime | None = None) -> ChargeResult:
        data: dict[str, Any] = {
            "amount": _mollie_amount(amount, currency), "description": description,
            "sequenceType": "recurring", "customerId": customer_ref, "mandateId": method_ref,
            "metadata": dict(metadata)}
        if self._webhook_url:
            data["webhookUrl"] = self._webhook_url
        with _translated_errors():
            payment = self._client.payments.create(data, idempotency_key=idempotency_key)
        return _charge_result(payment)

    def retrieve_charge(self, *, charge_ref: str, now: datetime) -> ChargeResult:
        with _translated_errors():
            payment = self._client.payments.get(charge_ref, embed="chargebacks")
        return _charge_result(payment)

    def refund(self, *, charge_ref: str, amount: int, currency: str, idempotency_key: str,
               reason: str | None) -> RefundResult:
        data: dict[str, Any] = {"amount": _mollie_amount(amount, currency)}
        if reason:
            data["description"] = reason[:140]  # Mollie's limit
        with _translated_errors():
            refund = _payment(self._client, charge_ref).refunds.create(
                data, idempotency_key=idempotency_key)
        return RefundResult(ref=refund["id"], status=_refund_status(refund.get("status")),
                            amount=_minor(refund["amount"]))

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str],
                      now: datetime) -> list[GatewayEvent]:
        """Verify by fetching the payment the webhook names; then one event per fact the
        payment shows: its status, each settled refund, each chargeback."""
        payment_id = (parse_qs(body.decode("utf-8", "replace")).get("id") or [""])[0]
        with _translated_errors():
            try:
                payment = self._client.payments.get(payment_id, embed="refunds,chargebacks")
            except (IdentifierError, NotFoundError) as exc:
                raise SignatureError(f"Mollie knows no payment {payment_id!r}.") from exc
        return _events(payment)


def _customer(client: Client, customer_ref: str) -> Any:
    # The SDK's sub-resources (mandates) need only the id: no need to fetch the customer.
    return Customer({"id": customer_ref}, client)  # type: ignore[no-untyped-call]


def _payment(client: Client, charge_ref: str) -> Any:
    return Payment({"id": charge_ref}, client)  # type: ignore[no-untyped-call]


@contextmanager
def _translated_errors() -> Iterator[None]:
    """The SDK's exceptions as GatewayError; `retryable` when the same call may succeed."""
    try:
        yield
    except RequestSetupError as exc:  # refused before sending (a malformed id or key)
        raise GatewayError(f"Mollie request not sent: {exc}", code="invalid_request") from exc
    except RequestError as exc:
        raise GatewayError(f"Mollie could not be reached: {exc}", code="api_connection_error",
                           retryable=True) from exc
    except ResponseError as exc:
        status = int(exc.status or 0)
        raise GatewayError(f"Mollie refused the request: {exc}", code=str(status),
                           retryable=status >= 500 or status == 429) from exc
    except ResponseHandlingError as exc:  # an answer that is not Mollie's JSON (a proxy page)
        raise GatewayError(f"Mollie's answer was unreadable: {exc}", retryable=True) from exc


def _mollie_amount(amount: int, currency: str) -> dict[str, str]:
    """Minor units as Mollie's exact amount: 1000 EUR -> {"currency": "EUR", "value": "10.00"}."""
    return {"currency": currency.upper(),
            "value": f"{to_major(amount, currency):.{exponent(currency)}f}"}


def _minor(amount: Mapping[str, str] | None) -> int:
    """Mollie's {"currency", "value"} as minor units; exact or an error."""
    if not amount:
        return 0
    minor = Decimal(amount["value"]).scaleb(exponent(amount["currency"]))
    if minor != minor.to_integral_value():
        raise GatewayError(f"Mollie amount {amount} has more decimals than its currency.")
    return int(minor)


def _method_details(mandate: Mapping[str, Any]) -> MethodDetails:
    details = mandate.get("details") or {}
    signed = mandate.get("signatureDate")
    signed_at = datetime.combine(date.fromisoformat(signed), datetime.min.time(), UTC) \
        if signed else None
    if mandate.get("method") == "directdebit":
        iban = str(details.get("consumerAccount") or "").replace(" ", "")
        return MethodDetails(
            ref=mandate["id"], type="sepa_debit", last4=iban[-4:] or None,
            country=iban[:2] or None, bank_code=details.get("consumerBic"),
            mandate_reference=mandate.get("mandateReference"), mandate_signed_at=signed_at)
    if mandate.get("method") == "creditcard":
        label = str(details.get("cardLabel") or "").lower()
        expiry = details.get("cardExpiryDate")  # "2029-12-31"
        expires = date.fromisoformat(expiry) if expiry else None
        return MethodDetails(
            ref=mandate["id"], type="card", brand=_CARD_BRANDS.get(label, label) or None,
            last4=str(details.get("cardNumber") or "")[-4:] or None,
            exp_month=expires.month if expires else None,
            exp_year=expires.year if expires else None,
            fingerprint=details.get("cardFingerprint"),
            mandate_reference=mandate.get("mandateReference"), mandate_signed_at=signed_at)
    raise GatewayError(f"Kassa does not take Mollie mandates of method "
                       f"{mandate.get('method')!r}.", code="payment_method_unsupported")


def _failure(payment: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(decline code, message) of a failed payment: a SEPA bank reason code (AM04, MD01...)
    or a card failure reason."""
    details = payment.get("details") or {}
    if details.get("bankReasonCode"):
        return details["bankReasonCode"], details.get("bankReason")
    reason = details.get("failureReason")
    code = _CARD_FAILURES.get(reason, reason) if reason else payment.get("status")
    return code, details.get("failureMessage")


def _chargebacks(payment: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((payment.get("_embedded") or {}).get("chargebacks") or [])


def _returned(payment: Mapping[str, Any]) -> bool:
    return _minor(payment.get("amountChargedBack")) > 0 or bool(_chargebacks(payment))


def _return_reason(payment: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(code, description) of the latest chargeback, as Mollie gives them."""
    for chargeback in reversed(_chargebacks(payment)):
        reason = chargeback.get("reason") or {}
        if reason.get("code"):
            return reason["code"], reason.get("description")
    return "chargeback", None


def _charge_result(payment: Mapping[str, Any]) -> ChargeResult:
    ref, status = payment["id"], payment.get("status")
    amount, currency = _minor(payment["amount"]), payment["amount"]["currency"].lower()
    if _returned(payment):
        code, message = _return_reason(payment)
    elif status in _FAILED:
        code, message = _failure(payment)
    elif status == "paid":
        return ChargeResult(ref=ref, status="succeeded", amount=amount, currency=currency)
    else:  # open, pending, authorized: the bank (or the customer) has not finished
        return ChargeResult(ref=ref, status="processing", amount=amount, currency=currency)
    return ChargeResult(ref=ref, status="failed", amount=amount, currency=currency,
                        decline_code=code, decline_type=decline_type(code), message=message)


def _refund_status(status: str | None) -> Literal["succeeded", "pending", "failed"]:
    if status == "refunded":
        return "succeeded"
    if status in ("failed", "canceled"):
        return "failed"
    return "pending"  # queued, pending, processing


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _events(payment: Mapping[str, Any]) -> list[GatewayEvent]:
    pid = payment["id"]
    currency = payment["amount"]["currency"].lower()
    raw = dict(payment)
    events = [_status_event(payment, raw)]
    for refund in (payment.get("_embedded") or {}).get("refunds") or []:
        settled = _refund_status(refund.get("status"))
        if settled != "pending":
            events.append(GatewayEvent(
                id=f"{pid}:{refund['id']}:{settled}", type=_REFUND_EVENTS[settled],
                charge_ref=pid, refund_ref=refund["id"], amount=_minor(refund.get("amount")),
                currency=currency, created=_instant(refund.get("createdAt")), raw=raw))
    if _returned(payment):
        code, _ = _return_reason(payment)
        chargebacks = _chargebacks(payment)
        last = chargebacks[-1] if chargebacks else {}
        events.append(GatewayEvent(
            id=f"{pid}:returned:{last.get('id') or payment['amountChargedBack']['value']}",
            type="payment.returned", charge_ref=pid, amount=_minor(
                last.get("amount") or payment.get("amountChargedBack")),
            currency=currency, decline_code=code, decline_type=decline_type(code),
            reason=code, created=_instant(last.get("createdAt")), raw=raw))
    return events


_REFUND_EVENTS: dict[str, EventType] = {
    "succeeded": "refund.succeeded", "failed": "refund.failed"}
_STATUS_EVENTS: dict[str, EventType] = {
    "paid": "payment.succeeded", "failed": "payment.failed", "expired": "payment.failed",
    "canceled": "payment.failed", "open": "payment.processing",
    "pending": "payment.processing", "authorized": "payment.processing",
}


def _status_event(payment: Mapping[str, Any], raw: Mapping[str, Any]) -> GatewayEvent:
    pid, status = payment["id"], payment.get("status") or ""
    code, message = _failure(payment) if status in _FAILED else (None, None)
    return GatewayEvent(
        id=f"{pid}:{status}", type=_STATUS_EVENTS.get(status, "payment.processing"),
        charge_ref=pid, method_ref=payment.get("mandateId"), amount=_minor(payment["amount"]),
        currency=payment["amount"]["currency"].lower(), decline_code=code,
        decline_type=decline_type(code) if code else None, reason=message,
        created=_instant(payment.get(_STATUS_TIMES.get(status, "createdAt"))), raw=raw)
