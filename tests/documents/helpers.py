"""Taxed invoices built through the API, and their PDFs as text (poppler's pdftotext)."""

from __future__ import annotations

import re
import subprocess
from typing import Any

from fastapi.testclient import TestClient

from api.helpers import create_price, ok

SELLER = {"automatic_tax": True, "legal_name": "Acme Cloud B.V.", "iban": "NL91ABNA0417164300",
          "address": {"line1": "Keizersgracht 1", "postal_code": "1015 CJ",
                      "city": "Amsterdam", "country": "NL"},
          "brand_color": "#0a7d5a"}
DE_BUSINESS = {"name": "Müller Software GmbH", "email": "rechnung@mueller.example",
               "country": "DE", "vat_id": "DE136695976", "locale": "de",
               "address": {"line1": "Hauptstraße 5", "postal_code": "10115",
                           "city": "Berlin", "country": "DE"}}
NL_CONSUMER = {"name": "Jan de Vries", "email": "jan@example.nl", "country": "NL",
               "locale": "nl"}


def setup_seller(api: TestClient, **extra: Any) -> Any:
    return ok(api.post("/v1/organization", json={**SELLER, **extra}))


def send_invoice(api: TestClient, customer: dict[str, Any], amount: int = 10000,
                 name: str = "Pro plan") -> Any:
    """The customer's first invoice of a monthly subscription, due in 30 days."""
    price = create_price(api, amount, name=name)["id"]
    sub = ok(api.post("/v1/subscriptions", json={
        "customer": customer["id"], "items": [{"price": price}],
        "collection_method": "send_invoice", "days_until_due": 30}))
    return ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))


def pdf_text(pdf: bytes) -> str:
    """The PDF's text, with every run of spaces (also no-break ones) made one space."""
    assert pdf.startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()
    return re.sub(r"[ \u00a0\u202f]+", " ", text)
