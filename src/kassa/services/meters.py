"""Meters and usage events: ingestion with de-duplication, running hourly aggregates, and
reading a customer's usage for a period without scanning anyone else's events."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from kassa.core.clock import MAX_TIMESTAMP, from_unix, parse_timestamp
from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.ids import new_id
from kassa.domain import usage as domain
from kassa.services import objects, scoping
from kassa.services.alerts import check_alerts
from kassa.services.usage_reading import counted_events, hour_of, to_micros, usage
from kassa.store import models as m
from kassa.store.db import among, is_postgres
from kassa.store.uow import UnitOfWork

MAX_BATCH = 10_000
FUTURE_TOLERANCE = timedelta(minutes=5)
_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


# --- meters -------------------------------------------------------------------------------

def create_meter(uow: UnitOfWork, org_id: str, *, display_name: str, event_name: str,
                 default_aggregation: dict[str, Any],
                 value_settings: dict[str, Any] | None = None,
                 customer_mapping: dict[str, Any] | None = None,
                 dimension_filters: dict[str, list[str]] | None = None,
                 group_by: list[str] | None = None) -> m.Meter:
    """A meter in Stripe's shape; `formula` one of count, sum, max, unique_count, latest
    (`last` is Stripe's name for latest)."""
    formula = (default_aggregation or {}).get("formula")
    formula = "latest" if formula == "last" else formula
    if formula not in domain.FORMULAS:
        raise InvalidRequest(f"default_aggregation.formula must be one of "
                             f"{', '.join(domain.FORMULAS)} (or last).",
                             param="default_aggregation[formula]")
    if not _KEY.match(event_name or ""):
        raise InvalidRequest("event_name is 1-100 letters, digits, '_', '.' or '-'.",
                             param="event_name")
    value_key = (value_settings or {}).get("event_payload_key", "value")
    customer_key = (customer_mapping or {}).get("event_payload_key", "customer")
    for param, key in (("value_settings[event_payload_key]", value_key),
                       ("customer_mapping[event_payload_key]", customer_key)):
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidRequest("A payload key is 1-100 letters, digits, '_', '.' or '-'.",
                                 param=param)
    filters = dimension_filters or {}
    if not isinstance(filters, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
            for k, v in filters.items()):
        raise InvalidRequest("dimension_filters maps payload keys to lists of allowed values.",
                             param="dimension_filters")
    existing = uow.session.scalar(select(m.Meter.id).where(m.Meter.org_id == org_id,
                                                           m.Meter.event_name == event_name))
    if existing:
        raise InvalidRequest(f"Meter {existing} already measures events named {event_name}.",
                             param="event_name", code="resource_already_exists")
    meter = m.Meter(id=new_id("mtr"), org_id=org_id, display_name=display_name,
                    event_name=event_name, formula=formula, value_key=value_key,
                    customer_key=customer_key, dimension_filters=filters,
                    group_by={"keys": list(group_by or [])}, status="active",
                    created=uow.clock.now())
    uow.session.add(meter)
    uow.commit()
    return meter


def set_meter_status(uow: UnitOfWork, org_id: str, meter_id: str, status: str) -> m.Meter:
    meter = scoping.get(uow.session, m.Meter, org_id, meter_id, lock=True)
    meter.status = status
    uow.commit()
    return meter


# --- ingestion ------------------------------------------------------------------------------
#
# A batch is checked event by event in plain Python, then stored with a handful of
# statements whatever its size. On PostgreSQL the new events are COPYed into a temporary
# table and moved into meter_events by one statement that also adds them to their hours:
# passing thousands of rows as statement parameters costs more than storing them.

@dataclass(slots=True)
class Outcome:
    identifier: str | None
    status: str  # accepted | duplicate | rejected
    code: str | None = None
    message: str | None = None

    def asdict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"identifier": self.identifier, "status": self.status}
        if self.code:
            result["error"] = {"code": self.code, "message": self.message}
        return result


