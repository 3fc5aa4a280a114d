"""UBL 2.1 e-invoices in the Peppol BIS Billing 3.0 profile (EN 16931 CIUS).

Spec: OASIS UBL 2.1; CEN EN 16931-1:2017 and its UBL syntax binding (CEN/TS 16931-3-2);
OpenPeppol BIS Billing 3.0 (https://docs.peppol.eu/poacc/billing/3.0/).

`invoice_xml` and `credit_note_xml` are pure: they read the stored invoice, credit note and
organization and return the document's bytes. Choices that keep the business rules true:

- A line's net amount (BT-131) is what Kassa taxed: `amount_excluding_tax`. When
  quantity x unit price is that amount exactly (after a line discount, given as a line
  allowance), the line shows the real quantity and price; otherwise quantity 1 at the net
  amount (BR-CO / PEPPOL-EN16931-R120 hold exactly, never by tolerance).
- Credit lines (prorations) have a negative quantity: the item price must not be negative
  (BR-27).
- Tax subtotals are summed from the lines per category and rate (BR-S-08 and siblings);
  their tax is the invoice's own tax breakdown, which was rounded once per group.
- "Not subject to VAT" (O) documents carry no VAT identifiers (BR-O-02); the seller is then
  identified by its Peppol endpoint and legal name only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from kassa.core.errors import InvalidState
from kassa.core.money import exponent, to_major
from kassa.domain import peppol
from kassa.store import models as m

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

_NS = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

# VATEX codes (CEF VAT exemption reason code list) where Kassa's decision has one.
_EXEMPTION_CODES = {"AE": "VATEX-EU-AE", "O": "VATEX-EU-O", "K": "VATEX-EU-IC",
                    "G": "VATEX-EU-G"}
_EXEMPTION_TEXTS = {"AE": "Reverse charge", "O": "Not subject to VAT",
                    "E": "Exempt from VAT", "K": "Intra-community supply",
                    "G": "Export outside the EU"}
_UNTAXED = ("E", "AE", "O", "K", "G", "Z")


@dataclass(frozen=True)
class _Line:
    """One document line, in minor units: what the rules need of an invoice or credit line."""

    description: str
    quantity: int
    unit_amount: Decimal | None  # minor units, tax excluded
    discount: int
    net: int
    category: str
    rate: Decimal
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class _Group:
    category: str
    rate: Decimal
    taxable: int
    tax: int
    reason: str | None


def invoice_xml(invoice: m.Invoice, org: m.Organization, customer: m.Customer, *,
                zone: ZoneInfo | None = None) -> bytes:
    """The finalized `invoice` as a Peppol BIS 3.0 UBL Invoice (type 380).

    Raises InvalidState for a draft, or for an invoice without tax decisions (automatic tax
    off): EN 16931 needs a VAT category on every line."""
    if invoice.status == "draft" or invoice.number is None or invoice.finalized_at is None:
        raise InvalidState("The invoice is a draft: finalize it first.", param="invoice")
    zone = zone or ZoneInfo("UTC")
    lines = [_invoice_line(line) for line in invoice.lines]
    groups = _groups(lines, invoice.tax_breakdown or [])
    doc = _Document("Invoice", invoice.currency, zone)
    root = doc.root
    doc.header(invoice.number, invoice.finalized_at)
    if invoice.due_date is not None:
        doc.add(root, "cbc:DueDate", doc.day(invoice.due_date))
    doc.add(root, "cbc:InvoiceTypeCode", "380")
    doc.add(root, "cbc:DocumentCurrencyCode", invoice.currency.upper())
    doc.add(root, "cbc:BuyerReference", invoice.customer_id)
    doc.period(root, lines)
    doc.parties(org, invoice, customer, groups)
    doc.payment_means(org, invoice.number)
    if invoice.due_date is None:
        terms = doc.add(root, "cac:PaymentTerms")
        doc.add(terms, "cbc:Note", "Charged automatically to the customer's payment method.")
    doc.tax_total(groups)
    prepaid = invoice.total - invoice.amount_remaining
    doc.monetary_total(lines, groups, prepaid=prepaid)
    for index, line in enumerate(lines, start=1):
        doc.line("InvoiceLine", "InvoicedQuantity", index, line)
    return doc.bytes()


def credit_note_xml(credit_note: m.CreditNote, invoice: m.Invoice, org: m.Organization,
                    customer: m.Customer, *, zone: ZoneInfo | None = None) -> bytes:
    """The issued `credit_note` of `invoice` as a Peppol BIS 3.0 UBL CreditNote (type 381),
    referring to the invoice it corrects."""
    zone = zone or ZoneInfo("UTC")
    if invoice.number is None:
        raise InvalidState("The credited invoice has no number.", param="invoice")
    lines, taxes = _credit_lines(credit_note, invoice)
    groups = _groups(lines, taxes)
    doc = _Document("CreditNote", credit_note.currency, zone)
    root = doc.root
    doc.header(credit_note.number, credit_note.created)
    doc.add(root, "cbc:CreditNoteTypeCode", "381")
    if credit_note.memo:
        doc.add(root, "cbc:Note", credit_note.memo)
    doc.add(root, "cbc:DocumentCurrencyCode", credit_note.currency.upper())
    doc.add(root, "cbc:BuyerReference", credit_note.customer_id)
    reference = doc.add(doc.add(root, "cac:BillingReference"), "cac:InvoiceDocumentReference")
    doc.add(reference, "cbc:ID", invoice.number)
    if invoice.finalized_at is not None:
        doc.add(reference, "cbc:IssueDate", doc.day(invoice.finalized_at))
    doc.parties(org, invoice, customer, groups)
    doc.payment_means(org, credit_note.number)
    doc.tax_total(groups)
    doc.monetary_total(lines, groups, prepaid=0)
    for index, line in enumerate(lines, start=1):
        doc.line("CreditNoteLine", "CreditedQuantity", index, line)
    return doc.bytes()


def _category(category: str | None, rate: Decimal | None, what: str) -> tuple[str, Decimal]:
    if category is None:
        raise InvalidState(f"{what} has no tax decision; e-invoices need a VAT category on "
                           "every line (turn on automatic tax).", param="invoice")
    return category, Decimal(0) if category in _UNTAXED else (rate or Decimal(0))


def _invoice_line(line: m.InvoiceLine) -> _Line:
    category, rate = _category(line.tax_category, line.tax_rate, f"Line {line.id}")
    exclusive = line.tax_behavior != "inclusive"
    return _Line(line.description, line.quantity,
                 line.unit_amount_decimal if exclusive else None, line.discount_amount or 0,
                 line.amount_excluding_tax, category, rate, line.period_start,
                 line.period_end)


def _credit_lines(note: m.CreditNote,
                  invoice: m.Invoice) -> tuple[list[_Line], list[dict[str, Any]]]:
    """The credit note's lines, and its tax as breakdown entries (one per line)."""
    invoice_lines = {line.id: line for line in invoice.lines}
    if not note.lines:  # a lump sum: one line, possible only with one tax category
        kinds = {(line.tax_category, line.tax_rate) for line in invoice.lines}
        if len(kinds) != 1:
            raise InvalidState("A lump-sum credit note on an invoice with several tax rates "
                               "has no e-invoice form; credit its lines instead.",
                               param="credit_note")
        [(category, rate)] = kinds
        category, rate = _category(category, rate, f"Invoice {invoice.id}")
        return ([_Line(f"Credit on invoice {invoice.number}", 1, None, 0, note.subtotal,
                       category, rate)],
                [{"category": category, "rate": str(rate), "tax_amount": note.tax}])
    result, taxes = [], []
    for line in note.lines:
        source = invoice_lines.get(line.invoice_line_id or "")
        category, rate = _category(line.tax_category, line.tax_rate, f"Line {line.id}")
        inclusive = source is not None and source.tax_behavior == "inclusive"
        net = line.amount - line.tax_amount if inclusive else line.amount
        unit = None if inclusive else line.unit_amount_decimal
        result.append(_Line(line.description, line.quantity, unit, 0, net, category, rate))
        taxes.append({"category": category, "rate": str(rate), "tax_amount": line.tax_amount})
    return result, taxes


