"""Reading usage: a customer's events on a meter in a period, aggregated. Whole hours come
from the running aggregates (`usage_hours`), ragged edges from the events themselves."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kassa.domain import usage as domain
from kassa.store import models as m

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
    formula = meter.formula
    if formula not in domain.COMBINABLE:
        return domain.aggregate(formula, readings(session, meter.id, customer_id, start, end))  # type: ignore[arg-type]
    first_full = hour_of(start) if start == hour_of(start) else hour_of(start) + timedelta(hours=1)
    last_full = hour_of(end)
    if first_full >= last_full:
        return domain.aggregate(formula, readings(session, meter.id, customer_id, start, end))  # type: ignore[arg-type]
    count, sum_micros, max_micros = session.execute(
        select(func.coalesce(func.sum(m.UsageHour.count), 0),
               func.coalesce(func.sum(m.UsageHour.sum_micros), 0),
               func.max(m.UsageHour.max_micros))
        .where(m.UsageHour.meter_id == meter.id, m.UsageHour.customer_id == customer_id,
               m.UsageHour.hour >= first_full, m.UsageHour.hour < last_full)).one()
    middle = domain.Bucket(int(count), Decimal(int(sum_micros)) / MICROS,
                           None if max_micros is None else Decimal(int(max_micros)) / MICROS)
    result = domain.combine(formula, [middle])  # type: ignore[arg-type]
    for edge_start, edge_end in ((start, first_full), (last_full, end)):
        if edge_start < edge_end:
            edge = domain.aggregate(formula, readings(session, meter.id, customer_id,  # type: ignore[arg-type]
                                                      edge_start, edge_end))
            result = domain.merge(formula, result, edge)  # type: ignore[arg-type]
    return result
