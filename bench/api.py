"""API benchmark: requests/s and p50/p99 latency of a real Kassa server on PostgreSQL.

    .venv/bin/python bench/api.py --pg-url postgresql+psycopg://postgres@127.0.0.1:55432/kassa_api
        [--workers 2] [--concurrency 8] [--preview-concurrency 2] [--requests 6000]
        [--seconds 20] [--events 10000000] [--hot-events 100000] [--invoices 5000] [--reuse]

The database named by --pg-url (or KASSA_BENCH_PG_URL) gets its public schema DROPPED and
recreated: never point it at a database you care about. It is then populated with:

* one organization; a `sum` meter (API calls, a graduated price) and a `unique_count` meter
  (active users, a price per user), and a licensed base price; 2,000 customers and 5,000
  finalized invoices of three lines each (one of each made through the services layer, the
  rest copied from those in SQL);
* two "hot" customers, one per meter, whose subscriptions started 20 days ago and who have
  100,000 meter events each in the current period (and half as many in earlier months),
  among 10,000,000 events spread over all customers and the past year: COPY of a generated
  stream, with the table's real indexes (rebuilt after the load, from their definitions) and
  the hourly aggregates (`usage_hours`) that ingestion keeps. How long it took is printed.

`kassa serve` then runs in a subprocess (`--workers` processes) and a separate process
generates load on loopback over `--concurrency` keep-alive connections, each scenario bounded
by `--requests` and `--seconds` (after `--warmup` unmeasured requests):

* read: GET /v1/invoices/{id} over all the invoices, in random order;
* write: POST /v1/customers, each with a fresh Idempotency-Key; afterwards a retry of one key
  must replay the first answer and create nothing, and the key with another body must be
  refused (409);
* preview: GET /v1/invoices/upcoming?customer=<hot customer> for each hot customer, over
  `--preview-concurrency` connections; the usage billed must be what its events add up to.

Besides requests/s and latency it reports the CPU time per request of the server's
processes, of PostgreSQL's backends for the database (a lower bound: a backend that closed
during the run is missed) and of the load generator, and the requests/s the machine's CPUs
could serve at that cost: a figure the other users of a shared machine disturb less.

The server runs with KASSA_RATE_LIMIT=1000000: the limiter still runs, but the per-key
default (100/s) would otherwise answer most of the load with 429. With --reuse a database
populated by an earlier run (and described by its state file) is used as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import math
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from metered import free_port, wait_until_healthy  # bench/ is the script's directory
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url

from kassa.config import Kassa, Settings
from kassa.services import (
    catalog,
    customers,
    invoices,
    meters,
    organizations,
    subscriptions,
)
from kassa.store import models as m
from kassa.store.db import make_engine
from kassa.store.migrate import upgrade

console = Console(width=None if sys.stdout.isatty() else 150)

SECRET_KEY = "bench-pepper"
EVENT_NAME = "api_call"
CUSTOMERS = 2_000
SUBSCRIPTION_AGE = timedelta(days=20, minutes=17)  # the period starts off the hour
HISTORY_DAYS = 365  # the other customers' events cover the past year
HOT_EARLIER = 0.5  # a hot customer's events before the period, per event in it
VOIDED_EVERY = 500  # one of the hot customers' events in so many is voided
USERS = 5_000  # the distinct users among the unique_count meter's events
RATE_LIMIT = "1000000"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- the database -----------------------------------------------------------------------------

@dataclass
class Fixture:
    """What the load needs to know about the populated database (kept in the state file)."""

    url: str
    secret_key: str
    org_id: str
    hot: list[dict[str, Any]]  # label, customer, usage: what its events in the period add up to
    invoice_ids: list[str]
    events: int
    populate_s: dict[str, float] = field(default_factory=dict)


def psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def reset_schema(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Hot:
    """A customer whose upcoming invoice is previewed: `events` in its current period on a
    meter of `formula`."""

    label: str
    customer: str
    meter: str
    formula: str
    events: int


@dataclass(frozen=True)
class Seed:
    org_id: str
    secret_key: str
    meters: dict[str, str]  # formula -> meter id
    hot: list[Hot]
    period_start: datetime
    template_customer: str
    template_invoice: str


def seed(kassa: Kassa, now: datetime, hot_events: int) -> Seed:
    """The objects made through the services layer: organization, meters and prices, the hot
    customers' subscriptions, and the customer and invoice the others are copied from."""
    with kassa.uow() as uow:
        created = organizations.create_organization(
            uow, kassa.pepper, name="Bench Cloud", default_currency="eur", timezone="UTC")
        org_id = created.organization.id
        calls = meters.create_meter(uow, org_id, display_name="API calls",
                                    event_name=EVENT_NAME,
                                    default_aggregation={"formula": "sum"})
        users = meters.create_meter(uow, org_id, display_name="Active users",
                                    event_name="user_active", value_settings={
                                        "event_payload_key": "user"},
                                    default_aggregation={"formula": "unique_count"})
        usage_prices = {
            "sum": catalog.create_price(
                uow, org_id, product_data={"name": "API calls"}, currency="eur",
                billing_scheme="tiered", tiers_mode="graduated",
                tiers=[{"up_to": 100_000, "unit_amount": 0},
                       {"up_to": 1_000_000, "unit_amount_decimal": "0.05"},
                       {"up_to": "inf", "unit_amount_decimal": "0.02"}],
                recurring={"interval": "month", "usage_type": "metered", "meter": calls.id}),
            "unique_count": catalog.create_price(
                uow, org_id, product_data={"name": "Active users"}, currency="eur",
                unit_amount=200,
                recurring={"interval": "month", "usage_type": "metered", "meter": users.id})}
        base_price = catalog.create_price(
            uow, org_id, product_data={"name": "Platform"}, currency="eur", unit_amount=4900,
            recurring={"interval": "month"})
    start = now - SUBSCRIPTION_AGE
    hot = []
    for formula, meter, label in (("sum", calls, "sum meter"),
                                  ("unique_count", users, "unique_count meter")):
        with kassa.uow() as uow:
            customer = customers.create_customer(uow, org_id, name=f"Hot customer ({label})",
                                                 email="hot@bench.example", timezone="UTC")
            subscriptions.create_subscription(
                uow, org_id, customer=customer.id,
                items=[{"price": base_price.id}, {"price": usage_prices[formula].id}],
                backdate_start_date=int(start.timestamp()), collection_method="send_invoice")
        hot.append(Hot(label, customer.id, meter.id, formula, hot_events))
    with kassa.uow() as uow:
        template = customers.create_customer(
            uow, org_id, name="Template customer", email="template@bench.example",
            address={"line1": "Keizersgracht 1", "city": "Amsterdam", "postal_code": "1015 CJ",
                     "country": "NL"}, timezone="UTC")
        for description, amount in (("Onboarding", 25_000), ("Support hours", 12_000),
                                    ("Training", 8_500)):
            invoices.create_invoice_item(uow, org_id, customer=template.id, currency="eur",
                                         amount=amount, description=description)
        draft = invoices.create_invoice(uow, org_id, customer=template.id)
        invoices.finalize_invoice(uow, org_id, draft.id)
    return Seed(org_id, created.secret_key, {"sum": calls.id, "unique_count": users.id}, hot,
                start, template.id, draft.id)


