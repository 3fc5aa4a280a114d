"""Invoice numbers: a format with a prefix, an optional year and a gapless sequence number.

The format uses `{prefix}`, `{number}` (with an optional zero-padding spec such as
`{number:06d}`) and optionally `{year}`. A format with `{year}` restarts its numbering every
year: each year is its own series.
"""

from __future__ import annotations

import string
from datetime import date
from typing import Literal

DEFAULT_FORMAT = "{prefix}-{number:06d}"
_FIELDS = {"prefix", "number", "year"}
Document = Literal["invoice", "credit_note"]


def _fields(number_format: str) -> list[tuple[str, str]]:
    """(name, format spec) of each replacement field; name '' for a positional `{}`."""
    return [(name, spec or "") for _, name, spec, _ in string.Formatter().parse(number_format)
            if name is not None]


def validate_format(number_format: str) -> str:
    """Return the format if it is usable, else raise ValueError saying why."""
    try:
        parsed = _fields(number_format)
    except ValueError as exc:
        raise ValueError(f"invalid number format: {exc}") from None
    if any("{" in spec for _, spec in parsed):
        raise ValueError("nested fields are not allowed in the number format")
    fields = {name for name, _ in parsed}
    if "number" not in fields:
        raise ValueError("the number format must contain {number}")
    if fields - _FIELDS:
        raise ValueError(f"unknown fields in number format: {sorted(fields - _FIELDS)}")
    format_number(number_format, "X", 1, date(2000, 1, 1))
    return number_format


def series_key(number_format: str, prefix: str, issued_on: date) -> str:
    """The series a number belongs to: the prefix, plus the year if the format shows it."""
    has_year = any(name == "year" for name, _ in _fields(number_format))
    return f"{prefix}:{issued_on.year}" if has_year else prefix


def format_number(number_format: str, prefix: str, number: int, issued_on: date) -> str:
    return number_format.format(prefix=prefix, number=number, year=issued_on.year)


def document_prefix(document: Document, invoice_prefix: str) -> str:
    """The prefix a document's numbers show: credit notes add `-CN` (ACME-CN-000001)."""
    return invoice_prefix if document == "invoice" else f"{invoice_prefix}-CN"


def document_series(document: Document, number_format: str, invoice_prefix: str,
                    issued_on: date) -> str:
    """The key of the gapless series a document is numbered in. Credit notes count in their
    own series, keyed `CN:...` so that no invoice prefix can share it."""
    key = series_key(number_format, document_prefix(document, invoice_prefix), issued_on)
    return key if document == "invoice" else f"CN:{key}"
