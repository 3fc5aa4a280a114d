"""The ECB's euro foreign exchange reference rates, as published in XML.

Spec: the European Central Bank's `eurofxref-daily.xml`, `eurofxref-hist-90d.xml` and
`eurofxref-hist.xml` (a `gesmes:Envelope` holding `Cube` / `Cube time="YYYY-MM-DD"` /
`Cube currency="USD" rate="1.0921"`): how many units of each currency one euro bought on each
business day, published around 16:00 CET.

The file comes from outside, so it is parsed by a hardened parser: no DTD is loaded, no
entity is resolved, nothing is fetched from the network, and a document that declares a DTD
or an entity is refused outright.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from kassa.core.errors import InvalidRequest, PayloadTooLarge

GESMES = "http://www.gesmes.org/xml/2002-08-01"
EUROFXREF = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
BASE = "eur"
MAX_BYTES = 20 * 1024 * 1024  # eurofxref-hist.xml, every day since 1999, is well below this

_CUBE = f"{{{EUROFXREF}}}Cube"


@dataclass(frozen=True)
class Reference:
    """One euro bought `rate` units of `currency` (ISO 4217, as the ECB writes it) on `day`."""

    day: date
    currency: str
    rate: Decimal


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code="xml_invalid")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_pis=True)


def parse(data: bytes) -> list[Reference]:
    """Every rate in an ECB reference-rate file, in document order. Raises `InvalidRequest`
    (code `xml_invalid`) for anything else: malformed XML, a DTD or entity declaration,
    another document type, a day or rate that does not parse; `PayloadTooLarge` for a file
    over `MAX_BYTES`."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise _invalid("XML with a DTD or entity declarations is not accepted.")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise _invalid(f"The file is not well-formed XML: {exc.msg}.") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # e.g. declared in UTF-16
        raise _invalid("XML with a DTD or entity declarations is not accepted.")
    if root.tag != f"{{{GESMES}}}Envelope":
        raise _invalid("Not an ECB reference-rate file: the root is not a gesmes:Envelope.")
    days = root.findall(f"{_CUBE}/{_CUBE}[@time]")
    if not days:
        raise _invalid("The file has no Cube with a time: no rates to import.")
    return [reference for cube in days for reference in _day(cube)]


def _day(cube: etree._Element) -> list[Reference]:
    time = cube.get("time", "")
    try:
        day = date.fromisoformat(time)
    except ValueError:
        raise _invalid(f"Cube time {time[:20]!r} is not a date (YYYY-MM-DD).") from None
    references = []
    for entry in cube.iterchildren(_CUBE):
        currency, text = entry.get("currency", ""), entry.get("rate", "")
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            raise _invalid(f"On {time}, {currency[:20]!r} is not a currency code.")
        try:
            rate = Decimal(text)
        except InvalidOperation:
            rate = Decimal(0)
        if not rate.is_finite() or rate <= 0:
            raise _invalid(f"On {time}, the {currency} rate {text[:20]!r} is not a positive "
                           "number.")
        references.append(Reference(day, currency.upper(), rate))
    return references
