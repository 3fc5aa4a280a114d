"""A month closed while something dated in it is being posted, on PostgreSQL: the posting
waits for the close and is then refused, so nothing lands in a closed month."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import pytest

from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from kassa.core.ids import new_id
from kassa.services import accounting
from kassa.services.ledger import PeriodClosed
from kassa.services.organizations import NewOrganization
from kassa.store import models as m

pytestmark = pytest.mark.postgres_only


def test_a_posting_waits_for_a_close_of_its_month_and_is_then_refused(
        kassa: Kassa, org: NewOrganization, clock: FrozenClock) -> None:
    org_id = org.organization.id
    clock.move_to(datetime(2026, 2, 3, 9, tzinfo=UTC))
    outcome: list[object] = []

    def payout() -> None:
        try:
            with kassa.uow() as uow:
                accounting.record_payout(uow, org_id, gateway="stripe", reference="po_race",
                                         amount=1000, currency="eur",
                                         arrival_date=date(2026, 1, 31))
            outcome.append("posted")
        except PeriodClosed as error:
            outcome.append(error)

    with kassa.uow() as closing:  # a close under way: the row taken, the month not committed
        closing.session.get(m.Organization, org_id, with_for_update=True)
        closing.session.add(m.LedgerPeriod(id=new_id("lp"), org_id=org_id, period="2026-01",
                                           closed_at=clock.now(), closed_by=None))
        closing.session.flush()
        racer = threading.Thread(target=payout)
        racer.start()
        time.sleep(0.5)
        assert racer.is_alive() and outcome == []  # waiting for the close
        closing.commit()
    racer.join(timeout=10)
    assert len(outcome) == 1 and isinstance(outcome[0], PeriodClosed)
    with kassa.uow() as uow:
        assert uow.session.query(m.Payout).count() == 0
        assert uow.session.query(m.JournalEntry).filter_by(kind="payout.paid").count() == 0


def test_two_postings_do_not_wait_for_each_other(
        kassa: Kassa, org: NewOrganization, clock: FrozenClock) -> None:
    """The posting lock is shared: a posting while another one's transaction is still open
    (two billing workers, say) goes through at once instead of queueing until it commits."""
    org_id = org.organization.id
    clock.move_to(datetime(2026, 2, 3, 9, tzinfo=UTC))
    outcome: list[object] = []

    def payout(reference: str) -> None:
        with kassa.uow() as uow:
            accounting.record_payout(uow, org_id, gateway="stripe", reference=reference,
                                     amount=1000, currency="eur",
                                     arrival_date=date(2026, 2, 2))
        outcome.append(reference)

    payout("po_chart")  # the first posting makes the chart of accounts
    outcome.clear()
    with kassa.uow() as first:  # a posting under way, its transaction open
        first.session.add(m.Payout(
            id=new_id("po"), org_id=org_id, gateway="stripe", reference="po_first", amount=500,
            fee=0, currency="eur", bank_amount=500, bank_currency="eur",
            arrival_date=date(2026, 2, 2), metadata_={}, created=clock.now()))
        first.session.flush()  # posted, the lock taken
        assert first.session.query(m.JournalEntry).filter_by(kind="payout.paid").count() == 2
        second = threading.Thread(target=payout, args=("po_second",))
        second.start()
        second.join(timeout=5)
        assert outcome == ["po_second"]  # committed while the first still holds its lock
        first.commit()
    with kassa.uow() as uow:
        assert uow.session.query(m.JournalEntry).filter_by(kind="payout.paid").count() == 3
