"""What the usage benchmarks share: a fresh database holding one organization with a metered
price and 1,000 subscribed customers, a Kassa server in a subprocess, a bulk COPY into
meter_events, and the rich progress bars and figures they print.

Preparing a PostgreSQL database DROPS its public schema and recreates it.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from kassa.config import Kassa, Settings
from kassa.services import catalog, customers, meters, organizations, subscriptions
from kassa.store.db import make_engine
from kassa.store.migrate import upgrade

console = Console(width=None if sys.stdout.isatty() else 110)

CUSTOMERS = 1_000
EVENT_NAME = "api_call"
SECRET_KEY = "bench-pepper"
SPREAD = 20 * 86_400  # events fall within the last 20 days
SUBSCRIPTION_AGE = timedelta(days=21)  # subscriptions start before the oldest event
BATCH_PATH = "/v1/billing/meter_events/batch"
PG_COPY = ("COPY meter_events (org_id, identifier, meter_id, customer_id, timestamp, value, "
           "key, counted, payload, voided_at, created) FROM STDIN")


def external_id(customer: int) -> str:
    return f"bench-cust-{customer:04d}"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console)


def revision() -> str:
    """The source revision measured (the work tree may hold uncommitted changes)."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# --- the database -----------------------------------------------------------------------------

@dataclass
class Target:
    name: str
    url: str
    data_dir: Path
    sqlite_path: Path | None = None

    @property
    def libpq_url(self) -> str:
        """The PostgreSQL URL as psycopg takes it."""
        url = make_url(self.url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)


def prepare_database(target: Target) -> None:
    """Migrate the database; on PostgreSQL after dropping and recreating its public schema."""
    engine = make_engine(target.url)
    try:
        if target.sqlite_path is None:
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
    finally:
        engine.dispose()


@dataclass
class Fixture:
    secret_key: str
    org_id: str
    meter_id: str
    customer_ids: list[str]


def populate(target: Target, customer_count: int = CUSTOMERS) -> Fixture:
    """Organization, `sum` meter, metered graduated price, customers (with external ids) and
    their subscriptions (backdated, so every event falls in the current period), created
    through the services layer."""
    kassa = Kassa(Settings(data_dir=target.data_dir, database_url=target.url,
                           secret_key=SECRET_KEY))
    try:
        with kassa.uow() as uow:
            created = organizations.create_organization(
                uow, kassa.pepper, name="Bench Cloud", default_currency="eur", timezone="UTC")
            org_id = created.organization.id
            meter = meters.create_meter(uow, org_id, display_name="API calls",
                                        event_name=EVENT_NAME,
                                        default_aggregation={"formula": "sum"})
            price = catalog.create_price(
                uow, org_id, product_data={"name": "API calls"}, currency="eur",
                billing_scheme="tiered", tiers_mode="graduated",
                tiers=[{"up_to": 1000, "unit_amount": 0},
                       {"up_to": 10000, "unit_amount_decimal": "0.5"},
                       {"up_to": "inf", "unit_amount_decimal": "0.2"}],
                recurring={"interval": "month", "usage_type": "metered", "meter": meter.id})
        start = int((datetime.now(UTC) - SUBSCRIPTION_AGE).timestamp())
        ids = []
        with progress() as bar:
            task = bar.add_task("  customers + subscriptions", total=customer_count)
            for number in range(customer_count):
                with kassa.uow() as uow:
                    customer = customers.create_customer(
                        uow, org_id, name=f"Customer {number}", external_id=external_id(number),
                        timezone="UTC")
                    subscriptions.create_subscription(
                        uow, org_id, customer=customer.id, items=[{"price": price.id}],
                        backdate_start_date=start, collection_method="send_invoice")
                ids.append(customer.id)
                bar.advance(task)
        return Fixture(created.secret_key, org_id, meter.id, ids)
    finally:
        kassa.engine.dispose()


def pg_copy(target: Target, chunks: Iterable[list[tuple[Any, ...]]],
            advance: Callable[[int], None]) -> tuple[float, int]:
    """Empty meter_events, then COPY the rows in; returns the seconds spent copying and
    committing (generating the rows is not timed) and the rows the table then holds."""
    import psycopg

    elapsed = 0.0
    with psycopg.connect(target.libpq_url) as connection:
        connection.execute("TRUNCATE meter_events")
        connection.commit()
        for chunk in chunks:
            began = time.perf_counter()
            with connection.cursor() as cursor, cursor.copy(PG_COPY) as copy:
                for row in chunk:
                    copy.write_row(row)
            elapsed += time.perf_counter() - began
            advance(len(chunk))
        began = time.perf_counter()
        connection.commit()
        elapsed += time.perf_counter() - began
        row = connection.execute("SELECT count(*) FROM meter_events").fetchone()
    return elapsed, row[0] if row else 0


# --- the server -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(port: int, workers: int | None) -> list[str]:
    """`kassa serve`, with a number of worker processes when given (each builds the app
    from the environment: kassa.api.app:create_app_from_env)."""
    command = [sys.executable, "-m", "kassa", "serve", "--host", "127.0.0.1", "--port",
               str(port), "--no-scheduler"]
    return command if workers is None else [*command, "--workers", str(workers)]


@contextmanager
def server(target: Target, workers: int | None = None) -> Iterator[tuple[str, int]]:
    """A Kassa server in a subprocess (`kassa serve`, with that many worker processes when
    given); yields its base URL and pid, and always stops it."""
    port = free_port()
    log_path = target.data_dir / "server.log"
    env = {**os.environ, "KASSA_DATABASE_URL": target.url, "KASSA_SECRET_KEY": SECRET_KEY,
           "KASSA_DATA_DIR": str(target.data_dir)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(server_command(port, workers), env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base, log_path, 60)
        how = "kassa serve" if workers is None else f"kassa serve --workers {workers}"
        console.print(f"  server pid {process.pid} on {base} ({how}; log {log_path})")
        yield base, process.pid
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_healthy(process: subprocess.Popen[bytes], base: str, log_path: Path,
                       seconds: float) -> None:
    """Wait until the server answers /health; raise if it exits or does not answer in time."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}); see {log_path}:\n"
                               + log_tail(log_path))
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer /health; see {log_path}")
        time.sleep(0.1)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
