"""Refused credit notes: every bad request is a 4xx in the error envelope that names the
parameter and writes nothing; another organization's invoices and credit notes do not exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.helpers import assert_error, auth, create_customer, list_all, ok
from kassa.services import organizations

from .helpers import credit, open_invoice, paid_invoice, written

BIG = 10**20


@dataclass(frozen=True)
class World:
    customer: str
    paid: dict[str, Any]
    open: dict[str, Any]
    draft: str
    void: str
    uncollectible: str

    @property
    def line(self) -> str:
        return str(self.paid["lines"]["data"][0]["id"])


@pytest.fixture
def world(api: TestClient) -> World:
    customer = create_customer(api)["id"]
    paid = paid_invoice(api, customer)
    opened = open_invoice(api, customer)
    void = open_invoice(api, customer)["id"]
    ok(api.post(f"/v1/invoices/{void}/void"))
    uncollectible = open_invoice(api, customer)["id"]
    ok(api.post(f"/v1/invoices/{uncollectible}/mark_uncollectible"))
    ok(api.post("/v1/invoiceitems", json={"customer": customer, "currency": "eur",
                                          "amount": 500}))
    draft = ok(api.post("/v1/invoices", json={"customer": customer, "auto_advance": False}))
    return World(customer, paid, opened, draft["id"], void, uncollectible)


def _item(line: str, **fields: Any) -> dict[str, Any]:
    return {"type": "invoice_line_item", "invoice_line": line, **fields}


# (id, body from the world, expected status, code or None, param)
CASES: list[Any] = [
    pytest.param(lambda w: {"invoice": w.paid["id"], "amount": 0}, 400, None, "amount",
                 id="amount-zero"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "amount": -100}, 400, None, "amount",
                 id="amount-negative"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "amount": BIG}, 400, None, "amount",
                 id="amount-beyond-int64"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "amount": "100"}, 400, None, "amount",
                 id="amount-as-string"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "amount": 10.5}, 400, None, "amount",
                 id="amount-as-float"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "amount": 10001}, 400, None, "amount",
                 id="amount-beyond-the-invoice"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "amount": 100, "reason": "whim"}, 400,
                 None, "reason", id="unknown-reason"),
    pytest.param(lambda w: {"invoice": w.paid["id"]}, 400, None, "lines",
                 id="neither-lines-nor-amount"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "lines": []}, 400, None, "lines",
                 id="empty-lines"),
    pytest.param(lambda w: {"amount": 100}, 400, "parameter_missing", "invoice",
                 id="no-invoice"),
    pytest.param(lambda w: {"invoice": "in_nope", "amount": 100}, 404, "resource_missing",
                 "invoice", id="unknown-invoice"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "amount": 100, "tax": 21}, 400,
                 "parameter_unknown", "tax", id="unknown-parameter"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "lines": [_item("il_nope")]}, 400,
                 None, "lines[0][invoice_line]", id="unknown-line"),
    pytest.param(lambda w: {"invoice": w.paid["id"],
                            "lines": [_item(w.open["lines"]["data"][0]["id"])]}, 400,
                 None, "lines[0][invoice_line]", id="line-of-another-invoice"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "lines": [_item(w.line, quantity=2)]},
                 400, None, "lines[0][quantity]", id="quantity-beyond-the-line"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "lines": [_item(w.line, quantity=0)]},
                 400, None, "lines[0][quantity]", id="quantity-zero"),
    pytest.param(lambda w: {"invoice": w.paid["id"],
                            "lines": [_item(w.line, quantity=1, amount=100)]},
                 400, None, "lines[0][amount]", id="quantity-and-amount"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "lines": [_item(w.line, amount=10001)]},
                 400, None, "lines[0][amount]", id="line-amount-beyond-the-line"),
    pytest.param(lambda w: {"invoice": w.paid["id"],
                            "lines": [_item(w.line, amount=6000), _item(w.line, amount=5000)]},
                 400, None, "lines[1][amount]", id="same-line-twice-beyond-it"),
    pytest.param(lambda w: {"invoice": w.paid["id"],
                            "lines": [{"type": "custom_line_item", "unit_amount": 100}]},
                 400, None, "lines[0][description]", id="custom-line-without-description"),
    pytest.param(lambda w: {"invoice": w.paid["id"],
                            "lines": [{"type": "custom_line_item", "description": "x",
                                       "unit_amount": 100, "invoice_line": w.line}]},
                 400, None, "lines[0][invoice_line]", id="custom-line-naming-a-line"),
    pytest.param(lambda w: {"invoice": w.paid["id"],
                            "lines": [{"type": "shipping", "amount": 100}]},
                 400, None, "lines[0][type]", id="unknown-line-type"),
    pytest.param(lambda w: {"invoice": w.paid["id"],
                            "lines": [{"type": "custom_line_item", "description": "x",
                                       "unit_amount": 1}] * 101},
                 400, None, "lines", id="101-lines"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "amount": 501,
                            "lines": [{"type": "custom_line_item", "description": "x",
                                       "unit_amount": 500}]},
                 400, None, "amount", id="amount-differs-from-lines"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "amount": 3000, "credit_amount": 1000,
                            "refund_amount": 1000}, 400, None, "credit_amount",
                 id="split-does-not-add-up"),
    pytest.param(lambda w: {"invoice": w.paid["id"], "amount": 3000, "credit_amount": -1},
                 400, None, "credit_amount", id="negative-credit-amount"),
    pytest.param(lambda w: {"invoice": w.open["id"], "amount": 3000, "refund_amount": 3000},
                 400, None, "refund_amount", id="refund-on-an-unpaid-invoice"),
    pytest.param(lambda w: {"invoice": w.draft, "amount": 100}, 400,
                 "resource_invalid_state", "invoice", id="draft-invoice"),
    pytest.param(lambda w: {"invoice": w.void, "amount": 100}, 400,
                 "resource_invalid_state", "invoice", id="void-invoice"),
    pytest.param(lambda w: {"invoice": w.uncollectible, "amount": 100}, 400,
                 "resource_invalid_state", "invoice", id="uncollectible-invoice"),
]


@pytest.mark.parametrize(("body", "status", "code", "param"), CASES)
def test_a_bad_credit_note_is_refused_and_writes_nothing(
        api: TestClient, world: World, body: Any, status: int, code: str | None,
        param: str) -> None:
    before = written(api, world.customer)
    for path in ("/v1/credit_notes", "/v1/credit_notes/preview"):
        assert_error(api.post(path, json=body(world)), status, code=code, param=param,
                     type_="invalid_request_error")
    assert written(api, world.customer) == before


def test_a_balance_credit_in_another_currency_is_refused(api: TestClient) -> None:
    usd = create_customer(api, currency="usd")["id"]
    ok(api.post("/v1/invoiceitems", json={"customer": usd, "currency": "eur", "amount": 1000}))
    draft = ok(api.post("/v1/invoices", json={"customer": usd, "currency": "eur"}))
    eur_invoice = ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    ok(api.post(f"/v1/invoices/{eur_invoice['id']}/pay", json={"paid_out_of_band": True}))
    before = written(api, usd)
    assert_error(api.post("/v1/credit_notes", json={"invoice": eur_invoice["id"],
                                                    "amount": 500}),
                 400, param="credit_amount")
    assert written(api, usd) == before
    settled = credit(api, eur_invoice["id"], amount=500, out_of_band_amount=500)
    assert (settled["credit_amount"], settled["out_of_band_amount"]) == (0, 500)


def test_an_invoice_with_a_credit_note_cannot_be_voided(api: TestClient) -> None:
    # Voiding would take back revenue the credit note already took back: credit the rest.
    customer = create_customer(api)["id"]
    invoice = open_invoice(api, customer)
    note = credit(api, invoice["id"], amount=4000)
    assert_error(api.post(f"/v1/invoices/{invoice['id']}/void"), 400,
                 code="invoice_has_credit_notes")
    assert ok(api.get(f"/v1/invoices/{invoice['id']}"))["status"] == "open"
    assert ok(api.get(f"/v1/credit_notes/{note['id']}"))["status"] == "issued"


def test_another_organization_cannot_see_credit_or_void(
        api: TestClient, other_org: organizations.NewOrganization) -> None:
    theirs = auth(other_org.secret_key)
    customer = create_customer(api)["id"]
    invoice = paid_invoice(api, customer)
    note = credit(api, invoice["id"], amount=3000)
    before = written(api, customer)

    for path in ("/v1/credit_notes", "/v1/credit_notes/preview"):
        assert_error(api.post(path, json={"invoice": invoice["id"], "amount": 100},
                              headers=theirs), 404, code="resource_missing", param="invoice")
    assert_error(api.get(f"/v1/credit_notes/{note['id']}", headers=theirs), 404)
    assert_error(api.post(f"/v1/credit_notes/{note['id']}/void", headers=theirs), 404)
    assert list_all(api, "/v1/credit_notes", headers=theirs) == []
    filtered = ok(api.get("/v1/credit_notes", params={"invoice": invoice["id"]},
                          headers=theirs))
    assert (filtered["data"], filtered["post_payment_credit_notes_amount"]) == ([], 0)
    assert written(api, customer) == before
    assert ok(api.get(f"/v1/credit_notes/{note['id']}"))["status"] == "issued"

    # Their own credit notes count in their own series.
    their_customer = ok(api.post("/v1/customers", json={"name": "Hans"},
                                 headers=theirs))["id"]
    ok(api.post("/v1/invoiceitems", json={"customer": their_customer, "currency": "eur",
                                          "amount": 1000}, headers=theirs))
    draft = ok(api.post("/v1/invoices", json={"customer": their_customer}, headers=theirs))
    their_invoice = ok(api.post(f"/v1/invoices/{draft['id']}/finalize", headers=theirs))
    their_note = ok(api.post("/v1/credit_notes", json={"invoice": their_invoice["id"],
                                                       "amount": 100}, headers=theirs))
    assert their_note["number"].endswith("-CN-000001")
