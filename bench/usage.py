"""Usage-ingestion benchmark: meter events through the real HTTP API, against a raw bulk insert.

    .venv/bin/python bench/usage.py [N] [--db sqlite|postgres|both] [--pg-url URL]

For each database it creates a fresh, migrated database with one organization, 1,000
customers (external ids), one `sum` meter, a metered graduated price on it and a subscription
per customer (backdated 21 days, so every event falls in the current billing period). It then
starts `kassa serve` in a subprocess and measures:

* ingestion: N events (default 1,000,000) posted to POST /v1/billing/meter_events/batch in
  batches of 5,000 by 4 concurrent clients; sustained events/s and batch p50/p99 latency.
  Customer 0 receives exactly 10,000 of the N events, spread over all batches.
* GET /v1/invoices/upcoming for customer 0 (10,000 events in the period): p50/p99 latency.
* baseline: the same rows bulk-inserted straight into an emptied `meter_events` table
  (PostgreSQL: COPY; SQLite: executemany in one transaction); rows/s and how many times
  slower the API path is.

PostgreSQL needs an explicit URL (--pg-url or KASSA_BENCH_PG_URL): its public schema is
DROPPED and recreated, so never point it at a database you care about.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from metered import (  # bench/ is the script's directory
    BATCH_PATH,
    CUSTOMERS,
    EVENT_NAME,
    SPREAD,
    Fixture,
    Target,
    console,
    external_id,
    percentile,
    pg_copy,
    populate,
    prepare_database,
    progress,
    revision,
    server,
)
from rich.table import Table

from kassa.services import meters

HOT_EVENTS = 10_000  # events of customer 0, whose upcoming invoice is timed
BASELINE_CHUNK = 50_000
SQLITE_INSERT = ("INSERT INTO meter_events (org_id, identifier, meter_id, customer_id, "
                 "timestamp, value, key, counted, payload, voided_at, created) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


# --- the workload -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    """N events, generated batch by batch and reproducibly (the baseline regenerates them)."""

    events: int
    batch_size: int
    anchor: int  # Unix time the timestamps count back from
    seed: int

    @property
    def batches(self) -> int:
        return math.ceil(self.events / self.batch_size)

    @property
    def stride(self) -> int:
        return self.events // HOT_EVENTS

    def batch(self, number: int) -> list[tuple[str, int, int, int]]:
        """(identifier, customer index, timestamp, value) of the events of one batch."""
        rng = random.Random(f"{self.seed}-{number}")
        start = number * self.batch_size
        rows = []
        for i in range(start, min(start + self.batch_size, self.events)):
            hot = i % self.stride == 0 and i // self.stride < HOT_EVENTS
            customer = 0 if hot else 1 + rng.randrange(CUSTOMERS - 1)
            rows.append((f"ev-{i:08d}", customer, self.anchor - rng.randrange(60, SPREAD),
                         rng.randint(1, 100)))
        return rows

    def body(self, number: int) -> tuple[bytes, int, int]:
        """The JSON body of one batch request, its event count and customer 0's value sum."""
        rows = self.batch(number)
        events = [{"identifier": identifier, "event_name": EVENT_NAME, "timestamp": ts,
                   "payload": {"customer": external_id(customer), "value": value}}
                  for identifier, customer, ts, value in rows]
        hot = sum(value for _, customer, _, value in rows if customer == 0)
        return json.dumps({"events": events}).encode(), len(rows), hot


# --- figures ----------------------------------------------------------------------------------

@dataclass
class Result:
    database: str
    events: int = 0
    setup_s: float = 0.0
    ingest_s: float = 0.0
    batch_ms: list[float] = field(default_factory=list)
    upcoming_ms: list[float] = field(default_factory=list)
    baseline_s: float = 0.0
    hot_usage: str = ""

    @property
    def ingest_rate(self) -> float:
        return self.events / self.ingest_s if self.ingest_s else 0.0

    @property
    def baseline_rate(self) -> float:
        return self.events / self.baseline_s if self.baseline_s else 0.0

    @property
    def slowdown(self) -> float:
        return self.baseline_rate / self.ingest_rate if self.ingest_rate else 0.0


# --- the measurements -------------------------------------------------------------------------

def ingest(base: str, secret: str, workload: Workload, clients: int,
           result: Result) -> int:
    """Post every batch; returns customer 0's value sum. Fails on any rejected event."""
    local = threading.local()
    lock = threading.Lock()
    hot_sum = 0
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    opened: list[httpx.Client] = []

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base, headers=headers, timeout=600)
            with lock:
                opened.append(local.client)
        return local.client  # type: ignore[no-any-return]

    def post(number: int, advance: Callable[[int], None]) -> None:
        nonlocal hot_sum
        body, count, hot = workload.body(number)
        began = time.perf_counter()
        response = client().post(BATCH_PATH, content=body)
        elapsed = time.perf_counter() - began
        if response.status_code != 200:
            raise RuntimeError(f"batch {number}: HTTP {response.status_code}: "
                               f"{response.text[:500]}")
        answer = response.json()
        if answer["accepted"] != count:
            bad = next((r for r in answer["results"] if r["status"] != "accepted"), None)
            raise RuntimeError(f"batch {number}: {answer['accepted']} of {count} accepted "
                               f"({answer['duplicate']} duplicate, {answer['rejected']} "
                               f"rejected), e.g. {bad}")
        with lock:
            result.batch_ms.append(elapsed * 1000)
            hot_sum += hot
        advance(count)

    try:
        with progress() as bar:
            task = bar.add_task("  ingesting events", total=workload.events)
            began = time.perf_counter()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                futures = [pool.submit(post, number, lambda n: bar.advance(task, n))
                           for number in range(workload.batches)]
                try:
                    for future in futures:
                        future.result()
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
            result.ingest_s = time.perf_counter() - began
    finally:
        for opened_client in opened:
            opened_client.close()
    return hot_sum


