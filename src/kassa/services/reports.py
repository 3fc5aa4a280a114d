"""Reports finance runs the business on, computed from the invoices, payments, refunds and
credit notes themselves (no copy to drift): MRR and its movements, customers, churn and
retention, cohorts, unit economics (CLTV, CAC, payback), cash (invoiced, collected, DSO),
receivables aging and late payers.

Every report is reproducible for a past moment (`as_of`, default now): only what was known
then counts — invoices finalized by then and not yet voided, payments and refunds made by
then. (A later `as_of` is allowed: data on test clocks runs ahead of the wall clock.)
Months are the organization's calendar months (its timezone); amounts are in its reporting
currency (`reporting_currency`, else `default_currency`), converted at the stored
exchange rate of each month's last day (domain/fx.py), in minor units.

MRR counts recurring licensed charges (domain/metrics.py); metered revenue is reported
apart, per month and as a trailing three-month average, because it is not recurring.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from kassa.core.errors import ExchangeRateMissing, InvalidRequest, NotFound
from kassa.core.money import exponent, normalize_currency
from kassa.domain import fx
from kassa.domain import metrics as domain
from kassa.services import dunning, exchange_rates, ledger_reports
from kassa.services.organizations import get_organization, timezone_of
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

MAX_MONTHS = 120
AGING_BUCKETS = (("current", None, 0), ("1_30", 1, 30), ("31_60", 31, 60),
                 ("61_90", 61, 90), ("over_90", 91, None))
LATE_AFTER = timedelta(days=1)  # paid more than a day after it was due is late
LATE_SHARE = Decimal("0.5")  # customers late on at least half of their paid invoices
# The business reports; then the ledger's (services/ledger_reports.py), from the journal.
NAMES = ("mrr", "customers", "retention", "cohorts", "unit_economics", "cash", "ar_aging",
         "late_payers", *ledger_reports.NAMES)


@dataclass(frozen=True)
class Month:
    label: str  # YYYY-MM
    start: datetime
    end: datetime  # the next month's first instant
    last_day: date


@dataclass
class Context:
    org: m.Organization
    currency: str
    zone: ZoneInfo
    as_of: datetime
    rates: fx.RateTable | None
    figures: dict[tuple[str, str], list[MonthFigures]] = field(default_factory=dict)


def _months(zone: ZoneInfo, first: str, last: str) -> list[Month]:
    cursor, end = ledger_reports.month_span(first, last)
    result = []
    while cursor < end:
        following = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
        result.append(Month(cursor.strftime("%Y-%m"),
                            datetime.combine(cursor, time(), zone),
                            datetime.combine(following, time(), zone),
                            following - timedelta(days=1)))
        cursor = following
        if len(result) > MAX_MONTHS:
            raise InvalidRequest(f"A report spans at most {MAX_MONTHS} months.", param="to")
    return result


def context(uow: UnitOfWork, org_id: str, as_of: datetime | None) -> Context:
    org = get_organization(uow.session, org_id)
    currency = normalize_currency(org.reporting_currency or org.default_currency)
    return Context(org, currency, timezone_of(org), as_of or uow.clock.now(), None)


def _last_twelve(ctx: Context) -> tuple[str, str]:
    """The first and last of the twelve months up to as_of's (YYYY-MM)."""
    current = ctx.as_of.astimezone(ctx.zone).date()
    back = current.year * 12 + current.month - 1 - 11
    return f"{back // 12}-{back % 12 + 1:02d}", current.strftime("%Y-%m")


def _month_of(ctx: Context, instant: datetime) -> str:
    return instant.astimezone(ctx.zone).strftime("%Y-%m")


# --- currency -----------------------------------------------------------------------------

