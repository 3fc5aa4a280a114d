"""SEPA files: direct debit initiation (pain.008), payment status reports (pain.002), and
camt.053 statements of Kassa's own payments for tests and demos.

Specs: ISO 20022 pain.008.001.08 as required by the EPC SDD Core rulebook (written with
`sepaxml` and validated against the XSD it ships); pain.002.001.03 and later (Customer
Payment Status Report); camt.053.001.02 (Bank-to-Customer Statement).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import count
from typing import Literal

from lxml import etree
from sepaxml import SepaDD
from sepaxml.validation import ValidationError as _SepaValidationError
from sepaxml.validation import try_valid_xml
from stdnum import bic as _bic
from stdnum import iban as _iban
from stdnum.eu import at_02 as _creditor_id

from kassa.adapters.bank.statements import StatementError, checked_currency, to_minor

PAIN_008 = "pain.008.001.08"
SequenceType = Literal["FRST", "RCUR"]


@dataclass(frozen=True)
class Creditor:
    """The collecting organization: its account and SEPA creditor identifier."""

    name: str
    iban: str
    bic: str | None
    creditor_id: str


@dataclass(frozen=True)
class Collection:
    """One direct debit of `amount` euro cents under a signed mandate."""

    end_to_end_id: str
    amount: int
    debtor_name: str
    debtor_iban: str
    debtor_bic: str | None
    mandate_id: str
    mandate_date: date
    sequence: SequenceType
    collection_date: date
    remittance: str


@dataclass(frozen=True)
class StatusEntry:
    """The bank's verdict on one transaction of an earlier pain.008 or pain.001."""

    original_end_to_end_id: str
    status: str
    reason_code: str | None
    amount: int | None


@dataclass(frozen=True)
class StatementLine:
    """One booking for `statement_for`: a credit (amount > 0) or a return (with a reason)."""

    amount: int
    debtor_name: str
    debtor_iban: str
    booking_date: date
    currency: str = "eur"
    remittance: str | None = None
    structured_reference: str | None = None
    end_to_end_id: str | None = None
    return_reason: str | None = None


def direct_debit_file(
    creditor: Creditor, collections: Sequence[Collection], *, message_id: str, created: datetime
) -> bytes:
    """A pain.008.001.08 file, one payment information block per sequence type and date.

    Raises ValueError naming the first invalid IBAN, BIC, creditor id or amount; the
    result is validated against the pain.008.001.08 XSD.
    """
    if not collections:
        raise ValueError("a direct debit file needs at least one collection")
    if not 1 <= len(message_id) <= 35:
        raise ValueError(f"message id {message_id!r} must have 1 to 35 characters")
    if created.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    config: dict[str, object] = {
        "name": creditor.name,
        "IBAN": _valid_iban(creditor.iban, f"creditor {creditor.name}"),
        "batch": True,
        "creditor_id": _valid_creditor_id(creditor.creditor_id),
        "currency": "EUR",
    }
    if creditor.bic:
        config["BIC"] = _valid_bic(creditor.bic, f"creditor {creditor.name}")
    debit = SepaDD(config, schema=PAIN_008, clean=True)
    # Grouping follows first appearance, so sort for a stable order of the blocks.
    for collection in sorted(collections, key=lambda c: (c.collection_date, c.sequence)):
        debit.add_payment(_payment(collection))
    document = etree.fromstring(debit.export(validate=False))
    _set_identity(document, message_id, created)
    xml: bytes = etree.tostring(document, xml_declaration=True, encoding="UTF-8")
    try:
        try_valid_xml(xml, PAIN_008)
    except _SepaValidationError as error:
        raise ValueError(f"the direct debit file does not validate: {error.__cause__}") from error
    return xml


def _payment(collection: Collection) -> dict[str, object]:
    who = f"collection {collection.end_to_end_id}"
    if collection.amount <= 0:
        raise ValueError(f"{who}: amount must be positive, got {collection.amount}")
    if collection.sequence not in ("FRST", "RCUR"):
        raise ValueError(f"{who}: sequence must be FRST or RCUR, got {collection.sequence!r}")
    payment: dict[str, object] = {
        "name": collection.debtor_name,
        "IBAN": _valid_iban(collection.debtor_iban, who),
        "amount": collection.amount,
        "type": collection.sequence,
        "collection_date": collection.collection_date,
        "mandate_id": collection.mandate_id,
        "mandate_date": collection.mandate_date,
        "description": collection.remittance,
        "endtoend_id": collection.end_to_end_id,
    }
    if collection.debtor_bic:
        payment["BIC"] = _valid_bic(collection.debtor_bic, who)
    return payment


