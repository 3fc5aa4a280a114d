"""SEPA Direct Debit through the organization's own bank, with a test clock: a mandate, the
debit in a pain.008 file (valid against its XSD), counted as collected after its collection
date, then rejected AM04 by the bank's pain.002: the payment is reversed and the invoice
open again."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from lxml import etree

from api.helpers import (
    advance,
    assert_error,
    create_clock,
    create_customer,
    create_price,
    ok,
    subscribe,
    ts,
)

CREDITOR_ID = "DE98ZZZ09999999999"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.08"}


def _pain002(end_to_end_id: str, reason: str, amount: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>STATUS-1</MsgId><CreDtTm>2026-03-06T07:00:00</CreDtTm></GrpHdr>
    <OrgnlGrpInfAndSts>
      <OrgnlMsgId>KASSA-1</OrgnlMsgId><OrgnlMsgNmId>pain.008.001.08</OrgnlMsgNmId>
    </OrgnlGrpInfAndSts>
    <OrgnlPmtInfAndSts>
      <OrgnlPmtInfId>KASSA-1-1</OrgnlPmtInfId>
      <TxInfAndSts>
        <OrgnlEndToEndId>{end_to_end_id}</OrgnlEndToEndId>
        <TxSts>RJCT</TxSts>
        <StsRsnInf><Rsn><Cd>{reason}</Cd></Rsn></StsRsnInf>
        <OrgnlTxRef><Amt><InstdAmt Ccy="EUR">{amount}</InstdAmt></Amt></OrgnlTxRef>
      </TxInfAndSts>
    </OrgnlPmtInfAndSts>
  </CstmrPmtStsRpt>
</Document>""".encode()


def _payments(api: TestClient, invoice: str) -> list[dict[str, Any]]:
    return list(ok(api.get("/v1/payments", params={"invoice": invoice}))["data"])


def test_a_mandate_a_pain008_file_and_a_pain002_rejection(api: TestClient) -> None:
    ok(api.post("/v1/organization", json={
        "legal_name": "Acme Cloud B.V.", "iban": "NL91ABNA0417164300",
        "payment_settings": {"sepa_creditor_id": CREDITOR_ID}}))
    clock = create_clock(api, ts(2026, 3, 2, 9))
    customer = create_customer(api, name="Jan de Vries", test_clock=clock["id"])
    method = ok(api.post("/v1/payment_methods", json={
        "customer": customer["id"], "gateway": "bank", "token": "DE89 3704 0044 0532 0130 00"}))
    assert method["sepa_debit"]["last4"] == "3000"
    assert method["sepa_debit"]["mandate_reference"].startswith("KASSA-")
    assert "DE89370400440532013000" not in str(method)  # shown masked only

    invoice = subscribe(api, customer["id"], create_price(api, 4900)["id"])["latest_invoice"]
    [payment] = _payments(api, invoice)
    assert (payment["status"], payment["gateway"]) == ("processing", "bank")

    response = api.post("/v1/sepa_debit_files", json={"collection_date": "2026-03-05"})
    assert response.status_code == 200, response.text
    assert response.headers["kassa-debits"] == "1"
    doc = etree.fromstring(response.content)
    assert doc.xpath("//p:DrctDbtTxInf/p:PmtId/p:EndToEndId/text()", namespaces=NS) == [
        payment["id"]]
    assert doc.xpath("//p:InstdAmt/text()", namespaces=NS) == ["49.00"]
    assert doc.xpath("//p:SeqTp/text()", namespaces=NS) == ["FRST"]
    assert doc.xpath("//p:MndtId/text()", namespaces=NS) == [
        method["sepa_debit"]["mandate_reference"]]
    assert doc.xpath("//p:CdtrSchmeId//p:Id/text()", namespaces=NS)[-1] == CREDITOR_ID
    # The same debit never goes into a second file.
    assert_error(api.post("/v1/sepa_debit_files", json={}), 400,
                 code="sepa_nothing_to_collect")

    advance(api, clock["id"], ts(2026, 3, 4, 12))
    assert ok(api.get(f"/v1/invoices/{invoice}"))["status"] == "open"  # not collected yet
    advance(api, clock["id"], ts(2026, 3, 6, 12))
    assert ok(api.get(f"/v1/invoices/{invoice}"))["status"] == "paid"

    report = ok(api.post("/v1/sepa_status_reports", content=_pain002(payment["id"], "AM04",
                                                                      "49.00"),
                         headers={"Content-Type": "application/xml"}))
    assert (report["rejected"], report["unknown"]) == (1, 0)
    [returned] = _payments(api, invoice)
    assert (returned["status"], returned["return_reason"]) == ("returned", "AM04")
    reopened = ok(api.get(f"/v1/invoices/{invoice}"))
    assert (reopened["status"], reopened["amount_remaining"]) == ("open", 4900)
    # The same report again changes nothing.
    again = ok(api.post("/v1/sepa_status_reports", content=_pain002(payment["id"], "AM04",
                                                                     "49.00"),
                        headers={"Content-Type": "application/xml"}))
    assert again["rejected"] == 1
    assert ok(api.get(f"/v1/invoices/{invoice}"))["amount_remaining"] == 4900


def test_bad_ibans_creditor_ids_and_files_are_refused(api: TestClient) -> None:
    customer = create_customer(api)
    assert_error(api.post("/v1/payment_methods", json={
        "customer": customer["id"], "gateway": "bank", "token": "NL91ABNA0417164301"}), 400,
        code="invalid_iban", param="token")
    assert_error(api.post("/v1/organization", json={
        "payment_settings": {"sepa_creditor_id": "DE99ZZZ09999999999"}}), 400,
        param="payment_settings[sepa_creditor_id]")
    assert_error(api.post("/v1/sepa_debit_files", json={}), 400,
                 param="payment_settings[sepa_creditor_id]")
    assert_error(api.post("/v1/sepa_status_reports", content=b"<Document>",
                          headers={"Content-Type": "application/xml"}), 400,
                 code="status_report_invalid")
