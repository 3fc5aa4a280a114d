"""Finance's side of the ledger: the chart of accounts and its mapping rules, closing a month,
and recording a gateway's payouts (services/ledger.py posts; services/ledger_reports.py
reads).

A mapping rule is an account with a role and a key: the revenue of product `prod_…` on
account 8010, the tax of Germany on 2210-DE, the clearing of Stripe on 1120. Postings of a
role and key go to the account mapped to them, else to the role's default account.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kassa.core import actors
from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.ids import new_id
from kassa.core.money import normalize_currency
from kassa.domain import ledger as domain
from kassa.services import ledger, ledger_reports, recognition, scoping
from kassa.services.organizations import timezone_of
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,19}$")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def list_accounts(uow: UnitOfWork, org_id: str) -> list[m.LedgerAccount]:
    """The organization's chart of accounts by code (the defaults opened on first use)."""
    ledger.Accounts(uow.session, org_id, uow.clock.now()).id_for("receivable", None)
    accounts = list(uow.session.scalars(select(m.LedgerAccount).where(
        m.LedgerAccount.org_id == org_id).order_by(m.LedgerAccount.code)))
    uow.commit()
    return accounts


def create_account(uow: UnitOfWork, org_id: str, *, code: str, name: str, role: str,
                   key: str | None = None) -> m.LedgerAccount:
    """Open an account for a role, or map a role and key (a product, a jurisdiction such as
    "DE" or "US-CA", a gateway) to it."""
    if not _CODE.match(code or ""):
        raise InvalidRequest("code is 1 to 20 letters, digits, dots or dashes.", param="code")
    if not name or len(name) > 200:
        raise InvalidRequest("name is 1 to 200 characters.", param="name")
    if role not in domain.ROLES:
        raise InvalidRequest(f"role is one of {', '.join(domain.ROLES)}.", param="role")
    if key is not None and not 0 < len(key) <= 60:
        raise InvalidRequest("key is 1 to 60 characters.", param="key")
    if role == "tax_payable" and key:
        key = key.upper()
    list_accounts(uow, org_id)
    if uow.session.scalar(select(m.LedgerAccount.id).where(
            m.LedgerAccount.org_id == org_id, m.LedgerAccount.code == code)):
        raise InvalidState(f"Account code {code} is already in use.", param="code")
    taken = uow.session.scalars(select(m.LedgerAccount).where(
        m.LedgerAccount.org_id == org_id, m.LedgerAccount.role == role,
        m.LedgerAccount.key == key if key is not None else m.LedgerAccount.key.is_(None))
    ).first()
    if taken is not None:
        raise InvalidState(f"Account {taken.code} already takes role {role}"
                           f"{f' and key {key}' if key else ''}.", param="key")
    account = m.LedgerAccount(id=new_id("la"), org_id=org_id, code=code, name=name,
                              type=domain.ROLES[role][2], role=role, key=key,
                              created=uow.clock.now())
    uow.session.add(account)
    try:
        uow.commit()
    except IntegrityError:
        raise InvalidState(f"Account code {code} is already in use.", param="code") from None
    return account


def rename_account(uow: UnitOfWork, org_id: str, account_id: str, name: str) -> m.LedgerAccount:
    """A new name; the code, role and key of an account that has postings stay."""
    account = scoping.get(uow.session, m.LedgerAccount, org_id, account_id)
    if not name or len(name) > 200:
        raise InvalidRequest("name is 1 to 200 characters.", param="name")
    account.name = name
    uow.commit()
    return account


def close_period(uow: UnitOfWork, org_id: str, period: str) -> m.LedgerPeriod:
    """Close a month that has ended: its revenue recognized first, then nothing dated in it
    can be posted any more (services/ledger.PeriodClosed)."""
    if not _PERIOD.match(period or ""):
        raise InvalidRequest("period is a month, YYYY-MM.", param="period")
    _, following = ledger_reports.month_span(period, period)
    # Locked: postings wait for the close and then see it (services/ledger.write).
    org = uow.session.get(m.Organization, org_id, with_for_update=True)
    assert org is not None
    now = uow.clock.now()
    if now.astimezone(timezone_of(org)).date() < following:
        raise InvalidState(f"{period} has not ended yet; only a past month can be closed.",
                           param="period")
    if period in ledger.closed_periods(uow.session, org_id):
        raise InvalidState(f"{period} is already closed.", param="period",
                           code="period_closed")
    recognition.recognize_all(uow.session, org_id, now)
    actor = actors.current.get()
    row = m.LedgerPeriod(id=new_id("lp"), org_id=org_id, period=period, closed_at=now,
                         closed_by=actor.asdict() if actor else None)
    uow.session.add(row)
    uow.commit()
    return row


def list_periods(uow: UnitOfWork, org_id: str) -> list[m.LedgerPeriod]:
    return list(uow.session.scalars(select(m.LedgerPeriod).where(
        m.LedgerPeriod.org_id == org_id).order_by(m.LedgerPeriod.period)))