def _set_identity(document: etree._Element, message_id: str, created: datetime) -> None:
    """Replace sepaxml's random message and batch ids and local clock time with ours."""
    ns = {"p": etree.QName(document).namespace or ""}
    header = document.find("p:CstmrDrctDbtInitn/p:GrpHdr", ns)
    assert header is not None
    header.find("p:MsgId", ns).text = message_id
    header.find("p:CreDtTm", ns).text = created.isoformat(timespec="seconds")
    batches = document.findall("p:CstmrDrctDbtInitn/p:PmtInf/p:PmtInfId", ns)
    for number, batch in zip(count(1), batches, strict=False):
        batch.text = f"{message_id[:31]}-{number:03d}"


def _valid_iban(value: str, who: str) -> str:
    try:
        return str(_iban.validate(value))
    except Exception:
        raise ValueError(f"invalid IBAN {value!r} for {who}") from None


def _valid_bic(value: str, who: str) -> str:
    try:
        return str(_bic.validate(value))
    except Exception:
        raise ValueError(f"invalid BIC {value!r} for {who}") from None


def _valid_creditor_id(value: str) -> str:
    try:
        return str(_creditor_id.validate(value))
    except Exception:
        raise ValueError(f"invalid SEPA creditor identifier {value!r}") from None


_PAIN_002 = re.compile(r"urn:iso:std:iso:20022:tech:xsd:pain\.002\.001\.(\d{2})")