def copy_rows(connection: psycopg.Connection[Any], table: str, where: str,
              overrides: dict[str, str], count: int, params: dict[str, Any]) -> None:
    """Copy the rows of `table` matching `where` `count` times (g.n = 1..count), every
    column as it is unless `overrides` gives an SQL expression for it."""
    columns = [c.name for c in m.Base.metadata.tables[table].columns]
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(overrides.get(c, f't."{c}"') for c in columns)
    connection.execute(
        f"INSERT INTO {table} ({names}) SELECT {values} FROM {table} t "  # noqa: S608
        f"CROSS JOIN generate_series(1, %(count)s) AS g(n) WHERE {where}",
        {**params, "count": count})


def copy_customers_and_invoices(connection: psycopg.Connection[Any], s: Seed,
                                invoice_count: int) -> list[str]:
    """CUSTOMERS customers and `invoice_count` invoices (with their lines) like the
    templates; returns the invoice ids."""
    customer = "'cus_bench' || lpad(g.n::text, 19, '0')"
    invoice = "'in_bench' || lpad(g.n::text, 20, '0')"
    copy_rows(connection, "customers", "t.id = %(id)s",
              {"id": customer, "name": "'Customer ' || g.n", "external_id": "NULL",
               "email": "'customer' || g.n || '@bench.example'"},
              CUSTOMERS, {"id": s.template_customer})
    copy_rows(connection, "invoices", "t.id = %(id)s",
              {"id": invoice,
               "customer_id": f"'cus_bench' || lpad((1 + mod(g.n, {CUSTOMERS}))::text, 19, '0')",
               "customer_name": f"'Customer ' || (1 + mod(g.n, {CUSTOMERS}))",
               "number": "'BENCH-' || lpad(g.n::text, 6, '0')",
               "hosted_token": "md5('hosted' || g.n) || md5('token' || g.n)"},
              invoice_count, {"id": s.template_invoice})
    copy_rows(connection, "invoice_lines", "t.invoice_id = %(id)s",
              {"id": "'il_' || substr(md5(t.id || g.n), 1, 24)", "invoice_id": invoice},
              invoice_count, {"id": s.template_invoice})
    return [f"in_bench{n:020d}" for n in range(1, invoice_count + 1)]


