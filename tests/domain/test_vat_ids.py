"""VAT ids: compact forms, Greece as EL, and errors that name the format the country expects
(services/validation.vat_id with the formats of domain/vat_ids.py)."""

from __future__ import annotations

from datetime import date

import pytest

from kassa.core.errors import InvalidRequest
from kassa.domain import vat_rates
from kassa.domain.vat_ids import FORMATS, format_of, vies_parts
from kassa.services.validation import vat_id

TODAY = date(2026, 11, 22)


def refused(value: object) -> str:
    with pytest.raises(InvalidRequest) as caught:
        vat_id(value, param="vat_id")
    assert caught.value.code == "tax_id_invalid" and caught.value.param == "vat_id"
    return caught.value.message


@pytest.mark.parametrize(("given", "compact"), [
    ("NL004495445B01", "NL004495445B01"),
    ("nl 0044.95445.b01", "NL004495445B01"),
    ("  de 123-456-788 ", "DE123456788"),
    ("atu 1234 5675", "ATU12345675"),
    ("EL123456783", "EL123456783"),
    ("el 123 456 783", "EL123456783"),
    ("GR123456783", "EL123456783"),  # Greece's ISO code is accepted, its VAT prefix kept
    ("XI 123 4567 82", "XI123456782"),
    ("gb 980 7806 84", "GB980780684"),
    ("CHE-123.456.788 MWST", "CHE123456788MWST"),
    ("no 123 456 785 mva", "NO123456785MVA"),
])
def test_vat_ids_are_normalized_to_their_compact_form(given: str, compact: str) -> None:
    assert vat_id(given, param="vat_id") == compact


@pytest.mark.parametrize(("given", "message"), [
    # wrong check digits
    ("NL004495446B01", "Not a valid Dutch VAT number: expected NL followed by 9 digits, B and "
                       "2 digits (NL123456782B01)."),
    ("DE123456789", "Not a valid German VAT number: expected DE followed by 9 digits "
                    "(DE123456788)."),
    ("EL123456789", "Not a valid Greek VAT number: expected EL followed by 9 digits "
                    "(EL123456783)."),
    ("NO123456784MVA", "Not a valid Norwegian VAT number: expected NO followed by 9 digits "
                       "and MVA (NO123456785MVA)."),
    # wrong length
    ("DE12345678", "Not a valid German VAT number: expected DE followed by 9 digits "
                   "(DE123456788)."),
    ("nl 1234", "Not a valid Dutch VAT number: expected NL followed by 9 digits, B and 2 "
                "digits (NL123456782B01)."),
    ("GR12", "Not a valid Greek VAT number: expected EL followed by 9 digits (EL123456783)."),
    ("AT12345675", "Not a valid Austrian VAT number: expected ATU followed by 8 digits "
                   "(ATU12345675)."),
])
def test_an_invalid_vat_id_is_refused_naming_the_expected_format(given: str,
                                                                 message: str) -> None:
    assert refused(given) == message


@pytest.mark.parametrize("given", ["US123456789", "XX123", "us 12 34"])
def test_an_unknown_country_prefix_is_named(given: str) -> None:
    assert refused(given).startswith(f"Unknown VAT id country prefix '{given[:2].upper()}'")


@pytest.mark.parametrize("given", ["", "  ", "1234567", "N", 123, None, ["NL"]])
def test_a_vat_id_without_a_country_prefix_is_refused(given: object) -> None:
    assert "NL123456782B01" in refused(given)


def test_every_member_state_and_xi_gb_ch_no_has_a_format() -> None:
    prefixes = {vat_rates.vat_prefix(c) for c in vat_rates.member_states(TODAY)}
    assert set(FORMATS) == prefixes | {"XI", "GB", "CH", "NO"}
    for prefix, expected in FORMATS.items():
        assert expected.prefix.startswith(prefix)
        assert vat_rates.vat_prefix(expected.country) == prefix or prefix == "XI"


@pytest.mark.parametrize("prefix", sorted(FORMATS))
def test_each_example_is_a_well_formed_id_of_its_country(prefix: str) -> None:
    example = FORMATS[prefix].example
    assert vat_id(example, param="vat_id") == example
    assert format_of(example) is FORMATS[prefix]


@pytest.mark.parametrize(("compact", "parts"), [
    ("NL004495445B01", ("NL", "004495445B01")),
    ("EL123456783", ("EL", "123456783")),
    ("GR123456783", ("EL", "123456783")),  # stored before ids were normalized to EL
    ("ATU12345675", ("AT", "U12345675")),  # VIES wants Austria's U with the number
    ("XI123456782", ("XI", "123456782")),
    ("GB980780684", None),
    ("CHE123456788MWST", None),
    ("NO123456785MVA", None),
])
def test_vies_checks_member_states_and_northern_ireland(compact: str,
                                                        parts: tuple[str, str] | None) -> None:
    assert vies_parts(compact, TODAY) == parts


def test_vies_checked_croatian_ids_only_from_its_accession() -> None:
    assert vies_parts("HR12345678903", date(2013, 6, 30)) is None
    assert vies_parts("HR12345678903", date(2013, 7, 1)) == ("HR", "12345678903")
