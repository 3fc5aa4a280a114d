"""Peppol BIS Billing 3.0 e-invoices of real invoices and credit notes, made through the API
and checked by the UBL 2.1 schema, the CEN EN 16931 rules and the Peppol rules."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from api.helpers import (
    advance,
    assert_error,
    create_clock,
    create_price,
    ok,
    ts,
)
from einvoice.validators import assert_valid, problems

NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
STREET = {"line1": "Damrak 1", "city": "Amsterdam", "postal_code": "1012 LG", "country": "NL"}
# A buyer without a VAT number is reached at the Peppol id it gives (here a GLN).
GLN = "0088:5790000435975"


@pytest.fixture
def taxed(api: TestClient) -> TestClient:
    ok(api.post("/v1/organization", json={
        "automatic_tax": True, "legal_name": "Acme Cloud B.V.", "address": STREET,
        "iban": "NL91ABNA0417164300"}))
    return api


def _customer(api: TestClient, **fields: Any) -> dict[str, Any]:
    return ok(api.post("/v1/customers", json={"name": "Customer", **fields}))


def _first_invoice(api: TestClient, customer: dict[str, Any], price: str,
                   **fields: Any) -> dict[str, Any]:
    sub = ok(api.post("/v1/subscriptions", json={"customer": customer["id"],
                                                 "items": [{"price": price}], **fields}))
    return ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))


def _ubl(api: TestClient, path: str) -> bytes:
    response = api.get(f"{path}/ubl")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return response.content


def _check(xml: bytes) -> etree._Element:
    """All three validators pass: UBL XSD, EN 16931 and Peppol BIS 3.0."""
    assert_valid(xml)
    return etree.fromstring(xml)


def _text(doc: etree._Element, path: str) -> list[str]:
    return [str(getattr(e, "text", e)) for e in doc.xpath(path, namespaces=NS)]


TAX_CASES = [
    ("domestic NL business, 21%", {"country": "NL", "vat_id": "NL004495445B01",
                                   "address": STREET}, "S", "121.00"),
    ("NL consumer, 21%", {"country": "NL", "address": STREET, "peppol_id": GLN}, "S",
     "121.00"),
    ("DE business, reverse charge", {"country": "DE", "vat_id": "DE136695976"}, "AE",
     "100.00"),
    ("FR consumer, OSS 20%", {"country": "FR", "peppol_id": GLN}, "S", "120.00"),
    ("US customer, outside scope", {"country": "US", "peppol_id": GLN}, "O", "100.00"),
    ("exempt customer", {"country": "DE", "tax_exempt": "exempt", "peppol_id": GLN}, "E",
     "100.00"),
]


@pytest.mark.parametrize(("case", "fields", "category", "payable"), TAX_CASES,
                         ids=[c[0] for c in TAX_CASES])
def test_tax_cases_are_valid_peppol_invoices(taxed: TestClient, case: str,
                                             fields: dict[str, Any], category: str,
                                             payable: str) -> None:
    price = create_price(taxed, 10000, name="Pro")["id"]
    invoice = _first_invoice(taxed, _customer(taxed, **fields), price)
    doc = _check(_ubl(taxed, f"/v1/invoices/{invoice['id']}"))
    assert _text(doc, "cbc:ID") == [invoice["number"]]
    assert _text(doc, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID") == [category]
    assert _text(doc, "cac:LegalMonetaryTotal/cbc:PayableAmount") == [payable]


def test_reverse_charge_names_both_vat_ids_and_the_reason(taxed: TestClient) -> None:
    price = create_price(taxed, 10000, name="Pro")["id"]
    customer = _customer(taxed, country="DE", vat_id="DE136695976")
    invoice = _first_invoice(taxed, customer, price)
    doc = etree.fromstring(_ubl(taxed, f"/v1/invoices/{invoice['id']}"))
    assert _text(doc, "//cac:PartyTaxScheme/cbc:CompanyID") == ["NL004495445B01",
                                                                 "DE136695976"]
    assert _text(doc, "//cbc:EndpointID/@schemeID") == ["9944", "9930"]
    assert _text(doc, "//cac:TaxCategory/cbc:TaxExemptionReasonCode") == ["VATEX-EU-AE"]
    assert _text(doc, "cac:PaymentMeans/cbc:PaymentMeansCode") == ["58"]


def test_a_buyer_is_reached_at_its_own_peppol_id_before_its_vat_number(
        taxed: TestClient) -> None:
    price = create_price(taxed, 10000, name="Pro")["id"]
    customer = _customer(taxed, country="BE", vat_id="BE0403019261",
                         peppol_id=" 0208:0403019261 ")
    assert customer["peppol_id"] == "0208:0403019261"
    doc = _check(_ubl(taxed, f"/v1/invoices/{_first_invoice(taxed, customer, price)['id']}"))
    assert _text(doc, "cac:AccountingCustomerParty//cbc:EndpointID") == ["0403019261"]
    assert _text(doc, "cac:AccountingCustomerParty//cbc:EndpointID/@schemeID") == ["0208"]


def test_a_buyer_without_an_electronic_address_gets_no_peppol_document(
        taxed: TestClient) -> None:
    price = create_price(taxed, 10000, name="Pro")["id"]
    customer = _customer(taxed, country="NL")
    invoice = _first_invoice(taxed, customer, price)
    response = taxed.get(f"/v1/invoices/{invoice['id']}/ubl")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("einvoice_address_missing", "peppol_id")
    assert "peppol_id" in error["message"]
    ok(taxed.post(f"/v1/customers/{customer['id']}", json={"peppol_id": GLN}))
    # A Dutch seller must also give a Dutch buyer's full address (NL-R-004).
    response = taxed.get(f"/v1/invoices/{invoice['id']}/ubl")
    assert response.json()["error"]["code"] == "einvoice_address_incomplete"
    ok(taxed.post(f"/v1/customers/{customer['id']}", json={"address": STREET}))
    later = _first_invoice(taxed, customer, price)
    _check(_ubl(taxed, f"/v1/invoices/{later['id']}"))


@pytest.mark.parametrize("bad", ["0208", "1234:56", "0208:", "0088:a b", 5])
def test_a_malformed_peppol_id_is_refused(taxed: TestClient, bad: Any) -> None:
    response = taxed.post("/v1/customers", json={"name": "X", "peppol_id": bad})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "peppol_id"
    assert ok(taxed.get("/v1/customers"))["data"] == []


def test_coupon_discount_is_a_line_allowance(taxed: TestClient) -> None:
    coupon = ok(taxed.post("/v1/coupons", json={"percent_off": 50, "duration": "forever"}))
    customer = _customer(taxed, country="NL", vat_id="NL004495445B01", address=STREET,
                         coupon=coupon["id"])
    invoice = _first_invoice(taxed, customer, create_price(taxed, 10000, name="Pro")["id"])
    doc = _check(_ubl(taxed, f"/v1/invoices/{invoice['id']}"))
    assert _text(doc, "cac:InvoiceLine/cac:AllowanceCharge/cbc:Amount") == ["50.00"]
    assert _text(doc, "cac:InvoiceLine/cbc:LineExtensionAmount") == ["50.00"]
    assert _text(doc, "cac:LegalMonetaryTotal/cbc:PayableAmount") == ["60.50"]


def test_proration_credit_line_has_a_negative_quantity(taxed: TestClient) -> None:
    clock = create_clock(taxed, ts(2026, 4, 1))["id"]
    customer = _customer(taxed, country="NL", vat_id="NL004495445B01", address=STREET,
                         test_clock=clock)
    low, high = (create_price(taxed, amount, name=name)["id"]
                 for amount, name in ((1000, "Pro"), (2000, "Business")))
    sub = ok(taxed.post("/v1/subscriptions", json={"customer": customer["id"],
                                                   "items": [{"price": low}]}))
    advance(taxed, clock, ts(2026, 4, 16))
    changed = ok(taxed.post(f"/v1/subscriptions/{sub['id']}", json={
        "items": [{"id": sub["items"]["data"][0]["id"], "price": high}],
        "proration_behavior": "always_invoice"}))
    invoice = ok(taxed.get(f"/v1/invoices/{changed['latest_invoice']}"))
    assert sorted(line["amount"] for line in invoice["lines"]["data"]) == [-500, 1000]
    doc = _check(_ubl(taxed, f"/v1/invoices/{invoice['id']}"))
    assert sorted(_text(doc, "cac:InvoiceLine/cbc:InvoicedQuantity")) == ["-1", "1"]
    assert sorted(_text(doc, "cac:InvoiceLine/cbc:LineExtensionAmount")) == ["-5.00", "10.00"]


def test_inclusive_price_shows_the_net(taxed: TestClient) -> None:
    price = create_price(taxed, 12100, name="Pro", tax_behavior="inclusive")["id"]
    customer = _customer(taxed, country="NL", vat_id="NL004495445B01", address=STREET)
    doc = _check(_ubl(taxed, f"/v1/invoices/{_first_invoice(taxed, customer, price)['id']}"))
    assert _text(doc, "cac:InvoiceLine/cac:Price/cbc:PriceAmount") == ["100"]
    assert _text(doc, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount") == ["121.00"]


def test_yen_amounts_have_no_decimals(taxed: TestClient) -> None:
    price = create_price(taxed, 1999, currency="jpy", name="Pro")["id"]
    customer = _customer(taxed, country="DE", vat_id="DE136695976")
    doc = _check(_ubl(taxed, f"/v1/invoices/{_first_invoice(taxed, customer, price)['id']}"))
    assert _text(doc, "cbc:DocumentCurrencyCode") == ["JPY"]
    assert _text(doc, "cac:LegalMonetaryTotal/cbc:PayableAmount") == ["1999"]


def test_paid_invoice_shows_the_prepaid_amount(taxed: TestClient) -> None:
    price = create_price(taxed, 10000, name="Pro")["id"]
    customer = _customer(taxed, country="DE", vat_id="DE136695976")
    invoice = _first_invoice(taxed, customer, price)
    ok(taxed.post(f"/v1/invoices/{invoice['id']}/pay", json={"paid_out_of_band": True}))
    doc = _check(_ubl(taxed, f"/v1/invoices/{invoice['id']}"))
    assert _text(doc, "cac:LegalMonetaryTotal/cbc:PrepaidAmount") == ["100.00"]
    assert _text(doc, "cac:LegalMonetaryTotal/cbc:PayableAmount") == ["0.00"]


@pytest.mark.parametrize("body", [
    {"lines": "line"}, {"amount": 4760}], ids=["line credit", "lump sum"])
def test_credit_note_refers_to_its_invoice(taxed: TestClient, body: dict[str, Any]) -> None:
    price = create_price(taxed, 10000, name="Pro")["id"]
    customer = _customer(taxed, country="NL", vat_id="NL004495445B01", address=STREET)
    invoice = _first_invoice(taxed, customer, price)
    [line] = invoice["lines"]["data"]
    if "lines" in body:
        body = {"lines": [{"type": "invoice_line_item", "invoice_line": line["id"],
                           "amount": 4000}]}
    else:
        body = {"amount": 4840}
    note = ok(taxed.post("/v1/credit_notes", json={"invoice": invoice["id"], **body}))
    doc = _check(_ubl(taxed, f"/v1/credit_notes/{note['id']}"))
    assert etree.QName(doc).localname == "CreditNote"
    assert _text(doc, "cbc:CreditNoteTypeCode") == ["381"]
    assert _text(doc, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == \
        [invoice["number"]]
    assert _text(doc, "cac:LegalMonetaryTotal/cbc:PayableAmount") == ["48.40"]


def test_validators_catch_a_broken_total(taxed: TestClient) -> None:
    price = create_price(taxed, 10000, name="Pro")["id"]
    customer = _customer(taxed, country="DE", vat_id="DE136695976")
    xml = _ubl(taxed, f"/v1/invoices/{_first_invoice(taxed, customer, price)['id']}")
    broken = xml.replace(b"<cbc:TaxInclusiveAmount currencyID=\"EUR\">100.00",
                         b"<cbc:TaxInclusiveAmount currencyID=\"EUR\">100.01")
    assert broken != xml
    found = problems(broken)
    assert found["xsd"] == []
    assert any(f.startswith("[BR-CO-15]") for f in found["en16931"]), found
    with pytest.raises(AssertionError, match="BR-CO-15"):
        assert_valid(broken)


def test_draft_has_no_e_invoice(taxed: TestClient) -> None:
    customer = _customer(taxed, country="NL", address=STREET)
    ok(taxed.post("/v1/invoiceitems", json={"customer": customer["id"], "amount": 500,
                                            "currency": "eur"}))
    draft = ok(taxed.post("/v1/invoices", json={"customer": customer["id"]}))
    assert draft["status"] == "draft"
    assert_error(taxed.get(f"/v1/invoices/{draft['id']}/ubl"), 400,
                 type_="invalid_request_error")
