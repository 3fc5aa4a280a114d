"""Usage on invoices: what a subscription's metered items used in a period, and repricing
usage lines at finalization so that late events (accepted until then) are billed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.core.ids import new_id
from kassa.domain import billing as domain
from kassa.domain.pricing import Transaction
from kassa.services import prefetch, usage_reading
from kassa.services.schedule import terms_of
from kassa.store import models as m
from kassa.store import rows
from kassa.store.uow import UnitOfWork


def usage_for(session: Session, terms: domain.SubscriptionTerms, customer_id: str,
              periods: Sequence[domain.ServicePeriod]) -> dict[tuple[datetime, str],
                                                               domain.Usage]:
    """What each metered item used in each period, read from the meters' events (which
    billing never writes: nothing pending needs flushing first)."""
    with session.no_autoflush:
        return _usage_for(session, terms, customer_id, periods)


def _meter(session: Session, meter_id: str | None) -> m.Meter | None:
    """A meter (once per billing batch: the batch holds it)."""
    batch = prefetch.of(session)
    if batch is None:
        return session.get(m.Meter, meter_id)
    return batch.remember(("meter", meter_id), lambda: session.get(m.Meter, meter_id))


def _usage_for(session: Session, terms: domain.SubscriptionTerms, customer_id: str,
               periods: Sequence[domain.ServicePeriod]) -> dict[tuple[datetime, str],
                                                                domain.Usage]:
    result: dict[tuple[datetime, str], domain.Usage] = {}
    for period in periods:
        for item in terms.metered_at(period.start):
            meter = _meter(session, item.price.meter_id)
            if meter is None:
                continue
            key = (period.start, item.id)
            # A removed item bills what its meter measured until the removal.
            end = period.end if item.ended_at is None else min(period.end, item.ended_at)
            if item.price.pricing_model.scheme == "percentage":
                events = usage_reading.readings(session, meter.id, customer_id, period.start,
                                                end)
                result[key] = [Transaction(reading.value) for reading in events]
            else:
                result[key] = usage_reading.usage(session, meter, customer_id, period.start,
                                                  end)
    return result


def line_row(org_id: str, currency: str, position: int, line: domain.ChargeLine,
             new_id: str) -> m.InvoiceLine:
    return rows.built(m.InvoiceLine, dict(
        id=new_id, org_id=org_id, position=position, type=line.type,
        subscription_id=line.subscription_id, subscription_item_id=line.item_id,
        price_id=line.price_id, description=line.description, quantity=line.quantity,
        quantity_decimal=line.quantity_decimal, tier=line.tier,
        unit_amount_decimal=line.unit_amount_decimal, amount=line.amount, currency=currency,
        period_start=line.period_start, period_end=line.period_end, proration=line.proration,
        proration_fraction=line.proration_fraction if line.proration else None))


def reprice_usage(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                  invoice: m.Invoice, *, recount: bool = True) -> None:
    """Recompute the invoice's usage lines from the events as they are now, and close those
    periods to further events (the invoice is being finalized). The usage lines follow the
    others. Without `recount` (the lines were just computed, in this transaction) they are
    kept as they are and only closed and put in that order."""
    batch = prefetch.of(uow.session)
    if batch is not None and batch.covers(customer.id):
        billed = [p for p in batch.billed.get(invoice.id, []) if p.kind == "arrears"]
    else:
        billed = list(uow.session.scalars(select(m.BilledPeriod).where(
            m.BilledPeriod.invoice_id == invoice.id, m.BilledPeriod.kind == "arrears")))
    if not billed:
        return
    kept = [line for line in invoice.lines if line.type not in ("usage", "minimum")]
    fresh: list[m.InvoiceLine] = []
    if not recount:
        fresh = [line for line in invoice.lines if line.type in ("usage", "minimum")]
    for row in billed:
        sub = uow.session.get(m.Subscription, row.subscription_id)
        assert sub is not None
        if not recount:
            sub.usage_closed_through = max(filter(None, (sub.usage_closed_through,
                                                         row.period_end)))
            continue
        terms = terms_of(org, customer, sub)
        period = next((p for p in domain.service_periods(terms, after=row.period_start)
                       if p.start == row.period_start), None)
        if period is None:
            continue
        used = usage_for(uow.session, terms, customer.id, [period])
        due = domain.charge(terms, period, "arrears",
                            {item_id: value for (_, item_id), value in used.items()})
        fresh.extend(line_row(invoice.org_id, invoice.currency, 0, line, new_id("il"))
                     for line in due.lines)
        sub.usage_closed_through = max(filter(None, (sub.usage_closed_through, period.end)))
    if invoice.lines != kept + fresh:
        invoice.lines = kept + fresh
    for position, line in enumerate(invoice.lines):
        line.position = position
