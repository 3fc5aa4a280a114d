"""The ledger: journal entries posted automatically from what happens, in the same transaction.

Whatever code path changes an invoice, a payment, a refund, a credit note, a customer's
balance or records a payout, the change is seen once, when the session flushes it
(`before_flush`): a finalized invoice, a payment that succeeded or was returned, a refund
made, a credit note issued or voided, a write-off, a void, a balance applied, a payout.
Each posts one balanced entry (domain/ledger.py decides the postings), recorded with its
source and kind under a unique constraint, so an event is never posted twice, and dated in
the organization's timezone; a date in a closed month is refused (PeriodClosed) and the
whole change with it. Entries never change: a void or a return posts the reversing entry.

Revenue goes to deferred revenue with a schedule per line (services/recognition.py posts
it to revenue as it is earned).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import PASSIVE_NO_INITIALIZE, get_history

from kassa.core.errors import InvalidState
from kassa.core.ids import new_id
from kassa.domain import ledger as domain
from kassa.domain.ledger import Posting
from kassa.services import prefetch
from kassa.store import models as m
from kassa.store.db import is_postgres, upsert_insert
from kassa.store.rows import held


class PeriodClosed(InvalidState):
    """Something dated in a closed accounting period (HTTP 400, `period_closed`)."""

    code = "period_closed"


@dataclass
class Draft:
    """An entry about to be written, with the revenue schedules it opens."""

    kind: str
    source_type: str
    source_id: str
    posted_on: date
    description: str
    postings: list[Posting]
    schedules: list[dict[str, Any]] = field(default_factory=list)
    reverses_id: str | None = None


# ---------------------------------------------------------------------------------------------
# Accounts


def default_chart(session: Session, org_id: str, now: datetime) -> None:
    """Open the default chart of accounts (domain.ROLES) for an organization that has none."""
    table = m.LedgerAccount.__table__
    rows = [{"id": new_id("la"), "org_id": org_id, "code": code, "name": name, "type": type_,
             "role": role, "key": None, "created": now}
            for role, (code, name, type_) in domain.ROLES.items()]
    session.execute(upsert_insert(session, table).values(rows)
                    .on_conflict_do_nothing(index_elements=[table.c.org_id, table.c.code]))


class Accounts:
    """The account a role and key post to, for one organization: the account mapped to that
    role and key, else (tax per jurisdiction, clearing per gateway) one opened for the key,
    else the role's default account."""

    def __init__(self, session: Session, org_id: str, now: datetime) -> None:
        self._session, self._org_id, self._now = session, org_id, now
        self._by_key: dict[tuple[str, str | None], str] | None = None

    def _load(self) -> dict[tuple[str, str | None], str]:
        if self._by_key is None:
            self._reload()
            assert self._by_key is not None
            if not any(key is None for _, key in self._by_key):
                default_chart(self._session, self._org_id, self._now)
                self._reload()
        assert self._by_key is not None
        return self._by_key

    def _reload(self) -> dict[tuple[str, str | None], str]:
        rows = self._session.execute(select(
            m.LedgerAccount.role, m.LedgerAccount.key, m.LedgerAccount.id)
            .where(m.LedgerAccount.org_id == self._org_id)).all()
        self._by_key = {(role, key): id_ for role, key, id_ in rows}
        return self._by_key

    def id_for(self, role: str, key: str | None) -> str:
        accounts = self._load()
        found = accounts.get((role, key))
        if found:
            return found
        if key and role in domain.KEYED_BY_DEFAULT:
            code, name, type_ = domain.ROLES[role]
            table = m.LedgerAccount.__table__
            self._session.execute(
                upsert_insert(self._session, table).values(
                    id=new_id("la"), org_id=self._org_id, code=f"{code}-{key.upper()}"[:20],
                    name=f"{name} {key.upper()}", type=type_, role=role, key=key,
                    created=self._now)
                .on_conflict_do_nothing(index_elements=[table.c.org_id, table.c.code]))
            accounts = self._reload()
            found = accounts.get((role, key))
            if found:
                return found
        return accounts[(role, None)]


