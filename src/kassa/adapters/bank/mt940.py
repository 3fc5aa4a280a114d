"""SWIFT MT940 customer statements, read with the `mt-940` package.

Spec: SWIFT MT940 (fields :20: :25: :28C: :60F/M: :61: :86: :62F/M:), with the common
national :86: layouts. Recognized in :86: besides free text:

- Dutch SEPA layout (ING, ABN AMRO, Rabobank, ...): ``/KEY/value`` pairs with TRTP, EREF,
  CNTP (IBAN/BIC/NAME/CITY), ORDP/BENM with NAME, IBAN, BIC, REMI (``USTD//text`` is the
  remittance, ``STRD/CUR/ref`` the structured reference) and RTRN (``/RTRN/MD06/``: a
  SEPA return with its ISO reason code).
- German DK layout (``166?00...?20...``): ?20-?29 purpose with the SEPA keywords (EREF+,
  SVWZ+, IBAN+), ?31 counterparty IBAN, ?32/?33 name. GVC 108, 109 (SEPA direct debit
  returns) and 159 (returned credit transfer) mark a return; the numeric ?34 return key
  is not an ISO code and is not reported as `return_reason`.
- The :61: reversal marks RC and RD mark a return as well.

MT942 interim reports (with a :34F: floor limit) are refused: only final statements are
imported.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import mt940 as _mt940

from kassa.adapters.bank.statements import (
    BankEntry,
    BankStatement,
    StatementError,
    checked_currency,
    compact_iban,
    normalize_text,
    to_minor,
    with_fingerprints,
)

# Every fix of the package's opt-in list: RC signed as a debit, ?31 read as the IBAN, a
# leading byte-order mark dropped, long :86: details kept whole, ...
_OPTIONS = _mt940.Options.all()
_ASNB_LINE = _mt940.tags.StatementASNB()
# The package logs every field it cannot match; a failure reaches the caller as StatementError.
logging.getLogger("mt940").addHandler(logging.NullHandler())

_TAG = re.compile(r"^:\n?(?P<tag>(?:[0-9]{2}|NS)[A-Z]?):", re.MULTILINE)
_STATEMENT_LINE = re.compile(r"\d{6}(?:\d{4}|\s{4})?R?[DC][A-Z]?\n?(?P<amount>[\d,]*)")
_DUTCH_KEYS = (
    "TRTP",
    "EREF",
    "MARF",
    "CSID",
    "CNTP",
    "ORDP",
    "BENM",
    "NAME",
    "IBAN",
    "BIC",
    "REMI",
    "RTRN",
    "ISDT",
    "ADDR",
    "PREF",
    "KREF",
    "ULTC",
    "ULTD",
    "PURP",
    "SVCL",
    "FX",
    "ID",
    "CITY",
)
_DUTCH_KEY = re.compile(r"/(" + "|".join(_DUTCH_KEYS) + r")/")
_RETURN_GVC = frozenset({"108", "109", "159"})
_NO_REFERENCE = frozenset({"", "NONREF", "NOTPROVIDED"})
_ISO_REASON = re.compile(r"[A-Z]{2}\d{2}")


@dataclass(frozen=True)
class _Tag:
    name: str
    start: int
    line: int


def parse(data: bytes) -> list[BankStatement]:
    """Read every statement of an MT940 file (several :20: blocks give several statements)."""
    text = _decode(data)
    blocks = _blocks(text)
    if not blocks:
        raise StatementError("no MT940 statement found (no :20: field)", 1)
    return [_statement(block, first_line) for block, first_line in blocks]


def _decode(data: bytes) -> str:
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Banks that do not send UTF-8 send Windows-1252 or ISO 8859-1.
        return data.decode("cp1252") if _is_cp1252(data) else data.decode("latin-1")


def _is_cp1252(data: bytes) -> bool:
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def _blocks(text: str) -> list[tuple[str, int]]:
    """Split at each :20: into (block text, line number of its :20:)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    starts = [m.start() for m in re.finditer(r"(?m)^:20:", text)]
    if not starts:
        return []
    return [
        (text[start:end], text.count("\n", 0, start) + 1)
        for start, end in zip(starts, [*starts[1:], len(text)], strict=True)
    ]


def _tags(block: str, first_line: int) -> list[_Tag]:
    return [
        _Tag(m.group("tag"), m.start(), first_line + block.count("\n", 0, m.start()))
        for m in _TAG.finditer(block)
    ]


