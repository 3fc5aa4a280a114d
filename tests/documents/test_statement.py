"""Customer statements of account through the API: a worked month with exact opening,
running and closing balances as JSON, CSV and PDF (in English and Dutch); the closing
balance "now" is what open invoices leave to be paid plus the customer's balance, after
every kind of change; tenancy and bad input."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.helpers import assert_error, auth, create_customer, list_all, ok, snapshot, ts
from credit_notes.helpers import open_invoice
from documents.helpers import pdf_text, setup_seller
from kassa.adapters.documents import render
from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from kassa.services import statements
from kassa.services.organizations import NewOrganization

CUSTOMER = {"name": "Brouwerij De Kroon B.V.", "email": "finance@dekroon.example",
            "currency": "eur", "vat_id": "NL004495445B01",
            "address": {"line1": "Markt 1", "postal_code": "5611 EB", "city": "Eindhoven",
                        "country": "NL"}}
FEBRUARY = {"from": "2026-02-01", "to": "2026-03-01"}  # days in Amsterdam (the org's zone)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _statement(api: TestClient, customer: str, **params: Any) -> Any:
    return ok(api.get(f"/v1/customers/{customer}/statement", params=params))


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def month(api: TestClient, clock: FrozenClock) -> dict[str, Any]:
    """January: invoices A (100.00) and B (50.00), A paid, B voided, C (200.00) left open.
    February: a goodwill credit of 10.00 (at 00:30 on 1 February in Amsterdam, still 31
    January in UTC), a credit note of 25.00 on paid A to the balance, invoice D (80.00)
    that uses the 35.00 credit, C paid. March: invoice E (10.00), after the period."""
    setup_seller(api, automatic_tax=False)  # plain amounts: the statement adds up totals
    customer = ok(api.post("/v1/customers", json=CUSTOMER))["id"]
    ids: dict[str, Any] = {"customer": customer}

    def step(moment: datetime) -> None:
        clock.move_to(moment)

    step(at(2026, 1, 2, 9))
    ids["A"] = open_invoice(api, customer, {"amount": 10000})
    step(at(2026, 1, 3, 9))
    ids["B"] = open_invoice(api, customer, {"amount": 5000})
    step(at(2026, 1, 10, 9))
    ok(api.post(f"/v1/invoices/{ids['A']['id']}/pay", json={"paid_out_of_band": True}))
    step(at(2026, 1, 12, 9))
    ok(api.post(f"/v1/invoices/{ids['B']['id']}/void"))
    step(at(2026, 1, 20, 9))
    ids["C"] = open_invoice(api, customer, {"amount": 20000})
    step(at(2026, 1, 31, 23, 30))
    ids["goodwill"] = ok(api.post(f"/v1/customers/{customer}/balance_transactions", json={
        "amount": -1000, "currency": "eur", "description": "Goodwill"}))
    step(at(2026, 2, 3, 9))
    ids["CN"] = ok(api.post("/v1/credit_notes", json={"invoice": ids["A"]["id"],
                                                      "amount": 2500}))
    assert ids["CN"]["credit_amount"] == 2500
    step(at(2026, 2, 10, 9))
    ids["D"] = open_invoice(api, customer, {"amount": 8000})
    assert (ids["D"]["amount_due"], ids["D"]["starting_balance"]) == (4500, -3500)
    step(at(2026, 2, 15, 9))
    ok(api.post(f"/v1/invoices/{ids['C']['id']}/pay", json={"paid_out_of_band": True}))
    step(at(2026, 3, 5, 9))
    ids["E"] = open_invoice(api, customer, {"amount": 1000})
    step(at(2026, 3, 6, 9))
    return ids


def test_a_month_opens_with_what_was_owed_and_runs_through_every_entry(
        api: TestClient, month: dict[str, Any]) -> None:
    customer = month["customer"]
    result = _statement(api, customer, **FEBRUARY)
    assert {k: result[k] for k in ("object", "customer", "currency", "from", "to",
                                   "opening_balance", "closing_balance", "amount_due")} == {
        "object": "customer_statement", "customer": customer, "currency": "eur",
        "from": ts(2026, 1, 31, 23), "to": ts(2026, 2, 28, 23),
        "opening_balance": 20000, "closing_balance": 4500, "amount_due": 4500}
    number = {key: month[key]["number"] for key in ("A", "C", "D", "CN")}
    [paid_c] = ok(api.get("/v1/payments", params={"invoice": month["C"]["id"]}))["data"]
    assert [(e["date"], e["type"], e["reference"], e["amount"], e["balance"], e["object"])
            for e in result["entries"]] == [
        (ts(2026, 1, 31, 23, 30), "adjustment", None, -1000, 19000, month["goodwill"]["id"]),
        (ts(2026, 2, 3, 9), "credit_note", number["CN"], -2500, 16500, month["CN"]["id"]),
        (ts(2026, 2, 10, 9), "invoice", number["D"], 8000, 24500, month["D"]["id"]),
        (ts(2026, 2, 15, 9), "payment", number["C"], -20000, 4500, paid_c["id"])]
    assert result["entries"][3]["description"] == "manual"
    assert result["entries"][0]["description"] == "Goodwill"
    assert result["entries"][1]["description"] == number["A"]
    assert result["totals"] == {"credit_note": -2500, "payment": -20000, "adjustment": -1000,
                                "invoice": 8000}

    january = _statement(api, customer, **{"from": "2026-01-01", "to": "2026-02-01"})
    assert january["opening_balance"] == 0
    assert january["closing_balance"] == result["opening_balance"]
    assert [(e["type"], e["reference"], e["amount"], e["balance"])
            for e in january["entries"]] == [
        ("invoice", month["A"]["number"], 10000, 10000),
        ("invoice", month["B"]["number"], 5000, 15000),
        ("payment", month["A"]["number"], -10000, 5000),
        ("invoice_void", month["B"]["number"], -5000, 0),
        ("invoice", month["C"]["number"], 20000, 20000)]


def _open_plus_balance(api: TestClient, customer: str) -> int:
    """What the customer owes by the invoices and balance: open invoices' remaining amounts
    plus the balance (negative is credit)."""
    invoices = list_all(api, "/v1/invoices", customer=customer, status="open")
    balance = ok(api.get(f"/v1/customers/{customer}"))["balance"]
    return sum(invoice["amount_remaining"] for invoice in invoices) + balance


def _closing_now(api: TestClient, customer: str, now: datetime) -> int:
    until = int((now + timedelta(seconds=1)).timestamp())
    return int(_statement(api, customer, **{"from": "2025-01-01", "to": str(until)})
               ["closing_balance"])


def test_the_closing_balance_now_is_open_invoices_plus_the_balance(
        api: TestClient, month: dict[str, Any], clock: FrozenClock) -> None:
    customer = month["customer"]
    assert _open_plus_balance(api, customer) == 5500  # D 45.00 and E 10.00 open, no balance
    assert _closing_now(api, customer, clock.now()) == 5500


def test_csv_lists_the_opening_balance_every_entry_and_the_closing_balance(
        api: TestClient, month: dict[str, Any]) -> None:
    response = api.get(f"/v1/customers/{month['customer']}/statement",
                       params={**FEBRUARY, "format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="statement-{month["customer"]}-2026-02-01-2026-03-01.csv"')
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows == [
        ["date", "type", "reference", "description", "debit", "credit", "balance"],
        ["2026-02-01", "opening_balance", "", "", "", "", "200.00"],
        ["2026-02-01", "adjustment", "", "Goodwill", "", "10.00", "190.00"],
        ["2026-02-03", "credit_note", month["CN"]["number"], month["A"]["number"], "",
         "25.00", "165.00"],
        ["2026-02-10", "invoice", month["D"]["number"], "", "80.00", "", "245.00"],
        ["2026-02-15", "payment", month["C"]["number"], "manual", "", "200.00", "45.00"],
        ["2026-02-28", "closing_balance", "", "", "", "", "45.00"]]
    assert response.text.endswith("\r\n")


def test_the_pdf_carries_the_parties_the_numbers_and_the_balances(
        api: TestClient, month: dict[str, Any]) -> None:
    response = api.get(f"/v1/customers/{month['customer']}/statement",
                       params={**FEBRUARY, "format": "pdf"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="statement-{month["customer"]}-2026-02-01-2026-03-01.pdf"')
    assert response.headers["content-language"] == "en"
    flat = _flat(pdf_text(response.content))
    for expected in ["Statement of account", "Acme Cloud B.V.", "Keizersgracht 1",
                     "Brouwerij De Kroon B.V.", "Markt 1", "5611 EB Eindhoven",
                     "Period February 1, 2026 – February 28, 2026",
                     "Date March 6, 2026",
                     "Feb 1, 2026 Opening balance €200.00",
                     "Balance adjustment Goodwill €10.00 €190.00",
                     f"Credit note {month['CN']['number']}",
                     f"Invoice {month['D']['number']}", "€80.00 €245.00",
                     f"Payment {month['C']['number']}", "€200.00 €45.00",
                     "Feb 28, 2026 Closing balance €45.00", "Amount due €45.00"]:
        assert expected in flat, expected
    assert month["E"]["number"] not in flat  # after the period


def test_the_pdf_speaks_the_language_asked_for(api: TestClient,
                                               month: dict[str, Any]) -> None:
    customer = month["customer"]
    response = api.get(f"/v1/customers/{customer}/statement",
                       params={**FEBRUARY, "format": "pdf", "locale": "nl"})
    assert response.headers["content-language"] == "nl"
    flat = _flat(pdf_text(response.content))
    for expected in ["Rekeningoverzicht", "Periode 1 februari 2026 – 28 februari 2026",
                     "Beginsaldo € 200,00", "Saldocorrectie Goodwill € 10,00 € 190,00",
                     f"Factuur {month['D']['number']}", f"Betaling {month['C']['number']}",
                     "Eindsaldo € 45,00", "Te betalen € 45,00", "Btw-nummer"]:
        assert expected in flat, expected
    german = _flat(pdf_text(api.get(f"/v1/customers/{customer}/statement", params={
        **FEBRUARY, "format": "pdf", "locale": "de-AT"}).content))
    for expected in ["Kontoauszug", "Anfangssaldo 200,00 €", "Endsaldo 45,00 €",
                     "Zu zahlen 45,00 €"]:
        assert expected in german, expected


def test_an_unknown_locale_falls_back_to_english(api: TestClient,
                                                 month: dict[str, Any]) -> None:
    response = api.get(f"/v1/customers/{month['customer']}/statement",
                       params={**FEBRUARY, "format": "pdf", "locale": "xx"})
    assert response.status_code == 200, response.text
    assert response.headers["content-language"] == "en"
    assert response.headers["kassa-locale-fallback"] == "xx"
    assert "Statement of account" in pdf_text(response.content)


def test_the_statement_carries_the_organizations_logo_and_colour(
        api: TestClient, kassa: Kassa, org: NewOrganization, month: dict[str, Any]) -> None:
    logo = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
            "nGNgYPgPAAEDAQAIicLsAAAAAElFTkSuQmCC")
    ok(api.post("/v1/organization", json={"logo_url": logo}))
    with kassa.uow() as uow:
        result = statements.customer_statement(
            uow, org.organization.id, month["customer"], start=date(2026, 2, 1),
            end=date(2026, 3, 1))
        html = render.render_statement_html(
            statements.statement_view(kassa.publishing, result), "en")
    assert logo in html and "--brand: #0a7d5a" in html
    assert api.get(f"/v1/customers/{month['customer']}/statement",
                   params={**FEBRUARY, "format": "pdf"}).status_code == 200


def test_credit_shows_as_credit_and_nothing_is_due(api: TestClient) -> None:
    setup_seller(api, automatic_tax=False)
    customer = create_customer(api)["id"]
    ok(api.post(f"/v1/customers/{customer}/balance_transactions", json={
        "amount": -1250, "currency": "eur", "description": "Prepaid"}))
    result = _statement(api, customer, **{"from": "2026-01-01", "to": "2026-01-02"})
    assert (result["opening_balance"], result["closing_balance"], result["amount_due"]) == (
        0, -1250, 0)
    flat = _flat(pdf_text(api.get(f"/v1/customers/{customer}/statement", params={
        "from": "2026-01-01", "to": "2026-01-02", "format": "pdf"}).content))
    assert "Closing balance -€12.50" in flat and "Your credit with us €12.50" in flat
    assert "Amount due" not in flat


def test_timestamps_bound_the_period_to_the_second(api: TestClient,
                                                    month: dict[str, Any]) -> None:
    customer = month["customer"]
    paid = ts(2026, 2, 15, 9)
    before = _statement(api, customer, **{"from": str(ts(2026, 2, 10, 9)), "to": str(paid)})
    assert [e["type"] for e in before["entries"]] == ["invoice"]
    assert before["closing_balance"] == 24500
    from_paid = _statement(api, customer, **{"from": str(paid), "to": str(paid + 1)})
    assert (from_paid["opening_balance"], from_paid["closing_balance"]) == (24500, 4500)


def test_another_organizations_customer_is_not_found(
        api: TestClient, month: dict[str, Any], other_org: NewOrganization) -> None:
    response = api.get(f"/v1/customers/{month['customer']}/statement", params=FEBRUARY,
                       headers=auth(other_org.secret_key))
    assert_error(response, 404, code="resource_missing")
    assert_error(api.get("/v1/customers/cus_missing/statement", params=FEBRUARY), 404)


@pytest.mark.parametrize(("params", "param"), [
    ({"from": "2026-03-01", "to": "2026-02-01"}, "to"),
    ({"from": "2026-02-01", "to": "2026-02-01"}, "to"),
    ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),  # more than five years
    ({**FEBRUARY, "format": "xlsx"}, "format"),
    ({**FEBRUARY, "currency": "xyz"}, "currency"),
    ({**FEBRUARY, "currency": "euro"}, "currency"),
    ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
    ({"from": "yesterday", "to": "2026-03-01"}, "from"),
    ({"from": "2026-02-01", "to": "99999999999999"}, "to"),
    ({"from": "-5", "to": "2026-03-01"}, "from"),
    ({"to": "2026-03-01"}, "from"),
])
def test_bad_input_is_refused_and_changes_nothing(api: TestClient, month: dict[str, Any],
                                                  params: dict[str, str], param: str) -> None:
    before = snapshot(api)
    response = api.get(f"/v1/customers/{month['customer']}/statement", params=params)
    assert_error(response, 400, param=param, type_="invalid_request_error")
    assert snapshot(api) == before


# -- the invariant, after every kind of change ----------------------------------------------

def _check(api: TestClient, customer: str, clock: FrozenClock) -> None:
    assert _closing_now(api, customer, clock.now()) == _open_plus_balance(api, customer)


def test_every_kind_of_change_keeps_the_closing_balance_equal_to_what_is_owed(
        api: TestClient, clock: FrozenClock) -> None:
    customer = create_customer(api, currency="eur")["id"]
    moment = clock.now()

    def then(action: Any) -> Any:
        nonlocal moment
        moment += timedelta(hours=5)
        clock.move_to(moment)
        result = action()
        _check(api, customer, clock)
        return result

    def post(path: str, **body: Any) -> Any:
        return lambda: ok(api.post(path, json=body))

    credit = post(f"/v1/customers/{customer}/balance_transactions", amount=-3000,
                  currency="eur")
    then(credit)
    a = then(lambda: open_invoice(api, customer, {"amount": 10000}))  # uses the 30.00
    then(post("/v1/credit_notes", invoice=a["id"], amount=9000))  # 70.00 pre, 20.00 credit
    note = then(post("/v1/credit_notes", invoice=a["id"], amount=500,
                     out_of_band_amount=500))
    then(post(f"/v1/credit_notes/{note['id']}/void"))
    b = then(lambda: open_invoice(api, customer, {"amount": 4000}))
    pre = then(post("/v1/credit_notes", invoice=b["id"], amount=1000))  # 10.00 pre
    then(post(f"/v1/invoices/{b['id']}/pay", paid_out_of_band=True))
    then(post(f"/v1/credit_notes/{pre['id']}/void"))  # reopens B: 10.00 due again
    then(post(f"/v1/invoices/{b['id']}/mark_uncollectible"))
    then(post(f"/v1/invoices/{b['id']}/pay", paid_out_of_band=True))
    c = then(lambda: open_invoice(api, customer, {"amount": 6000}))
    then(post(f"/v1/invoices/{c['id']}/mark_uncollectible"))
    then(post(f"/v1/invoices/{c['id']}/void"))
    d = then(lambda: open_invoice(api, customer, {"amount": 2500}))
    then(post(f"/v1/invoices/{d['id']}/pay", paid_out_of_band=True))
    then(post("/v1/credit_notes", invoice=d["id"], amount=2000, refund_amount=1500,
              credit_amount=500))
    then(post(f"/v1/customers/{customer}/balance_transactions", amount=700, currency="eur"))
    e = then(lambda: open_invoice(api, customer, {"amount": 300}))
    then(post(f"/v1/invoices/{e['id']}/mark_uncollectible"))
    kinds = {entry["type"] for entry in _statement(
        api, customer, **{"from": "2025-12-01", "to": "2026-01-30"})["entries"]}
    assert kinds == {"invoice", "invoice_void", "write_off", "credit_note",
                     "credit_note_void", "payment", "refund", "adjustment"}


OPERATIONS = st.lists(st.tuples(
    st.sampled_from(["invoice", "pay", "void", "uncollectible", "credit_note",
                     "void_credit_note", "adjust"]),
    st.integers(1, 20_000), st.integers(0, 10)), min_size=1, max_size=12)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_any_sequence_of_changes_keeps_the_invariant(
        api: TestClient, clock: FrozenClock, operations: list[tuple[str, int, int]]) -> None:
    """Random invoices, payments, voids, write-offs, credit notes (to the balance, refunded,
    settled out of band) and their voids, and balance adjustments, each for a new customer
    and later in time: after each, the statement closes at what is owed."""
    customer = create_customer(api, currency="eur")["id"]
    invoices: list[str] = []
    notes: list[str] = []
    for kind, amount, pick in operations:
        clock.move_to(clock.now() + timedelta(hours=1))
        if kind == "invoice":
            invoices.append(open_invoice(api, customer, {"amount": amount})["id"])
        elif kind == "adjust":
            ok(api.post(f"/v1/customers/{customer}/balance_transactions", json={
                "amount": amount - 10_000 or 1, "currency": "eur"}))
        elif kind == "credit_note" and invoices:
            invoice = ok(api.get(f"/v1/invoices/{invoices[pick % len(invoices)]}"))
            settle = ["credit_amount", "refund_amount", "out_of_band_amount"][pick % 3]
            body: dict[str, Any] = {"invoice": invoice["id"],
                                    "amount": 1 + amount % max(invoice["total"], 1)}
            if invoice["status"] != "open":
                body[settle] = body["amount"]
            response = api.post("/v1/credit_notes", json=body)
            if response.status_code == 200:
                notes.append(response.json()["id"])
        elif kind == "void_credit_note" and notes:
            api.post(f"/v1/credit_notes/{notes[pick % len(notes)]}/void")
        elif invoices:
            path = {"pay": "pay", "void": "void", "uncollectible": "mark_uncollectible"}
            if kind in path:
                api.post(f"/v1/invoices/{invoices[pick % len(invoices)]}/{path[kind]}",
                         json={"paid_out_of_band": True} if kind == "pay" else None)
        _check(api, customer, clock)
