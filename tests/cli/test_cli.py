"""The `kassa` command: set-up, errors as one readable line, billing with progress, the demo,
and `serve` answering HTTP with the key `init` printed."""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from typer.testing import CliRunner

from kassa.cli import app
from kassa.config import Kassa, Settings
from kassa.services import operators
from kassa.store import models as m

runner = CliRunner()


def _env(tmp_path, database_url: str | None = None) -> dict[str, str]:
    env = {"KASSA_DATA_DIR": str(tmp_path / "data"), "KASSA_SECRET_KEY": "cli-pepper"}
    if database_url:
        env["KASSA_DATABASE_URL"] = database_url
    return env


def test_init_creates_an_organization_and_prints_a_working_key(tmp_path, database_url):
    result = runner.invoke(app, ["init", "--name", "Acme Cloud", "--country", "NL"],
                           env=_env(tmp_path, database_url))
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("sk_live_")
    kassa = Kassa(Settings(data_dir=tmp_path / "data", database_url=database_url,
                           secret_key="cli-pepper"))
    with kassa.uow() as uow:
        keys = list(uow.session.scalars(select(m.ApiKey)))
        orgs = list(uow.session.scalars(select(m.Organization)))
    assert [o.name for o in orgs] == ["Acme Cloud"]
    assert secret not in {k.secret_hash for k in keys}  # stored hashed, never in clear
    assert keys[0].last4 == secret[-4:]
    kassa.engine.dispose()


def test_errors_are_one_readable_line_with_a_nonzero_exit(tmp_path, database_url):
    result = runner.invoke(app, ["init", "--name", "X", "--currency", "euro"],
                           env=_env(tmp_path, database_url))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: Unknown currency: 'euro'. (default_currency)"]


def test_an_unreachable_database_is_one_line_too(tmp_path):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    result = runner.invoke(app, ["migrate"], env=_env(tmp_path, url))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot use the database")


def test_worker_refuses_an_unknown_queue_in_one_line(tmp_path):
    result = runner.invoke(app, ["worker", "--burst", "--queues", "billing,pdfs"],
                           env=_env(tmp_path))
    assert result.exit_code == 2
    assert "unknown queue 'pdfs'" in result.output and len(result.output.splitlines()) == 1


def test_worker_refuses_sqlite_with_a_clear_message(tmp_path):
    result = runner.invoke(app, ["worker", "--burst"], env=_env(tmp_path))
    assert result.exit_code == 1
    assert "workers need PostgreSQL" in result.output


def test_bill_runs_due_renewals_and_reports_them(tmp_path, database_url, kassa, org, clock):
    from kassa.services import catalog, customers, subscriptions

    with kassa.uow() as uow:
        price = catalog.create_price(uow, org.organization.id, product_data={"name": "P"},
                                     currency="eur", unit_amount=500,
                                     recurring={"interval": "month"})
    for index in range(3):
        with kassa.uow() as uow:
            customer = customers.create_customer(uow, org.organization.id, name=f"C{index}")
        with kassa.uow() as uow:
            subscriptions.create_subscription(uow, org.organization.id, customer=customer.id,
                                              items=[{"price": price.id}])
    # The subscriptions started on the frozen clock's 2026-01-01 09:00; `kassa bill` runs on
    # real time, so every monthly renewal since is due: one invoice per customer per month.
    result = runner.invoke(app, ["bill"], env=_env(tmp_path, database_url))
    assert result.exit_code == 0, result.output
    assert "Billed 3 customers" in result.output
    start, now = datetime(2026, 1, 1, 9, tzinfo=UTC), datetime.now(UTC)
    months = sum(1 for k in range(1200) if start + relativedelta(months=k) <= now)
    with kassa.uow() as uow:
        count = len(list(uow.session.scalars(select(m.Invoice.id))))
    assert count == 3 * months
    again = runner.invoke(app, ["bill"], env=_env(tmp_path, database_url))
    assert "Billed 0 customers" in again.output  # nothing left: billing is idempotent


