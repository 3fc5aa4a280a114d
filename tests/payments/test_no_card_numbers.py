"""Kassa never stores a card number: after every path card data can take (the gateway's
hosted fields, attaching, charging, declines, 3-D Secure, refunds, webhooks, e-mails and
documents), no table and no stored file holds anything that looks like one (13 to 19
digits, alone or grouped by spaces or dashes, that pass the Luhn check)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from fastapi.testclient import TestClient
from sqlalchemy import String, Text, select
from sqlalchemy.types import JSON

from api.helpers import create_customer, create_price, ok, subscribe
from documents.helpers import pdf_text
from kassa.adapters.gateways.sandbox import luhn_valid
from kassa.config import Kassa
from kassa.jobs.documents import render_documents
from kassa.store import models as m

CARDS = ["4242 4242 4242 4242", "4000 0000 0000 0002", "4000 0027 6000 3184",
         "5555 5555 5555 4444"]
# Not inside a longer token: a hash or random id in hex or base64 now and then holds a run of
# 13+ digits that passes the Luhn check by chance (1 in 10).
CANDIDATE = re.compile(r"(?<![0-9A-Za-z])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z])")


def card_numbers(text: str) -> list[str]:
    found = []
    for match in CANDIDATE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(digits)
    return found


def test_the_scanner_finds_a_card_number() -> None:
    assert card_numbers("paid with 4242-4242-4242-4242 yesterday") == ["4242424242424242"]
    assert card_numbers("ref 4242424242424241 / iban NL91ABNA0417164300") == []


def _checkout(api: TestClient, number: str) -> str:
    page = api.get("/sandbox/checkout", params={"return_url": "https://shop.example/back",
                                                "state": "s1", "methods": "card"})
    assert page.status_code == 200 and 'autocomplete="cc-number"' in page.text
    response = api.post("/sandbox/checkout", data={
        "return_url": "https://shop.example/back", "state": "s1", "methods": "card",
        "method": "card", "number": number, "exp": "12 / 30", "cvc": "123"},
        follow_redirects=False)
    assert response.status_code == 303, response.text
    token = parse_qs(urlparse(response.headers["location"]).query)["token"][0]
    assert not card_numbers(token)
    return token


def test_no_table_or_file_holds_a_card_number(api: TestClient, kassa: Kassa,
                                              org: object) -> None:
    price = create_price(api, 9900)["id"]
    for number in CARDS:
        customer = create_customer(api, name=f"Card {number[-4:]}")
        ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                                 "token": _checkout(api, number)}))
        invoice = subscribe(api, customer["id"], price)["latest_invoice"]
        payments = ok(api.get("/v1/payments", params={"invoice": invoice}))["data"]
        if payments and payments[0]["status"] == "succeeded":
            ok(api.post("/v1/refunds", json={"payment": payments[0]["id"], "amount": 100}))
    assert render_documents(kassa) > 0

    found: list[str] = []
    with kassa.uow() as uow:
        for table in m.Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            for row in uow.session.execute(select(*columns)) if columns else []:
                found += [f"{table.name}: {hit}" for value in row
                          for hit in card_numbers(str(value))]
    for path in Path(kassa.files.root).rglob("*"):  # type: ignore[attr-defined]
        if path.is_file():
            text = (pdf_text(path.read_bytes()) if path.suffix == ".pdf"
                    else path.read_text(errors="ignore"))
            found += [f"{path}: {hit}" for hit in card_numbers(text)]
    assert found == []