def upcoming(base: str, secret: str, customer_id: str, requests: int,
             result: Result) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        invoice: dict[str, Any] = {}
        for _ in range(5):  # warm-up
            client.get("/v1/invoices/upcoming", params={"customer": customer_id})
        with progress() as bar:
            task = bar.add_task("  upcoming invoice", total=requests)
            for _ in range(requests):
                began = time.perf_counter()
                response = client.get("/v1/invoices/upcoming", params={"customer": customer_id})
                result.upcoming_ms.append((time.perf_counter() - began) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"upcoming invoice: HTTP {response.status_code}: "
                                       f"{response.text[:500]}")
                invoice = response.json()
                bar.advance(task)
    return invoice


def baseline_rows(target: Target, workload: Workload, fixture: Fixture, number: int,
                  created: datetime) -> list[tuple[Any, ...]]:
    """The rows of one batch as ingestion stores them, in the database's own representation."""
    sqlite = target.sqlite_path is not None
    stamp = (lambda at: at.strftime("%Y-%m-%d %H:%M:%S.%f")) if sqlite else (lambda at: at)
    made = stamp(created.replace(tzinfo=None) if sqlite else created)
    counted = 1 if sqlite else True
    rows = []
    for identifier, customer, ts, value in workload.batch(number):
        at = datetime.fromtimestamp(ts, UTC)
        rows.append((fixture.org_id, identifier, fixture.meter_id, fixture.customer_ids[customer],
                     stamp(at.replace(tzinfo=None) if sqlite else at), str(value), None,
                     counted, json.dumps({"customer": external_id(customer), "value": value}),
                     None, made))
    return rows


