"""Bank statements in, every credit matched to the invoices it pays.

An import is one transaction: the file is parsed first (a malformed file is refused with the
line at fault and nothing is written), then every entry is stored once (a statement imported
twice, or two statements that overlap, register nothing twice: entries are unique by their
fingerprint), then:

- a credit is matched by domain/reconciliation.py (creditor reference, invoice number, a
  known IBAN with the exact amount or the oldest invoices): each invoice it pays gets a
  `bank_transfer` payment, what exceeds them becomes the customer's credit balance; a
  credit that cannot be matched safely waits as `unmatched` with suggestions, for a person
  (`POST /v1/bank_transactions/{id}/match`);
- a return (a SEPA R-transaction) finds the payment it takes back by its end-to-end id (Kassa
  uses the payment's id) and reverses it: the invoice is open again, with the reason;
- other debits are `ignored`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import select

from kassa.adapters.bank import BankEntry, StatementError
from kassa.adapters.bank import parse as parse_statement
from kassa.adapters.gateways.base import ChargeResult, decline_type
from kassa.core.clock import to_unix
from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.ids import new_id
from kassa.domain import reconciliation as domain
from kassa.domain import references
from kassa.services import events, payments, scoping
from kassa.services.customers import now_for, record_balance_change
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

MAX_BYTES = 20 * 1024 * 1024


@dataclass
class ImportResult:
    statements: list[m.BankStatement] = field(default_factory=list)
    duplicate: bool = False
    entries: int = 0
    already_imported: int = 0
    matched: int = 0
    unmatched: int = 0
    returned: int = 0
    ignored: int = 0

    def asdict(self) -> dict[str, Any]:
        return {"object": "bank_statement_import", "duplicate": self.duplicate,
                "statements": [statement_object(s) for s in self.statements],
                "entries": self.entries, "already_imported": self.already_imported,
                "matched": self.matched, "unmatched": self.unmatched,
                "returned": self.returned, "ignored": self.ignored}


def import_statement(uow: UnitOfWork, org_id: str, data: bytes,
                     filename: str | None = None) -> ImportResult:
    """Import an MT940 or CAMT.053 file and reconcile its entries (one transaction)."""
    if len(data) > MAX_BYTES:
        raise InvalidRequest("A statement file is at most 20 MB.", param="file")
    try:
        parsed = parse_statement(data, filename)
    except StatementError as exc:
        raise InvalidRequest(f"The statement cannot be read: {exc}", param="file",
                             code="statement_invalid") from None
    digest = hashlib.sha256(data).hexdigest()
    result = ImportResult()
    seen = uow.session.scalars(select(m.BankStatement).where(
        m.BankStatement.org_id == org_id, m.BankStatement.sha256 == digest)).first()
    if seen is not None:
        result.duplicate, result.statements = True, [seen]
        return result
    now = uow.clock.now()
    matcher = _Matcher(uow, org_id)
    for index, statement in enumerate(parsed):
        row = m.BankStatement(
            id=new_id("bs"), org_id=org_id, format=statement.format, filename=filename,
            sha256=digest if index == 0 else f"{digest[:56]}#{index:07d}",
            account_iban=statement.account_iban, statement_ref=statement.statement_id,
            currency=statement.currency, opening_balance=statement.opening_balance,
            closing_balance=statement.closing_balance, entries=len(statement.entries),
            imported_at=now)
        uow.session.add(row)
        result.statements.append(row)
        for entry in statement.entries:
            result.entries += 1
            if _known(uow, org_id, entry.fingerprint):
                result.already_imported += 1
                continue
            transaction = _store(uow, org_id, row.id, entry, now)
            outcome = matcher.handle(transaction)
            setattr(result, outcome, getattr(result, outcome) + 1)
    events.record(uow.session, org_id, "bank_statement.imported",
                  {"id": result.statements[0].id if result.statements else digest,
                   **result.asdict()}, now)
    uow.commit()
    return result


def _known(uow: UnitOfWork, org_id: str, fingerprint: str) -> bool:
    return uow.session.scalar(select(m.BankTransaction.id).where(
        m.BankTransaction.org_id == org_id,
        m.BankTransaction.fingerprint == fingerprint)) is not None


def _store(uow: UnitOfWork, org_id: str, statement_id: str, entry: BankEntry,
           now: Any) -> m.BankTransaction:
    row = m.BankTransaction(
        id=new_id("btx"), org_id=org_id, statement_id=statement_id,
        fingerprint=entry.fingerprint, booking_date=entry.booking_date,
        value_date=entry.value_date, amount=entry.amount, currency=entry.currency,
        counterparty_name=entry.counterparty_name, counterparty_iban=entry.counterparty_iban,
        remittance=entry.remittance, structured_reference=entry.structured_reference,
        end_to_end_id=entry.end_to_end_id, bank_reference=entry.bank_reference,
        is_return=entry.is_return, return_reason=entry.return_reason, status="unmatched",
        matched_amount=0, suggestions=[], created=now)
    uow.session.add(row)
    uow.session.flush()
    return row


class _Matcher:
    """The organization's open invoices and known IBANs, loaded once per import and kept up
    to date as credits pay invoices."""

    def __init__(self, uow: UnitOfWork, org_id: str) -> None:
        self.uow, self.org_id = uow, org_id
        self._open: dict[str, domain.OpenInvoice] | None = None
        self._ibans: dict[str, str] | None = None

    def open_invoices(self) -> dict[str, domain.OpenInvoice]:
        if self._open is None:
            rows = self.uow.session.execute(
                select(m.Invoice, m.Customer.name).join(
                    m.Customer, m.Customer.id == m.Invoice.customer_id).where(
                    m.Invoice.org_id == self.org_id,
                    m.Invoice.status.in_(("open", "uncollectible")),
                    m.Invoice.amount_remaining > 0, m.Invoice.number.is_not(None))).all()
            self._open = {invoice.id: _open_invoice(invoice, name) for invoice, name in rows}
        return self._open

    def known_ibans(self) -> dict[str, str]:
        if self._ibans is None:
            rows = self.uow.session.execute(select(
                m.BankTransaction.counterparty_iban, m.BankTransaction.customer_id).where(
                m.BankTransaction.org_id == self.org_id,
                m.BankTransaction.customer_id.is_not(None),
                m.BankTransaction.counterparty_iban.is_not(None))).all()
            self._ibans = {iban: customer for iban, customer in rows if iban and customer}
        return self._ibans

    def handle(self, transaction: m.BankTransaction) -> str:
        if transaction.is_return:
            return self._return(transaction)
        if transaction.amount <= 0:
            transaction.status = "ignored"
            return "ignored"
        credit = domain.Credit(
            amount=transaction.amount, currency=transaction.currency,
            counterparty_iban=transaction.counterparty_iban,
            counterparty_name=transaction.counterparty_name or "",
            remittance=transaction.remittance,
            structured_reference=transaction.structured_reference)
        decision = domain.reconcile(credit, list(self.open_invoices().values()),
                                    self.known_ibans())
        if not decision.allocations:
            transaction.status = "unmatched"
            transaction.suggestions = [{"invoice": s.invoice_id, "reason": s.reason,
                                        "score": s.score} for s in decision.suggestions]
            return "unmatched"
        assert decision.customer_id is not None
        apply_allocations(self.uow, self.org_id, transaction, decision.customer_id,
                          [(a.invoice_id, a.amount) for a in decision.allocations],
                          decision.overpayment, decision.method)
        for allocation in decision.allocations:
            self._paid(allocation.invoice_id, allocation.amount)
        if transaction.counterparty_iban:
            self.known_ibans()[transaction.counterparty_iban] = decision.customer_id
        return "matched"

    def _paid(self, invoice_id: str, amount: int) -> None:
        invoices = self.open_invoices()
        left = invoices[invoice_id].amount_remaining - amount
        if left > 0:
            invoices[invoice_id] = replace(invoices[invoice_id], amount_remaining=left)
        else:
            del invoices[invoice_id]

    def _return(self, transaction: m.BankTransaction) -> str:
        payment = None
        if transaction.end_to_end_id:
            payment = self.uow.session.scalars(select(m.Payment).where(
                m.Payment.org_id == self.org_id,
                m.Payment.id == transaction.end_to_end_id)).first()
        if payment is None or payment.status != "succeeded":
            transaction.status = "unmatched"  # a person looks at returns Kassa cannot place
            return "unmatched"
        customer = self.uow.session.get(m.Customer, payment.customer_id, with_for_update=True)
        assert customer is not None
        code = transaction.return_reason or "returned"
        payments.apply_status(self.uow, payment, ChargeResult(
            ref=payment.gateway_ref or "", status="failed", amount=payment.amount,
            currency=payment.currency, decline_code=code, decline_type=decline_type(code),
            message=f"Returned by the bank ({code})"), now_for(self.uow, customer))
        transaction.status, transaction.customer_id = "returned", payment.customer_id
        transaction.matched_amount = payment.amount
        self._open = None  # the invoice is open again
        return "returned"


def _open_invoice(invoice: m.Invoice, customer_name: str | None) -> domain.OpenInvoice:
    assert invoice.number is not None and invoice.finalized_at is not None
    return domain.OpenInvoice(
        id=invoice.id, customer_id=invoice.customer_id,
        customer_name=invoice.customer_name or customer_name or "", number=invoice.number,
        reference=references.creditor_reference(invoice.number), currency=invoice.currency,
        amount_remaining=invoice.amount_remaining,
        due_date=invoice.due_date.date() if invoice.due_date else None,
        issued=invoice.finalized_at.date())


def apply_allocations(uow: UnitOfWork, org_id: str, transaction: m.BankTransaction,
                      customer_id: str, allocations: Sequence[tuple[str, int]],
                      rest_to_balance: int, method: str) -> None:
    """Pay each invoice its part of the transaction; the rest is the customer's credit."""
    for invoice_id, amount in allocations:
        payments.record_payment(uow, org_id, invoice_id=invoice_id, amount=amount,
                                method="bank_transfer",
                                reference=transaction.remittance[:200] or None,
                                bank_transaction_id=transaction.id)
    if rest_to_balance:
        customer = uow.session.get(m.Customer, customer_id, with_for_update=True)
        assert customer is not None
        customer.currency = customer.currency or transaction.currency
        now = now_for(uow, customer)
        unapplied = m.Payment(
            id=new_id("py"), org_id=org_id, customer_id=customer_id, invoice_id=None,
            amount=rest_to_balance, currency=transaction.currency, method_type="bank_transfer",
            status="succeeded", reference=transaction.remittance[:200] or None,
            bank_transaction_id=transaction.id, attempt=0, metadata_={}, created=now,
            succeeded_at=now, amount_refunded=0,
            description="Paid more than was due: credited to the balance")
        uow.session.add(unapplied)
        record_balance_change(uow, customer, -rest_to_balance, "overpayment",
                              description=f"Bank transfer {transaction.id} paid more than "
                                          "was due")
    transaction.status, transaction.customer_id = "matched", customer_id
    transaction.matched_amount = transaction.amount
    transaction.match_method = method
    transaction.suggestions = []