@dataclass(frozen=True, slots=True)
class _Rule:
    """What ingestion reads of a meter, taken from its row once per batch."""

    id: str
    active: bool
    formula: str
    value_key: str
    customer_key: str
    filters: tuple[tuple[str, list[str]], ...]

    @classmethod
    def of(cls, meter: m.Meter) -> _Rule:
        return cls(meter.id, meter.status == "active", meter.formula, meter.value_key,
                   meter.customer_key, tuple(meter.dimension_filters.items()))

    def counts(self, payload: dict[str, Any]) -> bool:
        """Whether an event passes the dimension filters (if not, it is stored, not counted)."""
        return all(str(payload.get(key)) in allowed for key, allowed in self.filters)


@dataclass(slots=True)
class _Candidate:
    index: int
    identifier: str
    meter: _Rule
    customer_id: str
    timestamp: datetime
    value: Decimal
    key: str | None
    counted: bool
    payload: dict[str, Any]


_VALUE_PROBLEMS = {
    "value_missing": "payload[{}] is missing.",
    "value_not_numeric": "payload[{}] is not a number.",
    "value_out_of_range": "payload[{}] needs at most 6 decimals and must be below 10^12.",
    "value_invalid": "payload[{}] must be a short string or an integer.",
}
_VALUE_LIMIT = 10 ** 12
_MICRO = Decimal("0.000001")


def _parse_value(meter: _Rule, payload: dict[str, Any]) -> tuple[Decimal, str | None] | str:
    """(value, distinct key) of an event for its meter, or an error code."""
    if meter.formula == "count":
        return Decimal(1), None
    raw = payload.get(meter.value_key)
    if raw is None:
        return "value_missing"
    if meter.formula == "unique_count":
        if not isinstance(raw, str | int) or isinstance(raw, bool) or len(str(raw)) > 200:
            return "value_invalid"
        return Decimal(1), str(raw)
    if type(raw) is int:  # the common case: whole, so only its size can be wrong
        return (Decimal(raw), None) if abs(raw) < _VALUE_LIMIT else "value_out_of_range"
    if isinstance(raw, bool):
        return "value_not_numeric"
    try:
        value = Decimal(str(raw)) if isinstance(raw, int | str | Decimal) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        return "value_not_numeric"
    # The size first: quantizing a huge value overflows the decimal context.
    if abs(value) >= _VALUE_LIMIT or value != value.quantize(_MICRO):
        return "value_out_of_range"
    return value, None


def _reject(outcomes: list[Outcome | None], index: int, identifier: Any, code: str,
            message: str) -> None:
    outcomes[index] = Outcome(identifier if isinstance(identifier, str) else None, "rejected",
                              code, message)


def ingest(uow: UnitOfWork, org_id: str, events: list[Any], now: datetime) -> list[Outcome]:
    """Accept a batch of meter events; one outcome per event, in order.

    Accepted events are stored and counted; a duplicate identifier (stored before, earlier
    in the batch, or by a concurrent batch) is acknowledged and not counted again; every
    rejected event says why. Accepted events commit together.
    """
    if not isinstance(events, list) or not events:
        raise InvalidRequest("events must be a non-empty list.", param="events")
    if len(events) > MAX_BATCH:
        raise InvalidRequest(f"A batch holds at most {MAX_BATCH} events.", param="events")
    outcomes: list[Outcome | None] = [None] * len(events)
    shaped = _shaped(events, outcomes)
    names = {name for _, _, name, _, _ in shaped}
    meters = {meter.event_name: _Rule.of(meter) for meter in uow.session.scalars(
        select(m.Meter).where(m.Meter.org_id == org_id, m.Meter.event_name.in_(names)))}
    wanted: set[str] = set()
    for _, _, name, _, payload in shaped:
        meter = meters.get(name)
        if meter is not None and isinstance(ref := payload.get(meter.customer_key), str):
            wanted.add(ref)
    customers = _resolve_customers(uow.session, org_id, wanted, now)
    candidates = _candidates(shaped, meters, customers, outcomes)
    closed = _closed_through(uow.session, {(c.customer_id, c.meter.id) for c in candidates})
    ready = []
    for candidate in candidates:
        boundary = closed.get((candidate.customer_id, candidate.meter.id))
        if boundary is not None and candidate.timestamp < boundary:
            _reject(outcomes, candidate.index, candidate.identifier, "period_invoiced",
                    "The event falls in a period whose invoice is already finalized.")
        else:
            ready.append(candidate)
    first: dict[str, _Candidate] = {}  # a repeat inside the batch is a duplicate
    for candidate in ready:
        first.setdefault(candidate.identifier, candidate)
    inserted = _store(uow.session, org_id, list(first.values()), now)
    accepted: set[tuple[str, str]] = set()
    for candidate in ready:
        new = candidate.identifier in inserted and first[candidate.identifier] is candidate
        outcomes[candidate.index] = Outcome(candidate.identifier,
                                            "accepted" if new else "duplicate")
        if new:
            accepted.add((candidate.meter.id, candidate.customer_id))
    check_alerts(uow, org_id, accepted)
    uow.commit()
    return outcomes  # type: ignore[return-value]  # every event has its outcome now


