"""SEPA files: pain.008 direct debits out, pain.002 status reports and camt.053 in."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
from lxml import etree

from kassa.adapters.bank import camt
from kassa.adapters.bank.sepa import (
    PAIN_008,
    Collection,
    Creditor,
    StatementLine,
    direct_debit_file,
    parse_payment_status_report,
    statement_for,
)

CREATED = datetime(2024, 2, 20, 9, 30, tzinfo=UTC)
CREDITOR = Creditor("Kassa B.V.", "NL91ABNA0417164300", "ABNANL2A", "DE98ZZZ09999999999")
NS = {"p": f"urn:iso:std:iso:20022:tech:xsd:{PAIN_008}"}


def _collection(number: int, amount: int, sequence: str, day: int, **changes: object) -> Collection:
    values: dict[str, object] = {
        "end_to_end_id": f"INV-{number}",
        "amount": amount,
        "debtor_name": f"Customer Müller {number}",
        "debtor_iban": "DE89370400440532013000",
        "debtor_bic": None,
        "mandate_id": f"MANDATE-{number}",
        "mandate_date": date(2023, 12, 1),
        "sequence": sequence,
        "collection_date": date(2024, 3, day),
        "remittance": f"Invoice INV-{number}",
    }
    values.update(changes)
    return Collection(**values)  # type: ignore[arg-type]


COLLECTIONS = [
    _collection(1, 1999, "FRST", 1),
    _collection(2, 500, "RCUR", 1, debtor_bic="ABNANL2A", debtor_iban="NL02ABNA0123456789"),
    _collection(3, 12345, "RCUR", 1),
    _collection(4, 1, "RCUR", 5),
]


def _schema() -> etree.XMLSchema:
    path = Path(sepaxml.__file__).parent / "schemas" / f"{PAIN_008}.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def test_direct_debit_file_is_valid_against_the_pain008_schema() -> None:
    document = etree.fromstring(
        direct_debit_file(CREDITOR, COLLECTIONS, message_id="KASSA-2024-02-20-1", created=CREATED)
    )
    _schema().assertValid(document)
    assert document.findtext("p:CstmrDrctDbtInitn/p:GrpHdr/p:MsgId", namespaces=NS) == (
        "KASSA-2024-02-20-1"
    )
    assert document.findtext("p:CstmrDrctDbtInitn/p:GrpHdr/p:CreDtTm", namespaces=NS) == (
        "2024-02-20T09:30:00+00:00"
    )


def test_direct_debit_file_sums_and_counts_per_sequence_and_date() -> None:
    document = etree.fromstring(
        direct_debit_file(CREDITOR, COLLECTIONS, message_id="M1", created=CREATED)
    )
    header = document.find("p:CstmrDrctDbtInitn/p:GrpHdr", NS)
    assert header is not None
    assert header.findtext("p:NbOfTxs", namespaces=NS) == "4"
    assert Decimal(header.findtext("p:CtrlSum", namespaces=NS) or "") == Decimal("148.45")
    batches = {
        (
            batch.findtext("p:PmtTpInf/p:SeqTp", namespaces=NS),
            batch.findtext("p:ReqdColltnDt", namespaces=NS),
        ): (batch.findtext("p:NbOfTxs", namespaces=NS), batch.findtext("p:CtrlSum", namespaces=NS))
        for batch in document.findall("p:CstmrDrctDbtInitn/p:PmtInf", NS)
    }
    assert batches == {
        ("FRST", "2024-03-01"): ("1", "19.99"),
        ("RCUR", "2024-03-01"): ("2", "128.45"),
        ("RCUR", "2024-03-05"): ("1", "0.01"),
    }
    ids = [e.text for e in document.iterfind(".//p:PmtInfId", NS)]
    assert len(set(ids)) == 3


def test_direct_debit_file_refuses_a_bad_iban_by_name() -> None:
    bad = [*COLLECTIONS, _collection(9, 100, "RCUR", 1, debtor_iban="NL00ABNA0123456789")]
    with pytest.raises(ValueError, match=r"invalid IBAN 'NL00ABNA0123456789' for collection INV-9"):
        direct_debit_file(CREDITOR, bad, message_id="M1", created=CREATED)
    with pytest.raises(ValueError, match="invalid IBAN 'NL12' for creditor"):
        direct_debit_file(
            Creditor("X", "NL12", None, "DE98ZZZ09999999999"),
            COLLECTIONS,
            message_id="M1",
            created=CREATED,
        )


def test_direct_debit_file_refuses_non_positive_amounts_and_bad_creditor_id() -> None:
    with pytest.raises(ValueError, match="amount must be positive"):
        direct_debit_file(CREDITOR, [_collection(1, 0, "RCUR", 1)], message_id="M", created=CREATED)
    creditor = Creditor("X", "NL91ABNA0417164300", None, "DE00ZZZ09999999999")
    with pytest.raises(ValueError, match="creditor identifier"):
        direct_debit_file(creditor, COLLECTIONS, message_id="M", created=CREATED)


PAIN_002 = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
  <CstmrPmtStsRpt>
    <GrpHdr>
      <MsgId>STATUS-20240305-001</MsgId>
      <CreDtTm>2024-03-05T07:12:00</CreDtTm>
      <DbtrAgt><FinInstnId><BIC>ABNANL2A</BIC></FinInstnId></DbtrAgt>
    </GrpHdr>
    <OrgnlGrpInfAndSts>
      <OrgnlMsgId>KASSA-2024-02-20-1</OrgnlMsgId>
      <OrgnlMsgNmId>pain.008.001.08</OrgnlMsgNmId>
      <OrgnlNbOfTxs>4</OrgnlNbOfTxs>
      <OrgnlCtrlSum>148.45</OrgnlCtrlSum>
      <GrpSts>PART</GrpSts>
    </OrgnlGrpInfAndSts>
    <OrgnlPmtInfAndSts>
      <OrgnlPmtInfId>KASSA-2024-02-20-1-002</OrgnlPmtInfId>
      <PmtInfSts>PART</PmtInfSts>
      <TxInfAndSts>
        <StsId>R-0001</StsId>
        <OrgnlEndToEndId>INV-2</OrgnlEndToEndId>
        <TxSts>RJCT</TxSts>
        <StsRsnInf>
          <Orgtr><Id><OrgId><BICOrBEI>ABNANL2A</BICOrBEI></OrgId></Id></Orgtr>
          <Rsn><Cd>AM04</Cd></Rsn>
        </StsRsnInf>
        <OrgnlTxRef>
          <Amt><InstdAmt Ccy="EUR">5.00</InstdAmt></Amt>
          <ReqdColltnDt>2024-03-01</ReqdColltnDt>
        </OrgnlTxRef>
      </TxInfAndSts>
      <TxInfAndSts>
        <StsId>R-0002</StsId>
        <OrgnlEndToEndId>INV-3</OrgnlEndToEndId>
        <TxSts>RJCT</TxSts>
        <StsRsnInf><Rsn><Cd>MD06</Cd></Rsn></StsRsnInf>
        <OrgnlTxRef>
          <Amt><InstdAmt Ccy="EUR">123.45</InstdAmt></Amt>
        </OrgnlTxRef>
      </TxInfAndSts>
      <TxInfAndSts>
        <OrgnlEndToEndId>INV-4</OrgnlEndToEndId>
        <TxSts>ACCP</TxSts>
      </TxInfAndSts>
    </OrgnlPmtInfAndSts>
  </CstmrPmtStsRpt>
</Document>
"""


