"""Invoice and credit note PDFs through the API: every field a valid invoice needs, in four
languages; stored once; the public hosted page; no remote fetches while rendering."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.helpers import ok
from documents.helpers import DE_BUSINESS, NL_CONSUMER, pdf_text, send_invoice, setup_seller
from kassa.adapters.documents.render import url_fetcher
from kassa.config import Kassa
from kassa.domain.references import creditor_reference
from kassa.domain.references import format as format_reference
from kassa.store import models as m


@pytest.fixture
def seller(api: TestClient, kassa: Kassa) -> TestClient:
    setup_seller(api)
    with kassa.uow() as uow:  # not settable through the API yet
        org = uow.session.scalars(select(m.Organization)).one()
        org.support_email = "billing@acme.example"
        uow.commit()
    return api


def _download(api: TestClient, path: str, locale: str | None = None) -> Any:
    response = api.get(path, params={"locale": locale} if locale else None)
    assert response.status_code == 200, response.text
    return response


def _pdf(api: TestClient, invoice: dict[str, Any], locale: str | None = None) -> str:
    response = _download(api, f"/v1/invoices/{invoice['id']}/pdf", locale)
    assert response.headers["content-type"] == "application/pdf"
    assert invoice["number"] in response.headers["content-disposition"]
    return pdf_text(response.content)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_a_reverse_charge_invoice_carries_every_required_field(seller: TestClient) -> None:
    customer = ok(seller.post("/v1/customers", json=DE_BUSINESS))
    invoice = send_invoice(seller, customer)
    text = _pdf(seller, invoice, "en")
    flat = _flat(text)
    reference = format_reference(creditor_reference(invoice["number"]))
    for expected in [
        "Invoice", invoice["number"], "Issue date January 1, 2026",
        "Date of supply January 1, 2026", "Period January 1, 2026 – February 1, 2026",
        "Due date January 31, 2026",
        "Acme Cloud B.V.", "Keizersgracht 1", "VAT number: NL004495445B01",
        "Müller Software GmbH", "Hauptstraße 5", "VAT number: DE136695976",
        "Pro plan", "0% €100.00",  # the line: its VAT rate and amount
        "VAT 0% (AE)", "Reverse charge: VAT to be accounted for by the recipient",
        "Subtotal €100.00", "Total excluding VAT €100.00", "VAT €0.00", "Total €100.00",
        "Amount paid €0.00", "Amount due €100.00",
        "IBAN NL91 ABNA 0417 1643 00", f"Payment reference {reference}",
        "http://127.0.0.1:8000/i/", "billing@acme.example",
    ]:
        assert expected in flat, expected
    assert reference.startswith("RF")


LOCALIZED = [
    ("en", ["Invoice", "Issue date", "Due date January 31, 2026", "Total €121.00",
            "Amount due €121.00", "VAT 21%", "Payment reference"]),
    ("nl", ["Factuur", "Factuurdatum 1 januari 2026", "Vervaldatum 31 januari 2026",
            "Totaal € 121,00", "Te betalen € 121,00", "Btw 21%", "Betalingskenmerk",
            "Btw-nummer"]),
    ("de", ["Rechnung", "Rechnungsdatum 1. Januar 2026", "Fällig am 31. Januar 2026",
            "Gesamtbetrag 121,00 €", "Zu zahlen 121,00 €", "USt. 21 %", "Verwendungszweck",
            "USt-IdNr."]),
    ("fr", ["Facture", "Date d'émission 1 janvier 2026", "Date d'échéance 31 janvier 2026",
            "Total TTC 121,00 €", "Montant dû 121,00 €", "TVA 21 %",
            "Référence de paiement", "N° de TVA"]),
]


@pytest.mark.parametrize(("locale", "expected"), LOCALIZED, ids=[c[0] for c in LOCALIZED])
def test_labels_numbers_and_dates_follow_the_language(seller: TestClient, locale: str,
                                                      expected: list[str]) -> None:
    invoice = send_invoice(seller, ok(seller.post("/v1/customers", json=NL_CONSUMER)))
    flat = _flat(_pdf(seller, invoice, locale))
    for text in [*expected, invoice["number"], "Jan de Vries", "Pro plan",
                 "NL91 ABNA 0417 1643 00"]:
        assert text in flat, (locale, text)


def test_the_customers_language_is_the_default(seller: TestClient) -> None:
    invoice = send_invoice(seller, ok(seller.post("/v1/customers", json=DE_BUSINESS)))
    response = _download(seller, f"/v1/invoices/{invoice['id']}/pdf")
    assert response.headers["content-language"] == "de"
    flat = _flat(pdf_text(response.content))
    assert "Rechnung" in flat and "Steuerschuldnerschaft des Leistungsempfängers" in flat


def test_an_unknown_locale_falls_back_to_english(seller: TestClient) -> None:
    invoice = send_invoice(seller, ok(seller.post("/v1/customers", json=NL_CONSUMER)))
    for path in (f"/v1/invoices/{invoice['id']}/pdf", f"/v1/invoices/{invoice['id']}/html"):
        response = _download(seller, path, "xx")
        assert response.headers["content-language"] == "en"
        assert response.headers["kassa-locale-fallback"] == "xx"
    assert "Amount due" in _download(seller, f"/v1/invoices/{invoice['id']}/html", "xx").text


def test_a_redownload_serves_the_stored_file(seller: TestClient, kassa: Kassa) -> None:
    invoice = send_invoice(seller, ok(seller.post("/v1/customers", json=NL_CONSUMER)))
    first = _download(seller, f"/v1/invoices/{invoice['id']}/pdf", "nl").content
    second = _download(seller, f"/v1/invoices/{invoice['id']}/pdf", "nl").content
    assert first == second
    with kassa.uow() as uow:
        [document] = uow.session.scalars(select(m.Document)).all()
        stored = kassa.files.read(document.path)
    import hashlib
    assert document.sha256 == hashlib.sha256(first).hexdigest() == \
        hashlib.sha256(stored).hexdigest()
    assert (document.object_id, document.format, document.locale, document.size) == \
        (invoice["id"], "pdf", "nl", len(first))


def test_a_draft_is_rendered_and_never_stored(seller: TestClient, kassa: Kassa) -> None:
    customer = ok(seller.post("/v1/customers", json=NL_CONSUMER))
    ok(seller.post("/v1/invoiceitems", json={"customer": customer["id"], "currency": "eur",
                                             "amount": 5000, "description": "Setup"}))
    draft = ok(seller.post("/v1/invoices", json={"customer": customer["id"]}))
    response = _download(seller, f"/v1/invoices/{draft['id']}/pdf", "en")
    flat = _flat(pdf_text(response.content))
    assert "DRAFT" in flat and "Setup" in flat
    with kassa.uow() as uow:
        assert uow.session.scalars(select(m.Document)).all() == []


def test_the_hosted_page_needs_no_key_and_a_wrong_token_is_404(
        seller: TestClient, kassa: Kassa) -> None:
    invoice = send_invoice(seller, ok(seller.post("/v1/customers", json=NL_CONSUMER)))
    with kassa.uow() as uow:
        token = uow.session.get(m.Invoice, invoice["id"]).hosted_token
    assert token and len(token) >= 32
    anonymous = TestClient(seller.app)
    page = anonymous.get(f"/i/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert invoice["number"] in page.text and f'href="/i/{token}/pdf"' in page.text
    pdf = anonymous.get(f"/i/{token}/pdf")
    assert pdf.status_code == 200 and invoice["number"] in _flat(pdf_text(pdf.content))
    assert anonymous.get(f"/v1/invoices/{invoice['id']}/pdf").status_code == 401
    for wrong in ("nope", token[:-1] + ("A" if token[-1] != "A" else "B")):
        assert anonymous.get(f"/i/{wrong}").status_code == 404
        assert anonymous.get(f"/i/{wrong}/pdf").status_code == 404


def test_a_credit_note_pdf_names_its_invoice(seller: TestClient) -> None:
    invoice = send_invoice(seller, ok(seller.post("/v1/customers", json=NL_CONSUMER)))
    line = invoice["lines"]["data"][0]["id"]
    note = ok(seller.post("/v1/credit_notes", json={
        "invoice": invoice["id"], "reason": "order_change",
        "lines": [{"type": "invoice_line_item", "invoice_line": line, "quantity": 1}]}))
    response = _download(seller, f"/v1/credit_notes/{note['id']}/pdf", "nl")
    assert note["number"] in response.headers["content-disposition"]
    flat = _flat(pdf_text(response.content))
    for text in ["Creditnota", note["number"], f"Bij factuur {invoice['number']}",
                 "Jan de Vries", "Pro plan", "Btw 21%", "Totaal gecrediteerd € 121,00"]:
        assert text in flat, text
    html = _download(seller, f"/v1/credit_notes/{note['id']}/html", "fr")
    assert html.headers["content-language"] == "fr"
    for text in ["Avoir", note["number"], invoice["number"], "Jan de Vries"]:
        assert text in html.text, text


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[tuple[str, list[str]]]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Counting)
    hits: list[str] = []
    _Counting.hits = hits
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def test_a_remote_logo_is_never_fetched(seller: TestClient,
                                        web_server: tuple[str, list[str]]) -> None:
    url, hits = web_server
    ok(seller.post("/v1/organization", json={"logo_url": f"{url}/logo.png"}))
    invoice = send_invoice(seller, ok(seller.post("/v1/customers", json=NL_CONSUMER)))
    _pdf(seller, invoice)
    html = _download(seller, f"/v1/invoices/{invoice['id']}/html").text
    assert hits == [] and url not in html
    with pytest.raises(ValueError):
        url_fetcher().fetch(f"{url}/logo.png")
    with pytest.raises(ValueError):
        url_fetcher().fetch("file:///etc/passwd")
    assert hits == []


def test_a_data_url_logo_is_embedded(seller: TestClient) -> None:
    logo = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
            "nGNgYPgPAAEDAQAIicLsAAAAAElFTkSuQmCC")
    ok(seller.post("/v1/organization", json={"logo_url": logo}))
    invoice = send_invoice(seller, ok(seller.post("/v1/customers", json=NL_CONSUMER)))
    assert logo in _download(seller, f"/v1/invoices/{invoice['id']}/html").text
    assert _pdf(seller, invoice)
