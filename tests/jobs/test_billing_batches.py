"""The billing run in bounded batches: planned once, claimed with a lease, taken over when a
worker dies, every customer billed once; a batch that fails is billed customer by customer."""

from __future__ import annotations

import gc
import weakref
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, inspect, select

from kassa.config import Kassa
from kassa.jobs import billing as jobs
from kassa.services import billing, catalog, customers, organizations, prefetch, subscriptions
from kassa.store import models as m


class Wall:
    """A hand-moved wall clock for leases."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _portfolio(kassa: Kassa, org_id: str, count: int) -> list[str]:
    """`count` customers with a monthly subscription each; renewals are finalized at once."""
    with kassa.uow() as uow:
        organizations.update_organization(uow, org_id, {"draft_grace_seconds": 0})
    with kassa.uow() as uow:
        price = catalog.create_price(uow, org_id, product_data={"name": "Plan"},
                                     currency="eur", unit_amount=2500,
                                     recurring={"interval": "month"})
    ids = []
    for index in range(count):
        with kassa.uow() as uow:
            customer = customers.create_customer(uow, org_id, name=f"Customer {index}",
                                                 email=f"c{index}@example.com")
            subscriptions.create_subscription(uow, org_id, customer=customer.id,
                                              items=[{"price": price.id}],
                                              collection_method="send_invoice")
            ids.append(customer.id)
    return ids


@pytest.fixture
def small_batches(kassa: Kassa) -> Kassa:
    return Kassa(replace(kassa.settings, billing_batch_size=3, billing_lease_seconds=60),
                 clock=kassa.clock)


def test_split_bounds_customers_and_subscriptions_and_isolates_a_huge_customer():
    weights = [("a", 1), ("b", 1), ("c", 1), ("huge", 5_000), ("d", 2), ("e", 1)]
    assert jobs.split(weights, customers=2, subscriptions=10) == [
        ["a", "b"], ["c"], ["huge"], ["d", "e"]]
    assert jobs.split([("a", 4), ("b", 4), ("c", 4)], customers=10, subscriptions=10) == [
        ["a", "b"], ["c"]]
    assert jobs.split([], customers=5) == []


def test_a_run_is_planned_once_and_a_dead_workers_batch_is_taken_over(small_batches, org,
                                                                        clock):
    kassa = small_batches
    ids = _portfolio(kassa, org.organization.id, 8)
    renewal = clock.now() + relativedelta(months=1)
    clock.move_to(renewal)
    wall = Wall()

    assert jobs.plan(kassa, renewal, wall=wall) == renewal
    assert jobs.plan(kassa, renewal + timedelta(hours=1), wall=wall) == renewal  # joins it
    with kassa.uow() as uow:
        planned = uow.session.scalars(select(m.BillingBatch.customer_ids)
                                      .order_by(m.BillingBatch.seq)).all()
    assert [len(batch) for batch in planned] == [3, 3, 2]
    assert sorted(cid for batch in planned for cid in batch) == sorted(ids)

    # Worker A takes the first batch and dies; B takes the second, not A's.
    first = jobs.claim(kassa, "host-a:1", wall=wall)
    second = jobs.claim(kassa, "host-b:1", wall=wall)
    assert first is not None and second is not None
    assert first.batch_id != second.batch_id and first.customer_ids == planned[0]

    # B works while A's lease holds: it bills everything else and leaves A's batch alone.
    done = jobs.work(Kassa(replace(kassa.settings, worker_name="host-b:1"), clock=clock),
                     wall=wall)
    assert done.batches == 1 and done.customers == 2  # the third batch
    left, lease = jobs.unfinished(kassa)
    assert left == 2 and lease == wall.now + timedelta(seconds=60)

    # The lease runs out: the next worker takes A's batch over (a second attempt).
    wall.now += timedelta(seconds=61)
    taken = jobs.claim(kassa, "host-c:1", wall=wall)
    assert taken is not None and taken.batch_id in (first.batch_id, second.batch_id)
    assert taken.attempt == 2

    # Waiting for the run to end finishes both held batches once their leases run out.
    wall.now += timedelta(seconds=61)
    rest = jobs.work(kassa, wait=True, wall=wall)
    assert rest.batches == 2 and rest.customers == 6
    assert jobs.unfinished(kassa) == (0, None)
    with kassa.uow() as uow:
        periods = Counter(uow.session.execute(select(
            m.BilledPeriod.subscription_id, m.BilledPeriod.period_start)).all())
        numbers = uow.session.scalars(select(m.Invoice.number).where(
            m.Invoice.billing_reason == "subscription_cycle", m.Invoice.status == "open")).all()
        workers = dict(uow.session.execute(select(m.BillingBatch.seq,
                                                  m.BillingBatch.claimed_by)).all())
    assert max(periods.values()) == 1 and len(periods) == 16  # 8 first + 8 renewals, once
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(9, 17))  # gapless
    assert workers[2] == "host-b:1"
    # The run is done: the next plan at the same instant finds nothing due.
    assert jobs.plan(kassa, renewal, wall=wall) is None


def test_a_failing_customer_is_billed_alone_and_stays_due(small_batches, org, clock,
                                                          monkeypatch):
    kassa = small_batches
    ids = _portfolio(kassa, org.organization.id, 3)
    clock.move_to(clock.now() + relativedelta(months=1))
    broken = ids[1]
    original = billing.bill_customer

    def bill_customer(uow, org_row, customer, now, subs=None):
        if customer.id == broken:
            raise RuntimeError("a corrupt record")
        return original(uow, org_row, customer, now, subs)

    monkeypatch.setattr(billing, "bill_customer", bill_customer)
    result = jobs.run(kassa, wall=Wall())
    assert (result.customers, result.failed, result.invoices, result.finalized) == (2, 1, 2, 2)
    with kassa.uow() as uow:
        assert billing.due_customer_ids(uow, clock.now()) == [broken]  # left for next run
        done = uow.session.execute(select(m.BillingBatch.status,
                                          m.BillingBatch.customers_failed)).all()
    assert done == [("done", 1)]


def test_run_billing_in_process_bills_in_batches(small_batches, org, clock):
    kassa = small_batches
    _portfolio(kassa, org.organization.id, 7)
    clock.move_to(clock.now() + relativedelta(months=1))
    seen: list[int] = []
    result = jobs.run_billing(kassa, progress=seen.append)
    assert seen == [3, 3, 1]
    assert (result.customers, result.invoices, result.finalized) == (7, 7, 7)
    assert jobs.run_billing(kassa).customers == 0  # nothing left: idempotent


def test_batches_are_billed_with_few_collections_and_the_collector_is_restored_after(
        small_batches, org, clock, monkeypatch):
    """While a worker bills, what existed before is set aside from collection and young
    collections are rarer; afterwards the collector is as it was, and the batches' cyclic
    garbage (an invoice and its lines refer to each other) is still collected."""
    kassa = small_batches
    _portfolio(kassa, org.organization.id, 4)
    clock.move_to(clock.now() + relativedelta(months=1))
    before = gc.get_threshold()
    during: list[tuple[tuple[int, ...], int]] = []
    bill = jobs.bill_batch

    def watched(*args, **kwargs):
        during.append((gc.get_threshold(), gc.get_freeze_count()))
        return bill(*args, **kwargs)

    monkeypatch.setattr(jobs, "bill_batch", watched)
    assert jobs.run(kassa, wall=Wall()).invoices == 4
    assert len(during) == 2
    assert all(threshold[0] >= 10 * before[0] and frozen > 0 for threshold, frozen in during)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0

    with jobs._few_collections():
        invoice = m.Invoice(id="in_cycle", lines=[m.InvoiceLine(id="il_cycle")])
        gone = weakref.ref(invoice)
        del invoice
        assert gone() is not None  # a cycle: reference counting alone does not free it
        gc.collect(1)  # a young collection, as the raised thresholds still run
        assert gone() is None


@pytest.mark.postgres_only
def test_a_batch_taken_over_from_a_live_holder_waits_for_it_and_bills_everyone(
        small_batches, org, clock):
    """Worker A's lease runs out while it still holds its customers (it is slow, not dead);
    B takes the batch over. B must not skip A's customers and call the batch done: it waits
    for A's transaction, and when A dies (rolls back), B bills them all."""
    import threading

    kassa = small_batches
    ids = _portfolio(kassa, org.organization.id, 3)
    renewal = clock.now() + relativedelta(months=1)
    clock.move_to(renewal)
    wall = Wall()
    jobs.plan(kassa, renewal, wall=wall)
    taken = jobs.claim(kassa, "host-a:1", wall=wall)
    assert taken is not None and sorted(taken.customer_ids) == sorted(ids)
    holder = kassa.uow()
    holder.__enter__()
    billing.process_customers(holder, ids, renewal, skip_locked=True)  # locked, uncommitted
    wall.now += timedelta(seconds=61)
    outcome: list[jobs.RunResult] = []
    taker = threading.Thread(target=lambda: outcome.append(jobs.work(
        Kassa(replace(kassa.settings, worker_name="host-b:1"), clock=clock), wall=wall)))
    taker.start()
    taker.join(timeout=2)
    assert taker.is_alive()  # B waits for A's customers instead of skipping them
    holder.__exit__(None, None, None)  # A dies: its transaction rolls back
    taker.join(timeout=60)
    [result] = outcome
    assert (result.customers, result.skipped, result.finalized) == (3, 0, 3)
    with kassa.uow() as uow:
        assert billing.due_customer_ids(uow, renewal) == []
        row = uow.session.execute(select(m.BillingBatch.status, m.BillingBatch.claimed_by,
                                         m.BillingBatch.customers_billed)).one()
    assert tuple(row) == ("done", "host-b:1", 3)


