"""Customer statements of account: for one customer and currency, what they owed at `from`,
every entry of [from, to) with the running balance, and what they owed at `to`; as data,
CSV and PDF. Statements are rendered on demand and never stored.

Where the entries come from (a positive amount increases what the customer owes):

- a finalized invoice: + its total, when it was finalized (the credit balance it used is
  part of that, so the `applied_to_invoice` balance transaction is no entry of its own);
- its void: − what it still counted, when it was voided: its total, less what pre-payment
  credit notes took off it and what was paid on it (so a voided invoice nets to zero);
- its write-off (marked uncollectible): − what remained to be paid; reversed (+) when the
  written-off invoice is paid or voided after all;
- a credit note: − its total, when issued; its void: + its total (however it was settled:
  what it credited to the balance is no entry of its own);
- payments and refunds: see `_payments`;
- a balance transaction a person made (`adjustment`): its amount, when made.

So for a customer in one currency the closing balance "now" is what their open invoices
leave to be paid plus their balance (negative: credit), which the tests check.

CSV layout: UTF-8, comma-separated, CRLF line ends, one header row

    date,type,reference,description,debit,credit,balance

- `date`: YYYY-MM-DD in the customer's timezone (else the organization's);
- `type`: `opening_balance`, an entry kind (`invoice`, `invoice_void`, `write_off`,
  `credit_note`, `credit_note_void`, `payment`, `refund`, `adjustment`) or
  `closing_balance`;
- `reference`: the invoice or credit note number, if any;
- `debit` / `credit`: the entry's amount in major units with the currency's decimals
  ("12.50"), as a debit when it increases what the customer owes, else as a credit; the
  other column is empty (both are for the balance rows);
- `balance`: the balance after the row, in major units; negative is credit.

The first row after the header is the opening balance, dated `from`; the last is the
closing balance, dated the period's last day.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import lazyload

from kassa.adapters.documents import render
from kassa.core import locales
from kassa.core.clock import parse_day, parse_timestamp, to_unix
from kassa.core.errors import InvalidRequest
from kassa.core.money import exponent, normalize_currency, to_major
from kassa.domain import statements as domain
from kassa.services import scoping
from kassa.services.customers import now_for
from kassa.services.documents import (
    Publishing,
    Rendered,
    _address_lines,
    _brand_color,
    _day,
    _seller,
    org_logo,
)
from kassa.services.organizations import get_organization, timezone_of
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

MAX_DAYS = 366 * 5  # a statement spans at most five years
CSV_COLUMNS = ("date", "type", "reference", "description", "debit", "credit", "balance")

# Balance transactions that are no entries: the invoice and credit note entries already
# count them. Applying the balance to an invoice at finalization (or a credit invoice adding
# to it), giving it back when the invoice is voided, and crediting a credit note to it (or
# taking that back when the credit note is voided), and the part of a payment that paid more
# than its invoice asked (`overpayment`: the payment is the entry). Every other type (today:
# `adjustment`) is an entry.
_COUNTED_ELSEWHERE = frozenset({"applied_to_invoice", "invoice_credit", "invoice_voided",
                                "credit_note", "credit_note_voided", "overpayment"})


@dataclass(frozen=True)
class CustomerStatement:
    """A statement with what it is printed with: whose, by whom, in which timezone, when."""

    org: m.Organization
    customer: m.Customer
    zone: ZoneInfo
    issued_at: datetime
    statement: domain.Statement

    @property
    def first_day(self) -> date:
        return self.statement.start.astimezone(self.zone).date()

    @property
    def last_day(self) -> date:
        """The period's last day: the day of the last instant before `to`."""
        return (self.statement.end - timedelta(microseconds=1)).astimezone(self.zone).date()


