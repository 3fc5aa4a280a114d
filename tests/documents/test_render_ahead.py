"""PDFs are rendered once right after finalization, by the background pass, and stored:
downloads and e-mails then serve the stored file."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.helpers import ok
from documents.helpers import DE_BUSINESS, NL_CONSUMER, pdf_text, send_invoice, setup_seller
from kassa.config import Kassa
from kassa.jobs.documents import render_documents
from kassa.store import models as m


def _documents(kassa: Kassa) -> dict[str, tuple[str, str]]:
    with kassa.uow() as uow:
        return {d.object_id: (d.locale, d.sha256)
                for d in uow.session.scalars(select(m.Document))}


def test_finalized_documents_are_stored_once_in_the_customers_language(
        api: TestClient, kassa: Kassa) -> None:
    setup_seller(api)
    german = send_invoice(api, ok(api.post("/v1/customers", json=DE_BUSINESS)))
    dutch = send_invoice(api, ok(api.post("/v1/customers", json=NL_CONSUMER)))
    note = ok(api.post("/v1/credit_notes", json={
        "invoice": dutch["id"], "lines": [{"type": "invoice_line_item",
                                           "invoice_line": dutch["lines"]["data"][0]["id"],
                                           "quantity": 1}]}))
    draft = ok(api.post("/v1/invoices", json={"customer": german["customer"]}))
    assert _documents(kassa) == {}

    assert render_documents(kassa) == 3
    stored = _documents(kassa)
    assert {key: locale for key, (locale, _) in stored.items()} == {
        german["id"]: "de", dutch["id"]: "nl", note["id"]: "nl"}
    assert draft["id"] not in stored
    assert render_documents(kassa) == 0  # nothing left: nothing rendered twice

    response = api.get(f"/v1/invoices/{german['id']}/pdf")
    assert german["number"] in pdf_text(response.content)
    assert hashlib.sha256(response.content).hexdigest() == stored[german["id"]][1]