def test_payment_status_report_gives_rejections_with_reasons() -> None:
    entries = parse_payment_status_report(PAIN_002)
    assert [(e.original_end_to_end_id, e.status, e.reason_code, e.amount) for e in entries] == [
        ("INV-2", "RJCT", "AM04", 500),
        ("INV-3", "RJCT", "MD06", 12345),
        ("INV-4", "ACCP", None, None),
    ]


def test_payment_status_report_refuses_other_documents() -> None:
    from kassa.adapters.bank.statements import StatementError

    with pytest.raises(StatementError, match=r"not a pain\.002"):
        parse_payment_status_report(
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>'
        )


LINES = [
    StatementLine(
        amount=1999,
        debtor_name="Jan Jansen",
        debtor_iban="NL02ABNA0123456789",
        booking_date=date(2024, 3, 1),
        remittance="Invoice INV-1",
        end_to_end_id="INV-1",
    ),
    StatementLine(
        amount=12345,
        debtor_name="ACME GmbH",
        debtor_iban="DE89370400440532013000",
        booking_date=date(2024, 3, 2),
        structured_reference="RF18539007547034",
    ),
    StatementLine(
        amount=-500,
        debtor_name="Piet Puk",
        debtor_iban="NL02ABNA0123456789",
        booking_date=date(2024, 3, 4),
        remittance="Invoice INV-2",
        end_to_end_id="INV-2",
        return_reason="MD06",
    ),
]


def test_generated_camt053_reads_back_identically() -> None:
    data = statement_for(
        LINES, account_iban="NL91 ABNA 0417 1643 00", opening_balance=10000, created=CREATED
    )
    [statement] = camt.parse(data)
    assert statement.account_iban == "NL91ABNA0417164300"
    assert (statement.opening_balance, statement.closing_balance) == (10000, 23844)
    assert (statement.opening_date, statement.closing_date) == (date(2024, 3, 1), date(2024, 3, 4))
    for line, entry in zip(LINES, statement.entries, strict=True):
        assert entry.amount == line.amount
        assert entry.currency == line.currency
        assert entry.booking_date == entry.value_date == line.booking_date
        assert entry.counterparty_name == line.debtor_name
        assert entry.counterparty_iban == line.debtor_iban
        assert entry.remittance == (line.remittance or "")
        assert entry.structured_reference == line.structured_reference
        assert entry.end_to_end_id == line.end_to_end_id
        assert entry.is_return == (line.return_reason is not None)
        assert entry.return_reason == line.return_reason
