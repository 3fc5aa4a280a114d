"""Usage ingestion de-duplicates by identifier, through the real services and database.

For random events whose identifiers come from a small pool (so that retries and collisions
happen), with random values and times, sent in random order and random batches, perhaps all
of it twice: every meter's usage and the upcoming invoice are exactly those of the
de-duplicated events (the first event sent under each identifier) ingested once, and match
the usage the aggregation formulas give for that set.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kassa.config import Kassa, Settings
from kassa.core.clock import FrozenClock, to_unix
from kassa.domain import usage as domain
from kassa.services import (
    billing,
    catalog,
    customers,
    meters,
    organizations,
    subscriptions,
    test_clocks,
)

MARCH = datetime(2026, 3, 1, tzinfo=UTC)
SENT_AT = datetime(2026, 3, 31, 12, tzinfo=UTC)  # the test clock's time when events arrive
WINDOWS = [(MARCH, datetime(2026, 4, 1, tzinfo=UTC)),  # the billing period: whole hours
           (MARCH + timedelta(minutes=30), SENT_AT - timedelta(minutes=30))]  # ragged edges
_counter = itertools.count()

# One meter per formula, each with a metered price, all on one monthly subscription; the sum
# meter also carries a percentage price (its events are transactions).
FORMULAS: dict[str, str] = {"calls": "sum", "requests": "count", "storage": "max",
                            "users": "unique_count", "seats": "latest"}
PRICES: dict[str, dict[str, Any]] = {
    "calls": {"billing_scheme": "tiered", "tiers_mode": "graduated", "tiers": [
        {"up_to": 500, "unit_amount_decimal": "1.5", "flat_amount": 100},
        {"up_to": "inf", "unit_amount_decimal": "0.7"}]},
    "requests": {"unit_amount": 3},
    "storage": {"unit_amount_decimal": "2.25"},
    "users": {"unit_amount": 40, "transform_quantity": {"divide_by": 2, "round": "up"}},
    "seats": {"billing_scheme": "tiered", "tiers_mode": "volume", "tiers": [
        {"up_to": 300, "unit_amount": 5}, {"up_to": "inf", "unit_amount": 2}]},
}
PERCENTAGE = {"rate": "2.9", "fixed_fee": "30", "free_events": 1, "free_units": "250",
              "minimum_fee": "40", "maximum_fee": "60"}


@dataclass(frozen=True)
class Sent:
    identifier: str
    event_name: str
    seconds: int  # after the start of March
    value: Decimal
    user: str

    def event(self, customer: str) -> dict[str, Any]:
        return {"identifier": self.identifier, "event_name": self.event_name,
                "timestamp": to_unix(MARCH) + self.seconds,
                "payload": {"customer": customer, "value": str(self.value),
                            "user_id": self.user}}


sent_events = st.builds(
    Sent,
    identifier=st.sampled_from([f"ev-{n}" for n in range(12)]),
    event_name=st.sampled_from(sorted(FORMULAS)),
    seconds=st.integers(0, int((SENT_AT - MARCH).total_seconds())),
    value=st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False,
                      allow_infinity=False),
    user=st.sampled_from(["u1", "u2", "u3", "u4"]),
)


def chunked(events: list[Sent], cuts: list[int]) -> list[list[Sent]]:
    """The events split at the given positions (taken modulo the length), in order."""
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    return [events[a:b] for a, b in itertools.pairwise(bounds) if a < b]


def first_of_each(events: list[Sent]) -> list[Sent]:
    """The de-duplicated set: the first event sent under each identifier."""
    seen: dict[str, Sent] = {}
    for event in events:
        seen.setdefault(event.identifier, event)
    return list(seen.values())


@dataclass
class Account:
    org_id: str
    customer_id: str
    meters: dict[str, Any]  # event name -> meter row


def _account(kassa: Kassa, name: str) -> Account:
    """An organization with a UTC customer on a test clock at March 1st, subscribed to a
    metered price per meter, the clock then moved to March 31st 12:00."""
    with kassa.uow() as uow:
        org_id = organizations.create_organization(uow, kassa.pepper, name=name,
                                                   default_currency="eur").organization.id
    with kassa.uow() as uow:
        clock_id = test_clocks.create_test_clock(uow, org_id, frozen_time=to_unix(MARCH)).id
    with kassa.uow() as uow:
        customer_id = customers.create_customer(uow, org_id, name="Ada", external_id="acct-1",
                                                timezone="UTC", test_clock=clock_id).id
    created: dict[str, Any] = {}
    price_ids = []
    for event_name, formula in FORMULAS.items():
        value_key = "user_id" if formula == "unique_count" else "value"
        with kassa.uow() as uow:
            created[event_name] = meter = meters.create_meter(
                uow, org_id, display_name=event_name, event_name=event_name,
                default_aggregation={"formula": formula},
                value_settings={"event_payload_key": value_key})
        terms = [PRICES[event_name]]
        if formula == "sum":
            terms.append({"billing_scheme": "percentage", "percentage": PERCENTAGE})
        for fields in terms:
            with kassa.uow() as uow:
                price_ids.append(catalog.create_price(
                    uow, org_id, product_data={"name": event_name}, currency="eur",
                    recurring={"interval": "month", "usage_type": "metered",
                               "meter": meter.id}, **fields).id)
    with kassa.uow() as uow:
        subscriptions.create_subscription(uow, org_id, customer=customer_id,
                                          items=[{"price": p} for p in price_ids],
                                          collection_method="send_invoice")
    test_clocks.advance(kassa.session_factory, kassa.clock, org_id, clock_id,
                        to_unix(SENT_AT))
    return Account(org_id, customer_id, created)


def _ingest(kassa: Kassa, account: Account, batches: list[list[Sent]]) -> None:
    for batch in batches:
        # Half the events name the customer by id, half by external id.
        refs = itertools.cycle([account.customer_id, "acct-1"])
        with kassa.uow() as uow:
            outcomes = meters.ingest(uow, account.org_id, [e.event(next(refs)) for e in batch],
                                     kassa.clock.now())
        assert all(o.status in ("accepted", "duplicate") for o in outcomes), outcomes


def _usage(kassa: Kassa, account: Account) -> tuple[dict[tuple[str, int], Decimal], Any]:
    """Each meter's usage in each window, and the upcoming invoice's total and lines."""
    result = {}
    with kassa.uow() as uow:
        for event_name, meter in account.meters.items():
            for index, (start, end) in enumerate(WINDOWS):
                [summary] = meters.summaries(uow, account.org_id, meter.id,
                                             customer=account.customer_id,
                                             start_time=to_unix(start), end_time=to_unix(end))
                result[(event_name, index)] = Decimal(summary["aggregated_value"])
        upcoming = billing.upcoming_invoice(uow, account.org_id, account.customer_id)
    lines = sorted((line["description"], line["quantity"], line["amount"])
                   for line in upcoming["lines"]["data"])
    return result, (upcoming["total"], lines)


def expected_usage(events: list[Sent]) -> dict[tuple[str, int], Decimal]:
    """What the aggregation formulas make of a de-duplicated set, window by window (events
    in time order, ties by identifier, as the store reads them)."""
    result = {}
    for event_name, formula in FORMULAS.items():
        distinct = formula == "unique_count"
        for index, (start, end) in enumerate(WINDOWS):
            readings = [domain.Reading(at, Decimal(1) if distinct else e.value,
                                       e.user if distinct else None)
                        for at, _, e in sorted((MARCH + timedelta(seconds=e.seconds),
                                                e.identifier, e) for e in events
                                               if e.event_name == event_name)
                        if start <= at < end]
            result[(event_name, index)] = domain.aggregate(formula, readings)  # type: ignore[arg-type]
    return result


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=st.lists(sent_events, min_size=1, max_size=40),
       cuts=st.lists(st.integers(0, 40), max_size=5),
       again=st.none() | st.lists(st.integers(0, 40), max_size=5),
       order=st.randoms(use_true_random=False))
def test_ingesting_with_duplicates_in_any_batches_equals_ingesting_the_unique_events_once(
        events, cuts, again, order, make_database, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"dedup{next(_counter)}")
    kassa = Kassa(Settings(data_dir=directory, database_url=make_database(directory),
                           secret_key="pepper"), clock=FrozenClock(MARCH))
    try:
        messy, clean = _account(kassa, "Messy"), _account(kassa, "Clean")
        _ingest(kassa, messy, chunked(events, cuts))
        if again is not None:  # a client retrying everything, in other batches and order
            retry = list(events)
            order.shuffle(retry)
            _ingest(kassa, messy, chunked(retry, again))
        unique = first_of_each(events)
        order.shuffle(unique)  # the order of distinct events does not matter
        _ingest(kassa, clean, [unique])

        usage, invoice = _usage(kassa, messy)
        assert usage == _usage(kassa, clean)[0] == expected_usage(first_of_each(events))
        assert invoice == _usage(kassa, clean)[1]
    finally:
        kassa.engine.dispose()