# ---------------------------------------------------------------------------------------------
# Writing entries


def closed_periods(session: Session, org_id: str) -> set[str]:
    """The organization's closed months ("YYYY-MM")."""
    return set(session.scalars(select(m.LedgerPeriod.period)
                               .where(m.LedgerPeriod.org_id == org_id)))


def check_open(session: Session, org_id: str, day: date,
               closed: set[str] | None = None) -> None:
    """Raise PeriodClosed if `day` falls in a closed month of the organization."""
    period = domain.period_of(day)
    if period in (closed if closed is not None else closed_periods(session, org_id)):
        raise PeriodClosed(
            f"The accounting period {period} is closed: nothing dated {day.isoformat()} can "
            "be recorded. Record it with a date in an open period (a correction of a closed "
            "month goes into the open one).", param="period")


def _lock(session: Session, org_id: str) -> None:
    if is_postgres(session):
        # A close takes the organization's row FOR UPDATE (services/accounting.py): with
        # this lock held first, a posting and a close of its month never cross. FOR KEY
        # SHARE conflicts with nothing else, so postings (two billing workers') don't
        # queue behind each other; FOR NO KEY UPDATE would serialize them until commit.
        session.execute(select(m.Organization.id).where(m.Organization.id == org_id)
                        .with_for_update(read=True, key_share=True))


def write(session: Session, org_id: str, draft: Draft, now: datetime) -> m.JournalEntry | None:
    """Write a balanced entry (and its schedules); nothing for an entry with no postings."""
    postings = domain.compact(draft.postings)
    if not postings and not draft.schedules:
        return None
    domain.check_balanced(postings)
    # A billing batch takes the lock and reads the closed months and the chart once: with
    # the lock held, no close can come in between.
    batch = prefetch.of(session)
    if batch is None:
        _lock(session, org_id)
        check_open(session, org_id, draft.posted_on)
        accounts = Accounts(session, org_id, now)
    else:
        check_open(session, org_id, draft.posted_on, batch.remember(
            ("closed_periods", org_id), lambda: _lock(session, org_id) or closed_periods(
                session, org_id)))
        accounts = batch.remember(("accounts", org_id), lambda: Accounts(session, org_id, now))
    entry = dict(id=new_id("je"), org_id=org_id, kind=draft.kind,
                 source_type=draft.source_type, source_id=draft.source_id,
                 posted_on=draft.posted_on, description=draft.description[:300],
                 reverses_id=draft.reverses_id, created=now)
    lines = [dict(id=new_id("jl"), org_id=org_id, entry_id=entry["id"], position=position,
                  account_id=accounts.id_for(p.role, p.key), amount=p.amount,
                  currency=p.currency, posted_on=draft.posted_on, customer_id=p.customer_id,
                  product_id=p.product_id, invoice_id=p.invoice_id)
             for position, p in enumerate(postings)]
    schedules = [dict(id=new_id("rs"), org_id=org_id, entry_id=entry["id"], created=now,
                      recognized=0, recognized_through=schedule["first_day"], done=False,
                      **schedule) for schedule in draft.schedules]
    if batch is not None:
        # A billing batch writes its entries in bulk with the flush they are posted in.
        batch.insert(m.JournalEntry, entry)
        for values in lines:
            batch.insert(m.JournalLine, values)
        for values in schedules:
            batch.insert(m.RevenueSchedule, values)
        return None
    row = m.JournalEntry(**entry, lines=[m.JournalLine(**values) for values in lines])
    session.add(row)
    session.add_all(m.RevenueSchedule(**values) for values in schedules)
    return row


def _pending(session: Session, model: type[Any]) -> list[Any]:
    """The journal's rows (entries with their lines, or schedules) added in this transaction
    and not yet written: pending in the session, or gathered by a billing batch."""
    found = [obj for obj in session.new if isinstance(obj, model)]
    batch = prefetch.of(session)
    if batch is None:
        return found
    if model is m.JournalEntry:
        lines: dict[str, list[SimpleNamespace]] = defaultdict(list)
        for row in batch.pending(m.JournalLine):
            lines[row["entry_id"]].append(SimpleNamespace(**row))
        return found + [SimpleNamespace(**row, lines=lines[row["id"]])
                        for row in batch.pending(m.JournalEntry)]
    return found + [SimpleNamespace(**row) for row in batch.pending(model)]


