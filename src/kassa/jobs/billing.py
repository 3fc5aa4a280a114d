"""The billing run: everything due (renewals, finalizations, trial ends, cancellations, due
dates), in bounded batches of customers, each batch in one transaction.

A run is planned once (`plan`): the customers with work due by its instant are split into
`billing_batches` rows of at most `billing_batch_size` customers, and at most
`BATCH_SUBSCRIPTIONS` subscriptions, so a customer with thousands of subscriptions gets a
batch of its own and never holds up the rest. Any number of workers, on any number of
machines sharing the database, then take batches (`work`): a batch is claimed with SKIP
LOCKED and a lease; a worker that dies or hangs loses its batch when the lease runs out, and
another worker bills it. Billing twice is harmless by construction (the customers' rows are
locked while billed, billed periods are unique), so a batch taken over never double-bills.

A batch that fails as a whole is billed again customer by customer, each in its own
transaction, so one bad record never holds up billing day: that customer is logged and left
due for the next run. Billing calls no gateway: charging the invoices is the payments job's.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text, update

from kassa.config import Kassa
from kassa.services import billing
from kassa.store import models as m
from kassa.store.db import is_postgres

log = logging.getLogger("kassa.jobs")

BATCH_SUBSCRIPTIONS = 2_000
KEEP_DONE = timedelta(days=7)
_PLAN_LOCK = 0x6B617373  # the advisory lock that makes planning a run one worker's job

Wall = Callable[[], datetime]


def wall_clock() -> datetime:
    """Leases are timed by the machines' real clock, never by a test clock."""
    return datetime.now(UTC)


@dataclass
class RunResult:
    customers: int = 0
    skipped: int = 0
    failed: int = 0
    invoices: int = 0  # created (or added to)
    finalized: int = 0
    batches: int = 0
    batch_ids: list[int] = field(default_factory=list)
    billed: set[str] = field(default_factory=set)
    failed_ids: set[str] = field(default_factory=set)

    def add(self, other: RunResult) -> None:
        self.customers += other.customers
        self.skipped += other.skipped
        self.failed += other.failed
        self.invoices += other.invoices
        self.finalized += other.finalized
        self.batches += other.batches
        self.batch_ids.extend(other.batch_ids)
        self.billed |= other.billed
        self.failed_ids |= other.failed_ids


def due_customers(kassa: Kassa, now: datetime, *, limit: int = 10_000_000) -> list[str]:
    """Every customer on real time with work due by `now`."""
    return billing.all_due_customer_ids(kassa.session_factory, kassa.clock, now, limit=limit)


def bill_batch(kassa: Kassa, customer_ids: Sequence[str], now: datetime) -> RunResult:
    """Bill the customers at `now` in one transaction. Customers another transaction holds
    (a worker still billing a batch taken over from it, a change through the API) are
    skipped at first, then billed in a second pass that waits for them: by then their
    holder has committed (and nothing is left to do) or died (and its locks are gone), so
    no customer of the batch is left unbilled. If a pass fails, its customers are billed one
    by one instead, and a customer that fails then is logged and left due."""
    skip_locked = not kassa.settings.is_sqlite
    result = _pass(kassa, customer_ids, now, skip_locked=skip_locked)
    if result.skipped:
        held = [cid for cid in customer_ids
                if cid not in result.billed and cid not in result.failed_ids]
        result.skipped = 0  # all but customers gone (deleted) since the plan are billed now
        result.add(_pass(kassa, held, now, skip_locked=False))
    return result


def _pass(kassa: Kassa, customer_ids: Sequence[str], now: datetime, *,
          skip_locked: bool) -> RunResult:
    try:
        with kassa.uow() as uow:
            done = billing.process_customers(uow, customer_ids, now, skip_locked=skip_locked)
            uow.commit()
    except Exception:
        log.warning("billing batch of %d customers failed; billing them one by one",
                    len(customer_ids), exc_info=True)
        return bill_customers(kassa, customer_ids, now, wait=not skip_locked)
    return RunResult(customers=len(done.billed), skipped=len(customer_ids) - len(done.billed),
                     invoices=done.invoiced, finalized=done.finalized,
                     billed=set(done.billed))