def _factor(uow: UnitOfWork, ctx: Context, currency: str, on: date) -> Decimal:
    """From `currency` (minor units) to the reporting currency's minor units, on `on`."""
    currency = currency.lower()
    if currency == ctx.currency:
        return Decimal(1)
    if ctx.rates is None:
        first = date(2000, 1, 1)
        ctx.rates = exchange_rates.rate_table(uow, ctx.org.id, _currencies(uow, ctx),
                                              first, ctx.as_of.date())
    try:
        quote = ctx.rates.quote(currency, ctx.currency, on)
    except ExchangeRateMissing as exc:
        raise InvalidRequest(f"{exc} Reports convert to {ctx.currency.upper()}: store the "
                             "rates (POST /v1/exchange_rates, or import the ECB's).",
                             param="reporting_currency", code="exchange_rate_missing") from None
    return quote.factor * Decimal(10) ** (exponent(ctx.currency) - exponent(currency))


def _currencies(uow: UnitOfWork, ctx: Context) -> set[str]:
    return set(uow.session.scalars(select(m.Invoice.currency).where(
        m.Invoice.org_id == ctx.org.id).distinct())) | {ctx.currency}


# --- what was known at as_of --------------------------------------------------------------

def _known_invoice(ctx: Context) -> list[Any]:
    """Invoices finalized by `as_of` and not voided by then."""
    return [m.Invoice.org_id == ctx.org.id, m.Invoice.finalized_at.is_not(None),
            m.Invoice.finalized_at <= ctx.as_of,
            or_(m.Invoice.voided_at.is_(None), m.Invoice.voided_at > ctx.as_of)]


@dataclass(frozen=True)
class _Charge:
    customer: str
    subscription: str
    start: datetime
    end: datetime
    currency: str
    monthly: Decimal
    discount: Decimal


# The charges read for an organization, by the state of its invoices (how many are
# finalized, the latest finalization and voiding): finalized lines never change, so the
# same state has the same charges. Only reports of the present use it.
_READ: OrderedDict[tuple[Any, ...], list[_Charge]] = OrderedDict()
_READ_KEPT = 16


def _charges(uow: UnitOfWork, ctx: Context) -> list[_Charge]:
    """The recurring licensed charges of the known invoices, normalized to a month."""
    count, finalized, voided = uow.session.execute(select(
        func.count(), func.max(m.Invoice.finalized_at), func.max(m.Invoice.voided_at))
        .where(m.Invoice.org_id == ctx.org.id, m.Invoice.finalized_at.is_not(None))).one()
    key = (ctx.org.id, count, finalized, voided)
    present = all(at is None or at <= ctx.as_of for at in (finalized, voided))
    if present and key in _READ:
        _READ.move_to_end(key)
        return _READ[key]
    charges = _read_charges(uow, ctx)
    if present:
        _READ[key] = charges
        while len(_READ) > _READ_KEPT:
            _READ.popitem(last=False)
    return charges


def _read_charges(uow: UnitOfWork, ctx: Context) -> list[_Charge]:
    # Per price: its interval, intervals counted, and the unit amount when a full interval
    # is simply the unit amount times the quantity.
    prices = {price.id: (price.recurring_interval, price.recurring_interval_count or 1,
                         price.unit_amount_decimal if price.billing_scheme == "per_unit"
                         and not price.transform_quantity else None)
              for price in uow.session.scalars(select(m.Price).where(
                  m.Price.org_id == ctx.org.id, m.Price.recurring_interval.is_not(None)))}
    lines = m.InvoiceLine.__table__.c
    invoices = m.Invoice.__table__.c
    rows = uow.session.connection().execute(select(
        invoices.customer_id, lines.subscription_id, lines.period_start, lines.period_end,
        lines.currency, lines.amount, lines.discount_amount, lines.proration_fraction,
        lines.price_id, lines.quantity, lines.quantity_decimal)
        .join(m.Invoice.__table__, lines.invoice_id == invoices.id)
        .where(*_known_invoice(ctx), lines.type == "subscription",
               lines.subscription_id.is_not(None)))
    charges = []
    for (customer, sub, start, end, currency, amount, discount, fraction, price_id,
         quantity, exact_quantity) in rows:
        terms = prices.get(price_id)
        if terms is None:
            continue
        interval, count, unit = terms
        assert interval is not None  # as the price query asks
        full = None if unit is None else unit * (exact_quantity or quantity)
        gross = domain.per_month(Decimal(amount), fraction, interval, count, full)
        off = domain.per_month(Decimal(discount), fraction, interval, count) \
            if discount else Decimal(0)
        charges.append(_Charge(customer, sub, start, end, currency, gross - off, off))
    return charges


