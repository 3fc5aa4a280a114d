"""What finance reads from the ledger: the trial balance and general ledger of a period, the
journal in an accounting import layout, the revenue waterfall, and the reconciliation of
invoices, payments, credit notes and refunds against the ledger.

Every figure is in minor units of its own currency (the ledger never converts); periods are
months in the organization's timezone, `start` inclusive and `end` exclusive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from kassa.core.errors import InvalidRequest
from kassa.core.money import to_major
from kassa.domain import ledger as domain
from kassa.domain.recognition import Schedule, month_starts, next_month
from kassa.services.organizations import timezone_of
from kassa.store import models as m

RECOGNIZED = "revenue.recognized"
NAMES = ("trial_balance", "general_ledger", "revenue_waterfall", "reconciliation")


def _accounts(session: Session, org_id: str) -> dict[str, m.LedgerAccount]:
    return {a.id: a for a in session.scalars(select(m.LedgerAccount)
                                             .where(m.LedgerAccount.org_id == org_id))}


def trial_balance(session: Session, org_id: str, start: date, end: date) -> dict[str, Any]:
    """Per account and currency: the balance before `start`, the debits and credits of the
    period and the balance at its end (debits positive, credits negative). Per currency the
    debits equal the credits and the closing balances add up to zero."""
    line = m.JournalLine
    before = func.sum(case((line.posted_on < start, line.amount), else_=0))
    within = line.posted_on >= start
    debits = func.sum(case((within & (line.amount > 0), line.amount), else_=0))
    credits = func.sum(case((within & (line.amount < 0), -line.amount), else_=0))
    rows = session.execute(
        select(line.account_id, line.currency, before, debits, credits)
        .where(line.org_id == org_id, line.posted_on < end)
        .group_by(line.account_id, line.currency)).all()
    accounts = _accounts(session, org_id)
    data, totals = [], defaultdict(lambda: {"debits": 0, "credits": 0, "closing_debits": 0,
                                            "closing_credits": 0})
    for account_id, currency, opening, debit, credit in rows:
        opening, debit, credit = int(opening or 0), int(debit or 0), int(credit or 0)
        closing = opening + debit - credit
        account = accounts[account_id]
        data.append({"account": account.code, "name": account.name, "type": account.type,
                     "currency": currency, "opening": opening, "debits": debit,
                     "credits": credit, "closing": closing,
                     "balance": domain.normal_balance(account.type, max(closing, 0),
                                                      max(-closing, 0))})
        total = totals[currency]
        total["debits"] += debit
        total["credits"] += credit
        total["closing_debits"] += max(closing, 0)
        total["closing_credits"] += max(-closing, 0)
    data.sort(key=lambda row: (row["currency"], row["account"]))
    return {"data": data, "totals": {currency: dict(total) for currency, total in
                                     sorted(totals.items())},
            "balanced": all(t["debits"] == t["credits"]
                            and t["closing_debits"] == t["closing_credits"]
                            for t in totals.values())}


def general_ledger(session: Session, org_id: str, start: date, end: date,
                   account_code: str | None = None) -> list[dict[str, Any]]:
    """Every posting of the period, account by account, with the running balance from the
    balance before `start`."""
    accounts = _accounts(session, org_id)
    wanted = {a.id for a in accounts.values() if account_code in (None, a.code)}
    line, entry = m.JournalLine, m.JournalEntry
    opening = dict(((account_id, currency), int(total)) for account_id, currency, total in
                   session.execute(select(line.account_id, line.currency, func.sum(line.amount))
                                   .where(line.org_id == org_id, line.posted_on < start)
                                   .group_by(line.account_id, line.currency)))
    rows = session.execute(
        select(line, entry).join(entry, entry.id == line.entry_id)
        .where(line.org_id == org_id, line.posted_on >= start, line.posted_on < end)
        .order_by(line.posted_on, entry.created, entry.id, line.position)).all()
    running = dict(opening)
    result = []
    for posting, journal in sorted(rows, key=lambda r: accounts[r[0].account_id].code):
        if posting.account_id not in wanted:
            continue
        key = (posting.account_id, posting.currency)
        running[key] = running.get(key, 0) + posting.amount
        result.append({"account": accounts[posting.account_id].code,
                       "date": posting.posted_on.isoformat(), "entry": journal.id,
                       "kind": journal.kind, "description": journal.description,
                       "currency": posting.currency, "debit": max(posting.amount, 0),
                       "credit": max(-posting.amount, 0), "balance": running[key],
                       "customer": posting.customer_id, "invoice": posting.invoice_id,
                       "product": posting.product_id})
    return result


JOURNAL_COLUMNS = ("Date", "Journal", "Entry", "Account", "Account name", "Description",
                   "Debit", "Credit", "Currency", "Reference", "Customer", "Product",
                   "Invoice")


def journal_rows(session: Session, org_id: str, start: date,
                 end: date) -> Iterator[list[str]]:
    """The journal of the period, one row per posting (JOURNAL_COLUMNS; docs/ledger.md):
    amounts in major units with a dot, debit or credit, dates ISO 8601."""
    accounts = _accounts(session, org_id)
    line, entry = m.JournalLine, m.JournalEntry
    rows = session.execute(
        select(line, entry).join(entry, entry.id == line.entry_id)
        .where(line.org_id == org_id, line.posted_on >= start, line.posted_on < end)
        .order_by(line.posted_on, entry.created, entry.id, line.position))
    for posting, journal in rows:
        account = accounts[posting.account_id]
        amount = to_major(abs(posting.amount), posting.currency)
        yield [posting.posted_on.isoformat(), "KASSA", journal.id, account.code, account.name,
               journal.description, str(amount) if posting.amount > 0 else "",
               str(amount) if posting.amount < 0 else "", posting.currency.upper(),
               journal.source_id, posting.customer_id or "", posting.product_id or "",
               posting.invoice_id or ""]


def revenue_waterfall(session: Session, org_id: str, start: date, end: date,
                      forecast_months: int = 12) -> dict[str, Any]:
    """Month by month and product by product: deferred revenue at the start, billed into it
    (invoices less credit notes and voids), recognized out of it, and at the end; then what
    the schedules will recognize in the months after."""
    accounts = {a.id for a in _accounts(session, org_id).values()
                if a.role == "deferred_revenue"}
    line, entry = m.JournalLine, m.JournalEntry
    rows = session.execute(
        select(line.posted_on, line.product_id, line.currency, line.amount, entry.kind)
        .join(entry, entry.id == line.entry_id)
        .where(line.org_id == org_id, line.account_id.in_(accounts), line.posted_on < end))
    bounds = month_starts(start, end - timedelta(days=1))[:-1]
    keys: set[tuple[str | None, str]] = set()
    opening: dict[tuple[str | None, str], int] = defaultdict(int)
    billed: dict[tuple[date, str | None, str], int] = defaultdict(int)
    recognized: dict[tuple[date, str | None, str], int] = defaultdict(int)
    for posted_on, product, currency, amount, kind in rows:
        keys.add((product, currency))
        if posted_on < start:
            opening[(product, currency)] -= amount
            continue
        month = posted_on.replace(day=1)
        if kind == RECOGNIZED:
            recognized[(month, product, currency)] += amount
        else:
            billed[(month, product, currency)] -= amount
    names = dict(session.execute(select(m.Product.id, m.Product.name)
                                 .where(m.Product.org_id == org_id)).all())
    data = []
    for product, currency in sorted(keys, key=lambda k: (k[1], names.get(k[0]) or "", k[0] or "")):
        balance = opening[(product, currency)]
        for month in bounds:
            row_billed = billed[(month, product, currency)]
            row_recognized = recognized[(month, product, currency)]
            closing = balance + row_billed - row_recognized
            data.append({"month": domain.period_of(month), "product": product,
                         "product_name": names.get(product) if product else "(no product)",
                         "currency": currency, "deferred_opening": balance,
                         "billed": row_billed, "recognized": row_recognized,
                         "deferred_closing": closing})
            balance = closing
    return {"data": data, "scheduled": _scheduled(session, org_id, end, forecast_months)}


def _scheduled(session: Session, org_id: str, start: date,
               months: int) -> list[dict[str, Any]]:
    """What the schedules earn in each of the `months` from `start`, per product."""
    bounds = month_starts(start, start + timedelta(days=31 * months - 1))[:months + 1]
    last = bounds[-1]
    result: dict[tuple[date, str | None, str], int] = defaultdict(int)
    schedules = session.scalars(select(m.RevenueSchedule).where(
        m.RevenueSchedule.org_id == org_id, m.RevenueSchedule.end_day > start,
        m.RevenueSchedule.first_day < last))
    for schedule in schedules:
        earning = Schedule(schedule.amount, schedule.first_day, schedule.end_day)
        for month, following in pairwise(bounds):
            part = earning.earned_between(month, following)
            if part:
                result[(month, schedule.product_id, schedule.currency)] += part
    return [{"month": domain.period_of(month), "product": product, "currency": currency,
             "recognized": amount}
            for (month, product, currency), amount in sorted(
                result.items(), key=lambda item: (item[0][0], item[0][2], item[0][1] or ""))]


def _day(zone: ZoneInfo, moment: datetime | None) -> date | None:
    return moment.astimezone(zone).date() if moment is not None else None


def reconciliation(session: Session, org_id: str, start: date, end: date) -> dict[str, Any]:
    """Invoices, payments, credit notes and refunds of the period against their entries, and
    every customer's receivable and balance against the ledger (as they stand now): each
    check per currency with its difference, and every document that differs. Expected: no
    differences."""
    org = session.get(m.Organization, org_id)
    assert org is not None
    zone = timezone_of(org)
    margin_start = datetime.combine(start - timedelta(days=1), datetime.min.time(), ZoneInfo("UTC"))
    margin_end = datetime.combine(end + timedelta(days=1), datetime.min.time(), ZoneInfo("UTC"))
    ledger = _entry_amounts(session, org_id, start, end)
    documents: dict[tuple[str, str], int] = {}
    currency_of: dict[str, str] = {}

    def add(kind: str, source_id: str, currency: str, amount: int,
            moment: datetime | None) -> None:
        day = _day(zone, moment)
        if day is not None and start <= day < end:
            documents[(kind, source_id)] = amount
            currency_of[source_id] = currency

    invoice = m.Invoice
    for id_, currency, total, finalized in session.execute(
            select(invoice.id, invoice.currency, invoice.total, invoice.finalized_at)
            .where(invoice.org_id == org_id, invoice.finalized_at >= margin_start,
                   invoice.finalized_at < margin_end)):
        add("invoice.finalized", id_, currency, total, finalized)
    payment = m.Payment
    for id_, currency, amount, succeeded, returned, status in session.execute(
            select(payment.id, payment.currency, payment.amount, payment.succeeded_at,
                   payment.returned_at, payment.status)
            .where(payment.org_id == org_id, payment.succeeded_at.is_not(None),
                   payment.succeeded_at < margin_end)):
        add("payment.succeeded", id_, currency, amount, succeeded)
        if status == "returned":
            add("payment.returned", id_, currency, -amount, returned)
    note = m.CreditNote
    for id_, currency, total, created, voided in session.execute(
            select(note.id, note.currency, note.total, note.created, note.voided_at)
            .where(note.org_id == org_id, note.created < margin_end)):
        add("credit_note.issued", id_, currency, total, created)
        if voided is not None:
            add("credit_note.voided", id_, currency, -total, voided)
    refund = m.Refund
    for id_, currency, amount, created in session.execute(
            select(refund.id, refund.currency, refund.amount, note.created)
            .join(note, note.id == refund.credit_note_id)
            .where(refund.org_id == org_id, note.created < margin_end)):
        add("refund.issued", id_, currency, amount, created)
    checks: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"documents": 0, "ledger": 0})
    differences = []
    for key in sorted(set(documents) | set(ledger)):
        kind, source_id = key
        expected, posted = documents.get(key, 0), ledger.get(key, (None, 0))[1]
        currency = currency_of.get(source_id) or ledger[key][0] or ""
        checks[(kind, currency)]["documents"] += expected
        checks[(kind, currency)]["ledger"] += posted
        if expected != posted:
            differences.append({"check": kind, "id": source_id, "currency": currency,
                                "documents": expected, "ledger": posted})
    for row in _receivables(session, org_id):
        checks[(row["check"], row["currency"])]["documents"] += row["documents"]
        checks[(row["check"], row["currency"])]["ledger"] += row["ledger"]
        if row["documents"] != row["ledger"]:
            differences.append(row)
    data = [{"check": kind, "currency": currency, "documents": figures["documents"],
             "ledger": figures["ledger"], "difference": figures["ledger"] - figures["documents"]}
            for (kind, currency), figures in sorted(checks.items())]
    return {"data": data, "differences": differences, "balanced": not differences}


# What each kind of entry amounts to, read the way its document states it: the receivable an
# invoice raised, the money a payment brought, the amount a credit note credited, the money a
# refund paid out (a reversal is the negative).
_MEASURE = {"invoice.finalized": ("receivable", 1), "payment.succeeded": ("money", 1),
            "payment.returned": ("money", 1), "credit_note.issued": ("debits", 1),
            "credit_note.voided": ("debits", -1), "refund.issued": ("refunds_payable", 1)}
_MONEY_ROLES = frozenset({"clearing", "bank", "out_of_band"})


def _entry_amounts(session: Session, org_id: str, start: date,
                   end: date) -> dict[tuple[str, str], tuple[str, int]]:
    accounts = _accounts(session, org_id)
    line, entry = m.JournalLine, m.JournalEntry
    result: dict[tuple[str, str], tuple[str, int]] = {}
    rows = session.execute(
        select(entry.kind, entry.source_id, line.account_id, line.amount, line.currency)
        .join(line, line.entry_id == entry.id)
        .where(entry.org_id == org_id, entry.posted_on >= start, entry.posted_on < end,
               entry.kind.in_(list(_MEASURE))))
    for kind, source_id, account_id, amount, currency in rows:
        measure, sign = _MEASURE[kind]
        role = accounts[account_id].role
        if measure == "debits":  # what a credit note debited; its void, credited
            counted = max(amount, 0) if sign > 0 else min(amount, 0)
        elif measure == "money":
            counted = amount if role in _MONEY_ROLES else 0
        else:
            counted = amount if role == measure else 0
        _, before = result.get((kind, source_id), (currency, 0))
        result[(kind, source_id)] = (currency, before + counted)
    return result


def _receivables(session: Session, org_id: str) -> list[dict[str, Any]]:
    """Per customer and currency: open invoices against the receivable account, and the
    customer's balance against the customer balances account. An invoice once written off
    owes to bad debt, even open again (a credit note voided after it was paid)."""
    open_amounts: dict[tuple[str, str], int] = defaultdict(int)
    for customer_id, currency, remaining in session.execute(
            select(m.Invoice.customer_id, m.Invoice.currency, m.Invoice.amount_remaining)
            .where(m.Invoice.org_id == org_id, m.Invoice.status == "open",
                   m.Invoice.marked_uncollectible_at.is_(None))):
        open_amounts[(customer_id, currency)] += remaining
    balances = {(c.id, c.currency or ""): c.balance for c in session.scalars(
        select(m.Customer).where(m.Customer.org_id == org_id, m.Customer.balance != 0))}
    roles = {a.id: a.role for a in _accounts(session, org_id).values()}
    posted: dict[tuple[str, str, str], int] = defaultdict(int)
    for account_id, customer_id, currency, total in session.execute(
            select(m.JournalLine.account_id, m.JournalLine.customer_id,
                   m.JournalLine.currency, func.sum(m.JournalLine.amount))
            .where(m.JournalLine.org_id == org_id, m.JournalLine.customer_id.is_not(None))
            .group_by(m.JournalLine.account_id, m.JournalLine.customer_id,
                      m.JournalLine.currency)):
        role = roles[account_id]
        if role in ("receivable", "customer_balance"):
            posted[(role, customer_id, currency)] += int(total)
    rows = []
    for role, customer_id, currency in sorted(
            set(posted) | {("receivable", c, cur) for c, cur in open_amounts}
            | {("customer_balance", c, cur) for c, cur in balances}):
        documents = (open_amounts.get((customer_id, currency), 0) if role == "receivable"
                     else balances.get((customer_id, currency), 0))
        rows.append({"check": f"{role}.per_customer", "id": customer_id, "currency": currency,
                     "documents": documents, "ledger": posted.get((role, customer_id,
                                                                   currency), 0)})
    return rows


def report(session: Session, org_id: str, name: str, first: str, last: str,
           account: str | None = None) -> dict[str, Any]:
    """The ledger report `name` for the months `first` to `last` (YYYY-MM), in the shape of
    the business reports (services/reports.report): `data` rows, and its own extras; the
    general ledger of one `account` code if given."""
    start, end = month_span(first, last)
    body: dict[str, Any] = {"object": "report", "name": name, "from": first, "to": last,
                            "currency": None}
    if name == "trial_balance":
        return {**body, **trial_balance(session, org_id, start, end)}
    if name == "general_ledger":
        return {**body, "data": general_ledger(session, org_id, start, end, account)}
    if name == "revenue_waterfall":
        return {**body, **revenue_waterfall(session, org_id, start, end)}
    return {**body, **reconciliation(session, org_id, start, end)}


def month_span(first: str, last: str) -> tuple[date, date]:
    """The first day of month `first` and the day after month `last` (YYYY-MM each)."""
    def parse(value: str, param: str) -> date:
        try:
            year, month = (int(part) for part in value.split("-"))
            return date(year, month, 1)
        except ValueError:
            raise InvalidRequest(f"{param} is a month, YYYY-MM.", param=param) from None
    start, last_start = parse(first, "from"), parse(last, "to")
    if last_start < start:
        raise InvalidRequest("to is the same month as from or later.", param="to")
    return start, next_month(last_start)
