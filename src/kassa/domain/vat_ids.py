"""VAT identification numbers: the format each country expects, said in words, and which ids
the EU's VIES can check.

Formats as the European Commission's VIES help ("VAT number validation: format of the VAT
numbers") describes them, plus the United Kingdom (GB), Northern Ireland (XI, in VIES since
2021), Switzerland (CHE... MWST/TVA/IVA) and Norway (NO... MVA). Each example is a made-up
number whose check digits are right, so a customer can see what a well-formed id looks like.
The check digits themselves are python-stdnum's business (services/validation.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from kassa.domain import vat_rates


@dataclass(frozen=True)
class VatIdFormat:
    prefix: str  # as the id starts: "EL" for Greece, "CHE" for Switzerland
    country: str  # ISO 3166 code: "GR" for Greece
    adjective: str  # "Dutch", as in "a Dutch VAT number"
    description: str  # what follows the prefix
    example: str

    @property
    def expected(self) -> str:
        """'NL followed by 9 digits, B and 2 digits (NL123456782B01)'."""
        return f"{self.prefix} followed by {self.description} ({self.example})"


_FORMATS = (
    VatIdFormat("ATU", "AT", "Austrian", "8 digits", "ATU12345675"),
    VatIdFormat("BE", "BE", "Belgian", "10 digits, the first 0 or 1", "BE0123456749"),
    VatIdFormat("BG", "BG", "Bulgarian", "9 or 10 digits", "BG123456786"),
    VatIdFormat("CY", "CY", "Cypriot", "8 digits and a letter", "CY10000000D"),
    VatIdFormat("CZ", "CZ", "Czech", "8, 9 or 10 digits", "CZ12345679"),
    VatIdFormat("DE", "DE", "German", "9 digits", "DE123456788"),
    VatIdFormat("DK", "DK", "Danish", "8 digits", "DK12345674"),
    VatIdFormat("EE", "EE", "Estonian", "9 digits", "EE100000010"),
    VatIdFormat("EL", "GR", "Greek", "9 digits", "EL123456783"),
    VatIdFormat("ES", "ES", "Spanish", "9 characters: a letter or digit, 7 digits and a letter "
                "or digit", "ESA12345674"),
    VatIdFormat("FI", "FI", "Finnish", "8 digits", "FI12345671"),
    VatIdFormat("FR", "FR", "French", "2 letters or digits and the 9-digit SIREN",
                "FR11123456782"),
    VatIdFormat("HR", "HR", "Croatian", "11 digits", "HR12345678903"),
    VatIdFormat("HU", "HU", "Hungarian", "8 digits", "HU12345676"),
    VatIdFormat("IE", "IE", "Irish", "7 digits and 1 or 2 letters (or the old form: a digit, "
                "a letter, 5 digits and a letter)", "IE1234567T"),
    VatIdFormat("IT", "IT", "Italian", "11 digits", "IT12345670017"),
    VatIdFormat("LT", "LT", "Lithuanian", "9 or 12 digits", "LT123456715"),
    VatIdFormat("LU", "LU", "Luxembourg", "8 digits", "LU12345613"),
    VatIdFormat("LV", "LV", "Latvian", "11 digits", "LV40000000000"),
    VatIdFormat("MT", "MT", "Maltese", "8 digits", "MT12345634"),
    VatIdFormat("NL", "NL", "Dutch", "9 digits, B and 2 digits", "NL123456782B01"),
    VatIdFormat("PL", "PL", "Polish", "10 digits", "PL1234567802"),
    VatIdFormat("PT", "PT", "Portuguese", "9 digits", "PT123456789"),
    VatIdFormat("RO", "RO", "Romanian", "2 to 10 digits", "RO1234565"),
    VatIdFormat("SE", "SE", "Swedish", "10 digits and 01", "SE123456789701"),
    VatIdFormat("SI", "SI", "Slovenian", "8 digits", "SI12345679"),
    VatIdFormat("SK", "SK", "Slovak", "10 digits", "SK2020123457"),
    VatIdFormat("XI", "GB", "Northern Irish", "9 or 12 digits", "XI123456782"),
    VatIdFormat("GB", "GB", "British", "9 or 12 digits", "GB980780684"),
    VatIdFormat("CHE", "CH", "Swiss", "9 digits and MWST, TVA or IVA", "CHE123456788MWST"),
    VatIdFormat("NO", "NO", "Norwegian", "9 digits and MVA", "NO123456785MVA"),
)
# Keyed by the id's first two letters: the country part of every prefix above.
FORMATS: dict[str, VatIdFormat] = {f.prefix[:2]: f for f in _FORMATS}

# Northern Ireland's traders of goods keep EU VAT ids (XI), and VIES checks them.
_VIES_EXTRA = frozenset({"XI"})


def format_of(vat_id: str) -> VatIdFormat | None:
    """The expected format of a VAT id by its first two letters, or None if unknown."""
    return FORMATS.get(vat_id[:2].upper())


def vies_parts(vat_id: str, on: date) -> tuple[str, str] | None:
    """(prefix, number) of a compact VAT id VIES can check on `on` ("EL", "123456783"), or
    None: VIES knows only the ids of EU member states and Northern Ireland."""
    prefix = vat_id[:2].upper()
    if prefix in _VIES_EXTRA:
        return prefix, vat_id[2:]
    country = vat_rates.country_of_vat_prefix(prefix)
    if not vat_rates.is_member(country, on):
        return None
    return vat_rates.vat_prefix(country), vat_id[2:]  # an old "GR..." id is asked as "EL"
