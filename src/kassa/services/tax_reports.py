"""Tax reports: the VAT summary of a period and the EU One-Stop Shop (OSS) return of a quarter.

Both read the tax the engine wrote on each line of the finalized invoices (open, paid or
uncollectible; a void invoice never happened) whose supply date falls in the period (the
finalization time when an invoice has none), and of the credit notes issued in it, which
count negatively. Days are the organization's: a period runs from midnight to midnight in
its timezone. The sums are in each invoice's currency; the OSS return converts them to euros
(`domain/fx.py`, for reporting only).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from kassa.core.errors import InvalidRequest
from kassa.domain import tax_reports as domain
from kassa.domain import vat_rates
from kassa.services import exchange_rates, organizations
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

FINALIZED = ("open", "paid", "uncollectible")
MAX_DAYS = 366 * 5  # a summary spans at most five years


@dataclass(frozen=True)
class VatSummary:
    first_day: date
    last_day: date
    groups: list[domain.Group]

    @property
    def reverse_charge(self) -> list[domain.Total]:
        return domain.totals(self.groups, domain.REVERSE_CHARGE)

    @property
    def outside_scope(self) -> list[domain.Total]:
        return domain.totals(self.groups, domain.OUTSIDE_SCOPE)

    @property
    def totals(self) -> list[domain.Total]:
        return domain.totals(self.groups)


@dataclass(frozen=True)
class OssReport:
    year: int
    quarter: int
    first_day: date
    last_day: date
    seller_country: str
    result: domain.OssReturn


def vat_summary(uow: UnitOfWork, org_id: str, first_day: date, last_day: date) -> VatSummary:
    """Per category, rate, country and currency: the taxable amounts and tax of the period
    from `first_day` to `last_day` (both included)."""
    if last_day < first_day:
        raise InvalidRequest("to is on or after from.", param="to")
    if (last_day - first_day).days > MAX_DAYS:
        raise InvalidRequest("A summary spans at most five years.", param="to")
    org = organizations.get_organization(uow.session, org_id)
    lines = _lines(uow, org, first_day, last_day)
    return VatSummary(first_day, last_day, domain.summarize(lines))


def oss_return(uow: UnitOfWork, org_id: str, year: int, quarter: int) -> OssReport:
    """The OSS return of a quarter: supplies taxed in other member states, per state and
    rate, in euros at the ECB rate of the quarter's last day (or the next publication);
    a currency without a stored rate is named in the result, its euro amounts left open."""
    if not 2021 <= year <= 2099:  # the OSS began on 1 July 2021
        raise InvalidRequest("year is 2021 or later.", param="year")
    if quarter not in (1, 2, 3, 4):
        raise InvalidRequest("quarter is 1, 2, 3 or 4.", param="quarter")
    org = organizations.get_organization(uow.session, org_id)
    if org.country is None:
        raise InvalidRequest("The organization has no country: set it first, the OSS return "
                             "is of supplies to other member states.", param="country")
    first_day, last_day = domain.quarter(year, quarter)
    lines = _lines(uow, org, first_day, last_day)
    currencies = {line.currency for line in lines}
    rates = exchange_rates.rate_table(
        uow, org_id, currencies, last_day,
        last_day + timedelta(days=domain.OSS_RATE_WITHIN_DAYS))
    result = domain.oss_return(lines, org.country, vat_rates.member_states(last_day),
                               last_day, rates)
    return OssReport(year, quarter, first_day, last_day, org.country, result)


def _lines(uow: UnitOfWork, org: m.Organization, first_day: date,
           last_day: date) -> list[domain.TaxLine]:
    zone = ZoneInfo(org.timezone or "UTC")
    start = datetime.combine(first_day, time(), zone)
    end = datetime.combine(last_day + timedelta(days=1), time(), zone)
    return [*_invoice_lines(uow, org.id, start, end), *_credit_note_lines(uow, org.id, start,
                                                                         end)]


def _invoice_lines(uow: UnitOfWork, org_id: str, start: datetime,
                   end: datetime) -> Iterator[domain.TaxLine]:
    invoice, line = m.Invoice, m.InvoiceLine
    supplied = or_(and_(invoice.supply_date >= start, invoice.supply_date < end),
                   and_(invoice.supply_date.is_(None), invoice.finalized_at >= start,
                        invoice.finalized_at < end))
    rows = uow.session.execute(
        select(line.tax_category, line.tax_rate, line.tax_country, invoice.currency,
               line.amount, line.discount_amount, line.amount_excluding_tax,
               line.tax_amount)
        .join(invoice, invoice.id == line.invoice_id)
        .where(invoice.org_id == org_id, invoice.status.in_(FINALIZED), supplied))
    for category, rate, country, currency, amount, discount, excluding, tax in rows:
        # A line without a tax decision (tax off, or billed before the engine) is untaxed.
        taxable = excluding if category is not None else amount - (discount or 0)
        yield domain.TaxLine(category, rate, country, currency, taxable, tax)


def _credit_note_lines(uow: UnitOfWork, org_id: str, start: datetime,
                       end: datetime) -> Iterator[domain.TaxLine]:
    note, line, credited = m.CreditNote, m.CreditNoteLine, m.InvoiceLine
    rows = uow.session.execute(
        select(line.tax_category, line.tax_rate, credited.tax_country, note.currency,
               line.amount, line.tax_amount, note.invoice_id)
        .join(note, note.id == line.credit_note_id)
        .outerjoin(credited, credited.id == line.invoice_line_id)
        .where(note.org_id == org_id, note.status == "issued", note.created >= start,
               note.created < end))
    breakdowns: dict[str, list[dict[str, Any]]] = {}
    for category, rate, country, currency, amount, tax, invoice_id in rows:
        if country is None and category is not None:  # a custom line: the invoice's country
            if invoice_id not in breakdowns:
                breakdowns[invoice_id] = uow.session.scalar(select(m.Invoice.tax_breakdown)
                                                            .where(m.Invoice.id == invoice_id)) \
                    or []
            country = _country_of(breakdowns[invoice_id], category, rate)
        yield domain.TaxLine(category, rate, country, currency, -amount, -tax)


def _country_of(breakdown: list[dict[str, Any]], category: str,
                rate: Decimal | None) -> str | None:
    """The country of the invoice's tax group of this category and rate, if just one."""
    countries = {entry.get("country") for entry in breakdown
                 if entry.get("category") == category and rate is not None
                 and str(entry.get("rate")) == format(rate.normalize(), "f")}
    found = countries.pop() if len(countries) == 1 else None
    return found if isinstance(found, str) else None
