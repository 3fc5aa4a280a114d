"""What the ledger costs the billing run, and how fast its reports are.

Builds N customers (default 2,000) with a monthly subscription each on one of three plans
(invoices sent, so no gateway is involved), then runs the billing run on the first of the
next month, when every subscription renews, twice on fresh databases: with the ledger
posting each finalized invoice in its transaction, and with the ledger switched off (the
baseline). Then, on the ledger's database, times revenue recognition for the month and the
ledger's reports over the two months: trial balance, reconciliation, revenue waterfall and
the journal export.

    .venv/bin/python bench/ledger.py [N] [--database-url URL]

With --database-url (PostgreSQL), the database's public schema is DROPPED and recreated for
each run: never point it at a database you care about.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from dashboard_home import timed  # bench/ is the script's directory
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from kassa.config import Kassa, Settings
from kassa.core.clock import FrozenClock
from kassa.jobs.billing import run_billing
from kassa.services import (
    catalog,
    customers,
    ledger,
    ledger_reports,
    organizations,
    recognition,
    subscriptions,
)
from kassa.store import models as m
from kassa.store.migrate import upgrade

START = datetime(2026, 1, 1, 9, tzinfo=UTC)
RENEWAL = datetime(2026, 2, 1, 10, tzinfo=UTC)
PLANS = (4900, 9900, 29900)


def fresh(workdir: Path, url: str | None, name: str) -> Kassa:
    target = url or f"sqlite:///{workdir / f'{name}.db'}"
    kassa = Kassa(Settings(data_dir=workdir / name, database_url=target, secret_key="bench",
                           rate_limit=0), clock=FrozenClock(START))
    if url:
        with kassa.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(kassa.engine)
    return kassa


def build(kassa: Kassa, count: int) -> str:
    with kassa.uow() as uow:
        org_id = organizations.create_organization(
            uow, kassa.pepper, name="Bench SaaS", timezone="UTC").organization.id
        prices = [catalog.create_price(uow, org_id, product_data={"name": f"Plan {amount}"},
                                       currency="eur", unit_amount=amount,
                                       recurring={"interval": "month"}).id
                  for amount in PLANS]
    with kassa.uow() as uow:
        organizations.update_organization(uow, org_id, {"draft_grace_seconds": 0})
    for index in range(count):
        with kassa.uow() as uow:
            customer = customers.create_customer(uow, org_id, name=f"Customer {index}",
                                                 email=f"c{index}@bench.example")
            subscriptions.create_subscription(
                uow, org_id, customer=customer.id, items=[{"price": prices[index % 3]}],
                collection_method="send_invoice", days_until_due=14)
    return org_id


def bill(kassa: Kassa) -> tuple[float, int]:
    assert isinstance(kassa.clock, FrozenClock)
    kassa.clock.move_to(RENEWAL)
    started = time.perf_counter()
    result = run_billing(kassa)
    return time.perf_counter() - started, result.customers



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("customers", nargs="?", type=int, default=2_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kassa-bench-ledger-"))
    kind = (args.database_url or "sqlite").split(":")[0]
    print(f"{args.customers:,} monthly subscriptions renewing on {RENEWAL:%Y-%m-%d} ({kind})")

    event.remove(Session, "before_flush", ledger._post_changes)
    plain = fresh(workdir, args.database_url, "plain")
    build(plain, args.customers)
    base, billed = bill(plain)
    plain.engine.dispose()
    event.listen(Session, "before_flush", ledger._post_changes)
    print(f"billing run without the ledger (baseline): {base:.2f} s, {billed:,} customers, "
          f"{billed / base:,.0f} invoices/s")

    kassa = fresh(workdir, args.database_url, "ledger")
    org_id = build(kassa, args.customers)
    took, billed = bill(kassa)
    with kassa.uow() as uow:
        entries = uow.session.scalar(select(func.count()).select_from(m.JournalEntry))
        lines = uow.session.scalar(select(func.count()).select_from(m.JournalLine))
    print(f"billing run with the ledger: {took:.2f} s, {billed:,} customers, "
          f"{billed / took:,.0f} invoices/s; {took / base:.2f}x the baseline "
          f"({entries:,} entries, {lines:,} lines in the journal)")

    started = time.perf_counter()
    with kassa.uow() as uow:
        moved = recognition.recognize_all(uow.session, org_id, datetime(2026, 3, 1, tzinfo=UTC))
        uow.commit()
    print(f"recognition through February: {time.perf_counter() - started:.2f} s for "
          f"{moved:,} schedules")
    start, end = date(2026, 1, 1), date(2026, 3, 1)
    for name, run in (
            ("trial balance", lambda: ledger_reports.trial_balance(
                uow.session, org_id, start, end)),
            ("reconciliation", lambda: ledger_reports.reconciliation(
                uow.session, org_id, start, end)),
            ("revenue waterfall", lambda: ledger_reports.revenue_waterfall(
                uow.session, org_id, start, end)),
            ("journal export", lambda: list(ledger_reports.journal_rows(
                uow.session, org_id, start, end)))):
        with kassa.uow() as uow:
            print(f"{name}: {timed(run) * 1000:.0f} ms")
    with kassa.uow() as uow:
        balance = ledger_reports.trial_balance(uow.session, org_id, start, end)
        reconciled = ledger_reports.reconciliation(uow.session, org_id, start, end)
    print(f"trial balance balanced: {balance['balanced']}; reconciliation differences: "
          f"{len(reconciled['differences'])}")
    kassa.engine.dispose()


if __name__ == "__main__":
    main()