def parse_bound(value: str, param: str) -> date | datetime:
    """A period bound given by a caller: a Unix timestamp (an instant) or "YYYY-MM-DD" (a
    day, which starts at midnight in the customer's timezone)."""
    if value.isascii() and value.isdigit():
        return parse_timestamp(int(value) if len(value) <= 12 else -1, param)
    return parse_day(value, param)


def customer_statement(uow: UnitOfWork, org_id: str, customer_id: str, *,
                       start: date | datetime, end: date | datetime,
                       currency: str | None = None) -> CustomerStatement:
    """The statement of the organization's customer `customer_id` for [start, end), in
    `currency` (default: the customer's, else the organization's). Days are the
    customer's. NotFound for a customer of another organization; InvalidRequest naming the
    parameter for an empty, reversed or longer than five years period."""
    customer = scoping.get(uow.session, m.Customer, org_id, customer_id)
    org = get_organization(uow.session, org_id)
    zone = timezone_of(org, customer)
    currency = normalize_currency(currency or customer.currency or org.default_currency)
    first, last = _instant(start, zone), _instant(end, zone)
    if last <= first:
        raise InvalidRequest("to must be after from.", param="to")
    if last - first > timedelta(days=MAX_DAYS):
        raise InvalidRequest("A statement spans at most five years.", param="to")
    entries = _entries(uow, customer, currency, zone)
    return CustomerStatement(org, customer, zone, now_for(uow, customer),
                             domain.statement(entries, first, last, currency))


def statement_object(result: CustomerStatement) -> dict[str, Any]:
    """The statement as the API returns it (`customer_statement`)."""
    statement = result.statement
    return {
        "object": "customer_statement", "customer": result.customer.id,
        "currency": statement.currency, "from": to_unix(statement.start),
        "to": to_unix(statement.end), "opening_balance": statement.opening_balance,
        "closing_balance": statement.closing_balance, "amount_due": statement.amount_due,
        "totals": dict(statement.totals),
        "entries": [{"date": to_unix(p.entry.at), "type": p.entry.kind,
                     "reference": p.entry.reference, "description": p.entry.description,
                     "amount": p.entry.amount, "balance": p.balance,
                     "object": p.entry.object_id} for p in statement.entries],
    }


def statement_csv(result: CustomerStatement) -> str:
    """The statement as CSV (the layout is in the module's docstring)."""
    statement, zone = result.statement, result.zone
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerow([result.first_day.isoformat(), "opening_balance", "", "", "", "",
                     _major(statement.opening_balance, statement.currency)])
    for posted in statement.entries:
        entry = posted.entry
        amount = _major(abs(entry.amount), statement.currency)
        writer.writerow([
            entry.at.astimezone(zone).date().isoformat(), entry.kind, entry.reference or "",
            entry.description, amount if entry.amount > 0 else "",
            amount if entry.amount <= 0 else "",
            _major(posted.balance, statement.currency)])
    writer.writerow([result.last_day.isoformat(), "closing_balance", "", "", "", "",
                     _major(statement.closing_balance, statement.currency)])
    return buffer.getvalue()


def statement_pdf(publishing: Publishing, result: CustomerStatement,
                  locale: str | None = None) -> Rendered:
    """The statement as a PDF in `locale` (default: the customer's, else the organization's
    language), with the organization's branding."""
    language = locales.language(locale or result.customer.locale or result.org.locale)
    content = render.render_statement_pdf(statement_view(publishing, result), language)
    return Rendered(content, language, filename(result, "pdf"))


def filename(result: CustomerStatement, extension: str) -> str:
    """statement-<customer>-<from>-<to>.<extension>, with the days of `from` and `to`."""
    end = result.statement.end.astimezone(result.zone).date()
    return (f"statement-{result.customer.id}-{result.first_day.isoformat()}-"
            f"{end.isoformat()}.{extension}")


