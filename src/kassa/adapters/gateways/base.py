"""The one protocol every payment gateway speaks (sandbox, Stripe, Mollie).

Kassa never sees a card number: a card or bank account is entered on the gateway's own page
(hosted fields), which hands Kassa a token; Kassa attaches the token to the gateway's customer
and keeps only display data (brand, last 4, expiry, masked IBAN, mandate reference).

Every call that moves money or creates something takes an `idempotency_key`: the same key
twice is the same operation once, at the gateway (Stripe's Idempotency-Key, Mollie's
Idempotency-Key header, the sandbox derives its ids from the key).

Outcomes are normalized: a charge is `succeeded`, `processing` (SEPA Direct Debit until the
bank settles it; a bank may still return it days later), `requires_action` (3-D Secure: the
customer must authenticate at `next_action_url`) or `failed` with a decline code and whether
the decline is `hard` (do not retry: stolen card, closed account, do not honour) or `soft`
(retry later: insufficient funds, processing error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

MethodType = Literal["card", "sepa_debit"]
ChargeStatus = Literal["succeeded", "processing", "requires_action", "failed"]
DeclineType = Literal["soft", "hard"]
EventType = Literal[
    "payment.succeeded", "payment.failed", "payment.processing", "payment.requires_action",
    "payment.returned",  # a SEPA debit returned by the customer's bank after it settled
    "refund.succeeded", "refund.failed",
    "dispute.created", "dispute.updated", "dispute.closed",
    "mandate.revoked", "payment_method.updated",
]

# Decline codes that must not be retried (the dunning of a later issue goes straight to the
# customer); every other decline is soft.
HARD_DECLINES = frozenset({
    "stolen_card", "lost_card", "pickup_card", "restricted_card", "fraudulent",
    "do_not_honor", "do_not_try_again", "invalid_account", "account_closed",
    "card_not_supported", "currency_not_supported", "expired_card", "incorrect_number",
    "invalid_number", "revocation_of_authorization", "security_violation",
    "transaction_not_allowed", "new_account_information_available",
    # SEPA reason codes that end a mandate or an account
    "AC04", "AC06", "AC13", "MD01", "MD07", "SL01",
})


def decline_type(code: str | None) -> DeclineType:
    return "hard" if code in HARD_DECLINES else "soft"


class GatewayError(Exception):
    """The gateway refused the request or could not be reached; `retryable` when trying the
    same call again (with the same idempotency key) may succeed."""

    def __init__(self, message: str, *, code: str | None = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class SignatureError(Exception):
    """An inbound webhook whose signature does not verify (or that is too old)."""


@dataclass(frozen=True)
class MethodDetails:
    """What Kassa keeps of an attached payment method: display data only."""

    ref: str  # the gateway's payment method id (pm_..., mdt_..., sandbox token)
    type: MethodType
    brand: str | None = None  # visa, mastercard, amex...
    last4: str | None = None  # of the card number or of the IBAN
    exp_month: int | None = None
    exp_year: int | None = None
    country: str | None = None  # of the card's issuer or the IBAN
    bank_code: str | None = None
    mandate_reference: str | None = None
    mandate_signed_at: datetime | None = None
    fingerprint: str | None = None  # the same card or account, whatever token it came in


@dataclass(frozen=True)
class ChargeResult:
    ref: str  # the gateway's id of the charge (pi_..., tr_..., ch_sbx_...)
    status: ChargeStatus
    amount: int
    currency: str
    decline_code: str | None = None
    decline_type: DeclineType | None = None
    message: str | None = None  # for the customer: why it failed or what to do
    next_action_url: str | None = None
    fee: int | None = None


@dataclass(frozen=True)
class RefundResult:
    ref: str
    status: Literal["succeeded", "pending", "failed"]
    amount: int
    failure_reason: str | None = None


@dataclass(frozen=True)
class GatewayEvent:
    """An inbound webhook, verified and normalized."""

    id: str  # the gateway's event id: processing it twice changes nothing
    type: EventType
    charge_ref: str | None = None
    refund_ref: str | None = None
    dispute_ref: str | None = None
    method_ref: str | None = None
    amount: int | None = None
    currency: str | None = None
    decline_code: str | None = None
    decline_type: DeclineType | None = None
    reason: str | None = None  # a return's or a dispute's reason code
    status: str | None = None  # a dispute's status
    created: datetime | None = None
    method: MethodDetails | None = None  # payment_method.updated: the method as it is now
    raw: Mapping[str, Any] = field(default_factory=dict)


class Gateway(Protocol):
    name: str  # "sandbox", "stripe", "mollie"

    def create_customer(self, *, email: str | None, name: str | None,
                        idempotency_key: str) -> str:
        """The gateway's customer id for a Kassa customer."""

    def attach_payment_method(self, *, customer_ref: str, token: str,
                              idempotency_key: str) -> MethodDetails:
        """Attach a token from the hosted fields (or a test token) to the customer."""

    def detach_payment_method(self, *, method_ref: str,
                              customer_ref: str | None = None) -> None:
        """Detach (or revoke the mandate of) a method; Mollie needs its customer's id."""

    def charge(self, *, customer_ref: str, method_ref: str, amount: int, currency: str,
               idempotency_key: str, description: str,
               metadata: Mapping[str, str], now: datetime | None = None) -> ChargeResult:
        """Charge off-session (the customer is not present). `now` is the caller's clock (a
        test clock's time); gateways that cannot take it (real ones) ignore it."""

    def retrieve_charge(self, *, charge_ref: str, now: datetime) -> ChargeResult:
        """The charge's status now: how Kassa catches up when a webhook was missed, and how
        a processing SEPA debit is followed until it settles or is returned."""

    def refund(self, *, charge_ref: str, amount: int, currency: str, idempotency_key: str,
               reason: str | None) -> RefundResult: ...

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str],
                      now: datetime) -> list[GatewayEvent]:
        """Verify and normalize an inbound webhook; SignatureError when it does not verify.
        Gateways that sign nothing (Mollie sends only an id) are verified by fetching the
        object from the gateway's API."""