def match(uow: UnitOfWork, org_id: str, transaction_id: str, *,
          invoices: Sequence[dict[str, Any]], customer: str | None = None) -> m.BankTransaction:
    """A person matches an unmatched credit (POST /v1/bank_transactions/{id}/match): to
    invoices, each with an amount (default what remains), and what is left to the credit
    balance of `customer` (default the invoices' customer). One customer, one currency."""
    transaction = scoping.get(uow.session, m.BankTransaction, org_id, transaction_id,
                              lock=True)
    if transaction.status != "unmatched" or transaction.amount <= 0:
        raise InvalidState(f"Bank transaction {transaction.id} is {transaction.status}; only "
                           "unmatched credits can be matched.")
    if not invoices and customer is None:
        raise InvalidRequest("Name the invoices it pays, or the customer it belongs to.",
                             param="invoices")
    allocations: list[tuple[str, int]] = []
    owners = {customer} if customer else set()
    for index, wanted in enumerate(invoices):
        param = f"invoices[{index}]"
        invoice = scoping.get(uow.session, m.Invoice, org_id, str(wanted.get("invoice")),
                              param=f"{param}[invoice]")
        if invoice.status not in ("open", "uncollectible") or invoice.amount_remaining <= 0:
            raise InvalidState(f"Invoice {invoice.id} is {invoice.status}.",
                               param=f"{param}[invoice]")
        if invoice.currency != transaction.currency:
            raise InvalidRequest(f"Invoice {invoice.id} is in {invoice.currency.upper()}, the "
                                 f"transfer in {transaction.currency.upper()}.",
                                 param=f"{param}[invoice]")
        amount = wanted.get("amount") or invoice.amount_remaining
        if amount > invoice.amount_remaining:
            raise InvalidRequest(f"Invoice {invoice.id} has {invoice.amount_remaining} left "
                                 "to pay.", param=f"{param}[amount]")
        owners.add(invoice.customer_id)
        allocations.append((invoice.id, amount))
    if customer:
        scoping.get(uow.session, m.Customer, org_id, customer, param="customer")
    if len(owners) != 1:
        raise InvalidRequest("One transfer is matched to one customer's invoices.",
                             param="invoices")
    if len({invoice_id for invoice_id, _ in allocations}) != len(allocations):
        raise InvalidRequest("An invoice is named twice.", param="invoices")
    used = sum(amount for _, amount in allocations)
    if used > transaction.amount:
        raise InvalidRequest(f"The amounts add up to {used}, more than the {transaction.amount}"
                             " received.", param="invoices")
    apply_allocations(uow, org_id, transaction, owners.pop(), allocations,
                      transaction.amount - used, "manual")
    uow.commit()
    return transaction