def posted(session: Session, org_id: str, source_id: str,
           kinds: Iterable[str]) -> list[m.JournalEntry]:
    """The entries already posted for a source, of the given kinds."""
    pending = [obj for obj in _pending(session, m.JournalEntry)
               if obj.org_id == org_id and obj.source_id == source_id and obj.kind in kinds]
    stored = list(session.scalars(select(m.JournalEntry).where(
        m.JournalEntry.org_id == org_id, m.JournalEntry.source_id == source_id,
        m.JournalEntry.kind.in_(list(kinds)))))
    return stored + pending


def postings_of(session: Session, entries: Iterable[m.JournalEntry]) -> list[Posting]:
    """The postings of written entries, read back (to reverse them)."""
    roles = {a.id: (a.role, a.key) for a in session.scalars(select(m.LedgerAccount).where(
        m.LedgerAccount.id.in_({line.account_id for e in entries for line in e.lines})))}
    result = []
    for entry in entries:
        for line in entry.lines:
            role, key = roles[line.account_id]
            result.append(Posting(role, line.amount, line.currency, key, line.customer_id,
                                  line.product_id, line.invoice_id))
    return result


# ---------------------------------------------------------------------------------------------
# What each change posts


def _day(session: Session, org_id: str, moment: datetime) -> date:
    org = held(session, m.Organization, org_id)
    zone = "UTC" if org is None else (org.timezone or "UTC")
    try:
        return moment.astimezone(ZoneInfo(zone)).date()
    except (KeyError, ValueError):
        return moment.astimezone(UTC).date()


def _now(session: Session, customer_id: str | None) -> datetime:
    customer = held(session, m.Customer, customer_id) if customer_id else None
    if customer is not None and customer.test_clock_id:
        clock = session.get(m.TestClock, customer.test_clock_id)
        if clock is not None:
            return clock.frozen_time
    kassa_clock = session.info.get("clock")
    return kassa_clock.now() if kassa_clock is not None else datetime.now(UTC)


def _added(obj: Any, name: str) -> Any:
    """The value `name` was just given (in this flush), or None."""
    state = inspect(obj)
    if not state.pending and name not in state.committed_state:
        return None  # a stored object whose `name` is unchanged
    history = get_history(obj, name, passive=PASSIVE_NO_INITIALIZE)
    value = getattr(obj, name)
    return value if history.added and value is not None else None


def _product_of(session: Session, price_id: str | None) -> tuple[str | None, bool]:
    """A price's product, and whether it is metered."""
    price = held(session, m.Price, price_id) if price_id else None
    if price is None:
        return None, False
    return price.product_id, price.recurring_usage_type == "metered"


def _receivable_role(invoice: m.Invoice | None) -> str:
    """Where money owed on an invoice sits: receivable, or bad debt once written off (a
    payment of a written-off invoice recovers bad debt)."""
    if invoice is None:
        return "customer_balance"
    return "bad_debt" if invoice.marked_uncollectible_at is not None else "receivable"


def _money_account(payment: m.Payment) -> tuple[str, str | None]:
    """Where a payment's money is: at its gateway, in the bank, or outside Kassa."""
    if payment.gateway:
        return "clearing", payment.gateway
    if payment.method_type == "bank_transfer":
        return "bank", None
    return "out_of_band", None


def _service_days(session: Session, org_id: str, start: datetime,
                  end: datetime) -> tuple[date, date]:
    first, last = _day(session, org_id, start), _day(session, org_id, end)
    return first, max(last, first + timedelta(days=1))