@dataclass(frozen=True)
class MonthFigures:
    month: Month
    start: domain.Snapshot  # at the month's start, converted at its end's rates
    end: domain.Snapshot
    previous_end: Decimal  # the MRR reported for the month before
    moved: domain.Movements


def _monthly(uow: UnitOfWork, ctx: Context, months: list[Month]) -> list[MonthFigures]:
    """MRR snapshots and movements for each month; history before `months` is read too, to
    tell new customers from returning ones. Worked out once per context."""
    key = (months[0].label, months[-1].label)
    if key not in ctx.figures:
        ctx.figures[key] = _work_out(uow, ctx, months)
    return ctx.figures[key]


def _work_out(uow: UnitOfWork, ctx: Context, months: list[Month]) -> list[MonthFigures]:
    charges = _charges(uow, ctx)
    if not charges:
        empty = domain.Snapshot({}, {}, Decimal(0))
        return [MonthFigures(month, empty, empty, Decimal(0), domain.Movements())
                for month in months]
    earliest = min(charge.start for charge in charges).astimezone(ctx.zone)
    history = _months(ctx.zone, min(earliest.strftime("%Y-%m"), months[0].label),
                      months[-1].label)
    # Each month's start and end (as_of for the month it falls in), every currency apart.
    ends = [min(month.end, ctx.as_of) for month in history]
    instants = sorted({month.start for month in history} | set(ends))
    per_currency: dict[str, list[domain.Charge]] = defaultdict(list)
    for charge in charges:
        per_currency[charge.currency].append(domain.Charge(
            charge.customer, charge.subscription, charge.start, charge.end, charge.monthly,
            charge.discount))
    taken = {currency: dict(zip(instants, domain.snapshots(group, instants), strict=True))
             for currency, group in per_currency.items()}

    def at(instant: datetime, day: date) -> domain.Snapshot:  # converted at `day`'s rates
        if list(taken) == [ctx.currency]:
            return taken[ctx.currency][instant]
        return domain.combined((taken[currency][instant], _factor(uow, ctx, currency, day))
                               for currency in taken)

    paid_before: set[str] = set()
    previous_end = Decimal(0)
    result = []
    for month, end_at in zip(history, ends, strict=True):
        day = end_at.astimezone(ctx.zone).date() if end_at < month.end else month.last_day
        start, end = at(month.start, day), at(end_at, day)
        moved = domain.movements(start.by_customer, end.by_customer, paid_before)
        if month.label >= months[0].label:
            result.append(MonthFigures(month, start, end, previous_end, moved))
        paid_before |= start.paying | end.paying
        previous_end = end.total
    return result


# --- the reports --------------------------------------------------------------------------

def _money(value: Decimal) -> int:
    return domain.minor(value)