def statement_view(publishing: Publishing, result: CustomerStatement) -> render.StatementView:
    """What the printed statement shows, as plain data for the renderer."""
    org, customer, statement = result.org, result.customer, result.statement
    return render.StatementView(
        currency=statement.currency, exponent=exponent(statement.currency),
        seller=_seller(org),
        buyer=render.Party(name=customer.name, address_lines=_address_lines(customer.address),
                           vat_id=customer.vat_id, email=customer.email),
        issue_date=result.issued_at.astimezone(result.zone).date(),
        period=(result.first_day, result.last_day),
        opening_balance=statement.opening_balance,
        rows=[render.StatementRow(day=p.entry.at.astimezone(result.zone).date(),
                                  kind=p.entry.kind, reference=p.entry.reference,
                                  description=p.entry.description, amount=p.entry.amount,
                                  balance=p.balance) for p in statement.entries],
        closing_balance=statement.closing_balance,
        brand_color=_brand_color(org.brand_color), logo=org_logo(org, publishing),
        support_email=org.support_email)


def _instant(bound: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(bound, datetime):
        return bound
    return datetime.combine(bound, time(), zone).astimezone(UTC)


def _major(amount: int, currency: str) -> str:
    return f"{to_major(amount, currency):.{exponent(currency)}f}"


# -- the entries --------------------------------------------------------------------------

def _entries(uow: UnitOfWork, customer: m.Customer, currency: str,
             zone: ZoneInfo) -> list[domain.Entry]:
    """Every entry of the customer in `currency`, of all time."""
    invoices = list(uow.session.scalars(
        select(m.Invoice).options(lazyload(m.Invoice.lines))
        .where(m.Invoice.org_id == customer.org_id, m.Invoice.customer_id == customer.id,
               m.Invoice.currency == currency, m.Invoice.finalized_at.is_not(None))))
    notes = list(uow.session.scalars(
        select(m.CreditNote).options(lazyload(m.CreditNote.lines))
        .where(m.CreditNote.org_id == customer.org_id,
               m.CreditNote.customer_id == customer.id, m.CreditNote.currency == currency)))
    numbers = {invoice.id: invoice.number for invoice in invoices}
    payments = _payments(uow, customer, currency, notes)
    paid = {(e.object_id, e.at): -e.amount for e in payments if e.kind == "payment"}
    return [*(e for invoice in invoices for e in _invoice_entries(invoice, zone, paid)),
            *(e for note in notes for e in _credit_note_entries(note, numbers)),
            *_adjustments(uow, customer, currency), *payments]


def _invoice_entries(invoice: m.Invoice, zone: ZoneInfo,
                     paid: dict[tuple[str, datetime], int]) -> Iterator[domain.Entry]:
    """The invoice, its write-off (and that reversed) and its void. `paid` is what each
    payment paid, by (invoice, moment)."""
    assert invoice.finalized_at is not None

    def entry(at: datetime, kind: domain.EntryKind, amount: int,
              description: str = "") -> domain.Entry:
        return domain.Entry(at, kind, invoice.number, description, amount, invoice.id)

    yield entry(invoice.finalized_at, "invoice", invoice.total,
                invoice.description or _span(invoice, zone))
    if invoice.marked_uncollectible_at is not None:
        # What remained to be paid was written off; paying or voiding the invoice after all
        # reverses that at the same moment.
        left = None
        if invoice.status == "uncollectible":
            written_off = invoice.amount_remaining
        elif invoice.status == "void" and invoice.voided_at is not None:
            written_off, left = invoice.amount_due - invoice.amount_paid, invoice.voided_at
        elif invoice.status == "paid" and invoice.paid_at is not None:
            written_off = paid.get((invoice.id, invoice.paid_at), 0)
            left = invoice.paid_at
        else:
            written_off = 0
        if written_off:
            yield entry(invoice.marked_uncollectible_at, "write_off", -written_off)
            if left is not None:
                yield entry(left, "write_off", written_off, "reversed")
    if invoice.voided_at is not None:
        # The balance it used went back to the customer (`invoice_voided`), pre-payment
        # credit notes and payments already count as theirs: the rest is voided.
        used = invoice.starting_balance - (invoice.ending_balance or 0)
        yield entry(invoice.voided_at, "invoice_void",
                    -(invoice.amount_due - invoice.amount_paid - used))


def _credit_note_entries(note: m.CreditNote,
                         numbers: dict[str, str | None]) -> Iterator[domain.Entry]:
    reason = note.reason.replace("_", " ") if note.reason else None
    description = " · ".join(part for part in (numbers.get(note.invoice_id), reason,
                                               note.memo) if part)
    yield domain.Entry(note.created, "credit_note", note.number, description, -note.total,
                       note.id)
    if note.status == "void" and note.voided_at is not None:
        yield domain.Entry(note.voided_at, "credit_note_void", note.number,
                           numbers.get(note.invoice_id) or "", note.total, note.id)


def _adjustments(uow: UnitOfWork, customer: m.Customer,
                 currency: str) -> Iterator[domain.Entry]:
    """The customer's balance transactions that no invoice or credit note entry counts."""
    query = select(m.BalanceTransaction).where(
        m.BalanceTransaction.org_id == customer.org_id,
        m.BalanceTransaction.customer_id == customer.id,
        m.BalanceTransaction.currency == currency,
        m.BalanceTransaction.type.not_in(_COUNTED_ELSEWHERE))
    for row in uow.session.scalars(query):
        yield domain.Entry(row.created, "adjustment", None, row.description or "", row.amount,
                           row.id)


def _payments(uow: UnitOfWork, customer: m.Customer, currency: str,
              notes: Iterable[m.CreditNote]) -> list[domain.Entry]:
    """Payments (−) and refunds (+).

    Every payment Kassa knows is a payment row: a gateway charge that succeeded, a transfer
    matched from a bank statement (what paid more than its invoices is a row of its own,
    without an invoice), a payment recorded by hand. Each counts in full when it succeeded;
    one a bank took back (`returned`) counts again, the other way, when it was returned.
    A refund is a credit note's `refund_amount`, and its `out_of_band_amount`, given back
    (taken back if the credit note is voided).
    """
    rows = uow.session.execute(
        select(m.Payment, m.Invoice.number).outerjoin(
            m.Invoice, m.Invoice.id == m.Payment.invoice_id)
        .where(m.Payment.org_id == customer.org_id, m.Payment.customer_id == customer.id,
               m.Payment.currency == currency,
               m.Payment.status.in_(("succeeded", "returned"))))
    entries: list[domain.Entry] = []
    for payment, number in rows:
        how = payment.method_type.replace("_", " ")
        entries.append(domain.Entry(payment.succeeded_at or payment.created, "payment", number,
                                    how, -payment.amount, payment.id))
        if payment.status == "returned" and payment.returned_at is not None:
            entries.append(domain.Entry(
                payment.returned_at, "payment", number,
                f"{how} returned ({payment.return_reason or 'no reason given'})",
                payment.amount, payment.id))
    for note in notes:
        if note.refund_amount:
            entries.append(domain.Entry(note.created, "refund", note.number, "",
                                        note.refund_amount, note.id))
        if note.out_of_band_amount:
            entries.append(domain.Entry(note.created, "refund", note.number, "out of band",
                                        note.out_of_band_amount, note.id))
            if note.status == "void" and note.voided_at is not None:
                entries.append(domain.Entry(note.voided_at, "refund", note.number,
                                            "out of band, voided", -note.out_of_band_amount,
                                            note.id))
    return entries


def _span(invoice: m.Invoice, zone: ZoneInfo) -> str:
    """The invoice's service period as days, "2026-01-01 – 2026-02-01"; none for a manual
    invoice (its period is its creation instant)."""
    if invoice.period_start == invoice.period_end:
        return ""
    return f"{_day(invoice.period_start, zone)} – {_day(invoice.period_end, zone)}"
