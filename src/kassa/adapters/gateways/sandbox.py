"""The built-in `sandbox` gateway: deterministic outcomes for development, demos and tests.

Modelled on Stripe's test mode, and **stateless**: the sandbox keeps no records. Every id it
hands out is a signed, self-describing token

    <prefix>_<base64url(JSON payload)>.<base64url(HMAC-SHA256(secret, ...)[:16])>

so the API server and any number of workers sharing the secret read each other's tokens, and
a token that does not verify (another secret, a changed byte) is `resource_missing`. A card
number never enters a token: a card's payload holds brand, last 4, expiry, issuer country, a
fingerprint (an HMAC of the number) and the name of its behaviour.

Test cards (any future expiry, any CVC; spaces allowed):

    4242 4242 4242 4242  visa, succeeds            5555 5555 5555 4444  mastercard, succeeds
    4000 0000 0000 0002  generic_decline (soft)    4000 0000 0000 9995  insufficient_funds (soft)
    4000 0000 0000 9987  lost_card (hard)          4000 0000 0000 9979  stolen_card (hard)
    4000 0000 0000 0069  expired_card (hard)       4000 0000 0000 0341  generic_decline (soft)
    4000 0027 6000 3184  requires authentication (3-D Secure), see below
    4000 0000 0000 1000  insufficient_funds (soft) except on the 1st to the 5th of a
                         month (UTC), when the salary is in

Every card attaches; the declines happen when it is charged (0341 is Stripe's "attaches, then
every charge fails"). Any other Luhn-valid number succeeds, its brand taken from the BIN (4
visa, 51-55 and 2221-2720 mastercard, 34/37 amex). A number failing the Luhn check is
`incorrect_number` and a past expiry `expired_card`, both raised by `tokenize_card`.

Test tokens, attached like Stripe's: `pm_card_visa`, `pm_card_mastercard`,
`pm_card_chargeDeclined`, `pm_card_chargeDeclinedInsufficientFunds`,
`pm_card_chargeDeclinedLostCard`, `pm_card_chargeDeclinedStolenCard`,
`pm_card_chargeDeclinedExpiredCard`, `pm_card_chargeCustomerFail` (the 0341 card),
`pm_card_authenticationRequired` (the 3184 card; test-token cards expire 12/2099),
`pm_card_fundsAtMonthStart` (the 1000 card), and
`pm_sepa_debit`, `pm_sepa_debit_returned_AM04`, `pm_sepa_debit_returned_MD06` (the IBANs below).

Test IBANs (SEPA Direct Debit, EUR only; any other valid IBAN succeeds):

    NL91 ABNA 0417 1643 00       settles            DE89 3704 0044 0532 0130 00  settles
    NL18 RABO 0123 4598 76       settles, then returned AM04 (insufficient funds, soft)
    NL88 RABO 0123 4598 77       settles, then returned MD06 (refund claim by the customer)

A SEPA charge is `processing` when made, `succeeded` from `created + 2 days`, and for the
returning IBANs `failed` with decline code AM04 / MD06 from `created + return_delay_days`:
Kassa sees a succeeded charge turn failed (`payment.returned`). Attaching a SEPA method gives
it a mandate reference derived from the idempotency key, signed when the IBAN was entered on
the sandbox page (or when attached, for `pm_sepa_debit...` tokens).

3-D Secure: charging the 3184 card answers `requires_action` with a `next_action_url` on the
sandbox page. Because nothing is stored, the customer's answer cannot change the original
charge ref: approving or failing there (or calling `complete_authentication`) yields a **new**
charge ref for the same charge, whose `retrieve_charge` says `succeeded` or `failed`
(`authentication_required`, soft). The original ref keeps answering `requires_action`; Kassa
replaces it with the new one after checking `charge_id(new) == charge_id(old)`.

Idempotency: customer ids and mandate references are functions of the idempotency key, and a
charge's `charge_id` too; a charge ref also carries the time it was made, so a retry with the
same key at another instant gives another ref string for the same `charge_id`. The sandbox
cannot know what happened since (detached methods, earlier refunds): Kassa tracks those.

Webhooks are signed as Kassa signs its own: `Sandbox-Signature: t=<unix>,v1=<hex
HMAC-SHA256(secret, "<t>.<body>")>`, accepted up to 300 s old. `events_between` lists the
events a charge's timeline produces, `event_body` and `sign_webhook` make them deliverable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from stdnum import iban as stdnum_iban

from kassa.core import signatures
from kassa.core.clock import ensure_utc, from_unix, to_unix

from .base import (
    ChargeResult,
    ChargeStatus,
    EventType,
    GatewayError,
    GatewayEvent,
    MethodDetails,
    MethodType,
    RefundResult,
    SignatureError,
    decline_type,
)

SIGNATURE_HEADER = "Sandbox-Signature"
WEBHOOK_TOLERANCE = timedelta(seconds=300)
SEPA_SETTLEMENT = timedelta(days=2)
TEST_TOKEN_EXPIRY = (12, 2099)

# Behaviours: what happens when a method is charged. A card behaviour maps to the decline
# code of its charges (None: succeeds); the SEPA ones to the return reason (None: settles).
_SUCCEED = "ok"
_AUTHENTICATE = "authenticate"
_CARD_DECLINES: dict[str, str | None] = {
    _SUCCEED: None,
    _AUTHENTICATE: None,
    "generic_decline": "generic_decline",
    "insufficient_funds": "insufficient_funds",
    "lost_card": "lost_card",
    "stolen_card": "stolen_card",
    "expired_card": "expired_card",
    "fail_on_charge": "generic_decline",
    "funds_at_month_start": "insufficient_funds",  # except on days 1-5 (`_status`)
}
FUNDED_DAYS = range(1, 6)
_SEPA_RETURNS: dict[str, str | None] = {_SUCCEED: None, "AM04": "AM04", "MD06": "MD06"}

# number -> (behaviour, issuer country)
TEST_CARDS: dict[str, tuple[str, str]] = {
    "4242424242424242": (_SUCCEED, "US"),
    "5555555555554444": (_SUCCEED, "US"),
    "4000000000000002": ("generic_decline", "US"),
    "4000000000009995": ("insufficient_funds", "US"),
    "4000000000009987": ("lost_card", "US"),
    "4000000000009979": ("stolen_card", "US"),
    "4000000000000069": ("expired_card", "US"),
    "4000000000000341": ("fail_on_charge", "US"),
    "4000002760003184": (_AUTHENTICATE, "DE"),
    "4000000000001000": ("funds_at_month_start", "NL"),
}
TEST_IBANS: dict[str, str] = {
    "NL91ABNA0417164300": _SUCCEED,
    "DE89370400440532013000": _SUCCEED,
    "NL18RABO0123459876": "AM04",
    "NL88RABO0123459877": "MD06",
}
# test token -> the card number or IBAN it stands for
TEST_TOKENS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_fundsAtMonthStart": "4000000000001000",
    "pm_sepa_debit": "NL91ABNA0417164300",
    "pm_sepa_debit_returned_AM04": "NL18RABO0123459876",
    "pm_sepa_debit_returned_MD06": "NL88RABO0123459877",
}

_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined: it was reported lost.",
    "stolen_card": "Your card was declined: it was reported stolen.",
    "expired_card": "Your card has expired.",
    "authentication_required": "Your bank could not authenticate this payment.",
    "AM04": "Your bank returned the direct debit: insufficient funds.",
    "MD06": "The direct debit was returned at your request.",
}
# Where the bank code sits at the start of the BBAN, for the countries demos tend to use.
_BANK_CODE_LENGTH = {"NL": 4, "DE": 8, "BE": 3, "AT": 5, "FR": 5, "ES": 4, "LU": 3}
_EVENT_TYPES = frozenset(get_args(EventType))
_STATUS_EVENTS: dict[ChargeStatus, EventType] = {
    "succeeded": "payment.succeeded", "processing": "payment.processing",
    "requires_action": "payment.requires_action", "failed": "payment.failed",
}
_MAX_TOKEN = 4096
# A token's payload is stored with one-letter keys: Kassa keeps refs in 255 characters.
_SHORT_KEYS = {
    "type": "t", "brand": "b", "last4": "l", "exp_month": "m", "exp_year": "y",
    "country": "c", "bank_code": "k", "fingerprint": "f", "behaviour": "x", "created": "n",
    "customer": "u", "mandate": "r", "signed_at": "s", "id": "i", "amount": "a",
    "currency": "$", "auth": "h", "auth_at": "w", "charge": "g",
}
_LONG_KEYS = {short: long for long, short in _SHORT_KEYS.items()}


@dataclass(frozen=True)
class _Card:
    number: str
    exp_month: int
    exp_year: int


class SandboxGateway:
    """The sandbox gateway; every instance built with the same `secret` is the same gateway."""

    name = "sandbox"

    def __init__(self, secret: bytes, *, public_url: str = "http://localhost:8000",
                 return_delay_days: int = 3) -> None:
        if not isinstance(secret, bytes) or len(secret) < 16:
            raise ValueError("the sandbox secret must be at least 16 bytes")
        if return_delay_days <= SEPA_SETTLEMENT.days:
            raise ValueError("a SEPA debit is returned only after it settled (day 2)")
        self._secret = secret
        self.public_url = public_url.rstrip("/")
        self.return_delay = timedelta(days=return_delay_days)

    # -- hosted fields ------------------------------------------------------------------------

    def tokenize_card(self, number: str, exp_month: int, exp_year: int, cvc: str, *,
                      now: datetime | None = None) -> str:
        """A `tok_...` for a card entered on the sandbox page; GatewayError with Stripe's code
        (`incorrect_number`, `invalid_expiry_month`, `invalid_expiry_year`, `expired_card`,
        `invalid_cvc`) when the card cannot be used."""
        now = _utc(now)
        digits = _card_digits(number)
        if exp_year < 100:
            exp_year += 2000
        if not 1 <= exp_month <= 12:
            raise GatewayError("Your card's expiration month is invalid.",
                               code="invalid_expiry_month")
        if not 2000 <= exp_year <= 2100:
            raise GatewayError("Your card's expiration year is invalid.",
                               code="invalid_expiry_year")
        if (exp_year, exp_month) < (now.year, now.month):
            raise GatewayError("Your card has expired.", code="expired_card")
        if not (cvc.isascii() and cvc.isdigit() and len(cvc) in (3, 4)):
            raise GatewayError("Your card's security code is invalid.", code="invalid_cvc")
        method = self._card_method(_Card(digits, exp_month, exp_year))
        return self._seal("tok", {**method, "created": to_unix(now)})

    def tokenize_iban(self, iban: str, account_holder: str, *,
                      now: datetime | None = None) -> str:
        """A `tok_...` for a bank account entered on the sandbox page with the SEPA mandate
        accepted at `now`; GatewayError `invalid_iban` or `invalid_owner_name`."""
        if not account_holder.strip():
            raise GatewayError("Enter the name of the account holder.",
                               code="invalid_owner_name")
        method = self._iban_method(iban)
        return self._seal("tok", {**method, "created": to_unix(_utc(now))})

    # -- the Gateway protocol -----------------------------------------------------------------

    def create_customer(self, *, email: str | None, name: str | None,
                        idempotency_key: str) -> str:
        return "cus_sbx_" + self._digest("customer", idempotency_key)[:20]

    def attach_payment_method(self, *, customer_ref: str, token: str, idempotency_key: str,
                              now: datetime | None = None) -> MethodDetails:
        """Accepts a `tok_...` of the sandbox page or one of the test tokens (`pm_card_visa`...)."""
        _check_customer(customer_ref)
        if token in TEST_TOKENS:
            number = TEST_TOKENS[token]
            if number in TEST_IBANS:
                method = self._iban_method(number)
            else:
                method = self._card_method(_Card(number, *TEST_TOKEN_EXPIRY))
            signed_at = _utc(now)
        else:
            method = self._open("tok", token)
            signed_at = from_unix(method.pop("created"))
        method["customer"] = customer_ref.removeprefix("cus_sbx_")
        if method["type"] == "sepa_debit":
            method["mandate"] = "SBX-" + self._digest("mandate", idempotency_key)[:12].upper()
            method["signed_at"] = to_unix(signed_at)
        return _method_details(self._seal("pm_sbx", method), method)

    def detach_payment_method(self, *, method_ref: str,
                              customer_ref: str | None = None) -> None:
        """Checks the ref only: a stateless sandbox cannot forget a method, Kassa must."""
        self._open("pm_sbx", method_ref)

    def retrieve_payment_method(self, *, method_ref: str) -> MethodDetails:
        method = self._open("pm_sbx", method_ref)
        return _method_details(method_ref, method)

    def charge(self, *, customer_ref: str, method_ref: str, amount: int, currency: str,
               idempotency_key: str, description: str, metadata: Mapping[str, str],
               now: datetime | None = None) -> ChargeResult:
        now = _utc(now)
        method = self._open("pm_sbx", method_ref)
        if "cus_sbx_" + method["customer"] != customer_ref:
            raise GatewayError("No such payment method for this customer.",
                               code="resource_missing")
        if amount <= 0:
            raise GatewayError("The amount must be positive.", code="amount_too_small")
        if method["type"] == "sepa_debit" and currency.lower() != "eur":
            raise GatewayError("SEPA Direct Debit charges only EUR.",
                               code="currency_not_supported")
        charge = {
            "id": self._digest("charge", customer_ref, idempotency_key)[:20],
            "type": method["type"], "behaviour": method["behaviour"],
            "amount": amount, "currency": currency, "created": to_unix(now),
        }
        return self._status(self._seal("ch_sbx", charge), charge, now)

    def retrieve_charge(self, *, charge_ref: str, now: datetime) -> ChargeResult:
        return self._status(charge_ref, self._open("ch_sbx", charge_ref), ensure_utc(now))

    def charge_id(self, charge_ref: str) -> str:
        """What stays the same for a charge across its refs (see 3-D Secure above)."""
        return str(self._open("ch_sbx", charge_ref)["id"])

    def complete_authentication(self, charge_ref: str, approve: bool, *,
                                now: datetime | None = None) -> ChargeResult:
        """The customer's answer to 3-D Secure: the result under a new ref of the same charge
        (`charge_id` unchanged), succeeded when approved, failed otherwise. GatewayError
        `payment_intent_unexpected_state` when the charge awaits no authentication."""
        charge = self._open("ch_sbx", charge_ref)
        if charge["behaviour"] != _AUTHENTICATE or "auth" in charge:
            raise GatewayError("This charge does not await authentication.",
                               code="payment_intent_unexpected_state")
        now = _utc(now)
        charge = {**charge, "auth": "approved" if approve else "failed",
                  "auth_at": to_unix(now)}
        return self._status(self._seal("ch_sbx", charge), charge, now)

    def refund(self, *, charge_ref: str, amount: int, currency: str, idempotency_key: str,
               reason: str | None, now: datetime | None = None) -> RefundResult:
        """Refunds up to the charge's amount of a succeeded charge, each refund on its own
        (earlier refunds are Kassa's to count)."""
        now = _utc(now)
        charge = self._open("ch_sbx", charge_ref)
        if self._status(charge_ref, charge, now).status != "succeeded":
            raise GatewayError("Only a succeeded charge can be refunded.",
                               code="charge_not_refundable")
        if currency.lower() != str(charge["currency"]).lower():
            raise GatewayError("The refund's currency is not the charge's.",
                               code="currency_mismatch")
        if amount <= 0:
            raise GatewayError("The amount must be positive.", code="amount_too_small")
        if amount > charge["amount"]:
            raise GatewayError("The refund is larger than the charge.", code="amount_too_large")
        refund = {"id": self._digest("refund", charge["id"], idempotency_key)[:20],
                  "charge": charge["id"], "amount": amount, "currency": charge["currency"]}
        return RefundResult(ref=self._seal("re_sbx", refund), status="succeeded", amount=amount)

    # -- webhooks ------------------------------------------------------------------------------

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str],
                      now: datetime) -> list[GatewayEvent]:
        """Verifies `Sandbox-Signature` (SignatureError) and reads the event in `body`
        (GatewayError `invalid_event` when a signed body is not one)."""
        self._verify_signature(body, _header(headers, SIGNATURE_HEADER), ensure_utc(now))
        try:
            raw = json.loads(body)
            data = raw["data"]
            if raw["type"] not in _EVENT_TYPES or not isinstance(data, dict):
                raise ValueError(raw["type"])
            created = raw.get("created")
            event = GatewayEvent(
                id=str(raw["id"]), type=raw["type"],
                charge_ref=data.get("charge_ref"), refund_ref=data.get("refund_ref"),
                dispute_ref=data.get("dispute_ref"), method_ref=data.get("method_ref"),
                amount=data.get("amount"), currency=data.get("currency"),
                decline_code=data.get("decline_code"),
                decline_type=decline_type(data["decline_code"]) if data.get("decline_code")
                else None,
                reason=data.get("reason"), status=data.get("status"),
                created=from_unix(created) if isinstance(created, int) else None, raw=raw)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise GatewayError("The webhook's body is not a sandbox event.",
                               code="invalid_event") from exc
        return [event]

    def sign_webhook(self, body: bytes, now: datetime) -> dict[str, str]:
        """The headers that make `body` a webhook from this sandbox at `now`."""
        stamp = to_unix(now)
        return {SIGNATURE_HEADER: signatures.header([self._secret], stamp, body)}

    def events_between(self, charge_ref: str, since: datetime,
                       until: datetime) -> list[GatewayEvent]:
        """The events of the charge's timeline that happen after `since` up to `until`, the
        webhooks a sandbox would send; each event's id is the same whenever it is asked for."""
        charge = self._open("ch_sbx", charge_ref)
        since, until = ensure_utc(since), ensure_utc(until)
        return [event for event in self._timeline(charge_ref, charge)
                if event.created is not None and since < event.created <= until]

    # -- internals -----------------------------------------------------------------------------

    def _card_method(self, card: _Card) -> dict[str, Any]:
        behaviour, country = TEST_CARDS.get(card.number, (_SUCCEED, "US"))
        return {"type": "card", "brand": _brand(card.number), "last4": card.number[-4:],
                "exp_month": card.exp_month, "exp_year": card.exp_year, "country": country,
                "fingerprint": self._digest("card", card.number)[:16],
                "behaviour": behaviour}

    def _iban_method(self, iban: str) -> dict[str, Any]:
        compact = stdnum_iban.compact(iban)
        if not stdnum_iban.is_valid(compact):
            raise GatewayError("The IBAN is invalid.", code="invalid_iban")
        country = compact[:2]
        length = _BANK_CODE_LENGTH.get(country)
        return {"type": "sepa_debit", "last4": compact[-4:], "country": country,
                "bank_code": compact[4:4 + length] if length else None,
                "fingerprint": self._digest("iban", compact)[:16],
                "behaviour": TEST_IBANS.get(compact, _SUCCEED)}

    def _status(self, ref: str, charge: Mapping[str, Any], now: datetime) -> ChargeResult:
        """The charge's state at `now`, a pure function of its payload."""
        created = from_unix(charge["created"])
        behaviour = charge["behaviour"]
        if charge["type"] == "sepa_debit":
            code = _SEPA_RETURNS[behaviour]
            if code is not None and now >= created + self.return_delay:
                return _result(ref, charge, "failed", code)
            return _result(ref, charge,
                           "succeeded" if now >= created + SEPA_SETTLEMENT else "processing")
        if behaviour == _AUTHENTICATE:
            auth = charge.get("auth")
            if auth is None:
                return ChargeResult(
                    ref=ref, status="requires_action", amount=charge["amount"],
                    currency=charge["currency"],
                    message="Your bank asks you to confirm this payment.",
                    next_action_url=f"{self.public_url}/sandbox/authenticate/{ref}")
            if auth == "failed":
                return _result(ref, charge, "failed", "authentication_required")
            return _result(ref, charge, "succeeded")
        code = _CARD_DECLINES[behaviour]
        if behaviour == "funds_at_month_start" and created.day in FUNDED_DAYS:
            code = None
        return _result(ref, charge, "failed" if code else "succeeded", code)

    def _timeline(self, ref: str, charge: Mapping[str, Any]) -> list[GatewayEvent]:
        created = from_unix(charge["created"])
        # (instant, the charge as it stood then): an authenticated ref was pending before
        pending = {key: value for key, value in charge.items() if key not in ("auth", "auth_at")}
        moments: list[tuple[datetime, Mapping[str, Any]]] = [(created, pending)]
        if charge["type"] == "sepa_debit":
            moments.append((created + SEPA_SETTLEMENT, charge))
            if _SEPA_RETURNS[charge["behaviour"]]:
                moments.append((created + self.return_delay, charge))
        elif "auth_at" in charge:
            moments.append((from_unix(charge["auth_at"]), charge))
        events = []
        for moment, state in moments:
            result = self._status(ref, state, moment)
            kind = _STATUS_EVENTS[result.status]
            if result.status == "failed" and charge["type"] == "sepa_debit":
                kind = "payment.returned"
            events.append(GatewayEvent(
                id="evt_sbx_" + self._digest("event", charge["id"], kind,
                                             str(to_unix(moment)))[:24],
                type=kind, charge_ref=ref, amount=result.amount, currency=result.currency,
                decline_code=result.decline_code, decline_type=result.decline_type,
                reason=result.decline_code if kind == "payment.returned" else None,
                created=moment))
        return events

    def _verify_signature(self, body: bytes, header: str | None, now: datetime) -> None:
        try:
            signatures.verify(body, header, self._secret, to_unix(now),
                              tolerance=int(WEBHOOK_TOLERANCE.total_seconds()))
        except signatures.SignatureInvalid as exc:
            raise SignatureError(f"{SIGNATURE_HEADER}: {exc}") from None

    def _digest(self, purpose: str, *parts: str) -> str:
        message = "\x1f".join((purpose, *parts)).encode()
        return hmac.new(self._secret, b"sandbox:" + message, hashlib.sha256).hexdigest()

    def _mac(self, signed: str) -> str:
        mac = hmac.new(self._secret, b"token:" + signed.encode(), hashlib.sha256).digest()
        return _b64(mac[:16])

    def _seal(self, prefix: str, payload: Mapping[str, Any]) -> str:
        short = {_SHORT_KEYS[key]: value for key, value in payload.items() if value is not None}
        body = json.dumps(short, sort_keys=True, separators=(",", ":"))
        signed = f"{prefix}_{_b64(body.encode())}"
        return f"{signed}.{self._mac(signed)}"

    def _open(self, prefix: str, token: str) -> dict[str, Any]:
        """The payload of a token this sandbox sealed with `prefix`; resource_missing if not."""
        missing = GatewayError(f"No such sandbox object: {token[:40]!r}.",
                               code="resource_missing")
        if len(token) > _MAX_TOKEN or not token.startswith(prefix + "_") or "." not in token:
            raise missing
        signed, _, mac = token.rpartition(".")
        if not hmac.compare_digest(self._mac(signed), mac):
            raise missing
        try:
            encoded = signed[len(prefix) + 1:]
            payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        except (ValueError, binascii.Error) as exc:
            raise missing from exc
        if not isinstance(payload, dict):
            raise missing
        return {_LONG_KEYS.get(str(key), str(key)): value for key, value in payload.items()}


