"""Test clocks: simulated time for a set of customers, advanced through the real code paths.

Advancing a clock steps from one due moment to the next (a renewal, the end of a draft's
grace period, a trial's end, a due date) and at each step does for the clock's customers
exactly what the scheduler does for everyone else at that moment in real time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kassa.core.clock import Clock, parse_timestamp
from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.ids import new_id
from kassa.services import billing, collection, objects, payments, recognition, scoping
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

Progress = Callable[[int], None]


def create_test_clock(uow: UnitOfWork, org_id: str, *, frozen_time: Any,
                      name: str | None = None) -> m.TestClock:
    clock = m.TestClock(id=new_id("clock"), org_id=org_id, name=name, status="ready",
                        frozen_time=parse_timestamp(frozen_time, "frozen_time"),
                        created=uow.clock.now())
    uow.session.add(clock)
    uow.commit()
    return clock


def advance(session_factory: sessionmaker[Session], clock: Clock, org_id: str, clock_id: str,
            frozen_time: Any, progress: Progress | None = None,
            gateways: payments.Gateways | None = None) -> dict[str, Any]:
    """Move the test clock forward to `frozen_time`, running every job that falls due:
    billing, and, given the gateways, collection and payment checks."""
    with UnitOfWork(session_factory, clock) as uow:
        test_clock = scoping.get(uow.session, m.TestClock, org_id, clock_id, lock=True)
        target = parse_timestamp(frozen_time, "frozen_time")
        if target < test_clock.frozen_time:
            raise InvalidRequest("A test clock only moves forward.", param="frozen_time")
        if test_clock.status != "ready":
            raise InvalidState("The test clock is already advancing.")
        test_clock.status = "advancing"
        uow.commit()
    try:
        previous = None
        while True:
            with UnitOfWork(session_factory, clock) as uow:
                moments = [billing.next_due_at(uow, clock_id)]
                if gateways is not None:
                    moments.append(collection.next_due_at(uow.session, clock_id))
            found = [moment for moment in moments if moment is not None]
            due = min(found) if found else None
            step = target if due is None or due > target else due
            if step == previous and step != target:
                raise RuntimeError(f"test clock {clock_id} made no progress at {step}")
            previous = step
            _set_time(session_factory, clock, clock_id, step)
            _run_due(session_factory, clock, clock_id, step, progress)
            if gateways is not None:
                collection.run_due(session_factory, clock, gateways, step,
                                 test_clock_id=clock_id)
            if step >= target:
                break
        _recognize(session_factory, clock, org_id, clock_id)
    finally:
        with UnitOfWork(session_factory, clock) as uow:
            test_clock = uow.session.get(m.TestClock, clock_id)
            assert test_clock is not None
            test_clock.status = "ready"
            uow.commit()
    return objects.test_clock(test_clock)


def _recognize(session_factory: sessionmaker[Session], clock: Clock, org_id: str,
               clock_id: str) -> None:
    """Revenue the clock's customers earned by its new time, posted (services/recognition.py)."""
    with UnitOfWork(session_factory, clock) as uow:
        test_clock = uow.session.get(m.TestClock, clock_id)
        assert test_clock is not None
        customer_ids = list(uow.session.scalars(select(m.Customer.id).where(
            m.Customer.org_id == org_id, m.Customer.test_clock_id == clock_id)))
        if customer_ids:
            recognition.recognize_all(uow.session, org_id, test_clock.frozen_time,
                                      customer_ids=customer_ids)
        uow.commit()


def _set_time(session_factory: sessionmaker[Session], clock: Clock, clock_id: str,
              at: Any) -> None:
    with UnitOfWork(session_factory, clock) as uow:
        test_clock = uow.session.get(m.TestClock, clock_id)
        assert test_clock is not None
        test_clock.frozen_time = at
        uow.commit()


def _run_due(session_factory: sessionmaker[Session], clock: Clock, clock_id: str, at: Any,
             progress: Progress | None) -> None:
    for customer_id in billing.all_due_customer_ids(session_factory, clock, at,
                                                    test_clock_id=clock_id):
        with UnitOfWork(session_factory, clock) as uow:
            billing.process_customer(uow, customer_id, at)
        if progress:
            progress(1)


def list_test_clocks(uow: UnitOfWork, org_id: str, **page: Any) -> scoping.Page:
    query = select(m.TestClock).where(m.TestClock.org_id == org_id)
    return scoping.paginate(uow.session, query, m.TestClock, **page)
