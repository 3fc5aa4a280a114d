"""The ledger through the API: the entries a one-off invoice, its payment and its void post;
closing a month (anything dated in it refused, corrections into the open month); payouts in
the same and in another currency; mapping rules; the journal as CSV; tenancy."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.helpers import assert_error, auth, create_customer, create_price, ok
from credit_notes.helpers import open_invoice
from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from kassa.services.organizations import NewOrganization


def entries(api: TestClient, **params: Any) -> list[dict[str, Any]]:
    """The entries asked for, oldest first."""
    return list(reversed(ok(api.get("/v1/ledger/entries", params={"limit": 100,
                                                                   **params}))["data"]))


def lines(entry: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(line["account"], line["debit"], line["credit"]) for line in entry["lines"]]


def report(api: TestClient, name: str, first: str, last: str, **params: Any) -> Any:
    return ok(api.get(f"/v1/ledger/{name}", params={"from": first, "to": last, **params}))


def test_an_invoice_paid_out_of_band_posts_its_receivable_and_its_settlement(
        api: TestClient) -> None:
    customer = create_customer(api)["id"]
    invoice = open_invoice(api, customer, {"amount": 12000})
    [finalized] = entries(api, source=invoice["id"])
    assert finalized["kind"] == "invoice.finalized" and finalized["date"] == "2026-01-01"
    assert lines(finalized) == [("1200", 12000, 0), ("2400", 0, 12000)]
    paid = ok(api.post(f"/v1/invoices/{invoice['id']}/pay", json={"paid_out_of_band": True}))
    assert paid["status"] == "paid"
    [payment] = entries(api, kind="payment.succeeded")
    assert lines(payment) == [("1150", 12000, 0), ("1200", 0, 12000)]
    assert all(line["customer"] == customer for line in payment["lines"])
    # Paid in full: nothing receivable, and the ledger agrees with the documents.
    balance = report(api, "trial_balance", "2026-01", "2026-01")
    closing = {row["account"]: row["closing"] for row in balance["data"]}
    assert closing["1200"] == 0 and closing["1150"] == 12000 and closing["2400"] == -12000
    assert balance["balanced"] is True
    reconciled = report(api, "reconciliation", "2026-01", "2026-01")
    assert reconciled["balanced"] is True and reconciled["differences"] == []


def test_a_closed_month_refuses_what_is_dated_in_it_and_corrections_go_to_the_open_one(
        api: TestClient, clock: FrozenClock) -> None:
    customer = create_customer(api)["id"]
    invoice = open_invoice(api, customer, {"amount": 5000})  # a one-off of January 1
    clock.move_to(datetime(2026, 2, 3, 9, tzinfo=UTC))
    assert_error(api.post("/v1/ledger/periods", json={"period": "2026-02"}), 400)
    closed = ok(api.post("/v1/ledger/periods", json={"period": "2026-01"}))
    assert closed["period"] == "2026-01" and closed["status"] == "closed"
    assert [p["period"] for p in ok(api.get("/v1/ledger/periods"))["data"]] == ["2026-01"]
    assert_error(api.post("/v1/ledger/periods", json={"period": "2026-01"}), 400,
                 code="period_closed")
    january = report(api, "trial_balance", "2026-01", "2026-01")
    # Closing recognized January first: the one-off is revenue of January 1.
    assert {row["account"]: row["closing"] for row in january["data"]}["4000"] == -5000

    error = assert_error(api.post("/v1/payouts", json={
        "gateway": "sandbox", "reference": "po_jan", "amount": 1000, "currency": "eur",
        "arrival_date": "2026-01-30"}), 400, code="period_closed")
    assert "2026-01 is closed" in error["message"]
    assert ok(api.get("/v1/payouts"))["data"] == []

    # Voiding January's invoice in February: the reversal is dated in February, and the
    # revenue January recognized is taken back in February too.
    ok(api.post(f"/v1/invoices/{invoice['id']}/void"))
    voided = entries(api, kind="invoice.voided")[0]
    assert voided["date"] == "2026-02-03"
    assert lines(voided) == [("1200", 0, 5000), ("2400", 5000, 0)]
    ok(api.post("/v1/ledger/recognize"))
    assert report(api, "trial_balance", "2026-01", "2026-01")["data"] == january["data"]
    waterfall = report(api, "revenue_waterfall", "2026-01", "2026-02")["data"]
    assert [(row["month"], row["billed"], row["recognized"], row["deferred_closing"])
            for row in waterfall] == [("2026-01", 5000, 5000, 0), ("2026-02", -5000, -5000, 0)]
    february = report(api, "trial_balance", "2026-02", "2026-02")
    assert {row["account"]: row["closing"] for row in february["data"]}["4000"] == 0


def test_payouts_move_money_from_the_gateway_to_the_bank_less_fees(api: TestClient) -> None:
    same = ok(api.post("/v1/payouts", json={
        "gateway": "stripe", "reference": "po_1", "amount": 10000, "fee": 290,
        "currency": "eur", "arrival_date": "2026-01-05"}))
    assert same["bank_amount"] == 9710 and same["bank_currency"] == "eur"
    [entry] = entries(api, source=same["id"])
    assert lines(entry) == [("1100-STRIPE", 0, 10000), ("6300", 290, 0), ("1000", 9710, 0)]
    other = ok(api.post("/v1/payouts", json={
        "gateway": "stripe", "reference": "po_2", "amount": 10000, "fee": 300,
        "currency": "usd", "bank_amount": 8900, "bank_currency": "eur",
        "arrival_date": "2026-01-06"}))
    [converted] = entries(api, source=other["id"])
    assert [(line["account"], line["currency"], line["debit"], line["credit"])
            for line in converted["lines"]] == [
        ("1100-STRIPE", "usd", 0, 10000), ("6300", "usd", 300, 0), ("7900", "usd", 9700, 0),
        ("7900", "eur", 0, 8900), ("1000", "eur", 8900, 0)]
    assert_error(api.post("/v1/payouts", json={
        "gateway": "stripe", "reference": "po_2", "amount": 500, "currency": "usd",
        "arrival_date": "2026-01-06"}), 400)  # the same payout twice
    assert_error(api.post("/v1/payouts", json={
        "gateway": "stripe", "reference": "po_3", "amount": 500, "currency": "usd",
        "bank_currency": "eur", "arrival_date": "2026-01-06"}), 400, param="bank_amount")
    assert_error(api.post("/v1/payouts", json={
        "gateway": "stripe", "reference": "po_4", "amount": 100, "fee": 200,
        "currency": "eur", "arrival_date": "2026-01-06"}), 400, param="amount")
    assert len(ok(api.get("/v1/payouts"))["data"]) == 2
    assert report(api, "trial_balance", "2026-01", "2026-01")["balanced"] is True


def test_a_mapping_rule_sends_a_products_revenue_to_its_own_account(
        api: TestClient, clock: FrozenClock) -> None:
    price = create_price(api, 3000, name="Pro")
    rule = ok(api.post("/v1/ledger/accounts", json={
        "code": "8010", "name": "Revenue Pro", "role": "revenue", "key": price["product"]}))
    assert rule["type"] == "revenue" and rule["key"] == price["product"]
    customer = create_customer(api)["id"]
    ok(api.post("/v1/payment_methods", json={"customer": customer, "token": "pm_card_visa"}))
    ok(api.post("/v1/subscriptions", json={"customer": customer,
                                           "items": [{"price": price["id"]}]}))
    clock.move_to(datetime(2026, 2, 1, 9, tzinfo=UTC))
    ok(api.post("/v1/ledger/recognize"))
    closing = {row["account"]: row["closing"]
               for row in report(api, "trial_balance", "2026-01", "2026-01")["data"]}
    assert closing["8010"] == -3000 and "4000" not in closing
    codes = [a["code"] for a in ok(api.get("/v1/ledger/accounts"))["data"]]
    assert codes == sorted(codes) and {"1200", "2400", "4000", "8010"} <= set(codes)
    for body, param in (({"code": "8010", "name": "Again", "role": "revenue"}, "code"),
                        ({"code": "8011", "name": "Pro again", "role": "revenue",
                          "key": price["product"]}, "key"),
                        ({"code": "9000", "name": "X", "role": "sales"}, "role"),
                        ({"code": "a b", "name": "X", "role": "revenue"}, "code")):
        assert_error(api.post("/v1/ledger/accounts", json=body), 400, param=param)
    renamed = ok(api.post(f"/v1/ledger/accounts/{rule['id']}", json={"name": "Pro plan"}))
    assert renamed["name"] == "Pro plan" and renamed["code"] == "8010"


def test_the_journal_exports_as_csv_one_row_per_posting(api: TestClient) -> None:
    customer = create_customer(api)["id"]
    invoice = open_invoice(api, customer, {"amount": 12345})
    ok(api.post(f"/v1/invoices/{invoice['id']}/pay", json={"paid_out_of_band": True}))
    response = api.get("/v1/ledger/journal", params={"from": "2026-01", "to": "2026-01"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["Date", "Journal", "Entry", "Account", "Account name",
                             "Description", "Debit", "Credit", "Currency", "Reference",
                             "Customer", "Product", "Invoice"]
    assert [(r["Account"], r["Debit"], r["Credit"], r["Currency"]) for r in rows] == [
        ("1200", "123.45", "", "EUR"), ("2400", "", "123.45", "EUR"),
        ("1150", "123.45", "", "EUR"), ("1200", "", "123.45", "EUR")]
    assert {r["Reference"] for r in rows[:2]} == {invoice["id"]}
    assert all(r["Date"] == "2026-01-01" and r["Journal"] == "KASSA" for r in rows)
    assert_error(api.get("/v1/ledger/journal", params={"from": "2026-02", "to": "2026-01"}),
                 400, param="to")


def test_another_organization_sees_none_of_the_ledger(
        api: TestClient, other_org: NewOrganization) -> None:
    customer = create_customer(api)["id"]
    invoice = open_invoice(api, customer)
    [entry] = entries(api, source=invoice["id"])
    theirs = auth(other_org.secret_key)
    assert_error(api.get(f"/v1/ledger/entries/{entry['id']}", headers=theirs), 404)
    assert ok(api.get("/v1/ledger/entries", headers=theirs))["data"] == []
    balance = ok(api.get("/v1/ledger/trial_balance", headers=theirs,
                         params={"from": "2026-01", "to": "2026-01"}))
    assert balance["data"] == [] and balance["balanced"] is True
    assert_error(api.get("/v1/ledger/everything"), 404)


def test_the_database_refuses_to_change_or_delete_a_posted_entry(
        api: TestClient, kassa: Kassa) -> None:
    customer = create_customer(api)["id"]
    invoice = open_invoice(api, customer)
    [entry] = entries(api, source=invoice["id"])
    for statement in ("UPDATE journal_lines SET amount = amount + 1 WHERE entry_id = :id",
                      "DELETE FROM journal_lines WHERE entry_id = :id",
                      "UPDATE journal_entries SET description = 'x' WHERE id = :id",
                      "DELETE FROM journal_entries WHERE id = :id"):
        with kassa.uow() as uow, pytest.raises(DBAPIError, match="immutable"):
            uow.session.execute(text(statement), {"id": entry["id"]})
    assert entries(api, source=invoice["id"]) == [entry]