def _groups(lines: Sequence[_Line], breakdown: Iterable[dict[str, Any]] | None) -> list[_Group]:
    """Tax subtotals per (category, rate): taxable amounts summed from the lines, tax from
    the stored breakdown (rounded once per group), reasons from its legal notes."""
    taxable: dict[tuple[str, Decimal], int] = defaultdict(int)
    for line in lines:
        taxable[line.category, line.rate] += line.net
    tax: dict[tuple[str, Decimal], int] = defaultdict(int)
    notes: dict[tuple[str, Decimal], str] = {}
    for entry in breakdown or ():
        category = entry["category"]
        key = (category, Decimal(0) if category in _UNTAXED else Decimal(entry["rate"]))
        tax[key] += entry["tax_amount"]
        if entry.get("note"):
            notes.setdefault(key, entry["note"])
    return [_Group(category, rate, amount, tax[category, rate],
                   notes.get((category, rate), _EXEMPTION_TEXTS.get(category)))
            for (category, rate), amount in taxable.items()]


class _Document:
    """An lxml tree under construction, with the formatting rules of one document."""

    def __init__(self, kind: str, currency: str, zone: ZoneInfo) -> None:
        self.currency = currency.upper()
        self.places = exponent(currency)
        self.zone = zone
        self.root = etree.Element(f"{{{_NS[kind]}}}{kind}",
                                  nsmap={None: _NS[kind], "cac": _CAC, "cbc": _CBC})

    def add(self, parent: etree._Element, tag: str, text: str | None = None,
            **attributes: str) -> etree._Element:
        prefix, name = tag.split(":")
        element = etree.SubElement(parent, f"{{{_CAC if prefix == 'cac' else _CBC}}}{name}",
                                   attributes)
        if text is not None:
            element.text = text
        return element

    def amount(self, parent: etree._Element, tag: str, minor: int) -> etree._Element:
        return self.add(parent, tag, f"{to_major(minor, self.currency):.{self.places}f}",
                        currencyID=self.currency)

    def day(self, instant: datetime) -> str:
        return instant.astimezone(self.zone).date().isoformat()

    def bytes(self) -> bytes:
        return bytes(etree.tostring(self.root, xml_declaration=True, encoding="UTF-8",
                                    pretty_print=True))

    def header(self, number: str, issued: datetime) -> None:
        self.add(self.root, "cbc:CustomizationID", CUSTOMIZATION_ID)
        self.add(self.root, "cbc:ProfileID", PROFILE_ID)
        self.add(self.root, "cbc:ID", number)
        self.add(self.root, "cbc:IssueDate", self.day(issued))

    def _period(self, parent: etree._Element, start: datetime, end: datetime) -> None:
        # Kassa's periods end at an exclusive instant; EN 16931's end date is inclusive.
        last = end - timedelta(microseconds=1) if end > start else start
        period = self.add(parent, "cac:InvoicePeriod")
        self.add(period, "cbc:StartDate", self.day(start))
        self.add(period, "cbc:EndDate", self.day(last))

    def period(self, parent: etree._Element, lines: Sequence[_Line]) -> None:
        starts = [line.start for line in lines if line.start is not None]
        ends = [line.end for line in lines if line.end is not None]
        if starts and ends:
            self._period(parent, min(starts), max(ends))

    def parties(self, org: m.Organization, invoice: m.Invoice, customer: m.Customer,
                groups: Sequence[_Group]) -> None:
        outside_scope = any(group.category == "O" for group in groups)
        seller_address = dict(org.address or {})
        seller_address.setdefault("country", org.country)
        self._party("cac:AccountingSupplierParty", org.legal_name or org.name,
                    seller_address, org.vat_id, _endpoint("seller", None, org.vat_id),
                    with_vat=not outside_scope)
        buyer_address = dict(invoice.customer_address or customer.address or {})
        if not buyer_address.get("country"):
            buyer_address["country"] = customer.country
        buyer_endpoint = _endpoint("buyer", customer.peppol_id, invoice.customer_vat_id)
        if str(seller_address.get("country") or "").upper() == "NL" == str(
                buyer_address.get("country") or "").upper() and not all(
                buyer_address.get(key) for key in ("line1", "city", "postal_code")):
            raise InvalidState(  # NL-R-004
                "A Dutch e-invoice to a customer in the Netherlands needs the customer's "
                "street, city and postal code: complete the customer's address.",
                param="address", code="einvoice_address_incomplete")
        name = invoice.customer_name or customer.name or invoice.customer_email or customer.id
        self._party("cac:AccountingCustomerParty", name, buyer_address,
                    invoice.customer_vat_id, buyer_endpoint, with_vat=not outside_scope)

    def _party(self, tag: str, name: str, address: dict[str, Any], vat_id: str | None,
               endpoint: peppol.Endpoint, *, with_vat: bool) -> None:
        party = self.add(self.add(self.root, tag), "cac:Party")
        vat = (vat_id or "").replace(" ", "").upper()
        self.add(party, "cbc:EndpointID", endpoint.identifier, schemeID=endpoint.scheme)
        if vat and not with_vat:  # identified without a VAT identifier (BR-CO-26, BR-O-02)
            self.add(self.add(party, "cac:PartyIdentification"), "cbc:ID", vat)
        self.add(self.add(party, "cac:PartyName"), "cbc:Name", name)
        postal = self.add(party, "cac:PostalAddress")
        for key, element in (("line1", "cbc:StreetName"), ("line2", "cbc:AdditionalStreetName"),
                             ("city", "cbc:CityName"), ("postal_code", "cbc:PostalZone"),
                             ("state", "cbc:CountrySubentity")):
            if address.get(key):
                self.add(postal, element, str(address[key]))
        country = str(address.get("country") or "").upper()
        if country:
            self.add(self.add(postal, "cac:Country"), "cbc:IdentificationCode", country)
        if vat and with_vat:
            scheme_element = self.add(party, "cac:PartyTaxScheme")
            self.add(scheme_element, "cbc:CompanyID", vat)
            self.add(self.add(scheme_element, "cac:TaxScheme"), "cbc:ID", "VAT")
        self.add(self.add(party, "cac:PartyLegalEntity"), "cbc:RegistrationName", name)

    def payment_means(self, org: m.Organization, reference: str) -> None:
        means = self.add(self.root, "cac:PaymentMeans")
        iban = (org.iban or "").replace(" ", "").upper()
        # 58 SEPA credit transfer needs the account (BR-61); without it: not defined (1).
        self.add(means, "cbc:PaymentMeansCode", "58" if iban else "1")
        self.add(means, "cbc:PaymentID", reference)
        if iban:
            self.add(self.add(means, "cac:PayeeFinancialAccount"), "cbc:ID", iban)

    def tax_total(self, groups: Sequence[_Group]) -> None:
        total = self.add(self.root, "cac:TaxTotal")
        self.amount(total, "cbc:TaxAmount", sum(group.tax for group in groups))
        for group in groups:
            subtotal = self.add(total, "cac:TaxSubtotal")
            self.amount(subtotal, "cbc:TaxableAmount", group.taxable)
            self.amount(subtotal, "cbc:TaxAmount", group.tax)
            category = self.add(subtotal, "cac:TaxCategory")
            self._category(category, group.category, group.rate)
            if group.category in ("E", "AE", "O", "K", "G"):
                code = _EXEMPTION_CODES.get(group.category)
                if code:
                    self.add(category, "cbc:TaxExemptionReasonCode", code)
                self.add(category, "cbc:TaxExemptionReason",
                         group.reason or _EXEMPTION_TEXTS[group.category])
            self.add(self.add(category, "cac:TaxScheme"), "cbc:ID", "VAT")

    def _category(self, parent: etree._Element, category: str, rate: Decimal) -> None:
        self.add(parent, "cbc:ID", category)
        if category != "O":  # "not subject to VAT" has no rate (BR-O-05, BR-O-09)
            self.add(parent, "cbc:Percent", _decimal(rate))

    def monetary_total(self, lines: Sequence[_Line], groups: Sequence[_Group], *,
                       prepaid: int) -> None:
        net = sum(line.net for line in lines)
        tax = sum(group.tax for group in groups)
        total = self.add(self.root, "cac:LegalMonetaryTotal")
        self.amount(total, "cbc:LineExtensionAmount", net)
        self.amount(total, "cbc:TaxExclusiveAmount", net)
        self.amount(total, "cbc:TaxInclusiveAmount", net + tax)
        if prepaid:
            self.amount(total, "cbc:PrepaidAmount", prepaid)
        self.amount(total, "cbc:PayableAmount", net + tax - prepaid)

    def line(self, tag: str, quantity_tag: str, index: int, line: _Line) -> None:
        element = self.add(self.root, f"cac:{tag}")
        self.add(element, "cbc:ID", str(index))
        quantity, price, discount = _quantity_and_price(line)
        self.add(element, f"cbc:{quantity_tag}", str(quantity), unitCode="C62")
        self.amount(element, "cbc:LineExtensionAmount", line.net)
        if line.start is not None and line.end is not None:
            self._period(element, line.start, line.end)
        if discount:
            allowance = self.add(element, "cac:AllowanceCharge")
            self.add(allowance, "cbc:ChargeIndicator", "false")
            self.add(allowance, "cbc:AllowanceChargeReasonCode", "95")  # discount
            self.add(allowance, "cbc:AllowanceChargeReason", "Discount")
            self.amount(allowance, "cbc:Amount", discount)
        item = self.add(element, "cac:Item")
        self.add(item, "cbc:Name", line.description[:200] or "Item")
        category = self.add(item, "cac:ClassifiedTaxCategory")
        self._category(category, line.category, line.rate)
        self.add(self.add(category, "cac:TaxScheme"), "cbc:ID", "VAT")
        self.add(self.add(element, "cac:Price"), "cbc:PriceAmount",
                 _decimal(price.scaleb(-self.places)), currencyID=self.currency)