def _ratio(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def mrr(uow: UnitOfWork, ctx: Context, months: list[Month]) -> list[dict[str, Any]]:
    """Per month: MRR and ARR at its end, the movements, discounts given, and metered
    revenue (the month's and the trailing three months' average)."""
    metered = _metered(uow, ctx, months)
    rows = []
    for index, figures in enumerate(_monthly(uow, ctx, months)):
        moved, end = figures.moved, figures.end
        recent = [metered[m.label] for m in months[max(0, index - 2):index + 1]]
        rows.append({
            "month": figures.month.label, "mrr": _money(end.total),
            "arr": _money(end.total * 12), "new": _money(moved.new),
            "expansion": _money(moved.expansion), "contraction": _money(-moved.contraction),
            "churn": _money(-moved.churn), "reactivation": _money(moved.reactivation),
            "fx_difference": _money(figures.start.total - figures.previous_end),
            "net_new_mrr": _money(moved.net), "discounts": _money(end.discounts),
            "metered_revenue": metered[figures.month.label],
            "metered_revenue_trailing_average": _money(
                Decimal(sum(recent)) / len(recent))})
    return rows


def _metered(uow: UnitOfWork, ctx: Context, months: list[Month]) -> dict[str, int]:
    """Usage invoiced per month (by the month its usage period ended in)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    rows = uow.session.execute(select(
        m.InvoiceLine.period_end, m.InvoiceLine.currency,
        m.InvoiceLine.amount - m.InvoiceLine.discount_amount)
        .join(m.Invoice, m.InvoiceLine.invoice_id == m.Invoice.id)
        .where(*_known_invoice(ctx), m.InvoiceLine.type == "usage",
               m.InvoiceLine.period_end > months[0].start,
               m.InvoiceLine.period_end <= months[-1].end))
    by_label = {month.label: month for month in months}
    for ended, currency, amount in rows:
        label = _month_of(ctx, ended - timedelta(microseconds=1))
        if label in by_label:
            totals[label] += amount * _factor(uow, ctx, currency, by_label[label].last_day)
    return {month.label: _money(totals[month.label]) for month in months}


def customers(uow: UnitOfWork, ctx: Context, months: list[Month]) -> list[dict[str, Any]]:
    """Per month: paying customers and subscriptions at its end, new, reactivated and
    churned customers, subscriptions in a trial, and ARPA (MRR per paying customer)."""
    rows = []
    for figures in _monthly(uow, ctx, months):
        end, moved = figures.end, figures.moved
        paying = len(end.paying)
        at = min(figures.month.end, ctx.as_of)
        trialing = uow.session.scalar(select(func.count()).select_from(m.Subscription).where(
            m.Subscription.org_id == ctx.org.id, m.Subscription.created <= ctx.as_of,
            m.Subscription.trial_start < at, m.Subscription.trial_end >= at)) or 0
        rows.append({
            "month": figures.month.label, "paying_customers": paying,
            "paying_subscriptions": len(end.by_subscription),
            "trialing_subscriptions": trialing,
            "new_customers": len(moved.new_customers),
            "reactivated_customers": len(moved.reactivated_customers),
            "churned_customers": len(moved.churned_customers),
            "arpa": _money(end.total / paying) if paying else 0})
    return rows


def retention(uow: UnitOfWork, ctx: Context, months: list[Month]) -> list[dict[str, Any]]:
    """Per month: logo churn rate, revenue churn rate (gross), net and gross revenue
    retention, of the customers and MRR at the month's start."""
    rows = []
    for figures in _monthly(uow, ctx, months):
        start = figures.start
        rates = domain.retention(start.total, len(start.paying), figures.moved)
        rows.append({
            "month": figures.month.label, "customers_at_start": len(start.paying),
            "mrr_at_start": _money(start.total),
            "churned_customers": len(figures.moved.churned_customers),
            "logo_churn_rate": _ratio(rates.logo_churn_rate),
            "revenue_churn_rate": _ratio(rates.revenue_churn_rate),
            "net_revenue_retention": _ratio(rates.net_revenue_retention),
            "gross_revenue_retention": _ratio(rates.gross_revenue_retention)})
    return rows


def cohort_table(uow: UnitOfWork, ctx: Context, months: list[Month]) -> list[dict[str, Any]]:
    """Per start month (first paying at its end): the cohort's size and the share of it
    paying at the end of that month and each later one."""
    figures = _monthly(uow, ctx, months)
    table = domain.cohorts([f.end.paying for f in figures])
    return [{"cohort": figures[index].month.label, "customers": size,
             "retention": [_ratio(share) for share in shares]}
            for index, size, shares in table]


def unit_economics(uow: UnitOfWork, ctx: Context, months: list[Month]) -> list[dict[str, Any]]:
    """Per month: ARPA, gross margin, revenue churn, CLTV = ARPA x margin / revenue churn,
    acquisition spend, CAC = spend / new customers, and CAC payback in months."""
    margin = ctx.org.gross_margin_percent
    spend = _acquisition_spend(uow, ctx, months)
    rows = []
    for figures in _monthly(uow, ctx, months):
        paying = len(figures.end.paying)
        arpa = figures.end.total / paying if paying else Decimal(0)
        churn = domain.retention(figures.start.total, len(figures.start.paying),
                                 figures.moved).revenue_churn_rate
        cltv = domain.lifetime_value(arpa, margin, churn)
        new = len(figures.moved.new_customers)
        spent = spend.get(figures.month.label, Decimal(0))
        cac = spent / new if new else None
        rows.append({
            "month": figures.month.label, "arpa": _money(arpa),
            "gross_margin_percent": str(margin), "revenue_churn_rate": _ratio(churn),
            "cltv": None if cltv is None else _money(cltv),
            "acquisition_spend": _money(spent), "new_customers": new,
            "cac": None if cac is None else _money(cac),
            "cac_payback_months": _ratio(domain.payback_months(cac, arpa, margin))})
    return rows


def _acquisition_spend(uow: UnitOfWork, ctx: Context,
                       months: list[Month]) -> dict[str, Decimal]:
    by_label = {month.label: month for month in months}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for label, amount, currency in uow.session.execute(select(
            m.AcquisitionCost.month, m.AcquisitionCost.amount, m.AcquisitionCost.currency)
            .where(m.AcquisitionCost.org_id == ctx.org.id,
                   m.AcquisitionCost.created <= ctx.as_of,
                   m.AcquisitionCost.month.in_(list(by_label)))):
        totals[label] += amount * _factor(uow, ctx, currency, by_label[label].last_day)
    return totals


def cash(uow: UnitOfWork, ctx: Context, months: list[Month]) -> list[dict[str, Any]]:
    """Per month: invoiced (finalized totals), collected (payments succeeded), refunded,
    receivables at its end, days sales outstanding (receivables over the month's invoicing
    times its days), payment attempts and the share that failed, and dunning recovery of
    the invoices that entered dunning in it."""
    rows = []
    open_ones = _receivables(uow, ctx, min(months[0].end, ctx.as_of))
    for month in months:
        at = min(month.end, ctx.as_of)
        day = month.last_day
        invoiced = _sum_converted(uow, ctx, day, select(m.Invoice.currency, m.Invoice.total)
                                  .where(*_known_invoice(ctx),
                                         m.Invoice.finalized_at >= month.start,
                                         m.Invoice.finalized_at < at))
        collected = _sum_converted(uow, ctx, day, select(m.Payment.currency, m.Payment.amount)
                                   .where(m.Payment.org_id == ctx.org.id,
                                          m.Payment.succeeded_at >= month.start,
                                          m.Payment.succeeded_at < at))
        refunded = _sum_converted(uow, ctx, day, select(m.Refund.currency, m.Refund.amount)
                                  .where(m.Refund.org_id == ctx.org.id,
                                         m.Refund.status == "succeeded",
                                         m.Refund.created >= month.start,
                                         m.Refund.created < at))
        attempts, failed = uow.session.execute(select(
            func.count(), func.count(m.Payment.failed_at)).where(
            m.Payment.org_id == ctx.org.id, m.Payment.created >= month.start,
            m.Payment.created < at, m.Payment.created <= ctx.as_of,
            m.Payment.method_type != "manual")).one()
        receivable = sum((amount for _, amount, _ in _outstanding(uow, ctx, open_ones, at,
                                                                   day)), Decimal(0))
        days = (month.end - month.start).days
        recovered = dunning.report(uow, ctx.org.id, month.start.date(), month.last_day) \
            if month.start < ctx.as_of else None
        rows.append({
            "month": month.label, "invoiced": _money(invoiced), "collected": _money(collected),
            "refunded": _money(refunded), "receivables": _money(receivable),
            "dso_days": _ratio(None if invoiced <= 0 else
                               (receivable / invoiced * days).quantize(Decimal("0.1"))),
            "payment_attempts": attempts, "failed_payments": failed,
            "failed_payment_rate": _ratio(domain.rate(failed, attempts)),
            "dunning_entered": recovered["entered"] if recovered else 0,
            "dunning_recovered": recovered["recovered"] if recovered else 0,
            "dunning_recovery_rate": recovered["recovery_rate"] if recovered else None})
    return rows


def _sum_converted(uow: UnitOfWork, ctx: Context, day: date, query: Any) -> Decimal:
    """The sum of `query`'s (currency, amount) rows, added up per currency in the
    database, converted at `day`'s rates."""
    currency, amount = query.selected_columns
    total = Decimal(0)
    for code, summed in uow.session.execute(query.with_only_columns(
            currency, func.sum(amount)).group_by(currency)):
        total += Decimal(int(summed or 0)) * _factor(uow, ctx, code, day)
    return total


@dataclass(frozen=True)
class _Open:
    """An invoice as the receivables see it."""

    id: str
    customer: str
    currency: str
    amount_due: int
    finalized_at: datetime
    due: datetime
    settled_at: datetime | None  # paid, voided or written off, whichever came first
    payments: tuple[tuple[datetime, int], ...]  # succeeded: when, how much
    credits: tuple[tuple[datetime, int], ...]  # credit notes on the open invoice


def _receivables(uow: UnitOfWork, ctx: Context, since: datetime) -> list[_Open]:
    """The known invoices that may have been owed at some moment from `since` on: never
    paid, or paid at `since` or later (read along the paid-at index, not a scan)."""
    columns = m.Invoice.__table__.c
    picked = [columns.id, columns.customer_id, columns.currency, columns.amount_due,
              columns.finalized_at, columns.due_date, columns.paid_at, columns.voided_at,
              columns.marked_uncollectible_at]
    rows = [row for paid in (columns.paid_at.is_(None), columns.paid_at >= since)
            for row in uow.session.connection().execute(select(*picked).where(
                columns.org_id == ctx.org.id, paid, columns.finalized_at.is_not(None),
                columns.amount_due > 0))
            if row.finalized_at <= ctx.as_of
            and (row.voided_at is None or row.voided_at > ctx.as_of)]
    if not rows:
        return []
    ids = [row.id for row in rows]
    payments: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    credits: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for chunk in range(0, len(ids), 5000):
        part = ids[chunk:chunk + 5000]
        for invoice, at, amount in uow.session.execute(select(
                m.Payment.invoice_id, m.Payment.succeeded_at, m.Payment.amount).where(
                m.Payment.invoice_id.in_(part), m.Payment.succeeded_at.is_not(None))):
            if invoice is not None and at is not None:
                payments[invoice].append((at, amount))
        for invoice, at, amount in uow.session.execute(select(
                m.CreditNote.invoice_id, m.CreditNote.created, m.CreditNote.pre_payment_amount)
                .where(m.CreditNote.invoice_id.in_(part), m.CreditNote.pre_payment_amount > 0)):
            credits[invoice].append((at, amount))
    result = []
    for row in rows:
        ends = [at for at in (row.paid_at, row.voided_at, row.marked_uncollectible_at)
                if at is not None]
        result.append(_Open(row.id, row.customer_id, row.currency, row.amount_due,
                            row.finalized_at, row.due_date or row.finalized_at,
                            min(ends) if ends else None, tuple(payments[row.id]),
                            tuple(credits[row.id])))
    return result


def _outstanding(uow: UnitOfWork, ctx: Context, invoices: list[_Open], at: datetime,
                 day: date) -> list[tuple[_Open, Decimal, int]]:
    """What each invoice still owed at `at` (converted at `day`'s rates), with its days past
    due then: finalized before, not yet paid, voided or written off, less the payments and
    credit notes made before."""
    result = []
    for invoice in invoices:
        if invoice.finalized_at >= at or (invoice.settled_at is not None
                                          and invoice.settled_at < at):
            continue
        owed = invoice.amount_due - sum(amount for when, amount in invoice.payments
                                        if when < at) \
            - sum(amount for when, amount in invoice.credits if when < at)
        if owed <= 0:
            continue
        late = (at - invoice.due).days if at > invoice.due else 0
        result.append((invoice, owed * _factor(uow, ctx, invoice.currency, day), late))
    return result


def ar_aging(uow: UnitOfWork, ctx: Context) -> dict[str, Any]:
    """Receivables at `as_of` by days past due, in total and per customer (largest
    first)."""
    day = ctx.as_of.astimezone(ctx.zone).date()
    buckets: dict[str, Decimal] = {name: Decimal(0) for name, _, _ in AGING_BUCKETS}
    per_customer: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {name: Decimal(0) for name, _, _ in AGING_BUCKETS})
    open_ones = _receivables(uow, ctx, ctx.as_of)
    for invoice, owed, late in _outstanding(uow, ctx, open_ones, ctx.as_of, day):
        name = _bucket(late)
        buckets[name] += owed
        per_customer[invoice.customer][name] += owed
    names = dict(uow.session.execute(select(m.Customer.id, m.Customer.name).where(
        m.Customer.id.in_(list(per_customer)))).all()) if per_customer else {}
    totals = {customer: _money(sum(values.values(), Decimal(0)))
              for customer, values in per_customer.items()}
    rows = [{"customer": customer, "name": names.get(customer), "total": totals[customer],
             **{k: _money(v) for k, v in per_customer[customer].items()}}
            for customer in sorted(totals, key=lambda c: (-totals[c], c))]
    return {"as_of": int(ctx.as_of.timestamp()), "currency": ctx.currency,
            "total": _money(sum(buckets.values(), Decimal(0))),
            **{k: _money(v) for k, v in buckets.items()}, "customers": rows}


