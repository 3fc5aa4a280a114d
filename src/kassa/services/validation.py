"""Checks of identifiers shared by several services (countries, VAT ids, IBANs, timezones)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from stdnum import iban as stdnum_iban
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError

from kassa.core.errors import InvalidRequest

# Babel's territory list also has CLDR pseudo-regions and reserved codes that are no country.
_NOT_COUNTRIES = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN",
                            "XA", "XB", "ZZ"})
_COUNTRIES = frozenset(code for code in Locale("en").territories if code.isalpha()
                       and len(code) == 2) - _NOT_COUNTRIES


def country(value: Any, *, param: str) -> str:
    if not isinstance(value, str) or value.upper() not in _COUNTRIES:
        raise InvalidRequest(f"Unknown country code: {value!r} (ISO 3166-1 alpha-2).",
                             param=param)
    return value.upper()


def timezone(value: Any, *, param: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidRequest(f"Unknown timezone: {value!r} (an IANA name such as "
                             "'Europe/Amsterdam').", param=param) from None
    return str(value)


def locale(value: Any, *, param: str) -> str:
    if not isinstance(value, str) or len(value) > 16:
        raise InvalidRequest(f"Unknown locale: {value!r}.", param=param)
    try:
        Locale.parse(value)
    except (UnknownLocaleError, ValueError, TypeError):
        raise InvalidRequest(f"Unknown locale: {value!r}.", param=param) from None
    return str(value)


def vat_id(value: Any, *, param: str) -> str:
    """A VAT id in compact form, checked for format and check digits (EU via python-stdnum)."""
    try:
        return str(eu_vat.validate(value))
    except (ValidationError, TypeError, AttributeError):
        raise InvalidRequest(f"Invalid VAT id: {value!r}.", param=param,
                             code="tax_id_invalid") from None


def iban(value: Any, *, param: str) -> str:
    try:
        return str(stdnum_iban.validate(value))
    except (ValidationError, TypeError, AttributeError):
        raise InvalidRequest(f"Invalid IBAN: {value!r}.", param=param) from None