@pytest.mark.slow
def test_demo_bills_twelve_months_correctly(tmp_path):
    result = runner.invoke(app, ["demo", "--no-serve", "--port", "8765"], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    months = re.findall(r"^│ (20\d\d-\d\d) ", result.output, flags=re.M)
    assert months[:12] == [f"2026-{month:02d}" for month in range(1, 13)]
    assert "Totals by currency" in result.output and "API key: sk_live_" in result.output
    # The printed links point where the demo serves (--port).
    assert re.search(r"Customer portal of .*http://127\.0\.0\.1:8765/portal/session/\S+",
                     result.output)
    assert re.search(r"Portal login page .*/portal/login/org_\w+/[0-9a-f]{32}", result.output)
    assert re.search(r"^Operator dashboard: http\S+/dashboard/login$", result.output, re.M)
    login = re.search(r"^Dashboard login: (\S+@\S+) password (\S{24,})$", result.output, re.M)
    assert login is not None
    collected = result.output[result.output.index("Payments collected"):]
    for text in ("card", "sepa_debit", "bank_transfer", "insufficient_funds", "stolen_card",
                 "AM04"):
        assert text in collected, text
    taxes = result.output[result.output.index("Tax on the year's EUR invoices"):]
    for kind in ("EU business: reverse charge", "Outside the EU: outside scope",
                 "VAT charged", "BTW verlegd", "Steuerschuldnerschaft"):
        assert kind in taxes, kind
    assert re.search(r"VAT charged\s+│ 19%\s+│ DE", taxes)  # OSS: a German consumer
    pdfs = re.findall(r"PDF \((\w+), (\w+), \d+ ms\):\s+(\S+\.pdf)", result.output)
    assert {kind for kind, _, _ in pdfs} == {"AE", "O", "S"}  # one per kind of tax
    for _, _, path in pdfs:
        assert Path(path).read_bytes().startswith(b"%PDF")
    changes = result.output[result.output.index("Plan changes during the year"):]
    for change in ("upgrade to Pro now", "downgrade to Starter at the", "cancel now",
                   "Unused time on Starter after"):
        assert change in changes, change
    # The year's reports, from the demo's own invoices (dollars converted with its rates).
    demo_db = f"sqlite:///{tmp_path / 'data' / 'demo.db'}"
    mrr = runner.invoke(app, ["report", "mrr", "--from", "2026-01", "--to", "2026-12",
                              "--as-of", "2027-01-02", "--csv"], env=_env(tmp_path, demo_db))
    assert mrr.exit_code == 0, mrr.output
    rows = list(csv.DictReader(io.StringIO(mrr.output)))
    assert [row["month"] for row in rows] == [f"2026-{month:02d}" for month in range(1, 13)]
    assert all(int(row["mrr"]) > 0 for row in rows)
    for before, after in itertools.pairwise(rows):  # movements explain each month
        moved = int(after["net_new_mrr"]) + int(after["fx_difference"])
        assert abs(int(before["mrr"]) + moved - int(after["mrr"])) <= 2  # rounding
    # The year's books: a trial balance that balances, a waterfall, the journal.
    assert re.search(r"Trial balance 2026 .*: balanced", result.output)
    trial = runner.invoke(app, ["report", "trial-balance", "--from", "2026-01", "--to",
                                "2026-12"], env=_env(tmp_path, demo_db))
    assert trial.exit_code == 0 and "Balanced." in trial.output, trial.output
    assert "Deferred revenue" in trial.output and "Tax payable NL" in trial.output
    waterfall = runner.invoke(app, ["report", "revenue-waterfall", "--from", "2026-01",
                                    "--to", "2026-12", "--csv"], env=_env(tmp_path, demo_db))
    assert waterfall.exit_code == 0, waterfall.output
    flows = list(csv.DictReader(io.StringIO(waterfall.output)))
    assert {row["month"] for row in flows} == {f"2026-{month:02d}" for month in range(1, 13)}
    assert sum(int(row["recognized"]) for row in flows if row["currency"] == "eur") > 0
    for row in flows:
        assert int(row["deferred_closing"]) == int(row["deferred_opening"]) + int(
            row["billed"]) - int(row["recognized"])
    reconciled = runner.invoke(app, ["report", "reconciliation", "--from", "2026-01", "--to",
                                     "2026-12"], env=_env(tmp_path, demo_db))
    assert reconciled.exit_code == 0 and "Balanced." in reconciled.output, reconciled.output
    journal = tmp_path / "journal.csv"
    exported = runner.invoke(app, ["ledger", "export", "--from", "2026-01", "--to", "2026-12",
                                   "--output", str(journal)], env=_env(tmp_path, demo_db))
    assert exported.exit_code == 0, exported.output
    sides: dict[str, Decimal] = {}
    for row in csv.DictReader(journal.open()):
        sides[row["Currency"]] = sides.get(row["Currency"], Decimal(0)) + Decimal(
            row["Debit"] or 0) - Decimal(row["Credit"] or 0)
    assert set(sides) == {"EUR", "USD"} and set(sides.values()) == {Decimal(0)}
    unknown = runner.invoke(app, ["report", "everything"], env=_env(tmp_path, demo_db))
    assert unknown.exit_code == 1 and unknown.output.startswith("error: No such report.")
    kassa = Kassa(Settings(data_dir=tmp_path / "data", database_url=demo_db,
                           secret_key="cli-pepper"))
    with kassa.uow() as uow:
        anchored = uow.session.scalars(select(m.Customer).where(
            m.Customer.name == "Aurora Analytics")).one()
        lines = list(uow.session.scalars(select(m.InvoiceLine).join(m.Invoice).where(
            m.Invoice.customer_id == anchored.id).order_by(m.InvoiceLine.period_start)))
        invoices = list(uow.session.scalars(select(m.Invoice)))
        prorations = [item.description for item in uow.session.scalars(
            select(m.InvoiceItem).where(m.InvoiceItem.proration.is_(True)))]
    assert any(text.startswith("Remaining time on Pro after") for text in prorations)
    assert any(text.startswith("Unused time on Pro after") for text in prorations)  # cancel
    # Anchored on Jan 31 (10:00 UTC = 11:00 in Amsterdam): Feb 28, Mar 31, Apr 30, ...
    starts = [line.period_start.astimezone(UTC) for line in lines]
    assert [s.strftime("%m-%d") for s in starts[:6]] == ["01-31", "02-28", "03-31", "04-30",
                                                         "05-31", "06-30"]
    assert all(line.amount == lines[0].amount for line in lines)  # never prorated
    numbers = sorted(inv.number for inv in invoices if inv.number)
    per_year: dict[str, list[int]] = {}
    for number in numbers:
        _, year, seq = number.split("-")
        per_year.setdefault(year, []).append(int(seq))
    for seqs in per_year.values():  # gapless per yearly series
        assert sorted(seqs) == list(range(1, len(seqs) + 1))
    for inv in invoices:  # totals are the exact sum of their parts
        assert inv.total == inv.total_excluding_tax + inv.tax
        assert inv.total_excluding_tax == sum(line.amount_excluding_tax for line in inv.lines)
        assert inv.tax == sum(line.tax_amount for line in inv.lines) == \
            sum(group["tax_amount"] for group in inv.tax_breakdown or [])
    with kassa.uow() as uow:  # the printed login signs in to the dashboard
        operators.sign_in(uow, kassa.pepper, login.group(1), login.group(2))
    kassa.engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_the_api_with_the_key_from_init(tmp_path, database_url):
    env = {**os.environ, **_env(tmp_path, database_url)}
    init = subprocess.run([sys.executable, "-m", "kassa", "init", "--name", "Served"],
                          env=env, capture_output=True, text=True, check=True)
    secret = init.stdout.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "kassa", "serve", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {secret}"}
        created = httpx.post(f"{base}/v1/customers", json={"name": "Ada"}, headers=headers)
        assert created.status_code == 200, created.text
        listed = httpx.get(f"{base}/v1/customers", headers=headers).json()
        assert [c["name"] for c in listed["data"]] == ["Ada"]
        assert httpx.get(f"{base}/v1/customers").status_code == 401
        assert "/v1/customers" in httpx.get(f"{base}/openapi.json").json()["paths"]
    finally:
        server.terminate()
        server.wait(timeout=20)