def _bucket(days_late: int) -> str:
    for name, low, high in AGING_BUCKETS:
        if (low is None or days_late >= low) and (high is None or days_late <= high):
            return name
    raise AssertionError(days_late)


def late_payers(uow: UnitOfWork, ctx: Context, months: list[Month]) -> list[dict[str, Any]]:
    """Customers who paid at least half of their (two or more) invoices paid in these
    months more than a day after they were due, worst first."""
    rows = uow.session.execute(select(
        m.Invoice.customer_id, m.Invoice.paid_at, m.Invoice.due_date, m.Invoice.finalized_at)
        .where(*_known_invoice(ctx), m.Invoice.paid_at.is_not(None),
               m.Invoice.paid_at <= ctx.as_of, m.Invoice.paid_at >= months[0].start,
               m.Invoice.paid_at < months[-1].end, m.Invoice.amount_due > 0))
    paid: dict[str, list[float]] = defaultdict(list)
    for customer, paid_at, due_date, finalized_at in rows:
        due = due_date or finalized_at
        assert paid_at is not None and due is not None  # as the query asks
        paid[customer].append(max((paid_at - due - LATE_AFTER).total_seconds(), -1))
    result = []
    for customer, delays in paid.items():
        late = [delay for delay in delays if delay > 0]
        share = domain.rate(len(late), len(delays))
        if len(delays) >= 2 and share is not None and share >= LATE_SHARE:
            days_late = sum((delay + LATE_AFTER.total_seconds()) / 86400 for delay in late)
            result.append({"customer": customer, "paid_invoices": len(delays),
                           "paid_late": len(late), "late_share": str(share),
                           "average_days_late": f"{days_late / len(late):.1f}"})
    names = dict(uow.session.execute(select(m.Customer.id, m.Customer.name).where(
        m.Customer.id.in_([row["customer"] for row in result]))).all()) if result else {}
    for row in result:
        row["name"] = names.get(str(row["customer"]))
    return sorted(result, key=lambda row: (-Decimal(row["late_share"]),
                                           -Decimal(row["average_days_late"]),
                                           row["customer"]))