_Shaped = tuple[int, str, str, datetime | None, dict[str, Any]]


def _shaped(events: list[Any], outcomes: list[Outcome | None]) -> list[_Shaped]:
    """(index, identifier, event name, timestamp, payload) of each well-formed event; the
    others are rejected."""
    shaped = []
    for index, event in enumerate(events):
        problem = _shape_problem(event)
        identifier = event.get("identifier") if isinstance(event, dict) else None
        if problem:
            _reject(outcomes, index, identifier, *problem)
            continue
        timestamp = from_unix(event["timestamp"]) if "timestamp" in event else None
        shaped.append((index, identifier or new_id("mev"), event["event_name"], timestamp,
                       event["payload"]))
    return shaped


def _shape_problem(event: Any) -> tuple[str, str] | None:
    if not isinstance(event, dict):
        return "event_invalid", "An event is an object."
    identifier = event.get("identifier")
    if identifier is not None and (not isinstance(identifier, str) or not _KEY.match(identifier)):
        return "identifier_invalid", "identifier is 1-100 letters, digits, '_', '.' or '-'."
    if not isinstance(event.get("event_name"), str):
        return "event_name_missing", "event_name is required."
    if not isinstance(event.get("payload"), dict):
        return "payload_missing", "payload is required and must be an object."
    if "timestamp" in event:
        ts = event["timestamp"]
        if isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts <= MAX_TIMESTAMP:
            return "timestamp_invalid", "timestamp must be a Unix timestamp."
    return None


def _candidates(shaped: list[_Shaped], meters: dict[str, _Rule],
                customers: dict[str, tuple[str, datetime]],
                outcomes: list[Outcome | None]) -> list[_Candidate]:
    """The events with a meter, a customer, a time and a value; the others are rejected."""
    candidates = []
    for index, identifier, name, timestamp, payload in shaped:
        meter = meters.get(name)
        if meter is None or not meter.active:
            _reject(outcomes, index, identifier, "meter_unknown",
                    f"No active meter measures events named {name!r}.")
            continue
        resolved = customers.get(str(payload.get(meter.customer_key)))
        if resolved is None:
            _reject(outcomes, index, identifier, "customer_unknown",
                    f"No customer matches payload[{meter.customer_key}].")
            continue
        customer_id, customer_now = resolved
        if timestamp is None:
            timestamp = customer_now
        elif timestamp > customer_now + FUTURE_TOLERANCE:
            _reject(outcomes, index, identifier, "timestamp_in_future",
                    "timestamp is too far in the future.")
            continue
        parsed = _parse_value(meter, payload)
        if isinstance(parsed, str):
            _reject(outcomes, index, identifier, parsed,
                    _VALUE_PROBLEMS[parsed].format(meter.value_key))
            continue
        value, key = parsed
        counted = not meter.filters or meter.counts(payload)
        candidates.append(_Candidate(index, identifier, meter, customer_id, timestamp, value,
                                     key, counted, payload))
    return candidates


