"""The billing run in bounded batches: planned once, claimed with a lease, taken over when a
worker dies, every customer billed once; a batch that fails is billed customer by customer.
A batch gives its invoices' numbers out as it issues them and takes them from the series only
when it writes: every row built from an invoice carries its number, and the series is not
locked before."""

from __future__ import annotations

import gc
import re
import weakref
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, inspect, select, text

from kassa.config import Kassa
from kassa.jobs import billing as jobs
from kassa.services import (
    billing,
    catalog,
    customers,
    invoices,
    ledger,
    organizations,
    prefetch,
    subscriptions,
)
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
    collections wait for the end of a batch; each batch's cyclic garbage (an invoice and
    its lines refer to each other) is collected before the next batch starts, and
    afterwards the collector is as it was."""
    kassa = small_batches
    _portfolio(kassa, org.organization.id, 4)
    clock.move_to(clock.now() + relativedelta(months=1))
    before = gc.get_threshold()
    during: list[tuple[tuple[int, ...], int]] = []
    cycles: list[weakref.ref[m.Invoice]] = []
    left_over: list[int] = []
    bill = jobs.bill_batch

    def watched(*args, **kwargs):
        during.append((gc.get_threshold(), gc.get_freeze_count()))
        left_over.append(sum(ref() is not None for ref in cycles))
        invoice = m.Invoice(id=f"in_cycle{len(cycles)}", lines=[m.InvoiceLine(id="il_cycle")])
        cycles.append(weakref.ref(invoice))
        del invoice
        assert cycles[-1]() is not None  # a cycle: reference counting alone does not free it
        return bill(*args, **kwargs)

    monkeypatch.setattr(jobs, "bill_batch", watched)
    assert jobs.run(kassa, wall=Wall()).invoices == 4
    assert len(during) == 2
    assert all(threshold[0] >= 1000 * before[0] and frozen > 0 for threshold, frozen in during)
    assert left_over == [0, 0]  # the first batch's cycle was gone when the second began
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


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


STAND_IN = "\ue000"


def _issued(kassa, ids):
    """Per customer, in customer order: the renewal's number, its `invoice.finalized`
    event's number, its e-mail's subject and attachment, and its journal entry's text."""
    with kassa.uow() as uow:
        session = uow.session
        out = []
        for customer_id in sorted(ids):
            invoice = session.scalars(select(m.Invoice).where(
                m.Invoice.customer_id == customer_id, m.Invoice.status == "open")
                .order_by(m.Invoice.created.desc())).first()
            event = session.scalars(select(m.Event).where(
                m.Event.object_id == invoice.id, m.Event.type == "invoice.finalized")).one()
            email = session.scalars(select(m.EmailMessage).where(
                m.EmailMessage.dedupe_key == f"invoice_issued:{invoice.id}")).one()
            entry = session.scalars(select(m.JournalEntry).where(
                m.JournalEntry.source_id == invoice.id,
                m.JournalEntry.kind == "invoice.finalized")).one()
            out.append((invoice.number, event.data["object"]["number"], email.subject,
                        email.text_body, email.attachments[0]["filename"], entry.description))
        return out


def _no_stand_in_stored(kassa) -> None:
    with kassa.uow() as uow:
        for model, column in ((m.Event, "data"), (m.EmailMessage, "subject"),
                              (m.EmailMessage, "text_body"), (m.EmailMessage, "html_body"),
                              (m.EmailMessage, "attachments"), (m.JournalEntry, "description"),
                              (m.Invoice, "number")):
            values = uow.session.scalars(select(getattr(model, column))).all()
            assert not [v for v in values if STAND_IN in str(v)], (model.__name__, column)


