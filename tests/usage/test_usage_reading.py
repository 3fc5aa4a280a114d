"""Reading usage (services/usage_reading.py): the database aggregates the events, and gives
exactly what the domain's formulas give for the same events read one by one, for every
formula, with voided and uncounted events, decimal values, keys, ties and ragged edges; and
the upcoming invoice's usage is what billing charges once the period ends."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from kassa.config import Kassa, Settings
from kassa.core.clock import FrozenClock
from kassa.domain import usage as domain
from kassa.services import customers, meters, organizations, prefetch, usage_reading
from kassa.store import models as m

BASE = datetime(2026, 3, 1, tzinfo=UTC)
_counter = itertools.count()

events_strategy = st.lists(st.tuples(
    st.integers(0, 6 * 24 * 6) .map(lambda n: n * 600),  # seconds after BASE; ties happen
    st.sampled_from(["1", "2.5", "0.000001", "100", "7.25", "999999.999999", "3"]),
    st.sampled_from([None, "ann", "bob", "cy"]),
    st.booleans(),  # counted
    st.integers(0, 9).map(lambda n: n == 0),  # voided
), max_size=50)


def _store(kassa: Kassa, meter_ids: list[str], customer_id: str, org_id: str,
           events: list[tuple[int, str, str | None, bool, bool]], prefix: str = "") -> None:
    """The events on every meter, and their hours as ingestion keeps them."""
    hours: dict[tuple[str, datetime], list[Decimal]] = defaultdict(list)
    with kassa.uow() as uow:
        for meter_id in meter_ids:
            for number, (seconds, value, key, counted, voided) in enumerate(events):
                at = BASE + timedelta(seconds=seconds)
                uow.session.add(m.MeterEvent(
                    org_id=org_id, identifier=f"{prefix}{meter_id}-{number:03d}", meter_id=meter_id,
                    customer_id=customer_id, timestamp=at, value=Decimal(value), key=key,
                    counted=counted, payload={}, voided_at=BASE if voided else None,
                    created=BASE))
                if counted and not voided:
                    hours[(meter_id, usage_reading.hour_of(at))].append(Decimal(value))
        for (meter_id, hour), values in hours.items():
            uow.session.add(m.UsageHour(
                meter_id=meter_id, customer_id=customer_id, hour=hour, count=len(values),
                sum_micros=sum(usage_reading.to_micros(v) for v in values),
                max_micros=max(usage_reading.to_micros(v) for v in values)))
        uow.commit()


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=events_strategy, start_minutes=st.integers(0, 4 * 24 * 60),
       length_minutes=st.integers(0, 3 * 24 * 60))
def test_usage_in_the_database_equals_the_formula_over_the_events_one_by_one(
        events, start_minutes, length_minutes, make_database, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"reading{next(_counter)}")
    kassa = Kassa(Settings(data_dir=directory, database_url=make_database(directory),
                           secret_key="pepper"), clock=FrozenClock(BASE))
    try:
        with kassa.uow() as uow:
            org_id = organizations.create_organization(
                uow, kassa.pepper, name="Reader", default_currency="eur").organization.id
        with kassa.uow() as uow:
            customer_id = customers.create_customer(uow, org_id, name="Ada").id
        created = {}
        for formula in domain.FORMULAS:
            with kassa.uow() as uow:
                created[formula] = meters.create_meter(
                    uow, org_id, display_name=formula, event_name=formula,
                    default_aggregation={"formula": formula})
        _store(kassa, [meter.id for meter in created.values()], customer_id, org_id, events)
        start = BASE + timedelta(minutes=start_minutes, seconds=17)
        end = start + timedelta(minutes=length_minutes)
        with kassa.uow() as uow:
            for formula, meter in created.items():
                one_by_one = domain.aggregate(formula, usage_reading.readings(
                    uow.session, meter.id, customer_id, start, end))
                assert usage_reading.usage(uow.session, meter, customer_id, start, end) \
                    == one_by_one, formula
    finally:
        kassa.engine.dispose()


# --- the preview against the invoice ---------------------------------------------------------

def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def _usage_lines(invoice):
    return sorted((line["price"], line["quantity"], line["amount"])
                  for line in invoice["lines"]["data"] if line["type"] == "usage")


@pytest.mark.parametrize("formula", ["sum", "count", "max", "unique_count", "latest"])
def test_the_upcoming_invoice_charges_the_usage_billing_then_charges(api, formula):
    # The period starts at 10:17, so its first and last hours are read from the events.
    clock = ok(api.post("/v1/test_clocks", json={"frozen_time": ts(2026, 3, 1, 10, 17)}))
    customer = ok(api.post("/v1/customers", json={"name": "Ada", "timezone": "UTC",
                                                   "test_clock": clock["id"]}))
    meter = ok(api.post("/v1/billing/meters", json={
        "display_name": "Usage", "event_name": "usage",
        "default_aggregation": {"formula": formula}}))
    price = ok(api.post("/v1/prices", json={
        "product_data": {"name": "Usage"}, "currency": "eur", "unit_amount_decimal": "1.5",
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]}}))
    ok(api.post("/v1/subscriptions", json={
        "customer": customer["id"], "collection_method": "send_invoice",
        "items": [{"price": price["id"]}]}))
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance",
                json={"frozen_time": ts(2026, 4, 1, 9)}))
    moments = [ts(2026, 3, 1, 10, 17), ts(2026, 3, 1, 10, 59), ts(2026, 3, 1, 11)] + \
        [ts(2026, 3, 2) + i * 7_207 for i in range(300)] + [ts(2026, 4, 1, 8, 59)]
    events = [{"identifier": f"u{i}", "event_name": "usage", "timestamp": at,
               "payload": {"customer": customer["id"], "value": (i * 37) % 23 + 1}}
              for i, at in enumerate(moments)]
    result = ok(api.post("/v1/billing/meter_events/batch", json={"events": events}))
    assert result["accepted"] == len(events)

    preview = ok(api.get("/v1/invoices/upcoming", params={"customer": customer["id"]}))
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance",
                json={"frozen_time": ts(2026, 4, 1, 12)}))
    invoices = ok(api.get("/v1/invoices", params={"customer": customer["id"]}))["data"]
    billed = next(i for i in invoices if i["period_end"] == ts(2026, 4, 1, 10, 17)
                  and _usage_lines(i))
    assert billed["status"] == "open"
    assert _usage_lines(preview) == _usage_lines(billed)
    assert _usage_lines(billed)[0][1] > 0


def test_a_billing_batch_reads_the_hours_once_for_all_its_customers_and_gets_the_same_usage(
        kassa, org):
    """Inside a billing batch the whole hours come from one query per meter and span for all
    the batch's customers; each customer's usage is what it is read alone, one with no
    events at all included."""
    org_id = org.organization.id
    created = {}
    for formula in ("sum", "count", "max"):
        with kassa.uow() as uow:
            created[formula] = meters.create_meter(
                uow, org_id, display_name=formula, event_name=f"batch_{formula}",
                default_aggregation={"formula": formula})
    with kassa.uow() as uow:
        ids = [customers.create_customer(uow, org_id, name=name).id
               for name in ("Ann", "Bob", "Cy")]
    meter_ids = [meter.id for meter in created.values()]
    _store(kassa, meter_ids, ids[0], org_id, [(600 * n, "2.5", None, True, False)
                                              for n in range(40)])
    _store(kassa, meter_ids, ids[1], org_id, [(3_600 * n + 30, str(n + 1), None, True, n == 3)
                                              for n in range(10)], prefix="b")
    start, end = BASE, BASE + timedelta(days=1)
    with kassa.uow() as uow:
        alone = {(cid, formula): usage_reading.usage(uow.session, meter, cid, start, end)
                 for cid in ids for formula, meter in created.items()}
    assert alone[(ids[0], "sum")] == Decimal("100.0")  # 40 events of 2.5
    assert alone[(ids[1], "max")] == Decimal(10)
    assert alone[(ids[2], "count")] == 0

    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with kassa.uow() as uow:
        found = list(uow.session.scalars(select(m.Customer).where(m.Customer.id.in_(ids))))
        prefetch.load(uow.session, found, end)
        event.listen(kassa.engine, "before_cursor_execute", seen)
        try:
            batched = {(cid, formula): usage_reading.usage(uow.session, meter, cid, start, end)
                       for cid in ids for formula, meter in created.items()}
        finally:
            event.remove(kassa.engine, "before_cursor_execute", seen)
    assert batched == alone
    assert sum("usage_hours" in statement for statement in statements) == len(created)
