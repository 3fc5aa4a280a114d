"""Billing is idempotent over random subscription histories, through the real services and
database: advancing a test clock to T in random steps produces exactly what advancing it to T
at once produces, and advancing to T again produces nothing new."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from kassa.config import Kassa, Settings
from kassa.core.clock import FrozenClock, to_unix
from kassa.services import (
    catalog,
    customers,
    organizations,
    payments,
    subscriptions,
    test_clocks,
)
from kassa.store import models as m

T0 = datetime(2026, 1, 31, 10, 30, tzinfo=UTC)
_counter = itertools.count()


@dataclass(frozen=True)
class SubSpec:
    interval: str
    interval_count: int
    unit_amount_decimal: str
    quantity: int
    start_offset_days: int
    trial_days: int | None
    anchor_offset_days: int | None
    lead_days: int
    send_invoice: bool
    cancel_at_period_end: bool


sub_specs = st.builds(
    SubSpec,
    interval=st.sampled_from(["day", "week", "month", "month", "year"]),
    interval_count=st.integers(1, 3),
    unit_amount_decimal=st.sampled_from(["0", "999", "1999", "12.345", "0.5", "100000"]),
    quantity=st.integers(0, 7),
    start_offset_days=st.integers(-20, 40),
    trial_days=st.none() | st.integers(1, 30),
    anchor_offset_days=st.none() | st.integers(0, 27),
    lead_days=st.integers(0, 10),
    send_invoice=st.booleans(),
    cancel_at_period_end=st.booleans(),
)


@dataclass(frozen=True)
class History:
    subs: list[SubSpec]
    customers: int
    grace_seconds: int
    steps: list[int]  # hours after T0, increasing; the last one is T
    pay_first: bool


histories = st.builds(
    History,
    subs=st.lists(sub_specs, min_size=1, max_size=4),
    customers=st.integers(1, 2),
    grace_seconds=st.sampled_from([0, 3600, 86400]),
    steps=st.lists(st.integers(1, 24 * 200), min_size=1, max_size=6).map(sorted),
    pay_first=st.booleans(),
)


def _build(make_database, tmp_path_factory, history: History) -> tuple[Kassa, str, str]:
    directory = tmp_path_factory.mktemp(f"run{next(_counter)}")
    kassa = Kassa(Settings(data_dir=directory, database_url=make_database(directory),
                           secret_key="pepper"), clock=FrozenClock(T0))
    with kassa.uow() as uow:
        org = organizations.create_organization(uow, kassa.pepper, name="Prop",
                                                draft_grace_seconds=history.grace_seconds,
                                                timezone="Europe/Amsterdam").organization
    with kassa.uow() as uow:
        clock = test_clocks.create_test_clock(uow, org.id, frozen_time=to_unix(T0))
    people = []
    for index in range(history.customers):
        with kassa.uow() as uow:
            people.append(customers.create_customer(uow, org.id, name=f"C{index}",
                                                    test_clock=clock.id).id)
    for index, spec in enumerate(history.subs):
        with kassa.uow() as uow:
            price = catalog.create_price(
                uow, org.id, product_data={"name": f"P{index}"}, currency="eur",
                unit_amount_decimal=spec.unit_amount_decimal,
                recurring={"interval": spec.interval, "interval_count": spec.interval_count})
        start = T0 + timedelta(days=spec.start_offset_days)
        options: dict[str, object] = {"metadata": {"n": str(index)},
                                      "invoice_lead_days": spec.lead_days,
                                      "cancel_at_period_end": spec.cancel_at_period_end}
        if spec.start_offset_days < 0:
            options["backdate_start_date"] = to_unix(start)
        else:
            options["start_date"] = to_unix(start)
        if spec.trial_days:
            options["trial_period_days"] = spec.trial_days
        elif spec.anchor_offset_days is not None and spec.interval in ("month", "year"):
            options["billing_cycle_anchor"] = to_unix(start + timedelta(
                days=spec.anchor_offset_days))
        if spec.send_invoice:
            options["collection_method"] = "send_invoice"
        with kassa.uow() as uow:
            subscriptions.create_subscription(
                uow, org.id, customer=people[index % len(people)],
                items=[{"price": price.id, "quantity": spec.quantity}], **options)
    if history.pay_first:
        with kassa.uow() as uow:
            open_ids = list(uow.session.scalars(select(m.Invoice.id).where(
                m.Invoice.status == "open")))
        for invoice_id in open_ids:
            with kassa.uow() as uow:
                payments.pay_invoice(uow, org.id, invoice_id, paid_out_of_band=True)
    return kassa, org.id, clock.id


def _snapshot(kassa: Kassa) -> list[tuple]:
    """Everything billing produced, keyed by creation order rather than random ids."""
    with kassa.uow() as uow:
        subs = {sub.id: sub.metadata_["n"] for sub in uow.session.scalars(select(
            m.Subscription))}
        rows = []
        for invoice in uow.session.scalars(select(m.Invoice).order_by(m.Invoice.created,
                                                                      m.Invoice.number)):
            lines = tuple((subs.get(line.subscription_id), line.period_start, line.period_end,
                           line.amount, line.quantity, str(line.proration_fraction))
                          for line in invoice.lines)
            rows.append((invoice.number, invoice.status, invoice.created, invoice.total,
                         invoice.amount_due, invoice.due_date, invoice.finalized_at, lines))
        statuses = sorted((subs[s.id], s.status, s.current_period_start, s.current_period_end,
                           s.billed_through) for s in uow.session.scalars(select(
                               m.Subscription)))
        events = uow.session.scalar(select(func.count()).select_from(m.Event))
        return [*rows, ("subscriptions", tuple(statuses)), ("events", events)]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories)
def test_billing_to_t_in_steps_equals_billing_to_t_once(history, make_database,
                                                         tmp_path_factory):
    target = T0 + timedelta(hours=history.steps[-1])

    stepped, org_id, clock_id = _build(make_database, tmp_path_factory, history)
    for hours in history.steps:
        test_clocks.advance(stepped.session_factory, stepped.clock, org_id, clock_id,
                            to_unix(T0 + timedelta(hours=hours)))
    in_steps = _snapshot(stepped)
    test_clocks.advance(stepped.session_factory, stepped.clock, org_id, clock_id,
                        to_unix(target))
    again = _snapshot(stepped)
    stepped.engine.dispose()

    once, org_id, clock_id = _build(make_database, tmp_path_factory, history)
    test_clocks.advance(once.session_factory, once.clock, org_id, clock_id, to_unix(target))
    at_once = _snapshot(once)
    once.engine.dispose()

    assert again == in_steps  # billing to T twice == billing to T once
    assert in_steps == at_once  # the path to T does not matter
    numbers = [row[0] for row in at_once if isinstance(row[0], str)]
    assert len(numbers) == len(set(numbers))
