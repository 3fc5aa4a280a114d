"""SEPA Direct Debit through the organization's own bank: the `bank` gateway.

No API sits behind it: Kassa is the creditor. It keeps the mandate (a reference Kassa assigns,
the date the customer signed), writes the debits due into a pain.008 file the organization
uploads to its bank (services/sepa_debits.py), and learns of rejections and returns from the
bank's pain.002 status reports and camt.053 statements. So a charge here is `processing`
until those files say otherwise; `retrieve_charge` cannot know more.

The debtor's IBAN is what a debit is collected from, so it is this gateway's payment method
reference (shown masked everywhere, like a card's last 4).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from stdnum import iban as iban_numbers

from kassa.adapters.gateways.base import (
    ChargeResult,
    GatewayError,
    GatewayEvent,
    MethodDetails,
    RefundResult,
    SignatureError,
)

PREFIX = "sdd_"


class BankDebitGateway:
    name = "bank"

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _digest(self, *parts: str) -> str:
        return hmac.new(self._secret, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()

    def create_customer(self, *, email: str | None, name: str | None,
                        idempotency_key: str) -> str:
        return f"bank_{self._digest('customer', idempotency_key)[:20]}"

    def attach_payment_method(self, *, customer_ref: str, token: str,
                              idempotency_key: str) -> MethodDetails:
        """`token` is the debtor's IBAN; the mandate reference is Kassa's own (a creditor
        assigns its mandates' references), signed now."""
        compact = iban_numbers.compact(token)
        if not iban_numbers.is_valid(compact):
            raise GatewayError("That is not a valid IBAN (its check digits do not match).",
                               code="invalid_iban")
        country = compact[:2]
        return MethodDetails(
            ref=compact, type="sepa_debit", last4=compact[-4:], country=country,
            bank_code=compact[4:8], fingerprint=self._digest("iban", compact)[:16],
            mandate_reference=f"KASSA-{self._digest('mandate', customer_ref, compact)[:20]}"
            .upper(),
            mandate_signed_at=datetime.now(UTC))

    def detach_payment_method(self, *, method_ref: str,
                              customer_ref: str | None = None) -> None:
        """Nothing to tell a bank: the mandate is simply not used again."""

    def charge(self, *, customer_ref: str, method_ref: str, amount: int, currency: str,
               idempotency_key: str, description: str, metadata: Mapping[str, str],
               now: datetime | None = None) -> ChargeResult:
        if currency.lower() != "eur":
            return ChargeResult(ref="", status="failed", amount=amount, currency=currency,
                                decline_code="currency_not_supported", decline_type="hard",
                                message="SEPA Direct Debit collects euro only.")
        return ChargeResult(ref=f"{PREFIX}{self._digest('charge', idempotency_key)[:24]}",
                            status="processing", amount=amount, currency=currency)

    def retrieve_charge(self, *, charge_ref: str, now: datetime) -> ChargeResult:
        raise GatewayError("The bank reports debits by file, not by API.",
                           code="not_supported")

    def refund(self, *, charge_ref: str, amount: int, currency: str, idempotency_key: str,
               reason: str | None) -> RefundResult:
        """A refund of a collected debit is a credit transfer the organization makes from
        its own bank; Kassa records it as made."""
        return RefundResult(ref=f"bank_refund_{self._digest('refund', idempotency_key)[:20]}",
                            status="succeeded", amount=amount)

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str],
                      now: datetime) -> list[GatewayEvent]:
        raise SignatureError("The bank gateway receives no webhooks.")
