"""Procrastinate on PostgreSQL: any number of `kassa worker` processes share the queue.

Every minute one of them (procrastinate makes sure it is one) runs `billing_tick`, which
splits the customers with due work into shards and enqueues a `bill_shard` job per shard;
all workers then take shards. Customers are locked with SKIP LOCKED while being billed, and
billed periods are unique in the database, so a shard taken twice does no harm.

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
from kassa.core.clock import from_unix, to_unix
from kassa.jobs.billing import bill_customers, due_customers
from kassa.jobs.documents import render_documents
from kassa.jobs.emails import deliver_emails
from kassa.jobs.ledger import recognize_revenue
from kassa.jobs.payments import collect_payments
from kassa.jobs.webhooks import deliver_webhooks

SHARD_SIZE = 100
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
        return enqueue_shards(kassa, app, kassa.clock.now())

    @app.task(name="kassa.bill_shard", queue=QUEUE)
    def bill_shard(customer_ids: list[str], at: int) -> dict[str, int]:
        result = bill_customers(kassa, customer_ids, from_unix(at))
        return {"customers": result.customers, "skipped": result.skipped,
                "failed": result.failed}

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


def enqueue_shards(kassa: Kassa, app: procrastinate.App, now: datetime) -> int:
    """Enqueue one `bill_shard` job per SHARD_SIZE due customers; returns the number of jobs."""
    ids = due_customers(kassa, now)
    task = app.tasks["kassa.bill_shard"]
    shards = [ids[i:i + SHARD_SIZE] for i in range(0, len(ids), SHARD_SIZE)]
    for shard in shards:
        task.defer(customer_ids=shard, at=to_unix(now))
    return len(shards)


def apply_schema(kassa: Kassa) -> bool:
    """Install procrastinate's tables if they are missing; True if it did."""
    from sqlalchemy import inspect

    if inspect(kassa.engine).has_table("procrastinate_jobs"):
        return False
    app = build_app(kassa)
    with app.open():
        app.schema_manager.apply_schema()
    return True


def run_worker(kassa: Kassa, *, burst: bool = False, concurrency: int = 1,
               queues: list[str] | None = None) -> None:
    """Run a worker on `queues` (default: all); with `burst`, stop once they are empty."""
    app = build_app(kassa)
    app.run_worker(queues=list(queues or QUEUES), wait=not burst, concurrency=concurrency,
                   install_signal_handlers=not burst)