def baseline_chunks(target: Target, workload: Workload,
                    fixture: Fixture) -> Iterator[list[tuple[Any, ...]]]:
    created = datetime.now(UTC)
    per_chunk = max(1, BASELINE_CHUNK // workload.batch_size)
    for first in range(0, workload.batches, per_chunk):
        chunk: list[tuple[Any, ...]] = []
        for number in range(first, min(first + per_chunk, workload.batches)):
            chunk.extend(baseline_rows(target, workload, fixture, number, created))
        yield chunk


def baseline(target: Target, workload: Workload, fixture: Fixture, result: Result) -> None:
    """Empty meter_events, then bulk-insert the same rows; only the inserting is timed."""
    elapsed = 0.0
    with progress() as bar:
        task = bar.add_task("  baseline bulk insert", total=workload.events)
        if target.sqlite_path is not None:
            connection = sqlite3.connect(target.sqlite_path, isolation_level=None)
            try:
                connection.execute("DELETE FROM meter_events")
                connection.execute("VACUUM")
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute("PRAGMA foreign_keys=ON")
                began = time.perf_counter()
                connection.execute("BEGIN")
                elapsed += time.perf_counter() - began
                for chunk in baseline_chunks(target, workload, fixture):
                    began = time.perf_counter()
                    connection.executemany(SQLITE_INSERT, chunk)
                    elapsed += time.perf_counter() - began
                    bar.advance(task, len(chunk))
                began = time.perf_counter()
                connection.execute("COMMIT")
                elapsed += time.perf_counter() - began
                (count,) = connection.execute("SELECT count(*) FROM meter_events").fetchone()
            finally:
                connection.close()
        else:
            elapsed, count = pg_copy(target, baseline_chunks(target, workload, fixture),
                                     lambda n: bar.advance(task, n))
    if count != workload.events:
        raise RuntimeError(f"baseline inserted {count} rows, expected {workload.events}")
    result.baseline_s = elapsed


# --- a run ------------------------------------------------------------------------------------

def run(target: Target, args: argparse.Namespace) -> Result:
    result = Result(target.name, events=args.events)
    console.rule(f"[bold]{target.name}")
    began = time.perf_counter()
    prepare_database(target)
    migrated = time.perf_counter() - began
    fixture = populate(target, CUSTOMERS)
    result.setup_s = time.perf_counter() - began
    console.print(f"  setup: {result.setup_s:.1f} s (migrations {migrated:.1f} s; "
                  f"{CUSTOMERS} customers and subscriptions through the services layer)")
    workload = Workload(args.events, args.batch, int(time.time()), args.seed)
    with server(target) as (base, _pid):
        hot_sum = ingest(base, fixture.secret_key, workload, args.clients, result)
        console.print(f"  ingestion: {result.ingest_rate:,.0f} events/s sustained "
                      f"({args.events:,} events in {result.ingest_s:.1f} s, {args.clients} "
                      f"clients, batches of {args.batch:,}); batch latency "
                      f"p50 {percentile(result.batch_ms, 50):,.0f} ms, "
                      f"p99 {percentile(result.batch_ms, 99):,.0f} ms")
        invoice = upcoming(base, fixture.secret_key, fixture.customer_ids[0],
                           args.upcoming_requests, result)
        billed = sum(line["quantity"] or 0 for line in invoice["lines"]["data"]
                     if line["type"] == "usage")
        result.hot_usage = f"{billed:,} (expected {hot_sum:,})"
        if billed != hot_sum:
            console.print(f"  [red]warning:[/] upcoming invoice bills {billed} units of "
                          f"usage, the events of customer 0 sum to {hot_sum}")
        console.print(f"  upcoming invoice (customer 0, {HOT_EVENTS:,} events, usage "
                      f"{billed:,}, total {invoice['total']}): "
                      f"p50 {percentile(result.upcoming_ms, 50):.1f} ms, "
                      f"p99 {percentile(result.upcoming_ms, 99):.1f} ms "
                      f"over {len(result.upcoming_ms)} requests")
    baseline(target, workload, fixture, result)
    console.print(f"  baseline ({'COPY' if target.sqlite_path is None else 'executemany'}): "
                  f"{result.baseline_rate:,.0f} rows/s ({result.baseline_s:.1f} s); the API "
                  f"path is {result.slowdown:.1f}x slower")
    return result


def summary(results: list[Result]) -> Table:
    table = Table(title=f"Usage benchmark ({results[0].events:,} events, {CUSTOMERS:,} "
                        f"customers)")
    table.add_column("")
    for result in results:
        table.add_column(result.database, justify="right")
    rows: list[tuple[str, Callable[[Result], str]]] = [
        ("setup (s)", lambda r: f"{r.setup_s:.1f}"),
        ("ingestion (events/s)", lambda r: f"{r.ingest_rate:,.0f}"),
        ("ingestion wall time (s)", lambda r: f"{r.ingest_s:.1f}"),
        ("batch p50 (ms)", lambda r: f"{percentile(r.batch_ms, 50):,.0f}"),
        ("batch p99 (ms)", lambda r: f"{percentile(r.batch_ms, 99):,.0f}"),
        ("baseline bulk insert (rows/s)", lambda r: f"{r.baseline_rate:,.0f}"),
        ("API path slower than baseline", lambda r: f"{r.slowdown:.1f}x"),
        ("upcoming invoice p50 (ms)", lambda r: f"{percentile(r.upcoming_ms, 50):.1f}"),
        ("upcoming invoice p99 (ms)", lambda r: f"{percentile(r.upcoming_ms, 99):.1f}"),
        ("customer 0 usage billed", lambda r: r.hot_usage),
    ]
    for label, render in rows:
        table.add_row(label, *(render(result) for result in results))
    return table


def main() -> int:
    # A plain `kill` of the benchmark still runs the `finally` that stops the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="?", type=int, default=1_000_000,
                        help="events to ingest (at least 10,000; default 1,000,000)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("KASSA_BENCH_PG_URL"),
                        help="PostgreSQL URL (its public schema is dropped!); default "
                             "$KASSA_BENCH_PG_URL")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--batch", type=int, default=5_000, help="events per batch request")
    parser.add_argument("--upcoming-requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the SQLite temp directory")
    args = parser.parse_args()
    if args.events < HOT_EVENTS:
        parser.error(f"N must be at least {HOT_EVENTS:,} (customer 0 gets {HOT_EVENTS:,})")
    if not 1 <= args.batch <= meters.MAX_BATCH:
        parser.error(f"--batch is 1 to {meters.MAX_BATCH:,}")
    names = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in names and not args.pg_url:
        parser.error("PostgreSQL needs an explicit --pg-url (or KASSA_BENCH_PG_URL); its "
                     "public schema is dropped and recreated")
    if "postgres" in names and not args.pg_url.startswith("postgresql"):
        parser.error("--pg-url must be a postgresql+psycopg:// URL")

    console.print(f"kassa {revision()}: {args.events:,} events, {CUSTOMERS:,} customers, "
                  f"{args.clients} clients, batches of {args.batch:,}, {os.cpu_count()} CPUs")
    results = []
    for name in names:
        directory = Path(tempfile.mkdtemp(prefix=f"kassa-bench-{name}-"))
        try:
            if name == "sqlite":
                path = directory / "kassa.db"
                target = Target(name, f"sqlite:///{path}", directory, path)
            else:
                target = Target(name, args.pg_url, directory)
            results.append(run(target, args))
        except Exception as exc:
            console.print(f"[red]{name} failed:[/] {exc}")
            console.print(f"  (files kept in {directory})")
            if results:
                console.print(summary(results))
            return 1
        finally:
            if not args.keep and directory.exists() and (
                    results and results[-1].database == name):
                shutil.rmtree(directory, ignore_errors=True)
    console.print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