class EventStream:
    """`total` events as COPY text: each hot customer's events in its current period
    [start, now) and half as many before it, the rest spread over every customer and the past
    year (on the `sum` meter; one in five on the `unique_count` one). Counts each hot
    customer's usage in its period as it goes (`usage`)."""

    def __init__(self, org_id: str, meters: dict[str, str], hot: list[Hot], total: int,
                 start: datetime, now: datetime, seed: int = 1) -> None:
        self.org_id, self.meters, self.hot, self.total = org_id, meters, hot, total
        self.start, self.now, self.seed = start, now, seed
        self.sums = {h.customer: 0 for h in hot}
        self.keys: dict[str, set[str]] = {h.customer: set() for h in hot}

    def usage(self, hot: Hot) -> int:
        return self.sums[hot.customer] if hot.formula == "sum" else len(self.keys[hot.customer])

    def chunks(self) -> Iterator[bytes]:
        rng = random.Random(self.seed)
        created = self.now.strftime("%Y-%m-%d %H:%M:%S+00")
        first_day = (self.now - timedelta(days=HISTORY_DAYS + 1)).replace(
            hour=0, minute=0, second=0, microsecond=0)
        days = [(first_day + timedelta(days=d)).strftime("%Y-%m-%d ")
                for d in range(HISTORY_DAYS + 3)]
        base = int(first_day.timestamp())
        now_s = int(self.now.timestamp()) - 60
        start_s = int(self.start.timestamp()) + 1
        history_s = now_s - HISTORY_DAYS * 86_400
        cold_ids = [f"cus_bench{n:019d}" for n in range(1, CUSTOMERS + 1)]
        # what is left to generate: (hot customer or None, in its period?) -> events
        left = {(h, True): h.events for h in self.hot}
        left.update({(h, False): int(h.events * HOT_EARLIER) for h in self.hot})
        prefix = f"{self.org_id}\tev"
        chunk: list[str] = []
        for number in range(self.total):
            pick = rng.random() * (self.total - number)
            hot, current = None, False
            for (candidate, in_period), count in left.items():
                if pick < count:
                    hot, current = candidate, in_period
                    left[(candidate, in_period)] -= 1
                    break
                pick -= count
            voided = "\\N"
            if hot is None:
                customer = cold_ids[int(rng.random() * CUSTOMERS)]
                formula = "unique_count" if rng.random() < 0.2 else "sum"
                at = rng.randrange(history_s, now_s)
            else:
                customer, formula = hot.customer, hot.formula
                at = rng.randrange(start_s, now_s) if current else \
                    rng.randrange(history_s, start_s - 1)
            if formula == "sum":
                value, key = rng.randint(1, 100), "\\N"
                payload = f'{{"customer": "{customer}", "value": {value}}}'
            else:
                value, key = 1, f"user-{rng.randrange(USERS)}"
                payload = f'{{"customer": "{customer}", "user": "{key}"}}'
            if current:
                if number % VOIDED_EVERY == 0:
                    voided = created
                elif formula == "sum":
                    self.sums[customer] += value
                else:
                    self.keys[customer].add(key)
            day, rest = divmod(at - base, 86_400)
            hour, rest = divmod(rest, 3600)
            minute, second = divmod(rest, 60)
            chunk.append(f"{prefix}{number:010d}\t{self.meters[formula]}\t{customer}\t"
                         f"{days[day]}{hour:02d}:{minute:02d}:{second:02d}+00\t{value}\t{key}"
                         f"\tt\t{payload}\t{voided}\t{created}\n")
            if len(chunk) == 50_000:
                yield "".join(chunk).encode()
                chunk = []
        if chunk:
            yield "".join(chunk).encode()