def ignore(uow: UnitOfWork, org_id: str, transaction_id: str) -> m.BankTransaction:
    transaction = scoping.get(uow.session, m.BankTransaction, org_id, transaction_id,
                              lock=True)
    if transaction.status != "unmatched":
        raise InvalidState(f"Bank transaction {transaction.id} is {transaction.status}.")
    transaction.status = "ignored"
    uow.commit()
    return transaction


def list_transactions(uow: UnitOfWork, org_id: str, *, status: str | None = None,
                      statement: str | None = None, **page: Any) -> scoping.Page:
    query = select(m.BankTransaction).where(m.BankTransaction.org_id == org_id)
    if status:
        query = query.where(m.BankTransaction.status == status)
    if statement:
        query = query.where(m.BankTransaction.statement_id == statement)
    return scoping.paginate(uow.session, query, m.BankTransaction, **page)


def statement_object(row: m.BankStatement) -> dict[str, Any]:
    return {"id": row.id, "object": "bank_statement", "format": row.format,
            "filename": row.filename, "account_iban": row.account_iban,
            "statement_reference": row.statement_ref, "currency": row.currency,
            "opening_balance": row.opening_balance, "closing_balance": row.closing_balance,
            "entries": row.entries, "imported_at": to_unix(row.imported_at)}


def transaction_object(row: m.BankTransaction) -> dict[str, Any]:
    def day(value: date | None) -> str | None:
        return value.isoformat() if value else None

    return {"id": row.id, "object": "bank_transaction", "statement": row.statement_id,
            "booking_date": day(row.booking_date), "value_date": day(row.value_date),
            "amount": row.amount, "currency": row.currency,
            "counterparty_name": row.counterparty_name,
            "counterparty_iban": row.counterparty_iban, "remittance": row.remittance,
            "structured_reference": row.structured_reference,
            "end_to_end_id": row.end_to_end_id, "is_return": row.is_return,
            "return_reason": row.return_reason, "status": row.status,
            "customer": row.customer_id, "matched_amount": row.matched_amount,
            "match_method": row.match_method, "suggestions": row.suggestions,
            "created": to_unix(row.created)}