def _statement(block: str, first_line: int) -> BankStatement:
    tags = _tags(block, first_line)
    for tag in tags:
        if tag.name == "34F":
            raise StatementError(
                "this is an MT942 interim transaction report (it has a :34F: floor limit), "
                "not an MT940 statement; only MT940 statements are imported",
                tag.line,
            )
    statement_lines = [tag for tag in tags if tag.name == "61"]
    for tag in statement_lines:
        _check_amount(block, tag)
    transactions = _read(block, tags)
    if len(transactions) != len(statement_lines):
        raise StatementError(
            f"{len(statement_lines)} :61: statement lines but {len(transactions)} "
            "transactions were read",
            first_line,
        )
    info = transactions.data
    balances = [tag.line for tag in tags if tag.name[:2] in {"60", "62", "64", "65"}]
    if not transactions.currency:
        raise StatementError(
            "the statement has no balance (:60F:, :62F:), so its currency is unknown",
            first_line,
        )
    currency = checked_currency(transactions.currency, line=balances[0] if balances else None)
    account = str(info.get("account_identification") or "").strip() or None
    account_iban = _account_iban(account)
    opening = _balance(
        info,
        ("final_opening_balance", "opening_balance", "intermediate_opening_balance"),
        currency,
        first_line,
    )
    closing = _balance(
        info,
        ("final_closing_balance", "closing_balance", "intermediate_closing_balance"),
        currency,
        first_line,
    )
    entries = [
        _entry(transaction.data, currency, tag.line)
        for transaction, tag in zip(transactions, statement_lines, strict=True)
    ]
    return BankStatement(
        format="mt940",
        account_iban=account_iban,
        statement_id=_statement_id(info),
        currency=currency,
        opening_balance=opening[0],
        closing_balance=closing[0],
        opening_date=opening[1],
        closing_date=closing[1],
        entries=with_fingerprints(account_iban or account, entries),
    )


def _check_amount(block: str, tag: _Tag) -> None:
    """Catch what the package's lenient :61: pattern lets through ('12,3x' read as 12.3)."""
    value = block[tag.start :].split(":", 2)[2]
    match = _STATEMENT_LINE.match(value)
    if match is None:
        return  # the package reports a :61: it cannot read at all
    amount = match.group("amount")
    rest = value[match.end() :]
    junk = re.match(r"[^A-Z\s]+", rest)
    if not amount or amount.count(",") > 1 or junk or not re.search(r"\d", amount):
        shown = amount + (junk.group(0) if junk else "")
        raise StatementError(f"amount {shown!r} is not a number", tag.line)


def _read(block: str, tags: list[_Tag]) -> _mt940.models.Transactions:
    try:
        return _parse_block(block)
    except Exception as error:  # the package raises RuntimeError, ValueError, ...
        raise _locate(block, tags, error) from error


def _parse_block(block: str) -> _mt940.models.Transactions:
    # ASN Bank writes the counterparty IBAN (up to 34 characters) as the :61: reference.
    asn_bank = re.search(r"(?m)^:25:\s*NL\d\dASNB", block) is not None
    tags: dict[int | str, _mt940.tags.Tag] | None = (
        {_ASNB_LINE.id: _ASNB_LINE} if asn_bank else None
    )
    transactions = _mt940.models.Transactions(tags=tags, options=_OPTIONS)
    transactions.parse(block)
    return transactions


def _locate(block: str, tags: list[_Tag], error: Exception) -> StatementError:
    """Find the first field whose parse fails by parsing ever longer prefixes of the block."""
    low, high = 0, len(tags) - 1  # invariant: the prefix up to the end of tags[high] fails
    while low < high:
        middle = (low + high) // 2
        end = tags[middle + 1].start
        try:
            _parse_block(block[:end])
        except Exception:
            high = middle
        else:
            low = middle + 1
    if not tags:
        return StatementError(f"cannot read the statement ({_reason(error)})")
    tag = tags[high]
    end = tags[high + 1].start if high + 1 < len(tags) else len(block)
    value = block[tag.start : end].split(":", 2)[2].strip()
    first = value.splitlines()[0] if value else ""
    return StatementError(f"cannot read the :{tag.name}: field {first!r}", tag.line)


def _reason(error: Exception) -> str:
    first = error.args[0] if error.args else error
    return str(first)


def _account_iban(account: str | None) -> str | None:
    if not account:
        return None
    # Some banks append the currency to the IBAN in :25: (NL71RABO0123456789EUR).
    return compact_iban(account) or compact_iban(re.sub(r"[A-Z]{3}$", "", account.strip()))