def _resolve_customers(session: Session, org_id: str, refs: set[str],
                       now: datetime) -> dict[str, tuple[str, datetime]]:
    """Map customer ids and external ids to (customer id, the customer's now), in one query.

    A customer on a test clock lives at the clock's time."""
    if not refs:
        return {}
    rows = session.execute(
        select(m.Customer.id, m.Customer.external_id, m.TestClock.frozen_time)
        .outerjoin(m.TestClock, m.TestClock.id == m.Customer.test_clock_id)
        .where(m.Customer.org_id == org_id, m.Customer.deleted.is_(False),
               or_(among(session, m.Customer.id, refs),
                   among(session, m.Customer.external_id, refs)))).all()
    mapping: dict[str, tuple[str, datetime]] = {}
    for customer_id, external_id, clock_time in rows:
        resolved = (customer_id, clock_time or now)
        if external_id in refs:
            mapping[external_id] = resolved
        mapping[customer_id] = resolved
    return mapping


def _closed_through(session: Session,
                    pairs: set[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """For (customer, meter): the end of the last usage period already invoiced for good."""
    if not pairs:
        return {}
    customer_ids = {customer for customer, _ in pairs}
    rows = session.execute(
        select(m.Subscription.customer_id, m.Price.meter_id,
               func.max(m.Subscription.usage_closed_through))
        .join(m.SubscriptionItem, m.SubscriptionItem.subscription_id == m.Subscription.id)
        .join(m.Price, m.Price.id == m.SubscriptionItem.price_id)
        .where(among(session, m.Subscription.customer_id, customer_ids),
               m.Price.meter_id.is_not(None), m.Subscription.usage_closed_through.is_not(None))
        .group_by(m.Subscription.customer_id, m.Price.meter_id)).all()
    return {(customer, meter): closed for customer, meter, closed in rows if closed}


def _plain_number(value: Any) -> Any:
    """A payload's exact decimal as JSON can store it: numbers were parsed as exact decimals
    (the exact value that counts is kept in its own column), the payload keeps a plain JSON
    number (its shortest representation, which gives back the text that was sent)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


_payload_json = json.JSONEncoder(default=_plain_number).encode  # as json.dumps, made once


def _store(session: Session, org_id: str, events: list[_Candidate], now: datetime) -> set[str]:
    """Insert the events not stored yet (their identifiers are distinct) and add the counted
    ones to their hours; returns the identifiers inserted. A concurrent batch storing the
    same identifier waits for this one's transaction, then finds it stored."""
    if not events:
        return set()
    if is_postgres(session):
        return _store_postgres(session, org_id, events, now)
    table = m.MeterEvent.__table__
    rows = [{"org_id": org_id, "identifier": c.identifier, "meter_id": c.meter.id,
             "customer_id": c.customer_id, "timestamp": c.timestamp, "value": c.value,
             "key": c.key, "counted": c.counted,
             "payload": json.loads(_payload_json(c.payload)), "created": now}
            for c in events]
    inserted: set[str] = set()
    for start in range(0, len(rows), 1000):
        statement = sqlite.insert(table).on_conflict_do_nothing().returning(
            table.c.identifier)
        inserted.update(session.execute(statement, rows[start:start + 1000]).scalars())
    _add_to_hours(session, [c for c in events if c.counted and c.identifier in inserted])
    return inserted


_CREATE_INCOMING = text(
    "CREATE TEMPORARY TABLE IF NOT EXISTS incoming_meter_events (identifier varchar(100), "
    'meter_id varchar(40), customer_id varchar(40), "timestamp" timestamptz, '
    '"value" numeric, "key" varchar(200), counted boolean, payload json) '
    "ON COMMIT DELETE ROWS")
_COPY_INCOMING = "COPY incoming_meter_events FROM STDIN"
# Events go in by identifier, so that concurrent batches sharing identifiers lock them in the
# same order (and never deadlock); hours likewise. The database writes a value's canonical
# text (trim_scale: PostgreSQL 13+). The answer is the identifiers that were stored before
# (usually none: cheaper to send than all those inserted).
_MOVE_INCOMING = text(
    "WITH inserted AS ("
    ' INSERT INTO meter_events (org_id, identifier, meter_id, customer_id, "timestamp",'
    ' "value", "key", counted, payload, created)'
    ' SELECT :org_id, identifier, meter_id, customer_id, "timestamp",'
    ' CAST(trim_scale("value") AS varchar), "key", counted, payload, :created'
    " FROM incoming_meter_events ORDER BY identifier"
    ' ON CONFLICT DO NOTHING RETURNING identifier, meter_id, customer_id, "timestamp",'
    ' "value", counted'
    "), hours AS ("
    " INSERT INTO usage_hours (meter_id, customer_id, hour, count, sum_micros, max_micros)"
    " SELECT meter_id, customer_id, hour, count(*), sum(micros), max(micros) FROM ("
    "  SELECT meter_id, customer_id, date_trunc('hour', \"timestamp\", 'UTC') AS hour,"
    '  CAST(CAST("value" AS numeric) * 1000000 AS bigint) AS micros'
    "  FROM inserted WHERE counted) AS e"
    " GROUP BY meter_id, customer_id, hour ORDER BY meter_id, customer_id, hour"
    " ON CONFLICT (meter_id, customer_id, hour) DO UPDATE SET"
    " count = usage_hours.count + excluded.count,"
    " sum_micros = usage_hours.sum_micros + excluded.sum_micros,"
    " max_micros = GREATEST(usage_hours.max_micros, excluded.max_micros)"
    ") SELECT identifier FROM incoming_meter_events EXCEPT SELECT identifier FROM inserted")


def _store_postgres(session: Session, org_id: str, events: list[_Candidate],
                    now: datetime) -> set[str]:
    session.execute(_CREATE_INCOMING)
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor, cursor.copy(_COPY_INCOMING) as copy:
        for c in events:
            copy.write_row((c.identifier, c.meter.id, c.customer_id, c.timestamp, c.value,
                            c.key, c.counted, _payload_json(c.payload)))
    stored_before = set(session.execute(_MOVE_INCOMING, {"org_id": org_id,
                                                         "created": now}).scalars())
    return {c.identifier for c in events if c.identifier not in stored_before}


def _add_to_hours(session: Session, events: Iterable[_Candidate]) -> None:
    """Add counted events to their hours' running aggregates (SQLite; PostgreSQL adds them
    in the statement that stores them)."""
    buckets: dict[tuple[str, str, datetime], list[Decimal]] = defaultdict(list)
    for event in events:
        buckets[(event.meter.id, event.customer_id, hour_of(event.timestamp))].append(event.value)
    if not buckets:
        return
    rows = [{"meter_id": meter, "customer_id": customer, "hour": hour, "count": len(values),
             "sum_micros": sum(to_micros(v) for v in values),
             "max_micros": max(to_micros(v) for v in values)}
            for (meter, customer, hour), values in sorted(buckets.items())]
    table = m.UsageHour.__table__
    statement = sqlite.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.meter_id, table.c.customer_id, table.c.hour],
        set_={"count": table.c.count + statement.excluded.count,
              "sum_micros": table.c.sum_micros + statement.excluded.sum_micros,
              "max_micros": func.max(func.coalesce(table.c.max_micros,
                                                   statement.excluded.max_micros),
                                     statement.excluded.max_micros)})
    for start in range(0, len(rows), 1000):
        session.execute(statement, rows[start:start + 1000])


