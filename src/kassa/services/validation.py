"""Checks of identifiers shared by several services (countries, VAT ids, IBANs, timezones)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from stdnum import iban as stdnum_iban
from stdnum.ch import vat as ch_vat
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError
from stdnum.gb import vat as gb_vat
from stdnum.no import mva as no_mva
from stdnum.util import clean

from kassa.core.errors import InvalidRequest
from kassa.domain import peppol, vat_ids, vat_rates

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


# VAT ids outside the EU (and Northern Ireland's XI, which stdnum.eu.vat knows): the stdnum
# module that checks them, and the prefix to put back where its compact form drops it.
_NON_EU_VAT = {"GB": (gb_vat, "GB"), "CH": (ch_vat, ""), "NO": (no_mva, "NO")}


def peppol_id(value: Any, *, param: str) -> str:
    """A Peppol participant id "scheme:identifier" with a known EAS scheme, stored as given
    without surrounding spaces."""
    if not isinstance(value, str):
        raise InvalidRequest("A Peppol id is a string such as 0208:0123456789.", param=param)
    try:
        return str(peppol.parse(value))
    except ValueError as exc:
        raise InvalidRequest(str(exc), param=param) from None


def vat_id(value: Any, *, param: str) -> str:
    """A VAT id in compact form ("NL004495445B01"; Greece as "EL..."), checked for format and
    check digits by python-stdnum: EU member states, XI, GB, CH and NO. The error names the
    format the country expects."""
    def invalid(message: str) -> InvalidRequest:
        return InvalidRequest(message, param=param, code="tax_id_invalid")

    example = vat_ids.FORMATS["NL"].example
    if not isinstance(value, str):
        raise invalid(f"A VAT id is a string with its country prefix, such as {example}.")
    prefix = clean(value, " -./,:").upper()[:2]
    if len(prefix) < 2 or not prefix.isalpha():
        raise invalid(f"Invalid VAT id {value!r}: it starts with its country prefix, as in "
                      f"{example}.")
    prefix = vat_rates.vat_prefix(vat_rates.country_of_vat_prefix(prefix))  # GR -> EL
    expected = vat_ids.format_of(prefix)
    if expected is None:
        raise invalid(f"Unknown VAT id country prefix '{prefix}': Kassa knows the EU member "
                      "states (EL for Greece), XI, GB, CH and NO.")
    try:
        if prefix in _NON_EU_VAT:
            module, kept = _NON_EU_VAT[prefix]
            return kept + str(module.validate(value))
        compact = str(eu_vat.validate(value))
    except (ValidationError, TypeError, AttributeError):
        raise invalid(f"Not a valid {expected.adjective} VAT number: expected "
                      f"{expected.expected}.") from None
    return prefix + compact[2:]


def iban(value: Any, *, param: str) -> str:
    try:
        return str(stdnum_iban.validate(value))
    except (ValidationError, TypeError, AttributeError):
        raise InvalidRequest(f"Invalid IBAN: {value!r}.", param=param) from None


MAX_METADATA_KEYS = 50


MAX_OVERLAP = timedelta(days=7)
DEFAULT_OVERLAP = timedelta(hours=24)


def overlap(seconds: int | None, *, param: str = "expires_in") -> timedelta:
    """How long a replaced secret (an API key, a webhook secret) keeps working beside its
    successor: `seconds`, default a day, at most 7 days, 0 for not at all."""
    found = DEFAULT_OVERLAP if seconds is None else timedelta(seconds=seconds)
    if not timedelta(0) <= found <= MAX_OVERLAP:
        raise InvalidRequest(f"{param} is 0 to {int(MAX_OVERLAP.total_seconds())} seconds "
                             "(7 days).", param=param)
    return found


def merge_metadata(current: dict[str, Any], changes: Any) -> dict[str, Any]:
    """Stripe's metadata update: keys are set, and a key set to "" is removed."""
    if not isinstance(changes, dict):
        raise InvalidRequest("metadata maps keys to strings.", param="metadata")
    merged = {**current, **changes}
    merged = {key: value for key, value in merged.items() if value != ""}
    if len(merged) > MAX_METADATA_KEYS:
        raise InvalidRequest(f"metadata holds at most {MAX_METADATA_KEYS} keys.",
                             param="metadata")
    return merged


def merge_settings(stored: dict[str, Any] | None, changes: Any, *, name: str,
                   defaults: Mapping[str, Any],
                   check: Callable[[str, Any, str], Any]) -> dict[str, Any]:
    """A settings group (`email_settings`, `payment_settings`) with `changes` merged in: a
    key set to null goes back to its default, every other value is what `check(key, value,
    param)` returns (it raises InvalidRequest naming `param`). Unknown keys are refused."""
    if not isinstance(changes, dict):
        raise InvalidRequest(f"{name} is an object.", param=name)
    merged = dict(stored or {})
    for key, value in changes.items():
        param = f"{name}[{key}]"
        if key not in defaults:
            raise InvalidRequest(f"Unknown setting in {name}: {key}. Known: "
                                 f"{', '.join(defaults)}.", param=param)
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = check(key, value, param)
    return merged


def whole_days(value: Any, low: int, high: int, *, what: str, param: str) -> int:
    """A whole number of days from `low` to `high` (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{what} is a whole number of days from {low} to {high}.",
                             param=param)
    return value
