"""Two procrastinate workers bill the same due portfolio at once on PostgreSQL: every period is
invoiced exactly once and invoice numbers have no gaps and no duplicates."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select, text

from kassa.config import Kassa, Settings
from kassa.core.clock import FrozenClock, SystemClock
from kassa.jobs.queue import apply_schema, build_app, enqueue_billing
from kassa.services import catalog, customers, organizations, subscriptions
from kassa.store import models as m

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

# Each customer has two monthly subscriptions an hour apart, so a renewal bills two invoices.
CUSTOMERS = int(os.environ.get("KASSA_TEST_CONCURRENCY_CUSTOMERS", "1000"))
RENEWALS = 1


def test_two_workers_invoice_every_period_once_with_gapless_numbers(database_url, tmp_path):
    now = SystemClock().now()
    began = now - relativedelta(months=RENEWALS) - timedelta(hours=2)
    settings = Settings(data_dir=tmp_path, database_url=database_url,
                        secret_key="test-pepper")
    past = Kassa(settings, clock=FrozenClock(began))
    apply_schema(past)  # no-op when an earlier test installed it
    _empty_queue(past)
    with past.uow() as uow:
        org = organizations.create_organization(uow, past.pepper, name="Load Test",
                                                draft_grace_seconds=0).organization
    with past.uow() as uow:
        price = catalog.create_price(uow, org.id, product_data={"name": "Plan"},
                                     currency="eur", unit_amount=1000,
                                     recurring={"interval": "month"})
    customer_ids = []
    for index in range(CUSTOMERS):
        with past.uow() as uow:
            customer_ids.append(customers.create_customer(uow, org.id,
                                                          name=f"Customer {index}").id)
    for hour in (0, 1):
        past.clock.move_to(began + timedelta(hours=hour))
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda customer_id: _subscribe(past, org.id, customer_id, price.id),
                          customer_ids))
    live = Kassa(replace(settings, billing_batch_size=50))
    app = build_app(live)
    with app.open():
        jobs = enqueue_billing(live, app, now)
    batches = -(-CUSTOMERS // 50)
    assert jobs == min(batches, 32)

    env = {**os.environ, "KASSA_DATABASE_URL": database_url, "KASSA_SECRET_KEY": "test-pepper",
           "KASSA_DATA_DIR": str(tmp_path)}
    started = time.perf_counter()
    # Billing is under test: PDFs, e-mails and collection are other queues' work.
    workers = [subprocess.Popen([sys.executable, "-m", "kassa", "worker", "--burst",
                                 "--queues", "billing"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for _ in range(2)]
    outputs = [worker.communicate(timeout=600)[0].decode() for worker in workers]
    elapsed = time.perf_counter() - started
    assert [w.returncode for w in workers] == [0, 0], outputs
    print(f"\n{2 * CUSTOMERS} subscriptions x {RENEWALS} renewal(s) billed by 2 workers in "
          f"{elapsed:.1f} s")

    with live.uow() as uow:
        periods = Counter(uow.session.execute(
            select(m.BilledPeriod.subscription_id, m.BilledPeriod.period_start)).all())
        numbers = list(uow.session.scalars(select(m.Invoice.number).where(
            m.Invoice.org_id == org.id)))
        per_sub = Counter(sub_id for sub_id, _ in periods)
        drafts = uow.session.scalar(select(func.count()).select_from(m.Invoice).where(
            m.Invoice.status == "draft"))
    assert max(periods.values()) == 1  # no period twice
    assert set(per_sub.values()) == {1 + RENEWALS}  # every subscription fully billed
    assert len(per_sub) == 2 * CUSTOMERS
    assert drafts == 0
    assert None not in numbers
    sequence = sorted(int(number.rsplit("-", 1)[1]) for number in numbers)
    assert sequence == list(range(1, 2 * CUSTOMERS * (1 + RENEWALS) + 1))  # gapless, unique
    for output in outputs:
        assert "kassa.bill_batches" in output and "Success" in output, output[-2000:]
    with live.uow() as uow:
        done = uow.session.execute(select(m.BillingBatch.claimed_by, m.BillingBatch.status,
                                          m.BillingBatch.customers_billed)).all()
    assert len(done) == batches and {status for _, status, _ in done} == {"done"}
    assert sum(billed for _, _, billed in done) == CUSTOMERS
    assert len({worker for worker, _, _ in done}) == 2  # both workers took batches


def _subscribe(kassa: Kassa, org_id: str, customer_id: str, price_id: str) -> None:
    with kassa.uow() as uow:
        subscriptions.create_subscription(uow, org_id, customer=customer_id,
                                          items=[{"price": price_id, "quantity": 1}])


def _empty_queue(kassa: Kassa) -> None:
    """Start from an empty queue: the suite's other tests share this database."""
    with kassa.engine.begin() as connection:
        names = connection.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND (tablename LIKE 'procrastinate%' OR tablename = 'billing_batches')"))
        names = names.scalars().all()
        connection.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " CASCADE"))
