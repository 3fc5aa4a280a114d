"""Exact money: integer minor units per ISO 4217, `Decimal` for finer precision.

Amounts are `int` in the currency's minor unit (JPY has exponent 0, EUR 2, KWD 3). Unit prices
and fractions that need sub-minor precision are `Decimal`. Rounding to minor units happens only
through `round_minor`, at named places (a line's amount, a tax group's amount).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import Literal

from iso4217 import Currency

from kassa.core.errors import InvalidRequest

RoundingMode = Literal["half_up", "half_even"]

_ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}

# Codes in the ISO 4217 list that are not money one can invoice in (funds, metals, testing).
_NOT_INVOICEABLE = frozenset(
    {"XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XTS", "XXX"}
)


@cache
def _iso_currencies() -> dict[str, int]:
    table: dict[str, int] = {}
    for currency in Currency:
        exponent = currency.exponent
        if exponent is None or currency.code in _NOT_INVOICEABLE:
            continue
        table[currency.code.lower()] = int(exponent)
    return table


def normalize_currency(code: str, *, param: str = "currency") -> str:
    """Return the lower-case ISO 4217 code, or raise `InvalidRequest` naming `param`."""
    if not isinstance(code, str) or code.lower() not in _iso_currencies():
        raise InvalidRequest(f"Unknown currency: {code!r}.", param=param, code="currency_invalid")
    return code.lower()


def exponent(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    return _iso_currencies()[normalize_currency(currency)]


def round_minor(value: Decimal, mode: RoundingMode = "half_up") -> int:
    """Round a Decimal amount in minor units to a whole number of minor units."""
    return int(value.to_integral_value(rounding=_ROUNDING[mode]))


def parse_decimal(value: str | int | Decimal, *, param: str) -> Decimal:
    """Parse a finite decimal from a string or integer, never from a float."""
    if isinstance(value, bool | float):
        raise InvalidRequest("Give decimal amounts as strings, not floats.", param=param)
    try:
        result = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidRequest(f"Not a decimal number: {value!r}.", param=param) from None
    if not result.is_finite():
        raise InvalidRequest(f"Not a finite decimal number: {value!r}.", param=param)
    return result


def to_major(amount: int, currency: str) -> Decimal:
    """Minor units to a Decimal in major units: 1999 EUR cents -> Decimal('19.99')."""
    return Decimal(amount).scaleb(-exponent(currency))


def format_amount(amount: int, currency: str) -> str:
    """A plain, locale-neutral rendering for logs and the CLI: '19.99 EUR'."""
    places = exponent(currency)
    return f"{to_major(amount, currency):,.{places}f} {currency.upper()}"
