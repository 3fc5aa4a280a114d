"""Reading usage: a customer's events on a meter in a period, aggregated. Whole hours come
from the running aggregates (`usage_hours`), ragged edges from the events themselves.

The database aggregates the events (PostgreSQL reads them from the index alone,
`ix_meter_events_usage`), so a period of many events costs one row, not a row per event.
Only a sum or maximum on SQLite adds up the values here: it stores them as text and would
add them as floats.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, Select, bindparam, cast, func, select, union_all
from sqlalchemy.orm import Session

from kassa.domain import usage as domain
from kassa.services import prefetch
from kassa.store import models as m
from kassa.store.db import is_postgres

MICROS = Decimal(1_000_000)


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def to_micros(value: Decimal) -> int:
    return int(value * MICROS)


def counted_events(meter_id: str, customer_id: str, start: datetime, end: datetime) -> list[Any]:
    return [m.MeterEvent.meter_id == meter_id, m.MeterEvent.customer_id == customer_id,
            m.MeterEvent.timestamp >= start, m.MeterEvent.timestamp < end,
            m.MeterEvent.voided_at.is_(None), m.MeterEvent.counted.is_(True)]


def readings(session: Session, meter_id: str, customer_id: str, start: datetime,
             end: datetime) -> list[domain.Reading]:
    rows = session.execute(select(m.MeterEvent.timestamp, m.MeterEvent.value, m.MeterEvent.key)
                           .where(*counted_events(meter_id, customer_id, start, end))
                           .order_by(m.MeterEvent.timestamp, m.MeterEvent.identifier)).all()
    return [domain.Reading(ts, Decimal(value), key) for ts, value, key in rows]


def usage(session: Session, meter: m.Meter, customer_id: str, start: datetime,
          end: datetime) -> Decimal:
    """The customer's usage on `meter` in [start, end): whole hours from the running
    aggregates, the ragged edges (and formulas that cannot be combined) from the events."""
    formula: domain.Formula = meter.formula  # type: ignore[assignment]
    first_full = hour_of(start) if start == hour_of(start) else hour_of(start) + timedelta(hours=1)
    last_full = hour_of(end)
    if formula not in domain.COMBINABLE or first_full >= last_full:
        return _from_events(session, formula, meter.id, customer_id, [(start, end)])
    count, sum_micros, max_micros = _hours(session, meter.id, customer_id, first_full,
                                           last_full)
    middle = domain.Bucket(count, Decimal(sum_micros) / MICROS,
                           None if max_micros is None else Decimal(int(max_micros)) / MICROS)
    edges = [(a, b) for a, b in ((start, first_full), (last_full, end)) if a < b]
    return domain.merge(formula, domain.combine(formula, [middle]),
                        _from_events(session, formula, meter.id, customer_id, edges))


def _hours(session: Session, meter_id: str, customer_id: str, first: datetime,
           last: datetime) -> tuple[int, int, int | None]:
    """The running aggregates of the whole hours [first, last): count, sum and maximum (in
    millionths). A billing batch reads them once for all its customers (they all renew at
    the same moments, so they share the spans), a query per meter and span."""
    batch = prefetch.of(session)
    if batch is None or not batch.covers(customer_id):
        count, sum_micros, max_micros = session.execute(_HOURS, {
            "meter": meter_id, "customer": customer_id, "first": first, "last": last}).one()
        return int(count), int(sum_micros), max_micros
    customers = sorted(batch.customer_ids)
    found = batch.remember(("usage_hours", meter_id, first, last), lambda: {
        customer: (int(count), int(sum_micros), max_micros)
        for customer, count, sum_micros, max_micros in session.execute(_BATCH_HOURS, {
            "meter": meter_id, "customers": customers, "first": first, "last": last})})
    return found.get(customer_id, (0, 0, None))


# The statements are built once (a preview runs them for every metered item), with the
# meter, the customer and the spans' bounds as parameters.
_HOURS = select(func.coalesce(func.sum(m.UsageHour.count), 0),
                func.coalesce(func.sum(m.UsageHour.sum_micros), 0),
                func.max(m.UsageHour.max_micros)).where(
    m.UsageHour.meter_id == bindparam("meter"), m.UsageHour.customer_id == bindparam("customer"),
    m.UsageHour.hour >= bindparam("first"), m.UsageHour.hour < bindparam("last"))
_BATCH_HOURS = select(m.UsageHour.customer_id, func.sum(m.UsageHour.count),
                      func.sum(m.UsageHour.sum_micros), func.max(m.UsageHour.max_micros)).where(
    m.UsageHour.meter_id == bindparam("meter"),
    m.UsageHour.customer_id.in_(bindparam("customers", expanding=True)),
    m.UsageHour.hour >= bindparam("first"), m.UsageHour.hour < bindparam("last")).group_by(
    m.UsageHour.customer_id)


@functools.cache
def _aggregate(formula: domain.Formula, spans: int, exact_numbers: bool) -> Select[Any]:
    """`formula` over the counted events in `spans` spans (bounds `start0`, `end0`...), each
    span one range of the index. Without exact numbers (SQLite), a sum or maximum selects
    the events' times and values instead."""
    e = m.MeterEvent
    parts = [select(e.timestamp, e.identifier, e.value, e.key).where(*counted_events(
        bindparam("meter"), bindparam("customer"), bindparam(f"start{i}"),  # type: ignore[arg-type]
        bindparam(f"end{i}"))) for i in range(spans)]  # type: ignore[arg-type]
    events = (parts[0] if spans == 1 else union_all(*parts)).subquery()
    if formula == "count":
        return select(func.count()).select_from(events)
    if formula == "unique_count":  # the distinct keys (hashed, not sorted); none is no key
        keys = select(events.c.key).where(events.c.key.is_not(None)).distinct().subquery()
        return select(func.count()).select_from(keys)
    if formula == "latest":  # the first of the newest events, in the order events are read
        return select(events.c.value).order_by(events.c.timestamp.desc(),
                                               events.c.identifier).limit(1)
    if exact_numbers:
        exact = cast(events.c.value, Numeric)
        return select(func.sum(exact) if formula == "sum" else func.max(exact))
    return select(events.c.timestamp, events.c.value)


def _from_events(session: Session, formula: domain.Formula, meter_id: str, customer_id: str,
                 spans: Sequence[tuple[datetime, datetime]]) -> Decimal:
    """`formula` over the counted events in `spans` (0 without any), as
    `domain.aggregate` computes it."""
    if not spans:
        return Decimal(0)
    exact_numbers = is_postgres(session)  # SQLite would add text as floats
    params: dict[str, Any] = {"meter": meter_id, "customer": customer_id}
    for i, (start, end) in enumerate(spans):
        params.update({f"start{i}": start, f"end{i}": end})
    result = session.execute(_aggregate(formula, len(spans), exact_numbers), params)
    if formula in ("count", "unique_count"):
        return Decimal(result.scalar_one())
    if formula == "latest" or exact_numbers:
        value = result.scalar()
        return Decimal(0) if value is None else Decimal(value)
    return domain.aggregate(formula, [domain.Reading(at, Decimal(value))
                                      for at, value in result.all()])
