"""The EU VAT rate table (domain/data/eu_vat_rates.json): worked rates before and after each
change since 2020, the shape of the table (no gaps, no overlaps), and a cross-check against the
maintained `eu-vat-rates-data` package."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from importlib.resources import files
from itertools import pairwise
from typing import Any

import eu_vat_rates_data as package
import pytest

from kassa.domain import vat_rates
from kassa.domain.vat_rates import (
    country_of_vat_prefix,
    is_member,
    member_states,
    rates_on,
    standard_rate,
    vat_prefix,
)

TABLE: dict[str, Any] = json.loads(
    files("kassa.domain").joinpath("data/eu_vat_rates.json").read_text("utf-8"))
HISTORY_FROM = date.fromisoformat(TABLE["history_from"])
KINDS = ("standard", "reduced", "super_reduced", "parking")


def day(text: str) -> date:
    return date.fromisoformat(text)


def decimals(*values: str) -> list[Decimal]:
    return sorted(Decimal(value) for value in values)


# (country, date, kind, the rates valid that day): each change on its last old and first new day.
KNOWN_RATES = [
    # Finland: 24 -> 25.5 on 2024-09-01; reduced 10/14 -> 10/13.5 on 2025-01-01.
    ("FI", "2024-08-31", "standard", ["24"]),
    ("FI", "2024-09-01", "standard", ["25.5"]),
    ("FI", "2024-12-31", "reduced", ["10", "14"]),
    ("FI", "2025-01-01", "reduced", ["10", "13.5"]),
    # Slovakia: 20 -> 23 on 2025-01-01; reduced 10 -> 5 and 19 (5 for rental housing since 2023).
    ("SK", "2024-12-31", "standard", ["20"]),
    ("SK", "2025-01-01", "standard", ["23"]),
    ("SK", "2022-12-31", "reduced", ["10"]),
    ("SK", "2023-01-01", "reduced", ["5", "10"]),
    ("SK", "2024-12-31", "reduced", ["5", "10"]),
    ("SK", "2025-01-01", "reduced", ["5", "19"]),
    # Estonia: 20 -> 22 on 2024-01-01 -> 24 on 2025-07-01; press 5% from 2022-08-01 to 2024.
    ("EE", "2023-12-31", "standard", ["20"]),
    ("EE", "2024-01-01", "standard", ["22"]),
    ("EE", "2025-06-30", "standard", ["22"]),
    ("EE", "2025-07-01", "standard", ["24"]),
    ("EE", "2022-07-31", "reduced", ["9"]),
    ("EE", "2022-08-01", "reduced", ["5", "9"]),
    ("EE", "2025-01-01", "reduced", ["9", "13"]),
    # Romania: 19 -> 21 and reduced 5/9 -> 11 on 2025-08-01.
    ("RO", "2025-07-31", "standard", ["19"]),
    ("RO", "2025-08-01", "standard", ["21"]),
    ("RO", "2025-07-31", "reduced", ["5", "9"]),
    ("RO", "2025-08-01", "reduced", ["11"]),
    # Luxembourg: 16% (and 13/7) for 2023 only.
    ("LU", "2022-12-31", "standard", ["17"]),
    ("LU", "2023-01-01", "standard", ["16"]),
    ("LU", "2023-12-31", "standard", ["16"]),
    ("LU", "2024-01-01", "standard", ["17"]),
    ("LU", "2023-06-15", "reduced", ["7", "13"]),
    ("LU", "2024-01-01", "reduced", ["8", "14"]),
    ("LU", "2023-06-15", "super_reduced", ["3"]),
    ("LU", "2023-06-15", "parking", ["13"]),
    # Germany: 16/5 from 2020-07-01 to 2020-12-31.
    ("DE", "2020-06-30", "standard", ["19"]),
    ("DE", "2020-07-01", "standard", ["16"]),
    ("DE", "2020-12-31", "standard", ["16"]),
    ("DE", "2021-01-01", "standard", ["19"]),
    ("DE", "2020-07-01", "reduced", ["5"]),
    ("DE", "2021-01-01", "reduced", ["7"]),
    # Ireland: 21% from 2020-09-01 to 2021-02-28.
    ("IE", "2020-08-31", "standard", ["23"]),
    ("IE", "2020-09-01", "standard", ["21"]),
    ("IE", "2021-02-28", "standard", ["21"]),
    ("IE", "2021-03-01", "standard", ["23"]),
    ("IE", "2026-01-01", "super_reduced", ["4.8"]),
    # Czechia: reduced 10/15 merged into 12 on 2024-01-01.
    ("CZ", "2023-12-31", "reduced", ["10", "15"]),
    ("CZ", "2024-01-01", "reduced", ["12"]),
    # Lithuania: 9 -> 12 on 2026-01-01.
    ("LT", "2025-12-31", "reduced", ["5", "9"]),
    ("LT", "2026-01-01", "reduced", ["5", "12"]),
    # Austria: 5% (COVID-19) to 2021-12-31; 4.9% on basic foods from 2026-07-01.
    ("AT", "2020-06-30", "reduced", ["10", "13"]),
    ("AT", "2020-07-01", "reduced", ["5", "10", "13"]),
    ("AT", "2021-12-31", "reduced", ["5", "10", "13"]),
    ("AT", "2022-01-01", "reduced", ["10", "13"]),
    ("AT", "2026-06-30", "super_reduced", []),
    ("AT", "2026-07-01", "super_reduced", ["4.9"]),
    # Cyprus: 3% since 2023-07-21.
    ("CY", "2023-07-20", "super_reduced", []),
    ("CY", "2023-07-21", "super_reduced", ["3"]),
    # Malta: 12% since 2024-01-01.
    ("MT", "2023-12-31", "parking", []),
    ("MT", "2024-01-01", "parking", ["12"]),
    # Slovenia: 5% for books and press since 2020-01-01.
    ("SI", "2020-01-01", "reduced", ["5", "9.5"]),
    # Unchanged ones.
    ("NL", "2026-11-22", "standard", ["21"]),
    ("NL", "2026-11-22", "reduced", ["9"]),
    ("FR", "2026-11-22", "reduced", ["5.5", "10"]),
    ("FR", "2026-11-22", "super_reduced", ["2.1"]),
    ("GR", "2026-11-22", "standard", ["24"]),
    ("HU", "2026-11-22", "standard", ["27"]),
    ("DK", "2026-11-22", "reduced", []),
]


@pytest.mark.parametrize(("country", "on", "kind", "expected"), KNOWN_RATES)
def test_known_rates_before_and_after_each_change(country: str, on: str, kind: Any,
                                                  expected: list[str]) -> None:
    assert rates_on(country, day(on), kind) == decimals(*expected)


def test_country_codes_are_case_insensitive() -> None:
    assert standard_rate("fi", day("2024-09-01")) == Decimal("25.5")
    assert is_member("gr", day("2026-01-01"))


def test_the_table_holds_the_27_member_states() -> None:
    assert member_states(day("2026-11-22")) == frozenset({
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"})


def test_croatia_is_a_member_from_1_july_2013() -> None:
    assert not is_member("HR", day("2013-06-30"))
    assert is_member("HR", day("2013-07-01"))


def test_non_members_are_not_members() -> None:
    for country in ("GB", "CH", "NO", "EL", "XI", None):
        assert not is_member(country, day("2026-01-01"))
    assert standard_rate("GB", day("2020-06-01")) is None


def test_greece_is_gr_in_the_table_and_el_in_vat_ids() -> None:
    assert vat_prefix("GR") == vat_prefix("gr") == "EL"
    assert country_of_vat_prefix("EL") == country_of_vat_prefix("el") == "GR"
    assert vat_prefix("NL") == "NL" and country_of_vat_prefix("nl") == "NL"
    assert all(country_of_vat_prefix(vat_prefix(c)) == c for c in member_states(HISTORY_FROM))


def test_source_names_where_and_when() -> None:
    source = vat_rates.source()
    assert source["source"] and date.fromisoformat(source["retrieved"])
    assert "countries" not in source


# --- the shape of the table -------------------------------------------------------------------


def entries(country: str, kind: str) -> list[dict[str, Any]]:
    found = [e for e in TABLE["countries"][country]["rates"] if e["kind"] == kind]
    return sorted(found, key=lambda e: e["valid_from"])


def span(entry: dict[str, Any]) -> tuple[date, date]:
    until = entry.get("valid_until")
    return day(entry["valid_from"]), day(until) if until else date.max


@pytest.mark.parametrize("country", sorted(TABLE["countries"]))
def test_consecutive_standard_rates_leave_no_gap_and_no_overlap(country: str) -> None:
    standard = entries(country, "standard")
    assert day(standard[0]["valid_from"]) <= HISTORY_FROM
    for before, after in pairwise(standard):
        assert before.get("valid_until") == after["valid_from"], (before, after)
    assert "valid_until" not in standard[-1]
    assert all(len(entry["percentages"]) == 1 for entry in standard)


@pytest.mark.parametrize("country", sorted(TABLE["countries"]))
def test_entries_of_one_kind_never_overlap(country: str) -> None:
    for kind in KINDS:
        spans = [span(entry) for entry in entries(country, kind)]
        for (_, before_until), (after_from, _) in pairwise(spans):
            assert before_until <= after_from, (country, kind)
        assert all(start < until for start, until in spans)


@pytest.mark.parametrize("country", sorted(TABLE["countries"]))
def test_rates_are_ordered_as_their_kinds_say(country: str) -> None:
    """Super-reduced rates are below 5%, reduced ones at least 5%, all below the standard."""
    for entry in TABLE["countries"][country]["rates"]:
        assert entry["kind"] in KINDS
        start = day(entry["valid_from"])
        standard = standard_rate(country, max(start, HISTORY_FROM))
        assert standard is not None
        for text in entry["percentages"]:
            rate = Decimal(text)
            assert str(rate) == text and rate > 0
            if entry["kind"] == "super_reduced":
                assert rate < 5, entry
            elif entry["kind"] in ("reduced", "parking"):
                assert 5 <= rate < standard, entry


def test_every_member_state_has_one_standard_rate_on_every_day_2021_to_2027() -> None:
    on, end = day("2021-01-01"), day("2027-01-01")
    while on <= end:
        for country in member_states(on):
            assert len(rates_on(country, on, "standard")) == 1, (country, on)
        on += timedelta(days=1)


# --- the cross-check against eu-vat-rates-data ------------------------------------------------

# Where the package (which reads the Commission's TEDB) contradicts the rates of general
# application in the country's national territory, our value stays and the country is listed
# here with the reason. A listed country that stops differing fails the test below, so the list
# cannot go stale.
KNOWN_DIFFERENCES = {
    # Jungholz and Mittelberg, Austrian enclaves reachable only through Germany, apply 19%.
    "AT": "the package lists 19 among the reduced rates: the standard rate of two enclaves",
    # Corsica (13, 10, 2.1, 0.9) and Guadeloupe, Martinique, Réunion (8.5, 2.1, 1.05).
    "FR": "the package adds the regional rates of Corsica and the overseas departments "
          "(0.9, 1.05, 8.5, 13) to the reduced rates of metropolitan France (5.5, 10)",
    # The rates 30% lower on some Aegean islands: 17, 9, 4.
    "GR": "the package adds 17 (reduced) and 4 (super-reduced) of some Aegean islands; the "
          "mainland has 6 and 13 and no super-reduced rate",
    # Revenue's rates for 2025 still list the livestock rate; so does the Commission's table.
    "IE": "the package has no super-reduced rate; Ireland's 4.8% livestock rate is one",
    # Poland's two reduced rates are 5 and 8; nothing is below 5.
    "PL": "the package also files 8 as a super-reduced rate; it is a reduced rate",
    # The Azores' standard 16 and Madeira's standard 22 are regional; 6 is mainland's reduced.
    "PT": "the package adds 16 and 22 (Azores and Madeira standard rates) to the reduced "
          "rates and files 6 as super-reduced; mainland Portugal has reduced 6 and 13 only",
}


def _ours(country: str, on: date) -> dict[str, Any]:
    return {"standard": standard_rate(country, on),
            "reduced": set(rates_on(country, on, "reduced")),
            "super_reduced": set(rates_on(country, on, "super_reduced"))}


def _package(country: str) -> dict[str, Any]:
    rate = package.get_rate(country)
    assert rate is not None, f"{country} missing from eu-vat-rates-data"
    super_reduced = rate["super_reduced"]
    return {"standard": Decimal(str(rate["standard"])),
            "reduced": {Decimal(str(value)) for value in rate["reduced"]},
            "super_reduced": set() if super_reduced is None else {Decimal(str(super_reduced))}}


PACKAGE_DATE = date.fromisoformat(package.data_version)
PACKAGE_MEMBERS = sorted(code for code, rate in package.get_all_rates().items()
                         if rate["eu_member"])


def test_the_package_and_the_table_agree_on_the_member_states() -> None:
    assert frozenset(PACKAGE_MEMBERS) == member_states(PACKAGE_DATE)


@pytest.mark.parametrize("country", PACKAGE_MEMBERS)
def test_rates_match_eu_vat_rates_data_on_its_data_version_date(country: str) -> None:
    ours, theirs = _ours(country, PACKAGE_DATE), _package(country)
    differences = {kind: (ours[kind], theirs[kind]) for kind in ours
                   if ours[kind] != theirs[kind]}
    if country in KNOWN_DIFFERENCES:
        assert differences, (f"{country} now matches eu-vat-rates-data "
                             f"{package.data_version}: drop it from KNOWN_DIFFERENCES")
        assert ours["standard"] == theirs["standard"], differences
    else:
        assert not differences, (f"{country} on {PACKAGE_DATE} differs from "
                                 f"eu-vat-rates-data (ours, theirs): {differences}")
