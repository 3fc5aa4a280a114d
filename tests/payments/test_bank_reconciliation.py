"""Bank statements Kassa generates for its own invoices, imported through the API and the
CLI: credits matched by creditor reference, by invoice number and by a known IBAN, partial
and over-payments, the unmatched list and matching by hand, a return that reopens an
invoice, and a statement imported twice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.helpers import assert_error, create_customer, create_price, ok, subscribe
from kassa.adapters.bank.sepa import StatementLine, statement_for
from kassa.domain.references import creditor_reference

ACCOUNT = "NL91ABNA0417164300"
PAYER = "DE89370400440532013000"


def _send_invoice(api: TestClient, customer: dict[str, Any], amount: int) -> dict[str, Any]:
    sub = subscribe(api, customer["id"], create_price(api, amount)["id"],
                    collection_method="send_invoice", days_until_due=14)
    return ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))


def _camt(*lines: StatementLine, statement_id: str = "STMT-1") -> bytes:
    return statement_for(list(lines), account_iban=ACCOUNT, statement_id=statement_id,
                         created=datetime(2026, 3, 5, 8, tzinfo=UTC))


def _import(api: TestClient, data: bytes) -> dict[str, Any]:
    return ok(api.post("/v1/bank_statements", content=data,
                       headers={"Content-Type": "application/xml"}))


def _credit(amount: int, **fields: Any) -> StatementLine:
    return StatementLine(amount=amount, debtor_name="Ada Lovelace", debtor_iban=PAYER,
                         booking_date=date(2026, 3, 4), **fields)


def _invoice(api: TestClient, invoice_id: str) -> dict[str, Any]:
    return ok(api.get(f"/v1/invoices/{invoice_id}"))


def test_a_transfer_with_the_creditor_reference_pays_its_invoice(api: TestClient) -> None:
    invoice = _send_invoice(api, create_customer(api), 12100)
    result = _import(api, _camt(_credit(
        12100, structured_reference=creditor_reference(invoice["number"]))))
    assert (result["entries"], result["matched"], result["unmatched"]) == (1, 1, 0)
    paid = _invoice(api, invoice["id"])
    assert (paid["status"], paid["amount_paid"]) == ("paid", 12100)
    [payment] = ok(api.get("/v1/payments", params={"invoice": invoice["id"]}))["data"]
    assert payment["method_type"] == "bank_transfer" and payment["bank_transaction"]

    again = _import(api, _camt(_credit(
        12100, structured_reference=creditor_reference(invoice["number"]))))
    assert again["duplicate"] is True
    assert len(ok(api.get("/v1/payments"))["data"]) == 1


def test_one_transfer_pays_two_invoices_and_the_excess_becomes_credit(
        api: TestClient) -> None:
    customer = create_customer(api)
    first, second = (_send_invoice(api, customer, 2500), _send_invoice(api, customer, 10000))
    text = f"Invoices {first['number']} and {second['number']}, thanks"
    result = _import(api, _camt(_credit(13000, remittance=text)))
    assert result["matched"] == 1
    assert [_invoice(api, i["id"])["status"] for i in (first, second)] == ["paid", "paid"]
    assert ok(api.get(f"/v1/customers/{customer['id']}"))["balance"] == -500


def test_a_partial_transfer_then_a_known_iban_pays_the_rest(api: TestClient) -> None:
    customer = create_customer(api)
    invoice = _send_invoice(api, customer, 10000)
    _import(api, _camt(_credit(4000, remittance=f"part of {invoice['number']}"),
                       statement_id="S1"))
    partly = _invoice(api, invoice["id"])
    assert (partly["status"], partly["amount_remaining"]) == ("open", 6000)
    # No reference this time: the IBAN is known from the first transfer, the amount exact.
    result = _import(api, _camt(StatementLine(
        amount=6000, debtor_name="A. Lovelace", debtor_iban=PAYER,
        booking_date=date(2026, 3, 20), remittance="rest"), statement_id="S2"))
    assert result["matched"] == 1
    assert _invoice(api, invoice["id"])["status"] == "paid"


def test_what_cannot_be_matched_waits_with_suggestions_and_is_matched_by_hand(
        api: TestClient) -> None:
    customer = create_customer(api, name="Ada Lovelace")
    invoice = _send_invoice(api, customer, 7500)
    result = _import(api, _camt(_credit(7500, remittance="March subscription")))
    assert (result["matched"], result["unmatched"]) == (0, 1)
    [waiting] = ok(api.get("/v1/bank_transactions", params={"status": "unmatched"}))["data"]
    assert waiting["suggestions"][0]["invoice"] == invoice["id"]
    assert _invoice(api, invoice["id"])["status"] == "open"

    other = create_customer(api, name="Someone else")
    other_invoice = _send_invoice(api, other, 100)
    assert_error(api.post(f"/v1/bank_transactions/{waiting['id']}/match", json={
        "invoices": [{"invoice": invoice["id"]}, {"invoice": other_invoice["id"]}]}), 400,
        param="invoices")
    assert_error(api.post(f"/v1/bank_transactions/{waiting['id']}/match", json={
        "invoices": [{"invoice": invoice["id"], "amount": 7501}]}), 400)
    matched = ok(api.post(f"/v1/bank_transactions/{waiting['id']}/match",
                          json={"invoices": [{"invoice": invoice["id"]}]}))
    assert (matched["status"], matched["customer"]) == ("matched", customer["id"])
    assert _invoice(api, invoice["id"])["status"] == "paid"
    assert_error(api.post(f"/v1/bank_transactions/{waiting['id']}/match",
                          json={"invoices": [{"invoice": invoice["id"]}]}), 400)


def test_a_return_reverses_the_payment_and_reopens_the_invoice(api: TestClient) -> None:
    invoice = _send_invoice(api, create_customer(api), 4900)
    _import(api, _camt(_credit(4900, remittance=invoice["number"]), statement_id="S1"))
    [payment] = ok(api.get("/v1/payments", params={"invoice": invoice["id"]}))["data"]
    result = _import(api, _camt(StatementLine(
        amount=-4900, debtor_name="Ada Lovelace", debtor_iban=PAYER,
        booking_date=date(2026, 3, 9), end_to_end_id=payment["id"], return_reason="AM04"),
        statement_id="S2"))
    assert result["returned"] == 1
    assert ok(api.get(f"/v1/payments/{payment['id']}"))["status"] == "returned"
    reopened = _invoice(api, invoice["id"])
    assert (reopened["status"], reopened["amount_remaining"]) == ("open", 4900)


@pytest.mark.parametrize(("data", "words"), [
    (b"<Document><broken>", "line 1"),
    (b":20:X\n:25:NL91ABNA0417164300\n:28C:1\n:60F:C260301EUR100,00\n"
     b":61:2603010301C12,3xNTRFNONREF\n:62F:C260301EUR112,30\n", "line 5"),
    (b"just some text", "statement"),
])
def test_a_malformed_statement_is_refused_naming_the_line_and_nothing_is_written(
        api: TestClient, data: bytes, words: str) -> None:
    error = assert_error(api.post("/v1/bank_statements", content=data,
                                  headers={"Content-Type": "text/plain"}), 400,
                         code="statement_invalid", param="file")
    assert words in error["message"], error["message"]
    assert ok(api.get("/v1/bank_transactions"))["data"] == []


def test_the_cli_imports_a_real_bank_sample(tmp_path: Path, api: TestClient, kassa: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kassa.cli import app

    sample = (Path(__file__).resolve().parents[3] / "shared" / "samples" / "bank" / "camt"
              / "ofxstatement-iso20022" / "tests" / "samples" / "camt053.xml")
    monkeypatch.setenv("KASSA_DATABASE_URL", kassa.settings.database_url)
    monkeypatch.setenv("KASSA_DATA_DIR", str(kassa.settings.data_dir))
    monkeypatch.setenv("KASSA_SECRET_KEY", "test-pepper")
    runner = CliRunner()
    first = runner.invoke(app, ["import-statement", str(sample)])
    assert first.exit_code == 0, first.output
    assert "entries" in first.output and "matched" in first.output
    again = runner.invoke(app, ["import-statement", str(sample)])
    assert again.exit_code == 0 and "imported before" in again.output
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<Document")
    failed = runner.invoke(app, ["import-statement", str(broken)])
    assert failed.exit_code != 0 and len(failed.output.strip().splitlines()) == 1


def _owed(api: TestClient, customer: str) -> tuple[int, int]:
    """(the statement's closing balance now, open invoices' remaining + balance)."""
    statement = ok(api.get(f"/v1/customers/{customer}/statement",
                           params={"from": "2025-01-01", "to": "2029-01-01"}))
    open_left = sum(i["amount_remaining"] for i in ok(api.get(
        "/v1/invoices", params={"customer": customer, "status": "open"}))["data"])
    balance = ok(api.get(f"/v1/customers/{customer}"))["balance"]
    return statement["closing_balance"], open_left + balance


def test_the_statement_follows_partial_payments_overpayments_and_returns(
        api: TestClient) -> None:
    customer = create_customer(api)
    first, second = (_send_invoice(api, customer, 10000), _send_invoice(api, customer, 2500))
    _import(api, _camt(_credit(4000, remittance=first["number"]), statement_id="S1"))
    assert _owed(api, customer["id"]) == (8500, 8500)
    _import(api, _camt(_credit(9000, remittance=f"{first['number']} {second['number']}"),
                       statement_id="S2"))
    assert _owed(api, customer["id"]) == (-500, -500)  # 5.00 paid too much: credit
    [paid] = [p for p in ok(api.get("/v1/payments", params={"invoice": second["id"]}))["data"]]
    _import(api, _camt(StatementLine(
        amount=-2500, debtor_name="Ada Lovelace", debtor_iban=PAYER,
        booking_date=date(2026, 3, 9), end_to_end_id=paid["id"], return_reason="AM04"),
        statement_id="S3"))
    assert _owed(api, customer["id"]) == (2000, 2000)
    entries = ok(api.get(f"/v1/customers/{customer['id']}/statement",
                         params={"from": "2025-01-01", "to": "2029-01-01"}))["entries"]
    assert [e["type"] for e in entries].count("payment") == 5  # 3 + unapplied + the return
    assert any("returned (AM04)" in e["description"] for e in entries)
