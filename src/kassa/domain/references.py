"""Structured creditor references, ISO 11649 ("RF" references).

An RF reference is "RF", two check digits and up to 21 letters and digits of the creditor's
own reference. The check digits follow ISO 7064 MOD 97-10, as in an IBAN: move "RF" and the
check digits to the end, replace letters by numbers (A=10 ... Z=35), and the whole is 1
modulo 97. A bank transfer that quotes the reference lets the creditor match it to the invoice.
"""

from __future__ import annotations

import re

_MAX_REFERENCE = 21
_ALPHANUMERIC = re.compile(r"[0-9A-Z]+")


def _digits(text: str) -> int:
    return int("".join(str(int(char, 36)) for char in text))


def compact(reference: str) -> str:
    """The reference without spaces, separators or lower case: 'rf18 5390 0754 7034'
    -> 'RF18539007547034'."""
    return re.sub(r"[^0-9A-Za-z]", "", reference).upper()


def creditor_reference(invoice_number: str) -> str:
    """The RF reference of an invoice number: its letters and digits (separators dropped),
    prefixed with "RF" and the check digits. Raises ValueError for a number with no letters or
    digits, or more than 21 of them."""
    body = compact(invoice_number)
    if not body or len(body) > _MAX_REFERENCE:
        raise ValueError(f"An RF reference holds 1 to 21 letters and digits: {invoice_number!r}")
    check = 98 - _digits(body + "RF00") % 97
    return f"RF{check:02d}{body}"


def is_valid(reference: str) -> bool:
    """Whether a reference (spaces allowed) is a well-formed RF reference with a correct check."""
    value = compact(reference)
    body = value[4:]
    if not value.startswith("RF") or not value[2:4].isdigit():
        return False
    if not body or len(body) > _MAX_REFERENCE or not _ALPHANUMERIC.fullmatch(body):
        return False
    return _digits(body + value[:4]) % 97 == 1


def format(reference: str) -> str:
    """Groups of four for print: 'RF18539007547034' -> 'RF18 5390 0754 7034'."""
    value = compact(reference)
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4))