def _stored(kassa: Kassa) -> list[tuple]:
    """The invoices, their lines, billed periods and journal entries as stored."""
    with kassa.uow() as uow:
        invoices = list(uow.session.scalars(select(m.Invoice).order_by(m.Invoice.number)))
        periods = Counter(uow.session.scalars(select(m.BilledPeriod.invoice_id)))
        entries = Counter(uow.session.execute(select(m.JournalEntry.source_id,
                                                     m.JournalEntry.kind)).all())
        return [(invoice.number, invoice.status, invoice.total, invoice.amount_due,
                 invoice.attempt_count, invoice.paid_out_of_band, invoice.metadata_,
                 [(line.position, line.amount, line.invoice_id == invoice.id)
                  for line in invoice.lines], periods[invoice.id],
                 entries[invoice.id, "invoice.finalized"]) for invoice in invoices]


@pytest.mark.parametrize("flush_midway", [False, True])
def test_a_batch_writes_each_new_invoice_once_and_a_flush_midway_changes_nothing(
        kassa, org, clock, monkeypatch, flush_midway):
    """A batch keeps the invoices it creates out of the unit of work and writes them in bulk
    at its end, as they are then (issued). A flush before that (a query that autoflushes)
    takes them into the unit of work instead: stored alike, each posted to the journal once."""
    ids = _portfolio(kassa, org.organization.id, 3)
    renewal = clock.now() + relativedelta(months=1)
    clock.move_to(renewal)
    with kassa.uow() as uow:
        before = set(uow.session.scalars(select(m.Invoice.id)))
    original = billing._Customer.issue
    fresh_seen: list[int] = []

    def issue(step: billing._Customer) -> None:
        batch = prefetch.of(step.uow.session)
        assert batch is not None
        fresh_seen.append(len(batch.fresh))
        if flush_midway:
            step.uow.session.flush()
            assert not batch.fresh  # joined the unit of work, and stored now
            assert all(inspect(i).persistent for d in batch.drafts.values() for i in d)
        original(step)

    monkeypatch.setattr(billing._Customer, "issue", issue)
    with kassa.uow() as uow:
        done = billing.process_customers(uow, ids, renewal)
        uow.commit()
    assert (len(done.billed), done.invoiced, done.finalized) == (3, 3, 3)
    assert fresh_seen[0] == 3  # all three were fresh: out of the session until written
    stored = [row for row in _stored(kassa) if row[0] is not None]
    renewals = stored[-3:]
    assert len({row[0] for row in renewals}) == 3
    for _number, status, total, due, attempts, oob, metadata, lines, periods, posted \
            in renewals:
        assert (status, total, due, attempts, oob, metadata) == ("open", 2500, 2500, 0,
                                                                 False, {})
        assert lines == [(0, 2500, True)]
        assert (periods, posted) == (1, 1)
    with kassa.uow() as uow:
        after = set(uow.session.scalars(select(m.Invoice.id)))
        drafts = uow.session.scalar(select(func.count()).select_from(m.Invoice).where(
            m.Invoice.id.in_(after - before), m.Invoice.status == "draft"))
    assert len(after - before) == 3 and drafts == 0