def _statement_id(info: dict[str, Any]) -> str | None:
    number = info.get("statement_number")
    if number:
        sequence = info.get("sequence_number")
        return f"{number}/{sequence}" if sequence else str(number)
    reference = info.get("transaction_reference")
    return str(reference) if reference else None


def _balance(
    info: dict[str, Any], keys: tuple[str, ...], currency: str, line: int
) -> tuple[int | None, date | None]:
    for key in keys:
        balance = info.get(key)
        if isinstance(balance, _mt940.models.Balance) and isinstance(
            balance.amount, _mt940.models.Amount
        ):
            return to_minor(balance.amount.amount, currency, line=line), _plain_date(balance.date)
    return None, None


def _plain_date(value: object) -> date | None:
    return date(value.year, value.month, value.day) if isinstance(value, date) else None


def _entry(data: dict[str, Any], currency: str, line: int) -> BankEntry:
    amount = data["amount"]
    entry_currency = checked_currency(amount.currency or currency, line=line)
    value_date = _plain_date(data.get("date"))
    booking_date = _plain_date(data.get("entry_date")) or value_date
    if booking_date is None:
        raise StatementError("the statement line has no date", line)
    details = _details(data)
    status = str(data.get("status") or "").upper()
    return BankEntry(
        booking_date=booking_date,
        value_date=value_date,
        amount=to_minor(_decimal(amount.amount, line), entry_currency, line=line),
        currency=entry_currency,
        counterparty_name=details.name,
        counterparty_iban=details.iban,
        remittance=details.remittance,
        structured_reference=details.structured_reference,
        end_to_end_id=details.end_to_end_id,
        bank_reference=_reference(data.get("bank_reference")),
        is_return=status in {"RC", "RD"} or details.is_return,
        return_reason=details.return_reason,
        line=line,
        fingerprint="",
    )


def _decimal(value: object, line: int) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise StatementError(f"amount {value!r} is not a number", line) from None


def _reference(value: object) -> str | None:
    text = str(value or "").strip()
    return None if text.upper() in _NO_REFERENCE else text


@dataclass(frozen=True)
class _Details:
    remittance: str = ""
    name: str | None = None
    iban: str | None = None
    structured_reference: str | None = None
    end_to_end_id: str | None = None
    is_return: bool = False
    return_reason: str | None = None


def _details(data: dict[str, Any]) -> _Details:
    """What the :86: field says, in whichever layout the bank used."""
    if "transaction_details" not in data:  # the package read a German DK layout
        return _german_details(data)
    text = str(data.get("transaction_details") or "")
    if text.lstrip().startswith("/") and _DUTCH_KEY.search(text.replace("\n", "")):
        return _dutch_details(text)
    return _Details(remittance=normalize_text([text]))


def _german_details(data: dict[str, Any]) -> _Details:
    return _Details(
        remittance=normalize_text([data.get("purpose")]),
        name=normalize_text([data.get("applicant_name")]) or None,
        iban=compact_iban(data.get("applicant_iban"))
        or compact_iban(data.get("gvc_applicant_iban")),
        end_to_end_id=_reference(data.get("end_to_end_reference")),
        is_return=str(data.get("transaction_code") or "") in _RETURN_GVC,
    )


def _dutch_details(text: str) -> _Details:
    # Lines are wrapped at 65 characters, also in the middle of a word.
    fields = _dutch_fields(text.replace("\n", ""))
    counterparty = fields.get("CNTP", "").split("/")
    name = fields.get("NAME") or (counterparty[2] if len(counterparty) > 2 else None)
    iban = fields.get("IBAN") or counterparty[0]
    remittance, structured = _dutch_remittance(fields.get("REMI", ""))
    reason = fields.get("RTRN", "").strip("/ ").split("/")[0].upper()
    return _Details(
        remittance=remittance,
        name=normalize_text([name]) or None,
        iban=compact_iban(iban),
        structured_reference=structured,
        end_to_end_id=_reference(fields.get("EREF")),
        is_return="RTRN" in fields,
        return_reason=reason if _ISO_REASON.fullmatch(reason) else None,
    )


def _dutch_fields(text: str) -> dict[str, str]:
    matches = list(_DUTCH_KEY.finditer(text))
    fields: dict[str, str] = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(text)
        value = text[match.end() : end].strip()
        fields.setdefault(match.group(1), value.removesuffix("/").strip())
    return fields


def _dutch_remittance(value: str) -> tuple[str, str | None]:
    if value.startswith("STRD/"):
        parts = [part for part in value.split("/")[1:] if part and part != "CUR"]
        return "", parts[-1].strip() if parts else None
    return normalize_text([value.removeprefix("USTD//").removeprefix("USTD/")]), None
