"""Reading real bank statement files (MT940, camt.053) into BankStatements."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from kassa.adapters.bank import camt, mt940
from kassa.adapters.bank.statements import BankStatement, StatementError, parse

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "bank"
MT940_FILES = sorted(
    p
    for p in (SAMPLES / "mt940").rglob("*")
    if p.suffix in {".sta", ".940"} or p.name.endswith(".940.txt")
)
CAMT_FILES = sorted((SAMPLES / "camt").rglob("*.xml"))

# Samples that are refused, and the words the refusal must contain.
REFUSED = {
    "camt052.xml": "camt.052",
    "unsupported.xml": "only camt.053",
    "gcamp6.xml": "unknown currency 'XXX'",  # the ISO code for "no currency"
    "mt942.sta": "MT942",
    "mt940.sta@cmxl": "unknown currency 'DEM'",  # Deutsche Mark, withdrawn from ISO 4217
    "raphaelm.sta": "unknown currency 'DEM'",
    "invalid_statement.sta": "not a bank statement",
    "reference.sta": "currency is unknown",  # a lone :20: without balances
    "empty_line.sta": "currency is unknown",
}
# Upstream test fragments (a single tag, no :20:) are not statements.
FRAGMENT = "no :20: field"


def _refusal(path: Path) -> str | None:
    return REFUSED.get(f"{path.name}@{path.parent.name}") or REFUSED.get(path.name)


@pytest.mark.parametrize(
    "path", MT940_FILES + CAMT_FILES, ids=lambda p: str(p.relative_to(SAMPLES))
)
def test_every_sample_parses_or_is_refused_clearly(path: Path) -> None:
    expected = _refusal(path)
    try:
        statements = parse(path.read_bytes(), path.name)
    except StatementError as error:
        message = str(error)
        assert (expected is not None and expected in message) or FRAGMENT in message, message
        return
    assert expected is None, f"{path.name} should have been refused"
    for statement in statements:
        _check_consistent(statement)


def _check_consistent(statement: BankStatement) -> None:
    fingerprints = [entry.fingerprint for entry in statement.entries]
    assert len(set(fingerprints)) == len(fingerprints)
    for entry in statement.entries:
        assert isinstance(entry.amount, int)
        assert entry.currency == entry.currency.lower()
        assert entry.line is not None and entry.line > 0
        assert entry.remittance == " ".join(entry.remittance.split())


# The upstream expected results are pickled Python objects in YAML; read them as plain data.
class _ExpectedLoader(yaml.SafeLoader):
    pass


def _python_object(loader: yaml.Loader, suffix: str, node: yaml.Node) -> Iterator[Any]:
    # A generator, so that the recursive anchors (a transaction's back-reference to its
    # collection) resolve as PyYAML does for plain mappings.
    if suffix.endswith("decimal.Decimal"):
        yield Decimal(loader.construct_sequence(node)[0])  # type: ignore[arg-type]
    elif suffix.endswith(("models.Date", "models.DateTime")):
        raw = loader.construct_sequence(node)[0]  # type: ignore[arg-type]
        packed = raw if isinstance(raw, bytes) else base64.b64decode(raw)
        yield date(packed[0] * 256 + packed[1], packed[2], packed[3])
    elif isinstance(node, yaml.MappingNode):
        data: dict[Any, Any] = {}
        yield data
        data.update(loader.construct_mapping(node, deep=True))  # type: ignore[arg-type]
    elif isinstance(node, yaml.SequenceNode):
        yield loader.construct_sequence(node, deep=True)  # type: ignore[arg-type]
    else:
        yield None


_ExpectedLoader.add_multi_constructor("tag:yaml.org,2002:python/", _python_object)


def _expected(path: Path) -> list[dict[str, Any]]:
    document = yaml.load(path.with_suffix(".yml").read_text("utf-8"), _ExpectedLoader)
    return [transaction["data"] for transaction in document.get("transactions") or []]


WITH_EXPECTED = [p for p in MT940_FILES if p.with_suffix(".yml").exists() and _refusal(p) is None]


@pytest.mark.parametrize("path", WITH_EXPECTED, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_mt940_entries_match_the_upstream_expected_results(path: Path) -> None:
    try:
        statements = parse(path.read_bytes())
    except StatementError as error:
        assert FRAGMENT in str(error)
        return
    entries = [entry for statement in statements for entry in statement.entries]
    expected = [data for data in _expected(path) if "amount" in data]
    assert len(entries) == len(expected)
    for entry, data in zip(entries, expected, strict=True):
        amount = data["amount"]["amount"]
        if data.get("status") == "RC":  # upstream left a reversed credit positive
            amount = -amount
        assert entry.amount == int(amount * 100)
        assert entry.value_date == data["date"]
        assert entry.booking_date == (data.get("entry_date") or data["date"])


def test_abn_amro_known_answers() -> None:
    statements = parse((SAMPLES / "mt940/mt940_tests/jejik/abnamro.sta").read_bytes())
    first = statements[0].entries[0]
    assert statements[0].currency == "eur"
    assert statements[0].opening_balance == 323628
    assert first.amount == -900
    assert first.booking_date == date(2011, 5, 24)
    assert first.remittance.startswith("GIRO 428428 KPN - DIGITENNE BETALINGSKENM.")
    assert first.line == 8  # after the ABNANL2A/940 header lines


def test_rabobank_structured_details() -> None:
    statements = parse((SAMPLES / "mt940/mt940_tests/jejik/rabobank-iban.sta").read_bytes())
    statement = statements[0]
    assert statement.account_iban is None  # the sample's NL71RABO0123456789 fails the checksum
    first, second = statement.entries
    assert first.amount == -2500
    assert first.counterparty_name == "CONTRA ACCOUNT HOLDER"
    assert first.end_to_end_id == "01-01-2013 12:00 0030000987654321"
    assert second.counterparty_name == "JOHN DOE"
    assert second.remittance == "Reference 201301234"


def test_german_sepa_details_give_iban_name_and_end_to_end_id() -> None:
    statements = parse((SAMPLES / "mt940/mt940_tests/betterplace/sepa_mt9401.sta").read_bytes())
    returned = statements[0].entries[0]
    assert returned.is_return  # GVC 159: a returned credit transfer
    credit = statements[1].entries[0]
    assert credit.amount == 1500005
    assert credit.counterparty_iban == "DE42100100100043921105"
    assert credit.end_to_end_id == "EndToEndIdTFNR2000400001"  # ?21 continues the EREF
    reversal = statements[0].entries[5]
    assert reversal.amount == -20488 and reversal.is_return  # :61: mark RC


def test_asn_bank_file_with_iban_in_the_statement_line() -> None:
    path = SAMPLES / "mt940/mt940_tests/ASNB/0708271685_09022020_164516.940.txt"
    entries = [entry for statement in parse(path.read_bytes()) for entry in statement.entries]
    assert entries[0].amount == -6500
    assert entries[0].booking_date == date(2020, 1, 1)
    assert "Betaling sieraden" in entries[0].remittance


def test_camt053_known_answers() -> None:
    path = SAMPLES / "camt/ofxstatement-iso20022/tests/samples/camt053.xml"
    [statement] = parse(path.read_bytes())
    assert statement.format == "camt.053"
    assert statement.currency == "chf"
    assert statement.statement_id == "bc8b8e304a825671937ffa86f49ab6f1"
    assert (statement.opening_balance, statement.closing_balance) == (83201, 211631)
    assert statement.opening_date == date(2023, 1, 25)
    [entry] = statement.entries
    assert entry.amount == 128430
    assert entry.booking_date == entry.value_date == date(2023, 1, 25)
    assert entry.counterparty_name == "PAYEE"
    assert entry.remittance == "PAYMENT INFO"
    assert entry.end_to_end_id == "9502830971"
    assert entry.bank_reference == "8082230156M02SJ62/1010"
    assert not entry.is_return


def test_camt053_debits_take_the_creditor_as_counterparty() -> None:
    path = SAMPLES / "camt/ofxstatement-iso20022/tests/samples/simple.xml"
    [statement] = parse(path.read_bytes())
    assert statement.account_iban is None  # the sample's LT IBAN is redacted to zeros
    first = statement.entries[0]
    assert (first.amount, first.currency, first.line) == (-29, "eur", 82)
    assert first.counterparty_name == "AB DNB Bankas"
    assert first.remittance == "Sąskaitos aptarnavimo mokestis"
    assert first.value_date == date(2016, 1, 1)


def test_refusals_name_the_document() -> None:
    camt052 = SAMPLES / "camt/ofxstatement-iso20022/tests/samples/camt052.xml"
    with pytest.raises(StatementError, match=r"camt\.052 account report.*only camt\.053"):
        parse(camt052.read_bytes())
    with pytest.raises(StatementError, match="urn:weird-namespace"):
        parse((SAMPLES / "camt/ofxstatement-iso20022/tests/samples/unsupported.xml").read_bytes())
    notification = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"/>'
    with pytest.raises(StatementError, match=r"camt\.054 debit/credit notification"):
        parse(notification)


def test_truncated_xml_names_the_line() -> None:
    data = (SAMPLES / "camt/ofxstatement-iso20022/tests/samples/camt053.xml").read_bytes()
    with pytest.raises(StatementError, match=r"^line \d+: not well-formed XML") as caught:
        camt.parse(data[:2000])
    assert caught.value.line is not None


def test_xml_entities_are_not_expanded() -> None:
    data = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
        b"<Stmt><Id>&x;</Id><Acct><Ccy>EUR</Ccy></Acct></Stmt></BkToCstmrStmt></Document>"
    )
    [statement] = parse(data)
    assert statement.statement_id is None or "root" not in statement.statement_id


BROKEN_AMOUNT = b"""\
:20:STARTUMS
:25:NL91ABNA0417164300
:28C:1/1
:60F:C240301EUR100,00
:61:2403010301C10,00NTRFNONREF
:86:first
:61:2403010301C12,3xNTRFNONREF
:86:second
:62F:C240301EUR122,30
"""


def test_mt940_broken_amount_names_the_line() -> None:
    with pytest.raises(StatementError, match=r"^line 7: amount '12,3x' is not a number$"):
        mt940.parse(BROKEN_AMOUNT)


def test_mt940_unreadable_field_names_the_line() -> None:
    data = BROKEN_AMOUNT.replace(b":61:2403010301C12,3xNTRFNONREF", b":61:24XX01C12,30NTRF")
    with pytest.raises(StatementError, match=r"^line 7: cannot read the :61: field"):
        mt940.parse(data)


DUTCH_RETURN = b"""\
:20:940S240301
:25:NL91ABNA0417164300
:28C:1
:60F:C240301EUR100,00
:61:2403040304D19,99N102NONREF
:86:/RTRN/MD06/EREF/INV-2024-0001/MARF/M-1/CSID/NL24ZZZ302012340000/CNTP/NL
02ABNA0123456789/ABNANL2A/J JANSEN/AMSTERDAM/REMI/USTD//Invoice 2024-0001/
:61:2403040304C25,00N541NONREF
:86:/EREF/NOTPROVIDED/CNTP/DE89370400440532013000/COBADEFFXXX/ACME GMBH//REMI/
STRD/CUR/RF18539007547034/
:61:2403040304C25,00N541NONREF
:86:/EREF/NOTPROVIDED/CNTP/DE89370400440532013000/COBADEFFXXX/ACME GMBH//REMI/
STRD/CUR/RF18539007547034/
:62F:C240304EUR130,01
"""


def test_dutch_sepa_return_with_reason_and_structured_reference() -> None:
    [statement] = mt940.parse(DUTCH_RETURN)
    returned, credit, _twin = statement.entries
    assert returned.is_return and returned.return_reason == "MD06"
    assert returned.end_to_end_id == "INV-2024-0001"
    assert returned.counterparty_iban == "NL02ABNA0123456789"
    assert returned.counterparty_name == "J JANSEN"
    assert returned.remittance == "Invoice 2024-0001"
    assert credit.structured_reference == "RF18539007547034"
    assert credit.counterparty_iban == "DE89370400440532013000"
    assert credit.end_to_end_id is None
    assert statement.closing_balance == 13001


def test_fingerprints_are_stable_and_keep_identical_twins_apart() -> None:
    first = mt940.parse(DUTCH_RETURN)[0].entries
    second = mt940.parse(DUTCH_RETURN)[0].entries
    assert [e.fingerprint for e in first] == [e.fingerprint for e in second]
    assert first[1].amount == first[2].amount and first[1].remittance == first[2].remittance
    assert first[1].fingerprint != first[2].fingerprint


def test_camt_batch_booking_is_split_per_transaction(tmp_path: Path) -> None:
    data = b"""<?xml version="1.0"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"><BkToCstmrStmt><Stmt>
<Id>S1</Id><Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Ntry><Amt Ccy="EUR">30.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><DtTm>2024-03-01T10:00:00+01:00</DtTm></BookgDt><AcctSvcrRef>B1</AcctSvcrRef>
<NtryDtls>
<TxDtls><Refs><EndToEndId>A</EndToEndId></Refs><Amt Ccy="EUR">10.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><RltdPties><Dbtr><Nm>One</Nm></Dbtr></RltdPties></TxDtls>
<TxDtls><Refs><EndToEndId>B</EndToEndId></Refs><Amt Ccy="EUR">20.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><RltdPties><Dbtr><Nm>Two</Nm></Dbtr></RltdPties></TxDtls>
</NtryDtls></Ntry>
<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>PDNG</Sts>
<BookgDt><Dt>2024-03-01</Dt></BookgDt></Ntry>
</Stmt></BkToCstmrStmt></Document>"""
    [statement] = parse(data)
    assert [(e.amount, e.end_to_end_id, e.counterparty_name) for e in statement.entries] == [
        (1000, "A", "One"),
        (2000, "B", "Two"),
    ]
    assert statement.entries[0].booking_date == date(2024, 3, 1)
    assert statement.entries[0].bank_reference == "B1"
