"""Two workers run the dunning pass at the same moment on PostgreSQL: every invoice's steps
are taken once (the customer's row lock, and the due moment checked again under it)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from api.helpers import advance, create_clock, create_customer, create_price, ok, subscribe, ts
from kassa.config import Kassa
from kassa.core.clock import from_unix
from kassa.services import dunning
from kassa.store import models as m

pytestmark = pytest.mark.postgres_only

CUSTOMERS = 12


def test_two_workers_suspend_each_subscription_once(api: TestClient, kassa: Kassa) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    strict = ok(api.post("/v1/dunning_policies", json={"name": "S", "suspend_after_days": 2,
                                                       "retry_schedule": [30]}))
    price = create_price(api)["id"]
    for index in range(CUSTOMERS):
        customer = create_customer(api, test_clock=clock["id"], email=f"c{index}@example.com",
                                   dunning_policy=strict["id"])
        ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                                 "token": "pm_card_chargeDeclined"}))
        subscribe(api, customer["id"], price)
    # Move the clock without running the pass, then let two workers race for it.
    with kassa.uow() as uow:
        row = uow.session.get(m.TestClock, clock["id"])
        assert row is not None
        row.frozen_time = from_unix(ts(2026, 3, 4, 9))
        uow.commit()
    start = threading.Barrier(2)
    looked = [0, 0]

    def worker(slot: int) -> None:
        start.wait()
        looked[slot] = dunning.run_due(kassa.session_factory, kassa.clock,
                                       from_unix(ts(2026, 3, 4, 9)), test_clock_id=clock["id"])

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    with kassa.uow() as uow:
        cases = list(uow.session.query(m.DunningCase))
        mails = Counter(uow.session.scalars(
            m.EmailMessage.__table__.select().with_only_columns(m.EmailMessage.kind)))
        suspended = uow.session.query(m.Subscription).filter(
            m.Subscription.suspended_at.is_not(None)).count()
    assert len(cases) == CUSTOMERS
    assert [sum(step["type"] == "suspended" for step in case.steps) for case in cases] == \
        [1] * CUSTOMERS
    assert mails["service_suspended"] == CUSTOMERS and suspended == CUSTOMERS
    advance(api, clock["id"], ts(2026, 3, 4, 10))  # nothing left to do twice
    with kassa.uow() as uow:
        assert uow.session.query(m.EmailMessage).filter_by(
            kind="service_suspended").count() == CUSTOMERS