def void_event(uow: UnitOfWork, org_id: str, identifier: str, now: datetime) -> m.MeterEvent:
    """Cancel an event until its period is invoiced; it stops counting at once."""
    event = uow.session.get(m.MeterEvent, (org_id, identifier), with_for_update=True)
    if event is None:
        raise InvalidRequest(f"No such meter event: {identifier!r}", param="identifier",
                             code="resource_missing")
    if event.voided_at is not None:
        raise InvalidState("The event is already cancelled.")
    closed = _closed_through(uow.session, {(event.customer_id, event.meter_id)})
    boundary = closed.get((event.customer_id, event.meter_id))
    if boundary is not None and event.timestamp < boundary:
        raise InvalidState("The event's period is already invoiced; it can no longer be "
                           "cancelled.", code="period_invoiced")
    event.voided_at = now
    if event.counted:
        _rebuild_hour(uow.session, event.meter_id, event.customer_id, hour_of(event.timestamp))
    uow.commit()
    return event


def _rebuild_hour(session: Session, meter_id: str, customer_id: str, hour: datetime) -> None:
    session.flush()
    values = [Decimal(v) for v in session.scalars(select(m.MeterEvent.value).where(
        *counted_events(meter_id, customer_id, hour, hour + timedelta(hours=1))))]
    session.execute(update(m.UsageHour).where(
        m.UsageHour.meter_id == meter_id, m.UsageHour.customer_id == customer_id,
        m.UsageHour.hour == hour).values(
        count=len(values), sum_micros=sum(to_micros(v) for v in values),
        max_micros=max((to_micros(v) for v in values), default=None)))


