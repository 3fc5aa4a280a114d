"""Procrastinate on PostgreSQL: any number of `kassa worker` processes share the queue.

Every minute one of them (procrastinate makes sure it is one) runs `billing_tick`, which
plans the billing run (jobs/billing.py: the due customers in bounded batches, in the
database) and enqueues `bill_batches` jobs, as many as there are batches up to
`BILLING_JOBS`; each job takes batches until none is left. A worker that dies holding a batch
loses it when its lease runs out, and the next tick's jobs take it over. Customers are locked
with SKIP LOCKED while being billed, and billed periods are unique in the database, so a
batch billed twice does no harm.

Every minute one worker also runs `deliver_emails`; outbox rows are taken with SKIP LOCKED,
so ticks that overlap never send a message twice. One runs `collect_payments`: the charges
due and the payments to check with their gateway (a charge is claimed under the customer's
lock, so ticks never charge twice). One runs `render_documents`, which stores the PDFs
of what was finalized since (a document is stored once: a second render of the same one is
refused by its unique row). And one runs `deliver_webhooks`: events are routed under SKIP
LOCKED and deliveries claimed with a lease, so overlapping ticks never POST one twice at once.
"""

from __future__ import annotations

from datetime import datetime

import procrastinate

from kassa.config import Kassa
from kassa.jobs import billing
from kassa.jobs.documents import render_documents
from kassa.jobs.emails import deliver_emails
from kassa.jobs.ledger import recognize_revenue
from kassa.jobs.payments import collect_payments
from kassa.jobs.webhooks import deliver_webhooks
from kassa.store.migrate import change_once

BILLING_JOBS = 32
QUEUE = "billing"
EMAIL_QUEUE = "emails"
DOCUMENT_QUEUE = "documents"
PAYMENT_QUEUE = "payments"
WEBHOOK_QUEUE = "webhooks"
QUEUES = (QUEUE, PAYMENT_QUEUE, EMAIL_QUEUE, DOCUMENT_QUEUE, WEBHOOK_QUEUE)


def conninfo(database_url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def build_app(kassa: Kassa) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=conninfo(kassa.settings.database_url)))

    @app.periodic(cron="* * * * *", periodic_id="billing")
    @app.task(name="kassa.billing_tick", queue=QUEUE, queueing_lock="billing_tick")
    def billing_tick(timestamp: int) -> int:
        return enqueue_billing(kassa, app, kassa.clock.now())

    @app.task(name="kassa.bill_batches", queue=QUEUE)
    def bill_batches() -> dict[str, int]:
        result = billing.work(kassa)
        return {"batches": result.batches, "customers": result.customers,
                "skipped": result.skipped, "failed": result.failed,
                "invoices": result.invoices}

    @app.periodic(cron="* * * * *", periodic_id="emails")
    @app.task(name="kassa.deliver_emails", queue=EMAIL_QUEUE, queueing_lock="deliver_emails")
    def deliver_emails_tick(timestamp: int) -> dict[str, int]:
        result = deliver_emails(kassa)
        return {"sent": result.sent, "retrying": result.retrying, "failed": result.failed}

    @app.periodic(cron="* * * * *", periodic_id="documents")
    @app.task(name="kassa.render_documents", queue=DOCUMENT_QUEUE,
              queueing_lock="render_documents")
    def render_documents_tick(timestamp: int) -> int:
        return render_documents(kassa)

    @app.periodic(cron="* * * * *", periodic_id="payments")
    @app.task(name="kassa.collect_payments", queue=PAYMENT_QUEUE,
              queueing_lock="collect_payments")
    def collect_payments_tick(timestamp: int) -> dict[str, int]:
        counts = collect_payments(kassa)
        return {"attempted": counts.attempted, "checked": counts.checked}

    @app.periodic(cron="* * * * *", periodic_id="webhooks")
    @app.task(name="kassa.deliver_webhooks", queue=WEBHOOK_QUEUE,
              queueing_lock="deliver_webhooks")
    def deliver_webhooks_tick(timestamp: int) -> dict[str, int]:
        counts = deliver_webhooks(kassa)
        return {"delivered": counts.delivered, "retrying": counts.retrying,
                "failed": counts.failed}

    @app.periodic(cron="7 * * * *", periodic_id="recognition")
    @app.task(name="kassa.recognize_revenue", queue=QUEUE, queueing_lock="recognize_revenue")
    def recognize_revenue_tick(timestamp: int) -> int:
        return recognize_revenue(kassa)

    return app


def enqueue_billing(kassa: Kassa, app: procrastinate.App, now: datetime) -> int:
    """Plan the billing run at `now` (or keep the one under way) and enqueue a `bill_batches`
    job per batch waiting to be taken, up to BILLING_JOBS; returns the number of jobs."""
    if billing.plan(kassa, now) is None:
        return 0
    waiting, _ = billing.unfinished(kassa)
    jobs = min(waiting, BILLING_JOBS)
    task = app.tasks["kassa.bill_batches"]
    for _ in range(jobs):
        task.defer()
    return jobs


def apply_schema(kassa: Kassa) -> bool:
    """Install procrastinate's tables if they are missing; True if it did."""
    from sqlalchemy import inspect

    def install() -> None:
        app = build_app(kassa)
        with app.open():
            app.schema_manager.apply_schema()

    return change_once(kassa.engine,
                       lambda: inspect(kassa.engine).has_table("procrastinate_jobs"), install)


def run_worker(kassa: Kassa, *, burst: bool = False, concurrency: int = 1,
               queues: list[str] | None = None) -> None:
    """Run a worker on `queues` (default: all); with `burst`, stop once they are empty."""
    app = build_app(kassa)
    app.run_worker(queues=list(queues or QUEUES), wait=not burst, concurrency=concurrency,
                   install_signal_handlers=not burst)