def bill_customers(kassa: Kassa, customer_ids: Sequence[str], now: datetime,
                   progress: Callable[[int], None] | None = None, *,
                   wait: bool = False) -> RunResult:
    """Process the given customers at `now`, each in its own transaction; one another
    transaction holds is skipped, unless `wait`."""
    result = RunResult()
    skip_locked = not kassa.settings.is_sqlite and not wait
    for customer_id in customer_ids:
        try:
            with kassa.uow() as uow:
                done = billing.process_customers(uow, [customer_id], now,
                                                 skip_locked=skip_locked, batched=False)
                uow.commit()
        except Exception:
            log.exception("billing customer %s failed; it stays due", customer_id)
            result.failed += 1
            result.failed_ids.add(customer_id)
        else:
            result.customers += len(done.billed)
            result.billed.update(done.billed)
            result.skipped += 1 - len(done.billed)
            result.invoices += done.invoiced
            result.finalized += done.finalized
        if progress:
            progress(1)
    return result


def run_billing(kassa: Kassa, now: datetime | None = None,
                progress: Callable[[int], None] | None = None) -> RunResult:
    """One whole billing run at `now` (default: the clock's now) in this process, batch by
    batch, without recording batches (the embedded scheduler's run)."""
    at = now or kassa.clock.now()
    ids = due_customers(kassa, at)
    result = RunResult()
    size = kassa.settings.billing_batch_size
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        result.add(bill_batch(kassa, chunk, at))
        if progress:
            progress(len(chunk))
    return result


# --- runs shared by many workers -----------------------------------------------------------

def split(weights: Sequence[tuple[str, int]], customers: int,
          subscriptions: int = BATCH_SUBSCRIPTIONS) -> list[list[str]]:
    """Customers (with how many subscriptions each bills) in order, cut into batches of at
    most `customers` customers and `subscriptions` subscriptions; a customer bigger than
    that gets a batch of its own."""
    batches: list[list[str]] = []
    current: list[str] = []
    load = 0
    for customer_id, weight in weights:
        if current and (len(current) >= customers or load + weight > subscriptions):
            batches.append(current)
            current, load = [], 0
        current.append(customer_id)
        load += weight
    if current:
        batches.append(current)
    return batches


def plan(kassa: Kassa, at: datetime, *, wall: Wall = wall_clock) -> datetime | None:
    """Plan a run at `at`, or join the run not yet finished; returns the run's instant
    (None: nothing is due). One worker plans at a time (an advisory lock on PostgreSQL)."""
    with kassa.uow() as uow:
        session = uow.session
        if is_postgres(session):
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PLAN_LOCK})
        unfinished = session.scalar(select(func.min(m.BillingBatch.run_at))
                                    .where(m.BillingBatch.status == "pending"))
        if unfinished is not None:
            return unfinished
        # Done batches are kept a while to show who did what, then let go.
        session.execute(delete(m.BillingBatch).where(
            m.BillingBatch.status == "done", m.BillingBatch.finished_at < wall() - KEEP_DONE))
        ids = billing.due_customer_ids(uow, at, limit=10_000_000)
        if not ids:
            return None
        counts = dict(session.execute(
            select(m.Subscription.customer_id, func.count()).join(
                m.Customer, m.Customer.id == m.Subscription.customer_id).where(
                m.Subscription.next_action_at <= at, m.Customer.test_clock_id.is_(None))
            .group_by(m.Subscription.customer_id)).all())
        batches = split([(cid, max(counts.get(cid, 0), 1)) for cid in ids],
                        kassa.settings.billing_batch_size)
        created = wall()
        session.execute(m.BillingBatch.__table__.insert(), [
            {"run_at": at, "seq": seq, "customer_ids": chunk,
             "subscriptions": sum(max(counts.get(cid, 0), 1) for cid in chunk),
             "status": "pending", "attempts": 0, "created": created, "customers_billed": 0,
             "customers_skipped": 0, "customers_failed": 0, "invoices": 0}
            for seq, chunk in enumerate(batches)])
        uow.commit()
        return at


@dataclass(frozen=True)
class Claim:
    batch_id: int
    run_at: datetime
    customer_ids: list[str]
    attempt: int


def claim(kassa: Kassa, worker: str, *, wall: Wall = wall_clock) -> Claim | None:
    """Take the next batch nobody holds: pending and never claimed, or whose lease ran out."""
    now = wall()
    with kassa.uow() as uow:
        session = uow.session
        batch = session.scalars(
            select(m.BillingBatch).where(
                m.BillingBatch.status == "pending",
                (m.BillingBatch.lease_until.is_(None)) | (m.BillingBatch.lease_until < now))
            .order_by(m.BillingBatch.run_at, m.BillingBatch.seq).limit(1)
            .with_for_update(skip_locked=True)).first()
        if batch is None:
            return None
        if batch.attempts:
            log.warning("billing batch %s (run %s) taken over from %s after its lease ran out",
                        batch.id, batch.run_at.isoformat(), batch.claimed_by)
        batch.attempts += 1
        batch.claimed_by = worker[:200]
        batch.lease_until = now + timedelta(seconds=kassa.settings.billing_lease_seconds)
        if is_postgres(session):
            batch.client_addr = session.scalar(text("SELECT host(inet_client_addr())"))
        result = Claim(batch.id, batch.run_at, list(batch.customer_ids), batch.attempts)
        uow.commit()
        return result