def report(uow: UnitOfWork, org_id: str, name: str, *, first: str | None = None,
           last: str | None = None, as_of: datetime | None = None) -> dict[str, Any]:
    """The report `name` for the months `first` to `last` (YYYY-MM; default: the twelve
    months up to as_of's), as known at `as_of`."""
    if name not in NAMES:
        raise NotFound(f"No such report. Reports: {', '.join(NAMES)}.", param="name")
    ctx = context(uow, org_id, as_of)
    twelve = _last_twelve(ctx)
    if name in ledger_reports.NAMES:
        return ledger_reports.report(uow.session, org_id, name, first or twelve[0],
                                     last or twelve[1])
    months = _months(ctx.zone, first or twelve[0], last or twelve[1])
    if months[0].start > ctx.as_of:
        raise InvalidRequest("from is a month up to as_of's.", param="from")
    months = [month for month in months if month.start <= ctx.as_of]
    body: dict[str, Any] = {"object": "report", "name": name, "currency": ctx.currency,
                            "as_of": int(ctx.as_of.timestamp()),
                            "from": months[0].label, "to": months[-1].label}
    if name == "ar_aging":
        return {**body, **ar_aging(uow, ctx)}
    producer = {"mrr": mrr, "customers": customers, "retention": retention,
                "cohorts": cohort_table, "unit_economics": unit_economics, "cash": cash,
                "late_payers": late_payers}[name]
    return {**body, "data": producer(uow, ctx, months)}


