"""Meter-event ingestion: de-duplication within a batch, across batches and across concurrent
batches; the running hourly aggregates; what is stored of a payload; what refuses an event
and what refuses a whole batch. On SQLite and on PostgreSQL (where events are COPYed in and
the hours added by the database)."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from kassa.services import customers, meters
from kassa.services.organizations import NewOrganization
from kassa.store import models as m

DAY = datetime(2025, 12, 30, tzinfo=UTC)  # before the test clock's now (2026-01-01 09:00)


def at(hours: float) -> int:
    return int((DAY + timedelta(hours=hours)).timestamp())


def event(identifier: str, value: Any, hours: float = 1, customer: str = "acct-1",
          **payload: Any) -> dict[str, Any]:
    return {"identifier": identifier, "event_name": "calls", "timestamp": at(hours),
            "payload": {"customer": customer, "value": value, **payload}}


@pytest.fixture
def meter(kassa: Kassa, org: NewOrganization) -> m.Meter:
    """A sum meter counting only the paid tier, and customer acct-1 (named by external id)."""
    org_id = org.organization.id
    with kassa.uow() as uow:
        customers.create_customer(uow, org_id, name="Ada", external_id="acct-1",
                                  timezone="UTC")
    with kassa.uow() as uow:
        return meters.create_meter(uow, org_id, display_name="Calls", event_name="calls",
                                   default_aggregation={"formula": "sum"},
                                   dimension_filters={"tier": ["paid"]})


def ingest(kassa: Kassa, org: NewOrganization, events: list[Any]) -> list[tuple[Any, ...]]:
    with kassa.uow() as uow:
        outcomes = meters.ingest(uow, org.organization.id, events, kassa.clock.now())
    return [(o.identifier, o.status, o.code) for o in outcomes]


def stored(kassa: Kassa) -> dict[str, tuple[str, dict[str, Any]]]:
    """identifier -> (value, payload) of every stored event."""
    with kassa.uow() as uow:
        return {e.identifier: (str(e.value), e.payload)
                for e in uow.session.scalars(select(m.MeterEvent))}


def hours(kassa: Kassa) -> dict[datetime, tuple[int, int, int | None]]:
    with kassa.uow() as uow:
        return {h.hour: (h.count, h.sum_micros, h.max_micros)
                for h in uow.session.scalars(select(m.UsageHour))}


def test_a_repeat_within_a_batch_is_a_duplicate_and_the_first_copy_counts(kassa, org, meter):
    result = ingest(kassa, org, [event("a", 5, tier="paid"), event("b", 7, tier="paid"),
                                 event("a", 100, tier="paid")])
    assert result == [("a", "accepted", None), ("b", "accepted", None),
                      ("a", "duplicate", None)]
    assert {k: v for k, (v, _) in stored(kassa).items()} == {"a": "5", "b": "7"}
    assert hours(kassa) == {DAY + timedelta(hours=1): (2, 12_000_000, 7_000_000)}


def test_a_rejected_first_copy_leaves_the_identifier_to_a_later_valid_one(kassa, org, meter):
    result = ingest(kassa, org, [event("a", "many"), event("a", 3, tier="paid")])
    assert result == [("a", "rejected", "value_not_numeric"), ("a", "accepted", None)]
    assert stored(kassa)["a"][0] == "3"


def test_a_batch_sent_again_in_another_order_is_all_duplicates_and_counts_once(
        kassa, org, meter):
    batch = [event(f"e{i}", i, hours=i % 3, tier="paid") for i in range(30)]
    assert {status for _, status, _ in ingest(kassa, org, batch)} == {"accepted"}
    before = hours(kassa)
    again = [*reversed(batch), event("new", 1, tier="paid")]
    assert [status for _, status, _ in ingest(kassa, org, again)] == ["duplicate"] * 30 + [
        "accepted"]
    after = hours(kassa)
    first_hour = DAY + timedelta(hours=1)
    assert after[first_hour][0] == before[first_hour][0] + 1
    assert {h: v for h, v in after.items() if h != first_hour} == {
        h: v for h, v in before.items() if h != first_hour}
    assert len(stored(kassa)) == 31


def test_hours_hold_count_sum_and_max_of_counted_events_and_grow_with_later_batches(
        kassa, org, meter, clock: FrozenClock):
    ingest(kassa, org, [
        event("a", Decimal("0.000001"), hours=1.1, tier="paid"),
        event("b", Decimal("2.5"), hours=1.9, tier="paid"),
        event("c", 1000, hours=1.5, tier="free"),  # stored, not counted
        event("d", -4, hours=2, tier="paid"),
    ])
    ingest(kassa, org, [
        event("e", 3, hours=1.2, tier="paid"),  # into an hour that has events
        {"identifier": "f", "event_name": "calls",  # no timestamp: the customer's now
         "payload": {"customer": "acct-1", "value": 1, "tier": "paid"}},
    ])
    now_hour = clock.now().replace(minute=0, second=0, microsecond=0)
    assert hours(kassa) == {
        DAY + timedelta(hours=1): (3, 5_500_001, 3_000_000),
        DAY + timedelta(hours=2): (1, -4_000_000, -4_000_000),
        now_hour: (1, 1_000_000, 1_000_000),
    }
    assert set(stored(kassa)) == {"a", "b", "c", "d", "e", "f"}


def test_payload_numbers_are_kept_as_plain_json_numbers_and_the_value_exactly(
        api, kassa, meter):
    body = (b'{"events": [{"identifier": "p1", "event_name": "calls", "timestamp": %d, '
            b'"payload": {"customer": "acct-1", "value": 0.10, "tier": "paid", '
            b'"sizes": [1.50, 2.0, {"deep": 1e2}], "note": "caf\\u00e9 \\"x\\"\\\\"}}]}'
            % at(1))
    response = api.post("/v1/billing/meter_events/batch", content=body,
                        headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert stored(kassa)["p1"] == ("0.1", {"customer": "acct-1", "value": 0.1,
                                            "tier": "paid", "sizes": [1.5, 2, {"deep": 100}],
                                            "note": 'café "x"\\'})
    assert hours(kassa)[DAY + timedelta(hours=1)] == (1, 100_000, 100_000)


@pytest.mark.parametrize("value", [10 ** 12, -(10 ** 12), 10 ** 25, Decimal("1e30"),
                                   "1e30", Decimal("0.0000001")])
def test_a_value_too_large_or_too_precise_is_out_of_range_not_a_server_error(
        kassa, org, meter, value):
    assert ingest(kassa, org, [event("v", value, tier="paid")]) == [
        ("v", "rejected", "value_out_of_range")]
    assert stored(kassa) == {}


def test_the_largest_and_finest_values_are_accepted(kassa, org, meter):
    result = ingest(kassa, org, [event("big", Decimal("999999999999.999999"), tier="paid"),
                                 event("fine", Decimal("-0.000001"), tier="paid")])
    assert [status for _, status, _ in result] == ["accepted", "accepted"]
    assert stored(kassa)["big"][0] == "999999999999.999999"


def test_malformed_events_are_rejected_one_by_one_and_the_rest_is_stored(kassa, org, meter):
    result = ingest(kassa, org, [
        "not an object",
        {"identifier": "bad id!", "event_name": "calls", "payload": {}},
        {"identifier": "noname", "payload": {}},
        {"identifier": "nopayload", "event_name": "calls", "payload": [1]},
        {"identifier": "boolts", "event_name": "calls", "timestamp": True, "payload": {}},
        {"identifier": "late", "event_name": "calls", "timestamp": 5_000_000_000,
         "payload": {}},
        event("good", 2, tier="paid"),
        {"identifier": "nometer", "event_name": "other", "payload": {"customer": "acct-1"}},
    ])
    assert result == [
        (None, "rejected", "event_invalid"),
        ("bad id!", "rejected", "identifier_invalid"),
        ("noname", "rejected", "event_name_missing"),
        ("nopayload", "rejected", "payload_missing"),
        ("boolts", "rejected", "timestamp_invalid"),
        ("late", "rejected", "timestamp_invalid"),
        ("good", "accepted", None),
        ("nometer", "rejected", "meter_unknown"),
    ]
    assert set(stored(kassa)) == {"good"}


@pytest.mark.parametrize(("body", "param"), [
    ({"events": []}, "events"),
    ({"events": {"identifier": "x"}}, "events"),
    ({"events": [{"event_name": "calls", "payload": {}}] * (meters.MAX_BATCH + 1)}, "events"),
    ({"events": [{"identifier": "ok", "event_name": "calls", "payload": {}}], "extra": 1},
     "events"),
    ({}, "events"),
])
def test_a_malformed_batch_is_refused_whole_and_stores_nothing(api, kassa, meter, body, param):
    response = api.post("/v1/billing/meter_events/batch", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert stored(kassa) == {}


def test_a_batch_that_is_not_json_is_refused_whole(api, kassa, meter):
    response = api.post("/v1/billing/meter_events/batch", content=b'{"events": [',
                        headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "json_invalid"
    assert stored(kassa) == {}


def test_a_retried_batch_with_its_idempotency_key_replays_the_first_answer(api, kassa, meter):
    batch = {"events": [event("i1", 1, tier="paid"), event("i2", 2, tier="paid")]}
    headers = {"Idempotency-Key": "batch-1"}
    first = api.post("/v1/billing/meter_events/batch", json=batch, headers=headers)
    again = api.post("/v1/billing/meter_events/batch", json=batch, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json() and first.json()["accepted"] == 2
    assert len(stored(kassa)) == 2


def test_identifiers_and_customers_belong_to_one_organization(
        kassa, org, other_org, meter):
    with kassa.uow() as uow:
        meters.create_meter(uow, other_org.organization.id, display_name="Calls",
                            event_name="calls", default_aggregation={"formula": "sum"})
    assert ingest(kassa, org, [event("same", 1, tier="paid")]) == [("same", "accepted", None)]
    # Another organization: the same identifier is its own, our customer is unknown to it.
    assert ingest(kassa, other_org, [event("same", 1)]) == [
        ("same", "rejected", "customer_unknown")]
    with kassa.uow() as uow:
        theirs = customers.create_customer(uow, other_org.organization.id, name="Bo",
                                           external_id="acct-1")
    assert ingest(kassa, other_org, [event("same", 9)]) == [("same", "accepted", None)]
    with kassa.uow() as uow:
        rows = {(e.org_id, e.identifier): e.customer_id
                for e in uow.session.scalars(select(m.MeterEvent))}
    assert rows[(other_org.organization.id, "same")] == theirs.id
    assert rows[(org.organization.id, "same")] != theirs.id


@pytest.mark.postgres_only
def test_concurrent_batches_sharing_identifiers_store_each_once_and_never_deadlock(
        kassa, org, meter):
    """Four writers send overlapping batches in different orders at the same moment, round
    after round: each identifier is accepted exactly once and counted once."""
    writers, rounds, size = 4, 6, 400
    errors: list[BaseException] = []
    accepted = [0] * writers
    barrier = threading.Barrier(writers)

    def write(number: int) -> None:
        rng = random.Random(number)
        try:
            for round_ in range(rounds):
                # Half of each batch is this writer's own, half the next writer's.
                own = [f"r{round_}-w{number}-{i}" for i in range(size // 2)]
                shared = [f"r{round_}-w{(number + 1) % writers}-{i}" for i in range(size // 2)]
                identifiers = own + shared
                rng.shuffle(identifiers)
                batch = [event(identifier, 1, hours=i % 5, tier="paid")
                         for i, identifier in enumerate(identifiers)]
                barrier.wait(timeout=30)
                result = ingest(kassa, org, batch)
                accepted[number] += sum(status == "accepted" for _, status, _ in result)
                assert all(status in ("accepted", "duplicate") for _, status, _ in result)
        except BaseException as error:  # reported below
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    unique = writers * rounds * size // 2
    assert sum(accepted) == unique
    with kassa.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.MeterEvent)) == unique
        assert uow.session.scalar(select(func.sum(m.UsageHour.count))) == unique
        assert uow.session.scalar(select(func.sum(m.UsageHour.sum_micros))) == unique * 10 ** 6
