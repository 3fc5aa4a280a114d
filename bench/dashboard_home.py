"""How long the operator dashboard's home page takes for a large portfolio.

Builds N customers (default 10,000) with a year of monthly invoices, their lines and
payments (written in bulk straight into the tables, as billing would have left them: a
third each on three plans, customers joining through the year, some leaving, a few paying
late), then times:

- the baseline: reading every invoice line the MRR figures need, nothing computed;
- each report the home page shows (mrr, customers, retention, cash, ar_aging);
- the home page itself, signed in as an operator (GET /dashboard), cold and warm.

    .venv/bin/python bench/dashboard_home.py [N] [--database-url URL]

Prints the figures and the ratio of the home page to the baseline.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from kassa.config import Kassa, Settings
from kassa.core.clock import FrozenClock
from kassa.core.ids import new_id
from kassa.services import catalog, organizations, reports
from kassa.store import models as m
from kassa.store.migrate import upgrade

NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)
YEAR = [datetime(2026, month, 1, tzinfo=UTC) for month in range(1, 13)]
PLANS = (4900, 9900, 29900)


def build(kassa: Kassa, customers: int) -> str:
    """The organization's id, after writing the portfolio."""
    with kassa.uow() as uow:
        made = organizations.create_organization(uow, kassa.pepper, name="Bench SaaS",
                                                 timezone="UTC")
        org_id = made.organization.id
        prices = [catalog.create_price(uow, org_id, product_data={"name": f"Plan {amount}"},
                                       currency="eur", unit_amount=amount,
                                       recurring={"interval": "month"}).id
                  for amount in PLANS]
    rng = random.Random(7)
    rows: dict[Any, list[dict[str, Any]]] = {m.Customer: [], m.Subscription: [],
                                             m.Invoice: [], m.InvoiceLine: [], m.Payment: []}
    for index in range(customers):
        plan = index % 3
        joined = rng.randrange(12)
        leaves = rng.randrange(joined + 1, 13) if rng.random() < 0.15 else 12
        late = rng.random() < 0.05
        customer = new_id("cus")
        rows[m.Customer].append({"id": customer, "org_id": org_id, "name": f"Customer {index}",
                                 "email": f"c{index}@example.com", "created": YEAR[joined]})
        sub = new_id("sub")
        rows[m.Subscription].append({
            "id": sub, "org_id": org_id, "customer_id": customer,
            "status": "active" if leaves == 12 else "canceled", "currency": "eur",
            "collection_method": "charge_automatically", "start_date": YEAR[joined],
            "billing_cycle_anchor": YEAR[joined], "current_period_start": YEAR[joined],
            "current_period_end": YEAR[joined], "created": YEAR[joined]})
        for month in range(joined, leaves):
            start = YEAR[month]
            end = YEAR[month + 1] if month < 11 else datetime(2027, 1, 1, tzinfo=UTC)
            amount = PLANS[plan]
            invoice = new_id("in")
            unpaid = late and month >= 10
            paid_at = start + timedelta(days=25 if late else 0, minutes=5)
            rows[m.Invoice].append({
                "id": invoice, "org_id": org_id, "customer_id": customer,
                "subscription_id": sub, "status": "open" if unpaid else "paid",
                "currency": "eur", "billing_reason": "subscription_cycle",
                "collection_method": "charge_automatically", "period_start": start,
                "period_end": end, "subtotal": amount, "total": amount,
                "total_excluding_tax": amount, "amount_due": amount,
                "amount_paid": 0 if unpaid else amount,
                "amount_remaining": amount if unpaid else 0, "billing_at": start,
                "due_date": start + timedelta(days=14), "created": start,
                "finalized_at": start, "paid_at": None if unpaid else paid_at,
                "number": f"BENCH-{len(rows[m.Invoice]) + 1:07d}"})
            rows[m.InvoiceLine].append({
                "id": new_id("il"), "org_id": org_id, "invoice_id": invoice, "position": 0,
                "type": "subscription", "subscription_id": sub, "price_id": prices[plan],
                "description": f"Plan {amount}", "quantity": 1,
                "unit_amount_decimal": Decimal(amount), "amount": amount,
                "amount_excluding_tax": amount, "currency": "eur", "period_start": start,
                "period_end": end, "proration_fraction": Decimal(1)})
            if not unpaid:
                rows[m.Payment].append({
                    "id": new_id("pay"), "org_id": org_id, "customer_id": customer,
                    "invoice_id": invoice, "amount": amount, "currency": "eur",
                    "method_type": "card", "status": "succeeded", "created": paid_at,
                    "succeeded_at": paid_at})
    with kassa.session_factory() as session:
        for model, batch in rows.items():
            for offset in range(0, len(batch), 5000):
                session.execute(insert(model), batch[offset:offset + 5000])
        session.commit()
    print(f"portfolio: {customers:,} customers, {len(rows[m.Invoice]):,} invoices, "
          f"{len(rows[m.InvoiceLine]):,} lines, {len(rows[m.Payment]):,} payments")
    return org_id


def timed(run: Callable[[], Any], repeat: int = 3) -> float:
    """The median of `repeat` runs, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("customers", nargs="?", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kassa-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    kassa = Kassa(Settings(data_dir=workdir, database_url=url, secret_key="bench",
                           rate_limit=0), clock=FrozenClock(NOW))
    upgrade(kassa.engine)
    started = time.perf_counter()
    org_id = build(kassa, args.customers)
    print(f"written in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})")

    def baseline() -> None:
        with kassa.uow() as uow:
            list(uow.session.execute(select(
                m.Invoice.customer_id, m.InvoiceLine.subscription_id,
                m.InvoiceLine.period_start, m.InvoiceLine.period_end, m.InvoiceLine.amount,
                m.InvoiceLine.proration_fraction).join(
                m.Invoice, m.InvoiceLine.invoice_id == m.Invoice.id).where(
                m.Invoice.org_id == org_id)))

    base = timed(baseline)
    print(f"baseline (read every invoice line once): {base * 1000:.0f} ms")
    for name in ("mrr", "customers", "retention", "cash", "ar_aging"):
        def run(name: str = name) -> None:
            with kassa.uow() as uow:
                reports.report(uow, org_id, name, first="2026-01", last="2026-12")
        print(f"report {name}: {timed(run) * 1000:.0f} ms")
    home = home_page(kassa, org_id)
    if home is not None:
        cold, warm = home
        print(f"home page (GET /dashboard): first {cold * 1000:.0f} ms, then "
              f"{warm * 1000:.0f} ms; {warm / base:.1f}x the baseline")
    kassa.engine.dispose()


def home_page(kassa: Kassa, org_id: str) -> tuple[float, float] | None:
    """The home page's time signed in as an admin (None when the dashboard is absent)."""
    try:
        from fastapi.testclient import TestClient

        from kassa.api.app import create_app
        from kassa.services import operators
    except ImportError:
        return None
    password = "bench-password-1234567890"
    with kassa.uow() as uow:
        operators.create_operator(uow, org_id, email="admin@bench.example", role="admin",
                                  password=password)
    client = TestClient(create_app(kassa), base_url="http://127.0.0.1:8000")
    form = client.get("/dashboard/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = client.post("/dashboard/login", data={"csrf_token": token, "password": password,
                                                   "email": "admin@bench.example"})
    if signed.status_code >= 400:
        print(f"could not sign in: {signed.status_code}", file=sys.stderr)
        return None
    started = time.perf_counter()
    assert client.get("/dashboard").status_code == 200
    cold = time.perf_counter() - started
    return cold, timed(lambda: client.get("/dashboard"))


if __name__ == "__main__":
    main()
