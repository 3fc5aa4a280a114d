"""ISO 20022 camt.053 bank-to-customer statements (versions camt.053.001.02 and later).

Spec: ISO 20022 message definition camt.053.001.NN (BkToCstmrStmt/Stmt/Ntry). Read per
entry: CdtDbtInd, Amt/@Ccy, BookgDt and ValDt (Dt or DtTm), RvslInd, AcctSvcrRef and the
NtryDtls/TxDtls: references (EndToEndId, AcctSvcrRef), related parties (the debtor of a
credit, the creditor of a debit, taking the other side when that one is the account
itself), remittance (Ustrd lines, Strd/CdtrRefInf/Ref) and return information
(RtrInf/Rsn/Cd). A batch booking whose TxDtls carry their own amounts adding up to the
entry is split into one `BankEntry` per TxDtls. Entries that are not booked (Sts PDNG,
INFO) are left out. External entities and network access are disabled (no XXE).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from lxml import etree
from lxml.etree import _Element

from kassa.adapters.bank.statements import (
    BankEntry,
    BankStatement,
    StatementError,
    checked_currency,
    compact_iban,
    normalize_text,
    to_minor,
    with_fingerprints,
)

_NAMESPACE = re.compile(
    r"urn:iso:std:iso:20022:tech:xsd:(?P<message>[a-z]{4}\.\d{3})\.001\.(?P<v>\d{2})"
)
_DOCUMENTS = {
    "camt.052": "a camt.052 account report (intraday)",
    "camt.054": "a camt.054 debit/credit notification",
    "camt.053": "a camt.053 statement",
}
# Bank transaction sub-families that book a return or reversal of a payment.
_RETURN_SUBFAMILIES = frozenset({"UPDD", "RRTN", "PRDD", "ARET"})
_NOT_BOOKED = frozenset({"PDNG", "INFO", "FUTR"})
_NO_REFERENCE = frozenset({"", "NONREF", "NOTPROVIDED"})
_AMOUNT = re.compile(r"\d+(\.\d+)?")


def parse(data: bytes) -> list[BankStatement]:
    """Read every Stmt of a camt.053 document."""
    root = _document(data)
    namespace = etree.QName(root).namespace or ""
    ns = {"c": namespace}
    statements = root.findall("c:BkToCstmrStmt/c:Stmt", ns)
    return [_Reader(ns).statement(statement) for statement in statements]


def _document(data: bytes) -> _Element:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        line = error.lineno if error.lineno else None
        raise StatementError(f"not well-formed XML: {error.msg}", line) from None
    namespace = etree.QName(root).namespace or ""
    match = _NAMESPACE.fullmatch(namespace)
    if match is None:
        raise StatementError(
            f"an XML document <{etree.QName(root).localname}> in namespace {namespace!r} is not "
            "an ISO 20022 bank statement; only camt.053 statements are imported",
            root.sourceline,
        )
    message, version = match.group("message"), int(match.group("v"))
    if message != "camt.053" or version < 2:
        what = _DOCUMENTS.get(message, f"an ISO 20022 {message} document")
        raise StatementError(
            f"this is {what} ({namespace.rsplit(':', 1)[-1]}); "
            "only camt.053 statements (version 001.02 and later) are imported",
            root.sourceline,
        )
    return root


class _Reader:
    """Namespace-bound helpers: paths are written without prefixes ('Ntry/Amt')."""

    def __init__(self, ns: dict[str, str]) -> None:
        self.ns = ns

    def path(self, path: str) -> str:
        return "/".join(part if part.startswith("@") else f"c:{part}" for part in path.split("/"))

    def find(self, element: _Element, path: str) -> _Element | None:
        return element.find(self.path(path), self.ns)

    def findall(self, element: _Element, path: str) -> list[_Element]:
        return list(element.findall(self.path(path), self.ns))

    def text(self, element: _Element | None, *paths: str) -> str | None:
        """The stripped text of the first path that has some."""
        if element is None:
            return None
        for path in paths:
            found = self.find(element, path)
            text = str(found.text or "").strip() if found is not None else ""
            if text:
                return text
        return None

    def statement(self, stmt: _Element) -> BankStatement:
        account = self.find(stmt, "Acct")
        account_iban = compact_iban(self.text(account, "Id/IBAN"))
        account_id = account_iban or self.text(account, "Id/Othr/Id")
        currency = self._statement_currency(stmt, account)
        opening = self._balance(stmt, ("OPBD", "PRCD"), currency)
        closing = self._balance(stmt, ("CLBD",), currency)
        entries: list[BankEntry] = []
        for entry in self.findall(stmt, "Ntry"):
            if self.text(entry, "Sts", "Sts/Cd") in _NOT_BOOKED:
                continue
            entries.extend(self._entries(entry, account_iban))
        return BankStatement(
            format="camt.053",
            account_iban=account_iban,
            statement_id=self.text(stmt, "Id"),
            currency=currency,
            opening_balance=opening[0],
            closing_balance=closing[0],
            opening_date=opening[1],
            closing_date=closing[1],
            entries=with_fingerprints(account_id, entries),
        )

    def _statement_currency(self, stmt: _Element, account: _Element | None) -> str:
        code = self.text(account, "Ccy")
        if code is None:
            amount = stmt.find(".//c:Amt", self.ns)
            code = amount.get("Ccy") if amount is not None else None
        return checked_currency(code, line=stmt.sourceline)

    def _balance(
        self, stmt: _Element, codes: tuple[str, ...], currency: str
    ) -> tuple[int | None, date | None]:
        for code in codes:
            for balance in self.findall(stmt, "Bal"):
                if self.text(balance, "Tp/CdOrPrtry/Cd") != code:
                    continue
                amount, _ = self._amount(balance, "Amt", currency)
                day = self._date(balance, "Dt")
                return amount, day
        return None, None

    def _amount(self, element: _Element, path: str, default_currency: str) -> tuple[int, str]:
        """A signed amount in minor units (sign from the sibling CdtDbtInd) and its currency."""
        found = self.find(element, path)
        if found is None:
            raise StatementError(
                f"<{etree.QName(element).localname}> has no amount", element.sourceline
            )
        text = (found.text or "").strip()
        if not _AMOUNT.fullmatch(text):
            raise StatementError(f"amount {text!r} is not a number", found.sourceline)
        currency = checked_currency(found.get("Ccy") or default_currency, line=found.sourceline)
        minor = to_minor(Decimal(text), currency, line=found.sourceline)
        indicator = self.text(element, "CdtDbtInd")
        if indicator not in {"CRDT", "DBIT"}:
            raise StatementError(
                f"credit/debit indicator {indicator!r} is neither CRDT nor DBIT",
                element.sourceline,
            )
        return (minor if indicator == "CRDT" else -minor), currency

    def _date(self, element: _Element, path: str) -> date | None:
        holder = self.find(element, path)
        value = self.text(holder, "Dt", "DtTm")
        if value is None:
            return None
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            line = holder.sourceline if holder is not None else None
            raise StatementError(f"date {value!r} is not an ISO date", line) from None

    def _entries(self, entry: _Element, account_iban: str | None) -> list[BankEntry]:
        amount, currency = self._amount(entry, "Amt", "")
        booking = self._date(entry, "BookgDt")
        value = self._date(entry, "ValDt")
        if booking is None and value is None:
            raise StatementError("the entry has no booking date", entry.sourceline)
        details = self.findall(entry, "NtryDtls/TxDtls")
        parts = self._split(entry, details, amount, currency)
        subfamily = self.text(entry, "BkTxCd/Domn/Fmly/SubFmlyCd")
        entry_return = (
            self.text(entry, "RvslInd") in {"true", "1"} or subfamily in _RETURN_SUBFAMILIES
        )
        result = []
        for part_amount, part_details, line in parts:
            first = part_details[0] if part_details else None
            name, iban = self._counterparty(first, part_amount, account_iban)
            reason = self.text(first, "RtrInf/Rsn/Cd")
            remittance = normalize_text(
                [
                    text.text
                    for detail in part_details
                    for text in self.findall(detail, "RmtInf/Ustrd")
                ]
            ) or normalize_text([self.text(first, "AddtlTxInf"), self.text(entry, "AddtlNtryInf")])
            result.append(
                BankEntry(
                    booking_date=booking or value,  # type: ignore[arg-type]  # checked above
                    value_date=value,
                    amount=part_amount,
                    currency=currency,
                    counterparty_name=name,
                    counterparty_iban=iban,
                    remittance=remittance,
                    structured_reference=self.text(first, "RmtInf/Strd/CdtrRefInf/Ref"),
                    end_to_end_id=_reference(self.text(first, "Refs/EndToEndId")),
                    bank_reference=_reference(
                        self.text(first, "Refs/AcctSvcrRef") if len(parts) > 1 else None
                    )
                    or _reference(self.text(entry, "AcctSvcrRef")),
                    is_return=entry_return
                    or (first is not None and self.find(first, "RtrInf") is not None),
                    return_reason=reason,
                    line=line,
                    fingerprint="",
                )
            )
        return result

    def _split(
        self, entry: _Element, details: Sequence[_Element], amount: int, currency: str
    ) -> list[tuple[int, Sequence[_Element], int | None]]:
        """One part per TxDtls when they carry amounts adding up to the entry, else one."""
        whole: list[tuple[int, Sequence[_Element], int | None]] = [
            (amount, details, entry.sourceline)
        ]
        if len(details) < 2:
            return whole
        parts: list[tuple[int, Sequence[_Element], int | None]] = []
        for detail in details:
            path = next(
                (p for p in ("Amt", "AmtDtls/TxAmt/Amt") if self.find(detail, p) is not None), None
            )
            if path is None:
                return whole
            found = self.find(detail, path)
            assert found is not None
            if (found.get("Ccy") or currency).lower() != currency:
                return whole
            if self.text(detail, "CdtDbtInd") is None:
                text = (found.text or "").strip()
                if not _AMOUNT.fullmatch(text):
                    raise StatementError(f"amount {text!r} is not a number", found.sourceline)
                minor = to_minor(Decimal(text), currency, line=found.sourceline)
                part = minor if amount >= 0 else -minor
            else:
                part, _ = self._amount_at(detail, found, currency)
            parts.append((part, [detail], detail.sourceline))
        return parts if sum(part for part, _, _ in parts) == amount else whole

    def _amount_at(self, holder: _Element, found: _Element, currency: str) -> tuple[int, str]:
        text = (found.text or "").strip()
        if not _AMOUNT.fullmatch(text):
            raise StatementError(f"amount {text!r} is not a number", found.sourceline)
        minor = to_minor(Decimal(text), currency, line=found.sourceline)
        return (-minor if self.text(holder, "CdtDbtInd") == "DBIT" else minor), currency

    def _counterparty(
        self, detail: _Element | None, amount: int, account_iban: str | None
    ) -> tuple[str | None, str | None]:
        if detail is None:
            return None, None
        sides = ["Dbtr", "Cdtr"] if amount >= 0 else ["Cdtr", "Dbtr"]
        for side in sides:
            iban = compact_iban(self.text(detail, f"RltdPties/{side}Acct/Id/IBAN"))
            name = self.text(detail, f"RltdPties/{side}/Nm", f"RltdPties/{side}/Pty/Nm")
            if (iban or name) and not (iban and iban == account_iban):
                return (normalize_text([name]) or None), iban
        return None, None


def _reference(value: str | None) -> str | None:
    if value is None or value.strip().upper() in _NO_REFERENCE:
        return None
    return value.strip()