def record_payout(uow: UnitOfWork, org_id: str, *, gateway: str, reference: str, amount: int,
                  currency: str, arrival_date: date, fee: int = 0,
                  bank_amount: int | None = None, bank_currency: str | None = None,
                  metadata: dict[str, Any] | None = None) -> m.Payout:
    """A payout from a gateway's balance to the bank (posted: clearing to bank and fees)."""
    currency = normalize_currency(currency)
    bank_currency = normalize_currency(bank_currency, param="bank_currency") \
        if bank_currency else currency
    for name, value in (("amount", amount), ("fee", fee)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidRequest(f"{name} is a whole number of minor units, 0 or more.",
                                 param=name)
    if amount == 0 or fee > amount:
        raise InvalidRequest("amount is more than 0 and at least the fee.", param="amount")
    if bank_amount is None:
        if bank_currency != currency:
            raise InvalidRequest("bank_amount is required when the bank's currency differs.",
                                 param="bank_amount")
        bank_amount = amount - fee
    if bank_amount <= 0:
        raise InvalidRequest("bank_amount is more than 0.", param="bank_amount")
    if not gateway or len(gateway) > 20 or not reference or len(reference) > 255:
        raise InvalidRequest("gateway (up to 20 characters) and reference (up to 255) are "
                             "required.", param="reference")
    payout = m.Payout(id=new_id("po"), org_id=org_id, gateway=gateway.lower(),
                      reference=reference, amount=amount, fee=fee, currency=currency,
                      bank_amount=bank_amount, bank_currency=bank_currency,
                      arrival_date=arrival_date, metadata_=metadata or {},
                      created=uow.clock.now())
    uow.session.add(payout)
    try:
        uow.commit()
    except IntegrityError:
        raise InvalidState(f"A payout {reference} of {gateway} is already recorded.",
                           param="reference") from None
    return payout


def list_payouts(uow: UnitOfWork, org_id: str, **page: Any) -> scoping.Page:
    query = select(m.Payout).where(m.Payout.org_id == org_id)
    return scoping.paginate(uow.session, query, m.Payout, **page)


def payout_object(payout: m.Payout) -> dict[str, Any]:
    return {"id": payout.id, "object": "payout", "gateway": payout.gateway,
            "reference": payout.reference, "amount": payout.amount, "fee": payout.fee,
            "currency": payout.currency, "bank_amount": payout.bank_amount,
            "bank_currency": payout.bank_currency,
            "arrival_date": payout.arrival_date.isoformat(), "metadata": payout.metadata_,
            "created": int(payout.created.timestamp())}


def account_object(account: m.LedgerAccount) -> dict[str, Any]:
    return {"id": account.id, "object": "ledger_account", "code": account.code,
            "name": account.name, "type": account.type, "role": account.role,
            "key": account.key, "created": int(account.created.timestamp())}


def period_object(period: m.LedgerPeriod) -> dict[str, Any]:
    return {"id": period.id, "object": "ledger_period", "period": period.period,
            "status": "closed", "closed_at": int(period.closed_at.timestamp()),
            "closed_by": period.closed_by}


def entry_object(entry: m.JournalEntry, codes: dict[str, str]) -> dict[str, Any]:
    return {"id": entry.id, "object": "journal_entry", "kind": entry.kind,
            "source": {"type": entry.source_type, "id": entry.source_id},
            "date": entry.posted_on.isoformat(), "description": entry.description,
            "reverses": entry.reverses_id, "created": int(entry.created.timestamp()),
            "lines": [{"account": codes.get(line.account_id), "debit": max(line.amount, 0),
                       "credit": max(-line.amount, 0), "currency": line.currency,
                       "customer": line.customer_id, "product": line.product_id,
                       "invoice": line.invoice_id} for line in entry.lines]}


def account_codes(uow: UnitOfWork, org_id: str) -> dict[str, str]:
    return dict(uow.session.execute(select(m.LedgerAccount.id, m.LedgerAccount.code).where(
        m.LedgerAccount.org_id == org_id)).all())


def list_entries(uow: UnitOfWork, org_id: str, *, kind: str | None = None,
                 source: str | None = None, customer: str | None = None,
                 **page: Any) -> scoping.Page:
    query = select(m.JournalEntry).where(m.JournalEntry.org_id == org_id)
    if kind:
        query = query.where(m.JournalEntry.kind == kind)
    if source:
        query = query.where(m.JournalEntry.source_id == source)
    if customer:
        query = query.where(m.JournalEntry.id.in_(select(m.JournalLine.entry_id).where(
            m.JournalLine.org_id == org_id, m.JournalLine.customer_id == customer)))
    return scoping.paginate(uow.session, query, m.JournalEntry, **page)


def today(uow: UnitOfWork, org_id: str) -> date:
    org = uow.session.get(m.Organization, org_id)
    assert org is not None
    return uow.clock.now().astimezone(timezone_of(org)).date()
