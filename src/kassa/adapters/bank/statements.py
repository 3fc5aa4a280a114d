"""Bank statements as Kassa reads them: the common result of the MT940 and camt.053 readers.

A statement file holds one or more `BankStatement`s, each a run of `BankEntry`s with amounts
in minor units (credit > 0, debit < 0). Readers never guess: a file that cannot be read
raises `StatementError` naming the line. Matching entries to invoices is not done here.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Literal

from stdnum import iban as _iban

from kassa.core.errors import InvalidRequest
from kassa.core.money import exponent, normalize_currency

StatementFormat = Literal["mt940", "camt.053"]


class StatementError(ValueError):
    """A bank file that cannot be read; `line` is where the trouble starts, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.reason = message
        super().__init__(f"line {line}: {message}" if line is not None else message)


@dataclass(frozen=True)
class BankEntry:
    """One booking on the account, in minor units: credit > 0, debit < 0."""

    booking_date: date
    value_date: date | None
    amount: int
    currency: str
    counterparty_name: str | None
    counterparty_iban: str | None
    remittance: str
    structured_reference: str | None
    end_to_end_id: str | None
    bank_reference: str | None
    is_return: bool
    return_reason: str | None
    line: int | None
    fingerprint: str


@dataclass(frozen=True)
class BankStatement:
    """One account statement: balances (minor units) and its entries in file order."""

    format: StatementFormat
    account_iban: str | None
    statement_id: str | None
    currency: str
    opening_balance: int | None
    closing_balance: int | None
    opening_date: date | None
    closing_date: date | None
    entries: tuple[BankEntry, ...]


def parse(data: bytes, filename: str | None = None) -> list[BankStatement]:
    """Read a camt.053 or MT940 file, detected from its content (not its name).

    Other ISO 20022 documents (camt.052 reports, camt.054 notifications, ...) and anything
    else are refused with a `StatementError` that says what the file is.
    """
    # The readers import this module for the types, so they are imported here.
    from kassa.adapters.bank import camt, mt940

    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return camt.parse(data)
    if re.search(rb"(?m)^:(?:\d\d[A-Z]?|NS):", data):
        return mt940.parse(data)
    name = f"{filename}: " if filename else ""
    raise StatementError(
        f"{name}not a bank statement: expected a camt.053 XML file or an MT940 file"
    )


def to_minor(value: Decimal, currency: str, *, line: int | None = None) -> int:
    """An exact Decimal amount in major units to minor units; refuses sub-minor digits."""
    places = currency_exponent(currency, line=line)
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise StatementError(
            f"amount {value} has more than {places} decimals for {currency.upper()}", line
        )
    return int(scaled)


def currency_exponent(currency: str, *, line: int | None = None) -> int:
    try:
        return exponent(currency)
    except InvalidRequest:
        raise StatementError(f"unknown currency {currency!r}", line) from None


def checked_currency(currency: str | None, *, line: int | None = None) -> str:
    """The lower-case ISO 4217 code, or a `StatementError` naming the line."""
    if not currency:
        raise StatementError("no currency given", line)
    try:
        return normalize_currency(currency.strip())
    except InvalidRequest:
        raise StatementError(f"unknown currency {currency!r}", line) from None


def compact_iban(value: str | None) -> str | None:
    """A valid IBAN in compact upper-case form, or None (plain account numbers are not IBANs)."""
    if not value:
        return None
    candidate = _iban.compact(value).upper()
    return candidate if _iban.is_valid(candidate) else None


def normalize_text(parts: Iterable[str | None]) -> str:
    """Join text fragments with single spaces, collapsing all whitespace."""
    return " ".join(" ".join(part.split()) for part in parts if part and part.strip())


def with_fingerprints(account: str | None, entries: Iterable[BankEntry]) -> tuple[BankEntry, ...]:
    """Give each entry its stable fingerprint (see `BankEntry.fingerprint`).

    The fingerprint hashes the account, booking date, amount, currency, bank reference (or
    end-to-end id), remittance and the entry's index among identical entries of the
    statement: a statement imported twice gives the same fingerprints, while two genuinely
    identical payments on one statement stay apart.
    """
    seen: Counter[tuple[str, ...]] = Counter()
    result = []
    for entry in entries:
        key = (
            account or "",
            entry.booking_date.isoformat(),
            str(entry.amount),
            entry.currency,
            entry.bank_reference or entry.end_to_end_id or "",
            entry.remittance,
        )
        occurrence = seen[key]
        seen[key] += 1
        digest = hashlib.sha256("\x1f".join((*key, str(occurrence))).encode()).hexdigest()
        result.append(replace(entry, fingerprint=digest))
    return tuple(result)