def _tax_postings(breakdown: list[Any] | None, fallback: Iterable[tuple[str | None, int]],
                  total: int, sign: int, currency: str, **dims: str | None) -> list[Posting]:
    """Tax owed per jurisdiction, from a document's tax breakdown (else its lines), made to
    add up to its tax exactly."""
    parts: dict[str | None, int] = {}
    if breakdown:
        for group in breakdown:
            key = domain.jurisdiction(group.get("country"), group.get("region"))
            parts[key] = parts.get(key, 0) + int(group.get("tax_amount") or 0)
    else:
        for key, amount in fallback:
            parts[key] = parts.get(key, 0) + amount
    if total and not parts:
        parts[None] = total
    keys = list(parts)
    amounts = domain.fit([parts[k] for k in keys], total)
    return [Posting("tax_payable", sign * amount, currency, key, **dims)
            for key, amount in zip(keys, amounts, strict=True) if amount]


def _children(session: Session, loaded: Iterable[Any], model: Any, parent: str,
              parent_id: str) -> list[Any]:
    """A document's lines, however they were added: through the relationship, or as rows
    naming it (pending or stored), by position."""
    found = {id(obj): obj for obj in loaded}
    for obj in session.new:
        if isinstance(obj, model) and getattr(obj, parent) == parent_id:
            found[id(obj)] = obj
    for obj in session.scalars(select(model).where(getattr(model, parent) == parent_id)):
        found[id(obj)] = obj
    return sorted(found.values(), key=lambda obj: obj.position)


def _deferred(session: Session, invoice: m.Invoice, line: Any, source: m.InvoiceLine | None,
              amount: int, day: date, schedules: list[dict[str, Any]]) -> list[Posting]:
    """`amount` on deferred revenue for one document line (credited: an invoice's line,
    debited: a credit note's), and the schedule that earns it: a subscription fee over its
    service period, usage over the period it was used, a one-off (or a credit note line of
    no invoice line) on `day`."""
    product, metered = _product_of(session, source.price_id if source else None)
    if amount:
        if source is None or (source.type == "invoiceitem" and not source.proration):
            kind, (first, end) = "one_off", (day, day + timedelta(days=1))
        else:
            kind = "usage" if metered else "subscription"
            first, end = _service_days(session, invoice.org_id, source.period_start,
                                       source.period_end)
        schedules.append({"customer_id": invoice.customer_id, "invoice_id": invoice.id,
                          "source_id": line.id, "kind": kind, "product_id": product,
                          "currency": invoice.currency, "amount": -amount, "first_day": first,
                          "end_day": end})
    return [Posting("deferred_revenue", amount, invoice.currency, product, product_id=product,
                    customer_id=invoice.customer_id, invoice_id=invoice.id)]


def _invoice_nets(session: Session,
                  invoice: m.Invoice) -> tuple[list[m.InvoiceLine], list[int]]:
    """An invoice's lines and what each adds to its revenue (net of discounts and tax),
    adding up to the invoice's total less its tax."""
    tax, total = invoice.tax or 0, invoice.total or 0
    batch = prefetch.of(session)
    if batch is not None and batch.covers(invoice.customer_id):
        lines = sorted(invoice.lines, key=lambda line: line.position)  # all loaded
    else:
        lines = _children(session, invoice.lines, m.InvoiceLine, "invoice_id", invoice.id)
    nets = [line.amount_excluding_tax for line in lines]
    if sum(nets) + tax != total:  # no tax decision was stored on the lines
        nets = [line.amount - (line.discount_amount or 0) - (
            line.tax_amount if line.tax_behavior == "inclusive" else 0) for line in lines]
    return lines, domain.fit(nets, total - tax) if lines else []