@pytest.mark.parametrize("flush_midway", [False, True])
def test_every_row_built_from_an_invoice_carries_its_number(kassa, org, clock, monkeypatch,
                                                           flush_midway):
    """Without a flush, the numbers are taken when the batch writes its new invoices; with a
    flush between two customers' issuing (a query that autoflushes), the numbers given so
    far are taken then, and the rest when the batch writes. Either way every number is in
    its place, consecutive in the customers' order."""
    ids = _portfolio(kassa, org.organization.id, 4)
    renewal = clock.now() + relativedelta(months=1)
    clock.move_to(renewal)
    original = billing._Customer.issue
    taken_at: list[int] = []

    def issue(step: billing._Customer) -> None:
        original(step)
        batch = prefetch.of(step.uow.session)
        assert batch is not None
        [invoice] = step.drafts
        assert invoice.number.startswith(STAND_IN)  # given out, not yet taken
        # A row whose JSON has the number twice, deep inside, next to an integer beyond 64
        # bits (which the fast serializer refuses): both numbers put in, the integer exact.
        batch.insert(m.Event, dict(
            id=f"evt_deep_{invoice.id}", org_id=invoice.org_id, type="test.deep",
            object_id=invoice.id, created=step.now, data={"object": {
                "id": invoice.id, "big": 2**70 + 1, "refs": [{"n": invoice.number}],
                "text": f"{invoice.number} and {invoice.number}"}}))
        if flush_midway and len(taken_at) == 1:
            step.uow.session.flush()
            assert not invoice.number.startswith(STAND_IN)
        taken_at.append(batch.given)

    monkeypatch.setattr(billing._Customer, "issue", issue)
    with kassa.uow() as uow:
        before = uow.session.scalar(select(m.InvoiceSequence.next_number))
        done = billing.process_customers(uow, ids, renewal)
        uow.commit()
    assert done.finalized == 4 and taken_at == [1, 2, 3, 4]

    issued = _issued(kassa, ids)
    numbers = [row[0] for row in issued]
    prefix = org.organization.invoice_prefix
    assert numbers == [f"{prefix}-{n:06d}" for n in range(before, before + 4)]
    for number, in_event, subject, body, attachment, entry in issued:
        assert in_event == number
        assert subject == f"Invoice {number} from {org.organization.name}"
        assert f"has sent you invoice {number} for €25.00." in body
        assert attachment == f"{number}.pdf"
        assert entry == f"Invoice {number}"
    _no_stand_in_stored(kassa)
    with kassa.uow() as uow:
        assert uow.session.scalar(select(m.InvoiceSequence.next_number)) == before + 4
        deep = {event.object_id: event.data["object"] for event in uow.session.scalars(
            select(m.Event).where(m.Event.type == "test.deep"))}
        by_number = {invoice.number: invoice.id for invoice in uow.session.scalars(
            select(m.Invoice).where(m.Invoice.number.in_(numbers)))}
    assert len(deep) == 4
    for number in numbers:
        payload = deep[by_number[number]]
        assert payload["big"] == 2**70 + 1
        assert payload["refs"] == [{"n": number}]
        assert payload["text"] == f"{number} and {number}"


@pytest.mark.parametrize("where", ["customer", "subscription"])
def test_a_stand_in_in_a_row_the_batch_did_not_gather_fails_the_batch(kassa, org, clock,
                                                                      monkeypatch, where):
    """Only the rows the batch gathered get the numbers put in. A stand-in copied anywhere
    else (a customer's metadata, flushed by the unit of work; a subscription's, which the
    batch updates itself) is refused instead of being written."""
    ids = _portfolio(kassa, org.organization.id, 2)
    renewal = clock.now() + relativedelta(months=1)
    clock.move_to(renewal)
    original = billing._Customer.issue

    def issue(step: billing._Customer) -> None:
        original(step)
        changed = step.customer if where == "customer" else step.subs[0]
        changed.metadata_ = {"last": {"invoice": f"Invoice {step.drafts[0].number}"}}

    monkeypatch.setattr(billing._Customer, "issue", issue)
    with kassa.uow() as uow, pytest.raises(RuntimeError, match="stand-in for an invoice"):
        billing.process_customers(uow, ids, renewal)
        uow.commit()
    with kassa.uow() as uow:  # nothing of the batch was written: the first invoices only
        assert sorted(uow.session.scalars(select(m.Invoice.number))) == [
            "ACME-000001", "ACME-000002"]
        assert uow.session.scalar(select(m.InvoiceSequence.next_number)) == 3


@pytest.mark.postgres_only
def test_the_series_is_free_until_the_batch_writes(kassa, org, clock, monkeypatch):
    """While a batch issues and posts its invoices, another transaction takes a number of
    the same series without waiting (it would time out if the series were locked); the
    batch's invoices then follow that number, gapless."""
    ids = _portfolio(kassa, org.organization.id, 3)
    renewal = clock.now() + relativedelta(months=1)
    clock.move_to(renewal)
    organization = org.organization
    post = ledger.post
    elsewhere: list[str] = []

    def post_and_number_elsewhere(session, rows):
        batch = prefetch.of(session)
        assert batch is not None and batch.unnumbered  # issued: numbers given, not taken
        with kassa.uow() as other:
            other.session.execute(text("SET LOCAL lock_timeout = '2s'"))
            row = other.session.get(m.Organization, organization.id)
            elsewhere.append(invoices.next_number(other, row, renewal))
            other.commit()
        return post(session, rows)

    monkeypatch.setattr(ledger, "post", post_and_number_elsewhere)
    with kassa.uow() as uow:
        done = billing.process_customers(uow, ids, renewal)
        uow.commit()
    assert done.finalized == 3
    [taken] = elsewhere
    first = int(re.sub(r"\D", "", taken))
    numbers = [row[0] for row in _issued(kassa, ids)]
    assert numbers == [f"{organization.invoice_prefix}-{n:06d}"
                       for n in range(first + 1, first + 4)]
    _no_stand_in_stored(kassa)