def csv_rows(body: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """A report's table as a header and rows, for CSV export."""
    if body["name"] == "ar_aging":
        data = body["customers"]
    elif body["name"] == "reconciliation":
        data = body["data"] + body["differences"]
    elif body["name"] == "cohorts":
        width = max((len(row["retention"]) for row in body["data"]), default=0)
        header = ["cohort", "customers"] + [f"month_{index}" for index in range(width)]
        return header, [[row["cohort"], row["customers"], *row["retention"]]
                        for row in body["data"]]
    else:
        data = body["data"]
    header = list(dict.fromkeys(key for row in data for key in row)) or ["month"]
    return header, [[row.get(key) for key in header] for row in data]


def overview(uow: UnitOfWork, org_id: str, *, as_of: datetime | None = None) -> dict[str, Any]:
    """What the dashboard's home page shows, worked out once: the last twelve months of MRR
    (with this month's movements), customers and retention, three months of cash,
    receivables aging, and dunning over the last thirty days."""
    ctx = context(uow, org_id, as_of)
    months = _months(ctx.zone, *_last_twelve(ctx))
    today = ctx.as_of.astimezone(ctx.zone).date()
    return {"currency": ctx.currency, "as_of": ctx.as_of,
            # one month-by-month working-out for the three (it is kept on the context)
            "mrr": mrr(uow, ctx, months), "customers": customers(uow, ctx, months)[-1:],
            "retention": retention(uow, ctx, months)[-2:],
            "cash": cash(uow, ctx, months[-3:]), "ar_aging": ar_aging(uow, ctx),
            "dunning": dunning.report(uow, org_id, today - timedelta(days=29), today)}