def parse_payment_status_report(data: bytes) -> list[StatusEntry]:
    """The per-transaction statuses of a pain.002 (version 001.03 or later).

    Only transactions the report lists one by one are returned (TxInfAndSts); a rejection
    of a whole file or batch without transaction details gives no entries.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise StatementError(f"not well-formed XML: {error.msg}", error.lineno or None) from None
    namespace = etree.QName(root).namespace or ""
    match = _PAIN_002.fullmatch(namespace)
    if match is None or int(match.group(1)) < 3:
        raise StatementError(
            f"namespace {namespace!r} is not a pain.002 payment status report (001.03 or later)",
            root.sourceline,
        )
    ns = {"p": namespace}
    transactions = root.findall("p:CstmrPmtStsRpt/p:OrgnlPmtInfAndSts/p:TxInfAndSts", ns)
    return [_status(transaction, ns) for transaction in transactions]


def _status(transaction: etree._Element, ns: dict[str, str]) -> StatusEntry:
    def text(path: str) -> str | None:
        found = transaction.find(path, ns)
        return found.text.strip() if found is not None and found.text else None

    end_to_end_id = text("p:OrgnlEndToEndId")
    status = text("p:TxSts")
    if end_to_end_id is None or status is None:
        raise StatementError(
            "a transaction status has no OrgnlEndToEndId or TxSts", transaction.sourceline
        )
    amount = None
    instructed = transaction.find("p:OrgnlTxRef/p:Amt/p:InstdAmt", ns)
    if instructed is not None and instructed.text:
        currency = checked_currency(instructed.get("Ccy"), line=instructed.sourceline)
        amount = to_minor(Decimal(instructed.text.strip()), currency, line=instructed.sourceline)
    return StatusEntry(
        original_end_to_end_id=end_to_end_id,
        status=status,
        reason_code=text("p:StsRsnInf/p:Rsn/p:Cd") or text("p:StsRsnInf/p:Rsn/p:Prtry"),
        amount=amount,
    )


_CAMT_053 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def statement_for(
    lines: Sequence[StatementLine],
    *,
    account_iban: str,
    currency: str = "eur",
    statement_id: str = "KASSA-STATEMENT-1",
    opening_balance: int = 0,
    created: datetime,
) -> bytes:
    """A camt.053.001.02 statement booking `lines` on `account_iban`, as a bank would send.

    Returns carry RtrInf/Rsn/Cd and the bank transaction code of an unpaid direct debit.
    """
    if not lines:
        raise ValueError("a statement needs at least one line")
    currency = checked_currency(currency)
    iban = _valid_iban(account_iban, "the statement account")
    days = [line.booking_date for line in lines]
    closing_balance = opening_balance + sum(line.amount for line in lines)
    document = etree.Element("Document", nsmap={None: _CAMT_053})
    root = _sub(document, "BkToCstmrStmt")
    header = _sub(root, "GrpHdr")
    _sub(header, "MsgId", statement_id)
    _sub(header, "CreDtTm", created.isoformat(timespec="seconds"))
    stmt = _sub(root, "Stmt")
    _sub(stmt, "Id", statement_id)
    _sub(stmt, "CreDtTm", created.isoformat(timespec="seconds"))
    account = _sub(stmt, "Acct")
    _sub(_sub(account, "Id"), "IBAN", iban)
    _sub(account, "Ccy", currency.upper())
    _balance(stmt, "OPBD", opening_balance, currency, min(days))
    _balance(stmt, "CLBD", closing_balance, currency, max(days))
    for line in lines:
        _statement_entry(stmt, line)
    return bytes(
        etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{_CAMT_053}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _amount(parent: etree._Element, tag: str, amount: int, currency: str) -> None:
    from kassa.core.money import to_major

    element = _sub(parent, tag, str(to_major(abs(amount), currency)))
    element.set("Ccy", currency.upper())


def _balance(stmt: etree._Element, code: str, amount: int, currency: str, day: date) -> None:
    balance = _sub(stmt, "Bal")
    _sub(_sub(_sub(balance, "Tp"), "CdOrPrtry"), "Cd", code)
    _amount(balance, "Amt", amount, currency)
    _sub(balance, "CdtDbtInd", "CRDT" if amount >= 0 else "DBIT")
    _sub(_sub(balance, "Dt"), "Dt", day.isoformat())


def _statement_entry(stmt: etree._Element, line: StatementLine) -> None:
    currency = checked_currency(line.currency)
    indicator = "CRDT" if line.amount >= 0 else "DBIT"
    entry = _sub(stmt, "Ntry")
    _amount(entry, "Amt", line.amount, currency)
    _sub(entry, "CdtDbtInd", indicator)
    _sub(entry, "Sts", "BOOK")
    _sub(_sub(entry, "BookgDt"), "Dt", line.booking_date.isoformat())
    _sub(_sub(entry, "ValDt"), "Dt", line.booking_date.isoformat())
    family = ("RDDT", "UPDD") if line.return_reason else ("RCDT", "ESCT")
    code = _sub(_sub(entry, "BkTxCd"), "Domn")
    _sub(code, "Cd", "PMNT")
    _sub(_sub(code, "Fmly"), "Cd", family[0])
    code.find(f"{{{_CAMT_053}}}Fmly").append(_element("SubFmlyCd", family[1]))
    details = _sub(_sub(entry, "NtryDtls"), "TxDtls")
    _sub(_sub(details, "Refs"), "EndToEndId", line.end_to_end_id or "NOTPROVIDED")
    parties = _sub(details, "RltdPties")
    _sub(_sub(parties, "Dbtr"), "Nm", line.debtor_name)
    iban = _valid_iban(line.debtor_iban, f"debtor {line.debtor_name}")
    _sub(_sub(_sub(parties, "DbtrAcct"), "Id"), "IBAN", iban)
    if line.remittance or line.structured_reference:
        remittance = _sub(details, "RmtInf")
        if line.remittance:
            _sub(remittance, "Ustrd", line.remittance)
        if line.structured_reference:
            reference = _sub(_sub(remittance, "Strd"), "CdtrRefInf")
            kind = _sub(reference, "Tp")
            _sub(_sub(kind, "CdOrPrtry"), "Cd", "SCOR")
            _sub(kind, "Issr", "ISO")
            _sub(reference, "Ref", line.structured_reference)
    if line.return_reason:
        _sub(_sub(_sub(details, "RtrInf"), "Rsn"), "Cd", line.return_reason)


def _element(tag: str, text: str) -> etree._Element:
    element = etree.Element(f"{{{_CAMT_053}}}{tag}")
    element.text = text
    return element