EVENT_COLUMNS = ("org_id, identifier, meter_id, customer_id, timestamp, value, key, counted, "
                 "payload, voided_at, created")
HOURS_FROM_EVENTS = (
    "INSERT INTO usage_hours (meter_id, customer_id, hour, count, sum_micros, max_micros) "
    "SELECT meter_id, customer_id, date_trunc('hour', timestamp AT TIME ZONE 'UTC') "
    "AT TIME ZONE 'UTC', count(*), sum((value::numeric * 1000000)::bigint), "
    "max((value::numeric * 1000000)::bigint) FROM meter_events "
    "WHERE counted AND voided_at IS NULL GROUP BY 1, 2, 3")


def set_aside_indexes(connection: psycopg.Connection[Any], table: str) -> list[str]:
    """Drop the table's indexes and unique constraints (a bulk load is faster without them);
    returns the statements that build them again, from their own definitions."""
    constraints = connection.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')", (table,)).fetchall()
    indexes = connection.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        (table, table)).fetchall()
    for name, _ in constraints:
        connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    return [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
            for name, definition in constraints] + [definition for _, definition in indexes]


def load_events(connection: psycopg.Connection[Any], stream: EventStream,
                timings: dict[str, float]) -> None:
    """COPY the events, then the hourly aggregates, with the tables' indexes set aside and
    built again afterwards."""
    began = time.perf_counter()
    connection.execute("TRUNCATE meter_events, usage_hours")  # COPY FREEZE needs it here
    rebuild = set_aside_indexes(connection, "meter_events") + \
        set_aside_indexes(connection, "usage_hours")
    written = 0
    with connection.cursor().copy(
            f"COPY meter_events ({EVENT_COLUMNS}) FROM STDIN WITH (FREEZE)") as copy:
        for data in stream.chunks():
            copy.write(data)
            written += data.count(b"\n")
            if written % 1_000_000 < 50_000:
                console.print(f"    {written:,} events ({time.perf_counter() - began:.0f} s)")
    connection.commit()
    timings["copy events"] = time.perf_counter() - began
    began = time.perf_counter()
    connection.execute("SET work_mem = '1GB'")  # the hours are grouped in memory
    connection.execute(HOURS_FROM_EVENTS)
    connection.commit()
    timings["usage_hours"] = time.perf_counter() - began
    began = time.perf_counter()
    connection.execute("SET maintenance_work_mem = '1GB'")
    connection.execute("SET max_parallel_maintenance_workers = 2")
    for statement in rebuild:
        connection.execute(statement)
    connection.commit()
    timings["indexes"] = time.perf_counter() - began
    began = time.perf_counter()
    connection.autocommit = True
    connection.execute("VACUUM ANALYZE meter_events")
    connection.execute("VACUUM ANALYZE usage_hours")
    connection.execute("ANALYZE")
    connection.autocommit = False
    timings["vacuum analyze"] = time.perf_counter() - began


def populate(url: str, data_dir: Path, args: argparse.Namespace) -> Fixture:
    timings: dict[str, float] = {}
    began = time.perf_counter()
    reset_schema(url)
    timings["schema"] = time.perf_counter() - began
    began = time.perf_counter()
    kassa = Kassa(Settings(data_dir=data_dir, database_url=url, secret_key=SECRET_KEY))
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        s = seed(kassa, now, args.hot_events)
    finally:
        kassa.engine.dispose()
    timings["services"] = time.perf_counter() - began
    began = time.perf_counter()
    with psycopg.connect(psycopg_url(url)) as connection:
        invoice_ids = copy_customers_and_invoices(connection, s, args.invoices)
        connection.commit()
        timings["customers + invoices"] = time.perf_counter() - began
        stream = EventStream(s.org_id, s.meters, s.hot, args.events, s.period_start, now)
        load_events(connection, stream, timings)
    hot = [{"label": h.label, "customer": h.customer, "usage": stream.usage(h)} for h in s.hot]
    return Fixture(url, s.secret_key, s.org_id, hot, invoice_ids, args.events, timings)


