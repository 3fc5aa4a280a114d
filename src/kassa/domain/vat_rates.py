"""EU VAT rates by member state with their validity dates, as data in the package.

The table (`data/eu_vat_rates.json`) lists, per member state, each rate kind (standard,
reduced, super_reduced, parking) with the dates it applies from (and until); an invoice uses
the rates valid on its supply date, so a rate change mid-year is handled. Its source, retrieval
date and scope are in the file (`source()`): rates of general application in each member
state's national territory, answered for dates from `history_from` on; regional rates (Corsica,
the Azores, the Aegean islands...) and zero rates are not in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any, Literal

RateKind = Literal["standard", "reduced", "super_reduced", "parking"]


@dataclass(frozen=True)
class Rate:
    country: str
    kind: RateKind
    percentage: Decimal
    valid_from: date
    valid_until: date | None  # exclusive


@cache
def _table() -> dict[str, Any]:
    text = files("kassa.domain").joinpath("data/eu_vat_rates.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _rates() -> tuple[Rate, ...]:
    rates = []
    for country, entries in _table()["countries"].items():
        for entry in entries["rates"]:
            for value in entry["percentages"]:
                rates.append(Rate(country, entry["kind"], Decimal(value),
                                  date.fromisoformat(entry["valid_from"]),
                                  date.fromisoformat(entry["valid_until"])
                                  if entry.get("valid_until") else None))
    return tuple(rates)


def source() -> dict[str, str]:
    """Where the table comes from and when it was checked."""
    return {key: str(value) for key, value in _table().items() if key != "countries"}


def member_states(on: date) -> frozenset[str]:
    """EU member states on a date (ISO 3166 codes, Greece as GR)."""
    members = set()
    for country, entry in _table()["countries"].items():
        joined = date.fromisoformat(entry.get("member_from", "1958-01-01"))
        left = entry.get("member_until")
        if joined <= on and (left is None or on < date.fromisoformat(left)):
            members.add(country)
    return frozenset(members)


def is_member(country: str | None, on: date) -> bool:
    """Whether `country` (ISO code, any case) was an EU member state on `on`."""
    return country is not None and country.upper() in member_states(on)


def rates_on(country: str, on: date, kind: RateKind) -> list[Decimal]:
    """The country's rates of one kind valid on `on` (several reduced rates possible)."""
    return list(_rates_on(country.upper(), on, kind))


@lru_cache(maxsize=8192)  # a billing run asks the same few thousand times
def _rates_on(country: str, on: date, kind: RateKind) -> tuple[Decimal, ...]:
    return tuple(sorted(rate.percentage for rate in _rates()
                        if rate.country == country and rate.kind == kind
                        and rate.valid_from <= on and (rate.valid_until is None
                                                       or on < rate.valid_until)))


def standard_rate(country: str, on: date) -> Decimal | None:
    """The country's standard rate on `on`, or None where the table has none."""
    found = rates_on(country, on, "standard")
    return found[0] if found else None


# VAT ids and VIES name Greece "EL" (its code in the EU's languages), not its ISO code "GR".
_VAT_PREFIX_OF_COUNTRY = {"GR": "EL"}
_COUNTRY_OF_VAT_PREFIX = {prefix: country for country, prefix in _VAT_PREFIX_OF_COUNTRY.items()}


def vat_prefix(country: str) -> str:
    """The prefix of a country's VAT ids: the ISO code, except "EL" for Greece ("GR")."""
    code = country.upper()
    return _VAT_PREFIX_OF_COUNTRY.get(code, code)


def country_of_vat_prefix(prefix: str) -> str:
    """The ISO country code of a VAT id prefix: "GR" for "EL", else the prefix itself."""
    code = prefix.upper()
    return _COUNTRY_OF_VAT_PREFIX.get(code, code)