def summaries(uow: UnitOfWork, org_id: str, meter_id: str, *, customer: str, start_time: int,
              end_time: int, value_grouping_window: str | None = None,
              group_by: str | None = None) -> list[dict[str, Any]]:
    """Usage per window (hour or day, or the whole range) for one customer; with `group_by`
    (one of the meter's group-by keys) also per value of that payload key."""
    meter = scoping.get(uow.session, m.Meter, org_id, meter_id)
    cust = scoping.get(uow.session, m.Customer, org_id, customer, param="customer")
    if group_by is not None and group_by not in (meter.group_by or {}).get("keys", []):
        raise InvalidRequest("group_by must be one of the meter's group_by keys.",
                             param="group_by")
    start, end = parse_timestamp(start_time, "start_time"), parse_timestamp(end_time,
                                                                             "end_time")
    if end <= start:
        raise InvalidRequest("end_time must be after start_time.", param="end_time")
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), None: end - start}.get(
        value_grouping_window)
    if step is None:
        raise InvalidRequest("value_grouping_window is hour or day.",
                             param="value_grouping_window")
    if (end - start) / step > 2000:
        raise InvalidRequest("That range has too many windows; use a larger window.",
                             param="value_grouping_window")
    result = []
    cursor = start
    while cursor < end:
        window_end = min(cursor + step, end)
        window = {"object": "billing.meter_event_summary", "meter": meter.id,
                  "customer": cust.id, "start_time": int(cursor.timestamp()),
                  "end_time": int(window_end.timestamp())}
        if group_by is None:
            value = usage(uow.session, meter, cust.id, cursor, window_end)
            result.append({**window, "aggregated_value": objects.decimal_text(value)})
        else:
            for group, grouped in _grouped(uow, meter, cust.id, cursor, window_end, group_by):
                result.append({**window, "group": {group_by: group},
                               "aggregated_value": objects.decimal_text(grouped)})
        cursor = window_end
    return result


def _grouped(uow: UnitOfWork, meter: m.Meter, customer_id: str, start: datetime,
             end: datetime, key: str) -> list[tuple[str | None, Decimal]]:
    """Usage per value of payload[key] (None for events without it), from the events."""
    groups: dict[str | None, list[domain.Reading]] = defaultdict(list)
    rows = uow.session.execute(
        select(m.MeterEvent.timestamp, m.MeterEvent.value, m.MeterEvent.key,
               m.MeterEvent.payload).where(*counted_events(meter.id, customer_id, start, end)))
    for timestamp, value, distinct, payload in rows:
        group = payload.get(key)
        groups[None if group is None else str(group)].append(
            domain.Reading(timestamp, Decimal(value), distinct))
    return [(group, domain.aggregate(meter.formula, readings))  # type: ignore[arg-type]
            for group, readings in sorted(groups.items(), key=lambda g: str(g[0]))]