def _lump_sum(session: Session, invoice: m.Invoice, amount: int, day: date,
              schedules: list[dict[str, Any]]) -> list[Posting]:
    """A credit note's `amount` that names no lines (a refund's) taken back from the
    invoice's charges in proportion to their revenue, each over its own service period, so
    the revenue the invoice defers is reduced as it would have been earned."""
    lines, nets = _invoice_nets(session, invoice)
    charges = [(line, net) for line, net in zip(lines, nets, strict=True) if net > 0]
    charged = sum(net for _, net in charges)
    if not charged:
        return _deferred(session, invoice, invoice, None, amount, day, schedules)
    parts = domain.fit([amount * net // charged for _, net in charges], amount)
    return [posting for (line, _), part in zip(charges, parts, strict=True)
            for posting in _deferred(session, invoice, line, line, part, day, schedules)]


def invoice_finalized(session: Session, invoice: m.Invoice) -> Draft:
    """Receivable for the total; deferred revenue per line (net of discounts and tax) with
    a schedule each; tax payable per jurisdiction."""
    dims = {"customer_id": invoice.customer_id, "invoice_id": invoice.id}
    currency, tax, total = invoice.currency, invoice.tax or 0, invoice.total or 0
    lines, nets = _invoice_nets(session, invoice)
    day = _day(session, invoice.org_id, invoice.finalized_at or invoice.created)
    postings = [Posting("receivable", total, currency, **dims)]
    schedules: list[dict[str, Any]] = []
    for line, net in zip(lines, nets, strict=True):
        postings += _deferred(session, invoice, line, line, -net, day, schedules)
    postings += _tax_postings(invoice.tax_breakdown,
                              ((domain.jurisdiction(line.tax_country, line.tax_region),
                                line.tax_amount) for line in lines),
                              tax, -1, currency, **dims)
    if total == 0 and not any(nets):
        postings = []
    return Draft("invoice.finalized", "invoice", invoice.id, day,
                 f"Invoice {invoice.number or invoice.id}", postings, schedules)


def invoice_written_off(session: Session, invoice: m.Invoice) -> Draft:
    """What remained to be paid moves from receivable to bad debt."""
    assert invoice.marked_uncollectible_at is not None
    return Draft("invoice.written_off", "invoice", invoice.id,
                 _day(session, invoice.org_id, invoice.marked_uncollectible_at),
                 f"Invoice {invoice.number} written off as uncollectible",
                 domain.pair("bad_debt", "receivable", invoice.amount_remaining,
                             invoice.currency, customer_id=invoice.customer_id,
                             invoice_id=invoice.id))


def invoice_voided(session: Session, invoice: m.Invoice) -> Draft:
    """The invoice's finalization reversed, its schedules with it, and its bad debt (its
    write-off, and any credit note voided after it) back on the receivable the reversal
    clears."""
    assert invoice.voided_at is not None
    entries = posted(session, invoice.org_id, invoice.id, ("invoice.finalized",))
    draft = _reversal(session, "invoice.voided", "invoice", invoice.id, entries,
                      _day(session, invoice.org_id, invoice.voided_at),
                      f"Invoice {invoice.number} voided")
    draft.postings += domain.pair("receivable", "bad_debt",
                                  _invoice_balance(session, invoice, "bad_debt"),
                                  invoice.currency, customer_id=invoice.customer_id,
                                  invoice_id=invoice.id)
    return draft


def _invoice_balance(session: Session, invoice: m.Invoice, role: str) -> int:
    """What the ledger holds for one invoice on the accounts of a role (debits positive),
    entries written and pending alike."""
    accounts = set(session.scalars(select(m.LedgerAccount.id).where(
        m.LedgerAccount.org_id == invoice.org_id, m.LedgerAccount.role == role)))
    stored = session.scalar(select(func.sum(m.JournalLine.amount)).where(
        m.JournalLine.org_id == invoice.org_id, m.JournalLine.invoice_id == invoice.id,
        m.JournalLine.account_id.in_(accounts)))
    pending = sum(line.amount for entry in _pending(session, m.JournalEntry)
                  for line in entry.lines
                  if line.invoice_id == invoice.id and line.account_id in accounts)
    return int(stored or 0) + pending


def _reversal(session: Session, kind: str, source_type: str, source_id: str,
              entries: list[m.JournalEntry], day: date, description: str) -> Draft:
    ids = [entry.id for entry in entries]
    schedules = [obj for obj in _pending(session, m.RevenueSchedule) if obj.entry_id in ids]
    if ids:
        schedules += list(session.scalars(select(m.RevenueSchedule)
                                          .where(m.RevenueSchedule.entry_id.in_(ids))))
    return Draft(kind, source_type, source_id, day, description,
                 domain.reverse(postings_of(session, entries)),
                 [{"customer_id": s.customer_id, "invoice_id": s.invoice_id,
                   "source_id": s.source_id, "kind": s.kind, "product_id": s.product_id,
                   "currency": s.currency, "amount": -s.amount, "first_day": s.first_day,
                   "end_day": s.end_day} for s in schedules],
                 reverses_id=ids[0] if ids else None)


def payment_succeeded(session: Session, payment: m.Payment) -> Draft:
    """Money at the gateway (or bank, or outside Kassa) against the invoice's receivable."""
    invoice = session.get(m.Invoice, payment.invoice_id) if payment.invoice_id else None
    role, key = _money_account(payment)
    moment = payment.succeeded_at or payment.created
    label = f" for invoice {invoice.number}" if invoice is not None else ""
    return Draft("payment.succeeded", "payment", payment.id,
                 _day(session, payment.org_id, moment), f"Payment {payment.id}{label}",
                 domain.pair(role, _receivable_role(invoice), payment.amount, payment.currency,
                             debit_key=key, customer_id=payment.customer_id,
                             invoice_id=payment.invoice_id))


def payment_returned(session: Session, payment: m.Payment) -> Draft:
    """A settled payment taken back (a SEPA return): its entry reversed."""
    entries = posted(session, payment.org_id, payment.id, ("payment.succeeded",))
    moment = payment.returned_at or _now(session, payment.customer_id)
    return _reversal(session, "payment.returned", "payment", payment.id, entries,
                     _day(session, payment.org_id, moment), f"Payment {payment.id} returned")


def refund_issued(session: Session, refund: m.Refund) -> Draft:
    """The refund owed by its credit note paid out of the gateway (or bank)."""
    payment = session.get(m.Payment, refund.payment_id)
    note = session.get(m.CreditNote, refund.credit_note_id)
    assert payment is not None
    role, key = _money_account(payment)
    moment = note.created if note is not None else _now(session, payment.customer_id)
    return Draft("refund.issued", "refund", refund.id, _day(session, refund.org_id, moment),
                 f"Refund {refund.id} of payment {payment.id}",
                 domain.pair("refunds_payable", role, refund.amount, refund.currency,
                             credit_key=key, customer_id=payment.customer_id,
                             invoice_id=refund.invoice_id))


def refund_failed(session: Session, refund: m.Refund) -> Draft:
    entries = posted(session, refund.org_id, refund.id, ("refund.issued",))
    payment = session.get(m.Payment, refund.payment_id)
    day = _day(session, refund.org_id, _now(session, payment.customer_id if payment else None))
    return _reversal(session, "refund.failed", "refund", refund.id, entries, day,
                     f"Refund {refund.id} failed")


def credit_note_issued(session: Session, note: m.CreditNote) -> Draft:
    """Revenue and tax taken back; the amount off the receivable (before payment), to the
    customer's balance, owed as a refund, or settled outside Kassa."""
    invoice = session.get(m.Invoice, note.invoice_id)
    assert invoice is not None
    dims = {"customer_id": note.customer_id, "invoice_id": note.invoice_id}
    currency, day = note.currency, _day(session, note.org_id, note.created)
    invoice_lines = {line.id: line for line in _children(
        session, invoice.lines, m.InvoiceLine, "invoice_id", invoice.id)}
    lines = _children(session, note.lines, m.CreditNoteLine, "credit_note_id", note.id)
    credited = [invoice_lines.get(line.invoice_line_id or "") for line in lines]
    nets = [line.amount - (line.tax_amount if source is not None
                           and source.tax_behavior == "inclusive" else 0)
            for line, source in zip(lines, credited, strict=True)]
    nets = domain.fit(nets, note.subtotal) if lines else []
    tax = note.tax or 0
    postings: list[Posting] = []
    schedules: list[dict[str, Any]] = []
    for line, source, net in zip(lines, credited, nets, strict=True):
        postings += _deferred(session, invoice, line, source, net, day, schedules)
    if not lines and note.subtotal:
        postings += _lump_sum(session, invoice, note.subtotal, day, schedules)
    # A custom line's tax is the invoice's, when the invoice was taxed in one jurisdiction.
    keys = {domain.jurisdiction(group.get("country"), group.get("region"))
            for group in invoice.tax_breakdown or []}
    only = keys.pop() if len(keys) == 1 else None
    fallback = ((domain.jurisdiction(source.tax_country, source.tax_region) if source else only,
                 line.tax_amount) for line, source in zip(lines, credited, strict=True))
    postings += _tax_postings(note.tax_breakdown, fallback, tax, 1, currency, **dims)
    postings += [Posting(role, -(amount or 0), currency, **dims) for role, amount in (
        (_receivable_role(invoice), note.pre_payment_amount),
        ("customer_balance", note.credit_amount), ("refunds_payable", note.refund_amount),
        ("out_of_band", note.out_of_band_amount))]
    return Draft("credit_note.issued", "credit_note", note.id, day,
                 f"Credit note {note.number} on invoice {invoice.number}", postings, schedules)


def credit_note_voided(session: Session, note: m.CreditNote) -> Draft:
    """The credit note's entry reversed; what it had taken off an invoice written off since
    is owed again as bad debt, where the rest of that invoice is."""
    entries = posted(session, note.org_id, note.id, ("credit_note.issued",))
    moment = note.voided_at or _now(session, note.customer_id)
    draft = _reversal(session, "credit_note.voided", "credit_note", note.id, entries,
                      _day(session, note.org_id, moment), f"Credit note {note.number} voided")
    owed = _receivable_role(session.get(m.Invoice, note.invoice_id))
    draft.postings = [replace(p, role=owed) if p.role == "receivable" else p
                      for p in draft.postings]
    return draft


# Balance changes a credit note makes are in the credit note's own entry.
_POSTED_WITH_CREDIT_NOTE = frozenset({"credit_note", "credit_note_voided"})
_AGAINST_INVOICE = frozenset({"applied_to_invoice", "invoice_credit", "invoice_voided",
                              "overpayment"})


def balance_changed(session: Session, change: m.BalanceTransaction) -> Draft:
    """A change of the customer's balance: credit applied to (or created by) an invoice, an
    overpayment kept as credit, or an adjustment someone made."""
    invoice = session.get(m.Invoice, change.invoice_id) if change.invoice_id else None
    if change.type == "invoice_voided":  # the void put its bad debt back on the receivable
        counter = "receivable"
    elif change.type in _AGAINST_INVOICE:
        counter = _receivable_role(invoice)
    else:
        counter = "balance_adjustments"
    return Draft(f"balance.{change.type}"[:40], "balance_transaction", change.id,
                 _day(session, change.org_id, change.created),
                 change.description or f"Customer balance: {change.type.replace('_', ' ')}",
                 domain.pair("customer_balance", counter, change.amount, change.currency,
                             customer_id=change.customer_id, invoice_id=change.invoice_id))


def payout_paid(session: Session, payout: m.Payout) -> Draft:
    """The gateway's balance paid out to the bank, less its fees; a payout in another
    currency passes through the FX differences account in each currency."""
    net = payout.amount - payout.fee
    postings = [Posting("clearing", -payout.amount, payout.currency, payout.gateway),
                Posting("gateway_fees", payout.fee, payout.currency)]
    if payout.bank_currency == payout.currency:
        postings.append(Posting("bank", payout.bank_amount, payout.currency))
        postings.append(Posting("fx_differences", net - payout.bank_amount, payout.currency))
    else:
        postings += [Posting("fx_differences", net, payout.currency),
                     Posting("fx_differences", -payout.bank_amount, payout.bank_currency),
                     Posting("bank", payout.bank_amount, payout.bank_currency)]
    return Draft("payout.paid", "payout", payout.id, payout.arrival_date,
                 f"Payout {payout.reference} from {payout.gateway}", postings)


# A dispute's money: withdrawn from the gateway's balance when it opens (an inquiry,
# `warning_*`, withdraws nothing), back when it is won, gone when it is lost.
_DISPUTE_OPEN = frozenset({"needs_response", "under_review", "won", "lost"})


def dispute_opened(session: Session, dispute: m.Dispute) -> Draft:
    payment = session.get(m.Payment, dispute.payment_id)
    return Draft("dispute.opened", "dispute", dispute.id,
                 _day(session, dispute.org_id, dispute.updated),
                 f"Dispute {dispute.gateway_ref} of payment {dispute.payment_id}",
                 domain.pair("disputed", "clearing", dispute.amount, dispute.currency,
                             credit_key=dispute.gateway,
                             customer_id=payment.customer_id if payment else None,
                             invoice_id=dispute.invoice_id))


def dispute_closed(session: Session, dispute: m.Dispute) -> Draft:
    """Won: the money back at the gateway; lost: a loss."""
    payment = session.get(m.Payment, dispute.payment_id)
    won = dispute.status == "won"
    return Draft(f"dispute.{dispute.status}", "dispute", dispute.id,
                 _day(session, dispute.org_id, dispute.updated),
                 f"Dispute {dispute.gateway_ref} {dispute.status}",
                 domain.pair("clearing" if won else "dispute_losses", "disputed",
                             dispute.amount, dispute.currency,
                             debit_key=dispute.gateway if won else None,
                             customer_id=payment.customer_id if payment else None,
                             invoice_id=dispute.invoice_id))


def _dispute_transitions(session: Session, dispute: m.Dispute) -> Iterator[Any]:
    status = _added(dispute, "status")
    if status not in _DISPUTE_OPEN:
        return
    opened = inspect(dispute).pending or not posted(session, dispute.org_id, dispute.id,
                                                    ("dispute.opened",))
    if opened:
        yield dispute_opened
    if status in ("won", "lost"):
        yield dispute_closed


def _transitions(obj: Any) -> Iterator[Any]:
    """The entry builders a change in this flush calls for, in order."""
    if isinstance(obj, m.Invoice):
        if _added(obj, "finalized_at"):
            yield invoice_finalized
        if _added(obj, "marked_uncollectible_at"):
            yield invoice_written_off
        if _added(obj, "voided_at") and obj.finalized_at is not None:
            yield invoice_voided
    elif isinstance(obj, m.Payment):
        status = _added(obj, "status")
        if status == "succeeded":
            yield payment_succeeded
        elif status == "returned":
            yield payment_returned
    elif isinstance(obj, m.Refund):
        if _added(obj, "credit_note_id"):
            yield refund_issued
        if _added(obj, "status") == "failed" and obj.credit_note_id:
            yield refund_failed
    elif isinstance(obj, m.CreditNote):
        if inspect(obj).pending:
            yield credit_note_issued
        if _added(obj, "voided_at"):
            yield credit_note_voided
    elif isinstance(obj, m.BalanceTransaction) and inspect(obj).pending:
        if obj.type not in _POSTED_WITH_CREDIT_NOTE:
            yield balance_changed
    elif isinstance(obj, m.Payout) and inspect(obj).pending:
        yield payout_paid
    elif isinstance(obj, m.Dispute):
        yield from _dispute_transitions(inspect(obj).session, obj)


_WATCHED = (m.Invoice, m.Payment, m.Refund, m.CreditNote, m.BalanceTransaction, m.Payout,
            m.Dispute)
# Within one flush: documents before the money that settles them.
_ORDER = {m.Invoice: 0, m.CreditNote: 1, m.BalanceTransaction: 2, m.Payment: 3, m.Refund: 4,
          m.Payout: 5, m.Dispute: 6}


@event.listens_for(Session, "before_flush")
def _post_changes(session: Session, flush_context: Any, instances: Any) -> None:
    post(session, [obj for obj in chain(session.new, session.dirty)
                   if isinstance(obj, _WATCHED)])


def post(session: Session, changed: list[Any]) -> None:
    """Post the entries the changes to these objects call for: objects about to be flushed,
    or a billing batch's invoices about to be written in bulk (services/prefetch.py
    `write_fresh`)."""
    changed.sort(key=lambda obj: _ORDER[type(obj)])
    with session.no_autoflush:
        for obj in changed:
            for build in _transitions(obj):
                draft = build(session, obj)
                write(session, obj.org_id, draft, _now(session, getattr(
                    obj, "customer_id", None)))