def event_body(event: GatewayEvent) -> bytes:
    """The JSON body of a sandbox webhook carrying `event`; `parse_webhook` reads it back."""
    data = {key: getattr(event, key) for key in (
        "charge_ref", "refund_ref", "dispute_ref", "method_ref", "amount", "currency",
        "decline_code", "reason", "status") if getattr(event, key) is not None}
    created = to_unix(event.created) if event.created else None
    return json.dumps({"id": event.id, "type": event.type, "created": created,
                       "data": data}, separators=(",", ":")).encode()


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _card_digits(number: str) -> str:
    digits = re.sub(r"[ -]", "", number)
    if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19
            and luhn_valid(digits)):
        raise GatewayError("Your card number is incorrect.", code="incorrect_number")
    return digits


def _brand(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if 51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720:
        return "mastercard"
    if digits[:2] in ("34", "37"):
        return "amex"
    return "unknown"


def _method_details(ref: str, method: Mapping[str, Any]) -> MethodDetails:
    kind: MethodType = method["type"]
    signed_at = method.get("signed_at")
    return MethodDetails(
        ref=ref, type=kind, brand=method.get("brand"), last4=method["last4"],
        exp_month=method.get("exp_month"), exp_year=method.get("exp_year"),
        country=method["country"], bank_code=method.get("bank_code"),
        mandate_reference=method.get("mandate"),
        mandate_signed_at=from_unix(signed_at) if signed_at is not None else None,
        fingerprint=method["fingerprint"])


def _result(ref: str, charge: Mapping[str, Any], status: ChargeStatus,
            code: str | None = None) -> ChargeResult:
    return ChargeResult(
        ref=ref, status=status, amount=charge["amount"], currency=charge["currency"],
        decline_code=code,
        decline_type=decline_type(code) if code else None,
        message=_MESSAGES.get(code) if code else None)


def _check_customer(customer_ref: str) -> None:
    if not re.fullmatch(r"cus_sbx_[0-9a-f]{20}", customer_ref):
        raise GatewayError(f"No such sandbox customer: {customer_ref[:40]!r}.",
                           code="resource_missing")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _utc(now: datetime | None) -> datetime:
    return ensure_utc(now) if now is not None else datetime.now(UTC).replace(microsecond=0)
