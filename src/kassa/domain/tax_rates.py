"""Seller-maintained tax rates (GST, HST, PST, QST, US sales tax...): which apply where and when.

Outside the EU, whose VAT Kassa knows itself (`vat_rates`), the seller keeps the rates of the
jurisdictions it is registered in. A rate belongs to a country, optionally a subdivision
(ISO 3166-2: a Canadian province, a US state), and a tax type; it is valid on the calendar days
from `valid_from` up to, not including, `valid_until`. A buyer in a subdivision owes the
country-level rates and the subdivision's own (British Columbia: GST 5 % and PST 7 %), except
where a harmonized tax replaces the federal one (Ontario: HST 13 %, which includes the GST).

Plain data in, plain data out: the tax engine calls `applicable`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

TAX_TYPES = ("vat", "gst", "hst", "pst", "qst", "sales_tax", "jct", "rst")

# A subdivision's tax of the key's type takes the place of the country-level taxes named:
# Canada's HST is the GST and the provincial part in one.
REPLACES: dict[str, frozenset[str]] = {"hst": frozenset({"gst"})}

# ISO 3166-2 subdivision codes (the part after "CA-" / "US-") of the countries whose
# sales taxes are levied per subdivision. Other countries' codes are only checked for shape.
SUBDIVISIONS: dict[str, frozenset[str]] = {
    "CA": frozenset({"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK",
                     "YT"}),
    "US": frozenset({
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN",
        "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV",
        "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN",
        "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC",
        # Outlying areas with their own ISO 3166-2:US codes.
        "AS", "GU", "MP", "PR", "UM", "VI"}),
}


@dataclass(frozen=True)
class RateTerms:
    """One seller-maintained rate, as the tax engine sees it."""

    id: str
    display_name: str
    tax_type: str
    country: str
    state: str | None
    percentage: Decimal
    inclusive: bool
    valid_from: date | None
    valid_until: date | None  # exclusive

    def valid_on(self, on: date) -> bool:
        """Whether the rate applies to a supply on `on`."""
        return (self.valid_from is None or self.valid_from <= on) and \
            (self.valid_until is None or on < self.valid_until)


def is_subdivision(country: str, state: str) -> bool:
    """Whether `state` is a subdivision code of `country`: checked against the table for
    Canada and the United States, and for shape (1-3 letters or digits) elsewhere."""
    known = SUBDIVISIONS.get(country.upper())
    if known is not None:
        return state.upper() in known
    return 1 <= len(state) <= 3 and state.isascii() and state.isalnum()


def overlaps(first_from: date | None, first_until: date | None,
             second_from: date | None, second_until: date | None) -> bool:
    """Whether two validity ranges [from, until) share a day; None is unbounded."""
    starts_before_second_ends = second_until is None or first_from is None \
        or first_from < second_until
    ends_after_second_starts = first_until is None or second_from is None \
        or second_from < first_until
    return starts_before_second_ends and ends_after_second_starts


def same_jurisdiction(a: RateTerms, b: RateTerms) -> bool:
    """Whether two rates are the same tax of the same place (their ranges must not overlap)."""
    return (a.country, a.state, a.tax_type) == (b.country, b.state, b.tax_type)


def applicable(rates: Sequence[RateTerms], country: str, state: str | None,
               on: date) -> list[RateTerms]:
    """The rates a supply on `on` to a buyer in `country` (and subdivision `state`) owes: the
    country-level rates and the subdivision's, valid that day, less the country-level taxes
    a subdivision's harmonized tax replaces. Ordered country-level first, then by tax type."""
    country = country.upper()
    state = state.upper() if state else None
    valid = [rate for rate in rates if rate.country == country and rate.valid_on(on)]
    regional = [rate for rate in valid if state is not None and rate.state == state]
    replaced = frozenset().union(*(REPLACES.get(rate.tax_type, frozenset())
                                   for rate in regional))
    national = [rate for rate in valid if rate.state is None
                and rate.tax_type not in replaced]
    return sorted(national, key=_order) + sorted(regional, key=_order)


def _order(rate: RateTerms) -> tuple[str, date, str]:
    return (rate.tax_type, rate.valid_from or date.min, rate.id)


@cache
def _examples() -> dict[str, Any]:
    text = files("kassa.domain").joinpath("data/example_tax_rates.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def example_rates() -> list[RateTerms]:
    """The example rates shipped with Kassa (`data/example_tax_rates.json`): a starting
    point the seller checks and maintains, not tax advice. Each id names its jurisdiction,
    type and first day, e.g. "CA-NS/hst/2025-04-01"."""
    rates = []
    for entry in _examples()["rates"]:
        valid_from = _day(entry.get("valid_from"))
        place = entry["country"] + (f"-{entry['state']}" if entry.get("state") else "")
        rates.append(RateTerms(
            id=f"{place}/{entry['tax_type']}/{valid_from or 'always'}",
            display_name=entry["display_name"], tax_type=entry["tax_type"],
            country=entry["country"], state=entry.get("state"),
            percentage=Decimal(entry["percentage"]), inclusive=bool(entry.get("inclusive")),
            valid_from=valid_from, valid_until=_day(entry.get("valid_until"))))
    return rates


def example_descriptions() -> dict[str, str]:
    """The description of each example rate that has one, by `example_rates` id."""
    return {rate.id: entry["description"] for rate, entry
            in zip(example_rates(), _examples()["rates"], strict=True)
            if entry.get("description")}


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