def _finish(kassa: Kassa, taken: Claim, result: RunResult, *, wall: Wall) -> None:
    with kassa.uow() as uow:
        uow.session.execute(update(m.BillingBatch).where(
            m.BillingBatch.id == taken.batch_id, m.BillingBatch.status == "pending").values(
            status="done", finished_at=wall(), customers_billed=result.customers,
            customers_skipped=result.skipped, customers_failed=result.failed,
            invoices=result.invoices))
        uow.commit()


def unfinished(kassa: Kassa) -> tuple[int, datetime | None]:
    """How many batches are not done, and when the first lease held on them runs out."""
    with kassa.uow() as uow:
        count, lease = uow.session.execute(
            select(func.count(), func.min(m.BillingBatch.lease_until))
            .where(m.BillingBatch.status == "pending")).one()
    return int(count), lease


def worker_name(kassa: Kassa) -> str:
    return kassa.settings.worker_name or f"{socket.gethostname()}:{os.getpid()}"


# How often a worker with nothing left to take looks whether the run is done: a second
# would keep it (and whoever waits for it: the `kassa bill` command) up to a second after
# the last batch; a tenth costs a query a tenth of a second, during the run's last batches.
_POLL = 0.1


def work(kassa: Kassa, *, wait: bool = False, wall: Wall = wall_clock,
         progress: Callable[[int], None] | None = None) -> RunResult:
    """Bill batches until none is left to take. With `wait`, also wait for the batches other
    workers hold, taking over those whose lease runs out, until the run is done."""
    name = worker_name(kassa)
    result = RunResult()
    with _few_collections() as collect:
        while True:
            taken = claim(kassa, name, wall=wall)
            if taken is None:
                left, _ = unfinished(kassa)
                if not wait or not left:
                    return result
                time.sleep(_POLL)  # then claim again: a lease run out is taken over
                continue
            done = bill_batch(kassa, taken.customer_ids, taken.run_at)
            done.batches, done.batch_ids = 1, [taken.batch_id]
            _finish(kassa, taken, done, wall=wall)
            collect()
            result.add(done)
            if progress:
                progress(len(taken.customer_ids))


@contextmanager
def _few_collections() -> Iterator[Callable[[], None]]:
    """Billing with the cyclic garbage collector out of the way until a batch is done.

    A batch makes a few hundred thousand objects (ORM rows, their states, event payloads)
    that live until its commit; most are freed by reference counting then, the rest are
    cycles. At the default thresholds a collection started every 700 allocations and walked
    the batch's live objects again and again, the worker's modules too: 13% of a billing
    worker's time (5.0 of 32 s CPU for 20,000 subscriptions). Here what exists when billing
    starts is set aside (`gc.freeze`), and the caller collects once per batch, after its
    commit (`collect`), when the batch's objects are garbage rather than young survivors to
    be walked again: 0.26-0.28 s of collecting for those 20,000 against 0.9-1.4 s with a
    collection every 50,000 allocations, and 112 rather than 158 MB at the peak. A batch
    that allocates a million objects more than it frees is collected on the way all the
    same."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(1_000_000, 20, 20)
    try:
        yield lambda: gc.collect(1)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def run(kassa: Kassa, at: datetime | None = None, *, wall: Wall = wall_clock,
        progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Take part in the billing run at `at` (default: now) until it is done: plan it (or
    join the one under way; an older unfinished run is finished first), then bill batches
    alongside whichever other workers there are. `progress(done, total)` counts customers
    of the run that this worker billed."""
    at = at or kassa.clock.now()
    result = RunResult()
    while True:
        run_at = plan(kassa, at, wall=wall)
        if run_at is None:
            return result
        counter = _Progress(run_size(kassa, run_at), progress)
        result.add(work(kassa, wait=True, wall=wall, progress=counter.advance))
        if run_at >= at:
            return result


@dataclass
class _Progress:
    total: int
    report: Callable[[int, int], None] | None
    done: int = 0

    def advance(self, count: int) -> None:
        self.done += count
        if self.report:
            self.report(self.done, self.total)


def run_size(kassa: Kassa, run_at: datetime) -> int:
    """How many customers the run at `run_at` bills."""
    with kassa.uow() as uow:
        rows = uow.session.scalars(select(m.BillingBatch.customer_ids)
                                   .where(m.BillingBatch.run_at == run_at))
        return sum(len(ids) for ids in rows)
