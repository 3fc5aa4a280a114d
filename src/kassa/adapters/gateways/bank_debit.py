"""SEPA Direct Debit through the organization's own bank: the `bank` gateway.

No API sits behind it: Kassa is the creditor. It keeps the mandate (a reference Kassa assigns,
the date the customer signed), writes the debits due into a pain.008 file the organization
uploads to its bank (services/sepa_debits.py), and learns of rejections and returns from the
bank's pain.002 status reports and camt.053 statements. A bank reports no successes: a debit
is `processing` until it is in a file (`in_file` gives its reference the collection date),
and counts as collected from the day after that date, until a file says it was returned.

The debtor's IBAN is what a debit is collected from, so it is this gateway's payment method
reference (shown masked everywhere, like a card's last 4).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, date, datetime

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


def in_file(charge_ref: str, collection_date: date) -> str:
    """The debit's reference once it is in a file for `collection_date`."""
    return f"{charge_ref.partition('@')[0]}@{collection_date.isoformat()}"


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
        ref = f"{PREFIX}{self._digest('charge', idempotency_key)[:24]}_{amount}"
        return ChargeResult(ref=ref, status="processing", amount=amount, currency=currency)

    def retrieve_charge(self, *, charge_ref: str, now: datetime) -> ChargeResult:
        """Processing until the day after the collection date of the file it is in."""
        debit, _, collection = charge_ref.partition("@")
        try:
            amount = int(debit.rsplit("_", 1)[1])
            collected = bool(collection) and now.date() > date.fromisoformat(collection)
        except (IndexError, ValueError):
            raise GatewayError(f"No such debit: {charge_ref!r}.",
                               code="resource_missing") from None
        return ChargeResult(ref=charge_ref, status="succeeded" if collected else "processing",
                            amount=amount, currency="eur")

    def refund(self, *, charge_ref: str, amount: int, currency: str, idempotency_key: str,
               reason: str | None) -> RefundResult:
        """A refund of a collected debit is a credit transfer the organization makes from
        its own bank; Kassa records it as made."""
        return RefundResult(ref=f"bank_refund_{self._digest('refund', idempotency_key)[:20]}",
                            status="succeeded", amount=amount)

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str],
                      now: datetime) -> list[GatewayEvent]:
        raise SignatureError("The bank gateway receives no webhooks.")
