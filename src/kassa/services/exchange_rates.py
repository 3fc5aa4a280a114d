"""Exchange rates for reports: entered one by one, or imported from the ECB's reference rates.

Rates convert amounts for reporting only (`domain/fx.py`): the OSS return in euros, totals in
the organization's reporting currency. What a customer is billed or owes is never converted.
One rate per organization, day, base and currency: a second one for the same day is refused
(409), and an import skips the days it already has, so importing a file twice adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kassa.adapters import ecb
from kassa.core.clock import day_start, parse_day
from kassa.core.errors import InvalidRequest, ResourceConflict
from kassa.core.ids import new_id
from kassa.core.money import normalize_currency, parse_decimal
from kassa.domain import fx
from kassa.services import scoping
from kassa.store import models as m
from kassa.store.db import upsert_insert
from kassa.store.uow import UnitOfWork

CHUNK = 1000  # rows per INSERT of an import


@dataclass
class ImportResult:
    """What an import did: days and rates in the file, rates added, rates already there, and
    currencies Kassa does not know (old ones such as CYP or SIT), left out."""

    days: int = 0
    rates: int = 0
    created: int = 0
    existing: int = 0
    first_date: date | None = None
    last_date: date | None = None
    skipped_currencies: list[str] = field(default_factory=list)

    def asdict(self) -> dict[str, Any]:
        return {"object": "exchange_rate_import", "source": "ecb", "days": self.days,
                "rates": self.rates, "created": self.created, "existing": self.existing,
                "first_date": self.first_date.isoformat() if self.first_date else None,
                "last_date": self.last_date.isoformat() if self.last_date else None,
                "skipped_currencies": self.skipped_currencies}


def create_exchange_rate(uow: UnitOfWork, org_id: str, *, date: Any, base: Any,
                         currency: Any, rate: Any) -> m.ExchangeRate:
    """One `base` bought `rate` units of `currency` on `date` (a day: "YYYY-MM-DD" or a Unix
    timestamp). A rate for the same day and pair exists already: `ResourceConflict` (409)."""
    day = parse_day(date, "date")
    base = normalize_currency(base, param="base")
    currency = normalize_currency(currency, param="currency")
    if base == currency:
        raise InvalidRequest("base and currency differ.", param="currency")
    if isinstance(rate, float):
        raise InvalidRequest("Give the rate as a string, e.g. \"1.0921\".", param="rate")
    value = parse_decimal(rate, param="rate")
    if value <= 0:
        raise InvalidRequest("rate is more than 0.", param="rate")
    row = m.ExchangeRate(id=new_id("fxr"), org_id=org_id, date=day_start(day), base=base,
                         currency=currency, rate=value, source="manual",
                         created=uow.clock.now())
    if _stored(uow, org_id, day, base, currency) is not None:
        raise _conflict(day, base, currency)
    uow.session.add(row)
    try:
        uow.commit()
    except IntegrityError:  # a concurrent twin got there first
        uow.rollback()
        raise _conflict(day, base, currency) from None
    return row


def list_exchange_rates(uow: UnitOfWork, org_id: str, *, base: str | None = None,
                        currency: str | None = None, date_gte: Any = None,
                        date_lte: Any = None, **page: Any) -> scoping.Page:
    """The organization's rates, newest first; of one base or currency, or days in a range
    (both ends included)."""
    query = select(m.ExchangeRate).where(m.ExchangeRate.org_id == org_id)
    if base is not None:
        query = query.where(m.ExchangeRate.base == normalize_currency(base, param="base"))
    if currency is not None:
        query = query.where(m.ExchangeRate.currency == normalize_currency(
            currency, param="currency"))
    if date_gte is not None:
        query = query.where(m.ExchangeRate.date >= day_start(parse_day(date_gte,
                                                                       "date[gte]")))
    if date_lte is not None:
        query = query.where(m.ExchangeRate.date <= day_start(parse_day(date_lte,
                                                                       "date[lte]")))
    return scoping.paginate(uow.session, query, m.ExchangeRate, **page)


def import_ecb(uow: UnitOfWork, org_id: str, references: Sequence[ecb.Reference],
               progress: Callable[[int], None] | None = None) -> ImportResult:
    """Store the ECB's reference rates (base EUR) the organization does not have yet, in one
    transaction; `progress` is told how many rates each step handled."""
    result = ImportResult(days=len({r.day for r in references}), rates=len(references))
    if references:
        result.first_date = min(r.day for r in references)
        result.last_date = max(r.day for r in references)
    known = _known_days(uow, org_id, result.first_date, result.last_date)
    rows, unknown = [], set()
    now = uow.clock.now()
    for reference in references:
        try:
            currency = normalize_currency(reference.currency)
        except InvalidRequest:
            unknown.add(reference.currency)
            continue
        if (reference.day, currency) in known:
            result.existing += 1
            continue
        rows.append({"id": new_id("fxr"), "org_id": org_id, "date": day_start(reference.day),
                     "base": ecb.BASE, "currency": currency, "rate": reference.rate,
                     "source": "ecb", "created": now})
    result.skipped_currencies = sorted(unknown)
    if progress:
        progress(len(references) - len(rows))
    # ON CONFLICT DO NOTHING: a concurrent import of the same days adds each rate once.
    table = m.ExchangeRate.__table__
    statement = (upsert_insert(uow.session, table)
                 .on_conflict_do_nothing(index_elements=["org_id", "date", "base", "currency"])
                 .returning(table.c.id))
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        added = len(uow.session.execute(statement, chunk).all())
        result.created += added
        result.existing += len(chunk) - added
        if progress:
            progress(len(chunk))
    uow.commit()
    return result


def _known_days(uow: UnitOfWork, org_id: str, first: date | None,
                last: date | None) -> set[tuple[date, str]]:
    """The (day, currency) pairs of euro rates stored between `first` and `last`."""
    if first is None or last is None:
        return set()
    rows = uow.session.execute(select(m.ExchangeRate.date, m.ExchangeRate.currency).where(
        m.ExchangeRate.org_id == org_id, m.ExchangeRate.base == ecb.BASE,
        m.ExchangeRate.date >= day_start(first), m.ExchangeRate.date <= day_start(last)))
    return {(day.date(), currency) for day, currency in rows}


def rate_table(uow: UnitOfWork, org_id: str, currencies: Iterable[str], start: date,
               end: date) -> fx.RateTable:
    """The organization's rates between `start` and `end` (both included) that involve any of
    `currencies` or the euro, for `domain.fx`."""
    wanted = {c.lower() for c in currencies} | {fx.PIVOT}
    rows = uow.session.execute(select(
        m.ExchangeRate.date, m.ExchangeRate.base, m.ExchangeRate.currency,
        m.ExchangeRate.rate).where(
        m.ExchangeRate.org_id == org_id, m.ExchangeRate.date >= day_start(start),
        m.ExchangeRate.date <= day_start(end), m.ExchangeRate.base.in_(wanted),
        m.ExchangeRate.currency.in_(wanted)))
    return fx.RateTable(fx.Rate(day.date(), base, currency, rate)
                        for day, base, currency, rate in rows)


def _stored(uow: UnitOfWork, org_id: str, day: date, base: str,
            currency: str) -> str | None:
    return uow.session.scalar(select(m.ExchangeRate.id).where(
        m.ExchangeRate.org_id == org_id, m.ExchangeRate.date == day_start(day),
        m.ExchangeRate.base == base, m.ExchangeRate.currency == currency))


def _conflict(day: date, base: str, currency: str) -> ResourceConflict:
    return ResourceConflict(
        f"A rate from {base.upper()} to {currency.upper()} on {day.isoformat()} exists; rates "
        "of past days do not change.", param="date", code="exchange_rate_exists")