def _endpoint(role: str, peppol_id: str | None, vat_id: str | None) -> peppol.Endpoint:
    """The party's Peppol address (BT-34/BT-49); a Peppol document cannot be made without."""
    found = peppol.endpoint(peppol_id, vat_id)
    if found is None:
        fix = ("set the customer's peppol_id (or a VAT id)" if role == "buyer"
               else "set the organization's VAT id")
        raise InvalidState(f"A Peppol e-invoice needs the {role}'s electronic address: {fix}.",
                           param="peppol_id" if role == "buyer" else "vat_id",
                           code="einvoice_address_missing")
    return found


def _quantity_and_price(line: _Line) -> tuple[int, Decimal, int]:
    """Quantity, item net price (minor units, never negative: BR-27) and line allowance,
    such that quantity x price - allowance = the line's net exactly."""
    unit, quantity = line.unit_amount, line.quantity
    if unit is not None and unit >= 0 and quantity > 0 \
            and unit * quantity - line.discount == line.net:
        return quantity, unit, line.discount
    if unit is not None and unit >= 0 and quantity > 0 and line.net < 0 \
            and unit * quantity == -line.net and line.discount == 0:
        return -quantity, unit, 0  # a credit line: negative quantity, positive price
    return (1 if line.net >= 0 else -1), Decimal(abs(line.net)), 0


def _decimal(value: Decimal) -> str:
    """A plain decimal without exponent or trailing zeros: 21, 25.5, 0.0125."""
    text = f"{value.normalize():f}"
    return text if text not in ("-0", "") else "0"