def reusable(fixture: Fixture) -> bool:
    """Whether the database still holds what the state file describes."""
    try:
        with psycopg.connect(psycopg_url(fixture.url)) as connection:
            row = connection.execute(
                "SELECT (SELECT count(*) FROM invoices WHERE org_id = %s), "
                "(SELECT reltuples FROM pg_class WHERE relname = 'meter_events')",
                (fixture.org_id,)).fetchone()
    except psycopg.Error:
        return False
    return row is not None and row[0] >= len(fixture.invoice_ids) \
        and abs(row[1] - fixture.events) < 0.05 * fixture.events


# --- the server -------------------------------------------------------------------------------

@contextmanager
def server(url: str, data_dir: Path, workers: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`kassa serve` in a subprocess; yields its base URL and process, and always stops it."""
    port = free_port()
    log_path = data_dir / "server.log"
    env = {**os.environ, "KASSA_DATABASE_URL": url, "KASSA_SECRET_KEY": SECRET_KEY,
           "KASSA_DATA_DIR": str(data_dir), "KASSA_RATE_LIMIT": RATE_LIMIT}
    command = [sys.executable, "-m", "kassa", "serve", "--host", "127.0.0.1", "--port",
               str(port), "--no-scheduler"]
    if workers != 1:
        command += ["--workers", str(workers)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base, log_path, 90)
        console.print(f"  server pid {process.pid} on {base}, {workers} worker(s) "
                      f"(log {log_path})")
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- the load generator (a separate process) --------------------------------------------------

@dataclass(frozen=True)
class Load:
    """One scenario's requests: GET `paths` in turn, or POST `body_json` (with `{n}` for the
    request's number) to `paths[0]` with a fresh Idempotency-Key each."""

    base: str
    secret: str
    paths: tuple[str, ...]
    concurrency: int
    requests: int
    seconds: float
    warmup: int
    body_json: str | None = None
    server_pid: int = 0  # the server's process tree is watched for its CPU time
    pg_url: str | None = None  # and so are the database's PostgreSQL backends (local server)


@dataclass
class LoadResult:
    latencies_ms: list[float]
    statuses: dict[int, int]
    elapsed_s: float
    sample_errors: list[str]
    bodies: list[str]  # a few successful answers
    load_cpu_s: float = 0.0  # CPU time the load generator spent on the measured requests
    server_cpu_s: float = 0.0  # ... the server's processes
    pg_cpu_s: float = 0.0  # ... PostgreSQL's backends of the database

    def per_request_ms(self, seconds: float) -> float:
        return seconds * 1000 / len(self.latencies_ms) if self.latencies_ms else 0.0

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0


class _Connection:
    """One keep-alive HTTP/1.1 connection: a few lines of asyncio, so that generating the load
    costs little of the CPU the server shares."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:  # chunked
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(part[:-2] for part in parts)
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
            self.writer = None
        return status, body


def _raw_request(load: Load, number: int, run: str) -> bytes:
    host = load.base.removeprefix("http://")
    auth = f"Authorization: Bearer {load.secret}\r\n"
    if load.body_json is None:
        path = load.paths[number % len(load.paths)]
        return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n".encode()
    body = load.body_json.replace("{n}", f"{run}-{number}").encode()
    return (f"POST {load.paths[0]} HTTP/1.1\r\nHost: {host}\r\n{auth}"
            f"Idempotency-Key: {run}-{number}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _drive(load: Load, count: int, seconds: float, run: str, first: int) -> LoadResult:
    host, _, port = load.base.removeprefix("http://").partition(":")
    result = LoadResult([], {}, 0.0, [], [])
    statuses: Counter[int] = Counter()
    issued = 0
    began = time.perf_counter()
    deadline = began + seconds

    async def worker() -> None:
        nonlocal issued
        connection = _Connection(host, int(port))
        while issued < count and time.perf_counter() < deadline:
            number = first + issued
            issued += 1
            raw = _raw_request(load, number, run)
            sent = time.perf_counter()
            status, body = await connection.request(raw)
            result.latencies_ms.append((time.perf_counter() - sent) * 1000)
            statuses[status] += 1
            if not 200 <= status < 300 and len(result.sample_errors) < 5:
                result.sample_errors.append(f"{status}: {body[:300].decode(errors='replace')}")
            elif 200 <= status < 300 and len(result.bodies) < 3:
                result.bodies.append(body.decode())
        if connection.writer is not None:
            connection.writer.close()

    await asyncio.gather(*(worker() for _ in range(load.concurrency)))
    result.elapsed_s = time.perf_counter() - began
    result.statuses = dict(statuses)
    return result


def generate_load(load: Load) -> tuple[LoadResult, int]:
    """Run in the load process: the warm-up (not measured), then the measured requests.
    Returns the measurement and how many requests were sent in all."""
    run = uuid.uuid4().hex[:12]
    warm = asyncio.run(_drive(load, load.warmup, load.seconds, run, 0))
    server = CpuWatch(lambda: process_tree(load.server_pid))
    database = CpuWatch(lambda: postgres_backends(load.pg_url))
    began = time.process_time()
    measured = asyncio.run(_drive(load, load.requests, load.seconds, run, load.warmup))
    measured.load_cpu_s = time.process_time() - began
    measured.server_cpu_s, measured.pg_cpu_s = server.spent(), database.spent()
    return measured, len(warm.latencies_ms) + len(measured.latencies_ms)


# --- CPU time of the server and the database, which share the machine with others ---------

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def process_tree(root: int) -> set[int]:
    """`root` and its descendants (the uvicorn workers)."""
    if not root:
        return set()
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError):
                continue
    tree, grew = {root}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grew = bool(found)
    return tree


def postgres_backends(url: str | None) -> set[int]:
    """The PostgreSQL backends serving the database (the server runs on this machine)."""
    if not url:
        return set()
    with psycopg.connect(psycopg_url(url)) as connection:
        return {pid for (pid,) in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")}


class CpuWatch:
    """CPU time spent by a changing set of processes since the watch began (a process that
    appeared meanwhile counts whole)."""

    def __init__(self, find: Any) -> None:
        self.find = find
        self.start = {pid: cpu_seconds(pid) for pid in find()}

    def spent(self) -> float:
        return sum(cpu_seconds(pid) - self.start.get(pid, 0.0) for pid in self.find())


# --- the scenarios ----------------------------------------------------------------------------

@dataclass
class Figure:
    name: str
    result: LoadResult
    goal_rate: float | None
    goal_p99: float | None  # None: no goal, a figure to know
    check: str = ""

    @property
    def p50(self) -> float:
        return percentile(self.result.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.result.latencies_ms, 99)

    @property
    def cpu_ms(self) -> tuple[float, float, float]:
        """CPU time per request: the server's, PostgreSQL's and the load generator's."""
        r = self.result
        return (r.per_request_ms(r.server_cpu_s), r.per_request_ms(r.pg_cpu_s),
                r.per_request_ms(r.load_cpu_s))

    @property
    def capacity(self) -> float:
        """Requests/s the machine's CPUs could serve at this CPU time per request, were
        nothing else running on them: a figure other users of the machine disturb less."""
        total = sum(self.cpu_ms)
        return (os.cpu_count() or 1) * 1000 / total if total else 0.0

    @property
    def met(self) -> bool:
        return (self.goal_rate is None or self.result.rate >= self.goal_rate) \
            and (self.goal_p99 is None or self.p99 <= self.goal_p99) \
            and self.result.ok == len(self.result.latencies_ms)


def measure(pool: concurrent.futures.ProcessPoolExecutor, load: Load) -> tuple[LoadResult, int]:
    return pool.submit(generate_load, load).result()


def customers_of(fixture: Fixture) -> int:
    with psycopg.connect(psycopg_url(fixture.url)) as connection:
        row = connection.execute("SELECT count(*) FROM customers WHERE org_id = %s",
                                 (fixture.org_id,)).fetchone()
    return int(row[0]) if row else 0


def check_idempotency(base: str, fixture: Fixture, body_json: str) -> str:
    """A retry of a key replays its first answer and creates nothing; the key with another
    body is refused."""
    headers = {"Authorization": f"Bearer {fixture.secret_key}",
               "Content-Type": "application/json"}
    key = f"bench-retry-{uuid.uuid4().hex}"
    body = body_json.replace("{n}", key)
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        first = client.post("/v1/customers", content=body, headers={"Idempotency-Key": key})
        before = customers_of(fixture)
        again = client.post("/v1/customers", content=body, headers={"Idempotency-Key": key})
        other = client.post("/v1/customers", content=body.replace("Load", "Other"),
                            headers={"Idempotency-Key": key})
        after = customers_of(fixture)
    problems = []
    if first.status_code != 200:
        problems.append(f"first answer {first.status_code}")
    if again.status_code != 200 or again.content != first.content \
            or again.headers.get("idempotent-replayed") != "true":
        problems.append("the retry did not replay the first answer")
    if after != before:
        problems.append(f"the retry created {after - before} customers")
    if other.status_code != 409 or other.json()["error"]["code"] != "idempotency_key_reused":
        problems.append(f"another body with the key got {other.status_code}")
    return "; ".join(problems) or "a retry replays, creates nothing; another body: 409"


def run_scenarios(base: str, server_pid: int, fixture: Fixture, args: argparse.Namespace,
                  pool: concurrent.futures.ProcessPoolExecutor) -> list[Figure]:
    figures = []
    common = {"base": base, "secret": fixture.secret_key, "concurrency": args.concurrency,
              "seconds": args.seconds, "server_pid": server_pid, "pg_url": fixture.url}
    chosen = args.scenarios.split(",")
    if "read" in chosen:
        paths = [f"/v1/invoices/{invoice}" for invoice in fixture.invoice_ids]
        random.Random(7).shuffle(paths)
        result, _ = measure(pool, Load(paths=tuple(paths), requests=args.requests,
                                       warmup=args.warmup, **common))
        bodies = [json.loads(b) for b in result.bodies]
        check = "3 lines each" if all(len(b["lines"]["data"]) == 3 for b in bodies) \
            else "unexpected invoice"
        figures.append(Figure("read: GET /v1/invoices/{id}", result, 500, 100, check))
        report(figures[-1])
    if "write" in chosen:
        body_json = json.dumps({"name": "Load {n}", "email": "load@bench.example",
                                "metadata": {"run": "{n}"}})
        before = customers_of(fixture)
        result, sent = measure(pool, Load(paths=("/v1/customers",), requests=args.requests,
                                          warmup=args.warmup, body_json=body_json, **common))
        created = customers_of(fixture) - before
        check = f"{created:,} created by {sent:,} requests; " + \
            check_idempotency(base, fixture, body_json)
        figures.append(Figure("write: POST /v1/customers", result, 200, 100,
                              check))
        report(figures[-1])
    if "preview" in chosen:
        for hot in fixture.hot:
            path = f"/v1/invoices/upcoming?customer={hot['customer']}"
            result, _ = measure(pool, Load(paths=(path,), requests=args.preview_requests,
                                           warmup=min(args.warmup, 50),
                                           **{**common, "concurrency": args.preview_concurrency}))
            used = {sum(int(line["quantity"] or 0) for line in json.loads(body)["lines"]["data"]
                        if line["type"] == "usage") for body in result.bodies}
            check = f"usage {', '.join(f'{u:,}' for u in used)} (events: {hot['usage']:,})"
            if used != {hot["usage"]}:
                check = "[red]WRONG[/red] " + check
            # The goal is the common case's, a sum; a count of distinct keys reads every
            # event of the period (from the index), and is shown for what it costs.
            goal = 50.0 if hot["label"].startswith("sum") else None
            figures.append(Figure(f"preview: {hot['label']}", result, None, goal, check))
            report(figures[-1])
    return figures


def report(figure: Figure) -> None:
    r = figure.result
    errors = len(r.latencies_ms) - r.ok
    server, database, load = figure.cpu_ms
    console.print(f"  {figure.name}: {r.rate:,.0f} req/s, p50 {figure.p50:.1f} ms, p99 "
                  f"{figure.p99:.1f} ms, {len(r.latencies_ms):,} requests in {r.elapsed_s:.1f} s;"
                  f" CPU ms/request: server {server:.2f}, PostgreSQL {database:.2f}, load "
                  f"{load:.2f} (capacity {figure.capacity:,.0f}/s)"
                  + (f", [red]{errors} not 2xx[/red]: {r.sample_errors[:2]}" if errors else ""))


def summary(figures: list[Figure], fixture: Fixture, args: argparse.Namespace) -> Table:
    table = Table(title=f"Kassa API on PostgreSQL: {args.workers} server worker(s), "
                        f"{args.concurrency} connections ({args.preview_concurrency} for the "
                        f"previews), {os.cpu_count()} CPUs shared; {fixture.events:,} meter "
                        f"events")
    for column in ("scenario", "requests", "req/s", "p50 ms", "p99 ms",
                   "CPU ms/req server+PG+load", "capacity req/s", "goal", "met", "check"):
        table.add_column(column, justify="left" if column in ("scenario", "goal", "check")
                         else "right", overflow="fold")
    for figure in figures:
        goal = ", ".join(([f">= {figure.goal_rate:.0f}/s"] if figure.goal_rate else [])
                         + ([f"p99 <= {figure.goal_p99:.0f} ms"] if figure.goal_p99 else [])) \
            or "(none)"
        errors = len(figure.result.latencies_ms) - figure.result.ok
        table.add_row(figure.name, f"{len(figure.result.latencies_ms):,}"
                      + (f" ({errors} failed)" if errors else ""),
                      f"{figure.result.rate:,.0f}", f"{figure.p50:.1f}", f"{figure.p99:.1f}",
                      "+".join(f"{ms:.2f}" for ms in figure.cpu_ms), f"{figure.capacity:,.0f}",
                      goal, "[green]yes[/green]" if figure.met else "[red]no[/red]",
                      figure.check)
    return table


def revision() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def state_path(url: str) -> Path:
    database = make_url(url).database or "db"
    return Path(tempfile.gettempdir()) / f"kassa-bench-api-{database}.json"


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=os.environ.get("KASSA_BENCH_PG_URL"),
                        help="PostgreSQL URL (its public schema is DROPPED!); default "
                             "$KASSA_BENCH_PG_URL")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent connections")
    parser.add_argument("--requests", type=int, default=6_000,
                        help="measured requests per scenario (at most)")
    parser.add_argument("--preview-requests", type=int, default=1_000,
                        help="measured preview requests (at most)")
    parser.add_argument("--preview-concurrency", type=int, default=2,
                        help="concurrent connections of the preview scenarios")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="seconds per scenario (at most)")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured requests first")
    parser.add_argument("--scenarios", default="read,write,preview")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--hot-events", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=5_000)
    parser.add_argument("--reuse", action="store_true",
                        help="use the database an earlier run populated, if it still is")
    args = parser.parse_args()
    if not args.pg_url or not args.pg_url.startswith("postgresql"):
        parser.error("give a postgresql+psycopg:// URL with --pg-url (or KASSA_BENCH_PG_URL); "
                     "its public schema is dropped and recreated")
    if 2 * args.hot_events * (1 + HOT_EARLIER) >= args.events:
        parser.error("--events must be well above --hot-events")

    console.print(f"kassa {revision()}: {os.cpu_count()} CPUs, server workers {args.workers}, "
                  f"{args.concurrency} connections, at most {args.requests:,} requests or "
                  f"{args.seconds:.0f} s per scenario")
    data_dir = Path(tempfile.mkdtemp(prefix="kassa-bench-api-"))
    state = state_path(args.pg_url)
    fixture = None
    if args.reuse and state.exists():
        fixture = Fixture(**json.loads(state.read_text()))
        if fixture.url != args.pg_url or not reusable(fixture):
            fixture = None
        else:
            console.print(f"  reusing the database populated earlier ({state})")
    if fixture is None:
        console.rule("[bold]population")
        began = time.perf_counter()
        fixture = populate(args.pg_url, data_dir, args)
        total = time.perf_counter() - began
        state.write_text(json.dumps(asdict(fixture)))
        console.print(f"  population: {total:.0f} s ("
                      + ", ".join(f"{k} {v:.1f} s" for k, v in fixture.populate_s.items())
                      + f"); {fixture.events:,} events, {len(fixture.hot)} hot customers with "
                      f"{args.hot_events:,} each in its period, {len(fixture.invoice_ids):,} "
                      f"invoices")
    else:
        upgrade_only(fixture.url)
    console.rule("[bold]load")
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool, \
            server(args.pg_url, data_dir, args.workers) as (base, process):
        figures = run_scenarios(base, process.pid, fixture, args, pool)
    console.print(summary(figures, fixture, args))
    console.print("  (figures from one run on a shared machine: take the best of a few)")
    return 0 if all(figure.met for figure in figures) else 1


def upgrade_only(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
