"""Sustained meter-event ingestion through the batch endpoint, with de-duplication on.

    .venv/bin/python bench/ingest.py --pg-url postgresql+psycopg://postgres@HOST/scratch_db \\
        [--seconds 60] [--clients 4] [--batch 5000] [--workers 2] [--duplicates 0.01]

It prepares a fresh PostgreSQL database (the database's public schema is DROPPED and
recreated: never point it at a database you care about) holding one organization, a `sum`
meter, a metered price on it and 1,000 customers subscribed to it, and serves Kassa on it
from a subprocess: `kassa serve --workers N` (each worker process builds the app from the
environment, kassa.api.app:create_app_from_env). Then --clients client processes
post batches to POST /v1/billing/meter_events/batch for --seconds seconds, each with its
own connection, one batch after the other; the batches are built as they go (a few ms each).

Every event carries its identifier; about --duplicates of the events of each batch are sent
again on purpose: events of the client's previous batch (a retry), events of another
client's batch of the same number (in flight at the same time, or not yet sent) and events
repeated within the batch. At the end it checks that the server answered "accepted" exactly
once per distinct identifier and "duplicate" for every other copy, and that the stored rows
are exactly the distinct events (every identifier, the values' sum, and the running hourly
aggregates). Then it empties meter_events and COPYs the same rows in, to compare.

Printed: events/s sustained over the timed window (every event posted, duplicates
included), batch latency p50/p99, events accepted, duplicates sent and acknowledged as
duplicates, the check, the COPY baseline's rows/s and how many times slower the API path
is, and where the CPU went: µs per event in the server processes, in PostgreSQL (this
database's backends) and in the clients, and how much of the machine other work took
meanwhile (the figures are only comparable between runs on an otherwise idle machine).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
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
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kassa.services import meters

COPY_CHUNK = 50_000


# --- the events -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """Which events each client sends. Event n (a global number) is fully determined by n;
    client c's batch k holds `fresh` new events and the planned duplicates."""

    clients: int
    batch_size: int
    duplicate_share: float
    anchor: int  # Unix time the timestamps count back from
    spread: int = SPREAD  # seconds the timestamps spread over (usage hours touched)

    @property
    def duplicates(self) -> int:
        return max(3, round(self.batch_size * self.duplicate_share)) \
            if self.duplicate_share > 0 else 0

    @property
    def fresh(self) -> int:
        return self.batch_size - self.duplicates

    @property
    def split(self) -> tuple[int, int, int]:
        """Duplicates of each kind: own previous batch, a neighbour's batch, this batch."""
        third = self.duplicates // 3
        return third, third, self.duplicates - 2 * third

    def first(self, client: int, batch: int) -> int:
        """The number of the first fresh event of a batch."""
        return (batch * self.clients + client) * self.fresh

    def neighbour(self, client: int) -> int:
        return (client + 1) % self.clients

    def numbers(self, client: int, batch: int) -> list[int]:
        """The event numbers of a batch, in the order they are sent: the fresh events with
        the duplicates spread among them. The three kinds repeat disjoint ranges of a
        batch's fresh events: its first `retry`, the next `cross`, the next `repeat`."""
        own = self.first(client, batch)
        fresh = list(range(own, own + self.fresh))
        retry, cross, repeat = self.split
        extra = [*(range(self.first(client, batch - 1), self.first(client, batch - 1) + retry)
                   if batch else ()),
                 *range(self.first(self.neighbour(client), batch) + retry,
                        self.first(self.neighbour(client), batch) + retry + cross),
                 *range(own + retry + cross, own + retry + cross + repeat)]
        if not extra:
            return fresh
        step = len(fresh) // len(extra)
        numbers: list[int] = []
        for index, number in enumerate(extra):  # each after a slice of fresh events
            numbers.extend(fresh[index * step:(index + 1) * step])
            numbers.append(number)
        numbers.extend(fresh[len(extra) * step:])
        return numbers


def identifier(number: int) -> str:
    return f"ev-{number:010d}"


def customer_of(number: int) -> int:
    return number * 7919 % CUSTOMERS


def value_of(number: int) -> int:
    return number % 100 + 1


def timestamp_of(plan: Plan, number: int) -> int:
    return plan.anchor - 60 - number * 104_729 % plan.spread


_EVENT = (b'{"identifier":"ev-%010d","event_name":"' + EVENT_NAME.encode()
          + b'","timestamp":%d,"payload":{"customer":"%s","value":%d}}')
_CUSTOMER_REFS = [external_id(c).encode() for c in range(CUSTOMERS)]


def body(plan: Plan, numbers: list[int]) -> bytes:
    """The JSON body of a batch."""
    return b'{"events":[' + b",".join(
        _EVENT % (n, timestamp_of(plan, n), _CUSTOMER_REFS[customer_of(n)], value_of(n))
        for n in numbers) + b"]}"


def distinct_numbers(plan: Plan, sent: set[tuple[int, int]]) -> Iterator[int]:
    """Every event number sent at least once, given the (client, batch) pairs sent."""
    retry, cross, _ = plan.split
    for client, batch in sorted(sent):
        own = plan.first(client, batch)
        yield from range(own, own + plan.fresh)
        home = (plan.neighbour(client), batch)
        if home not in sent:  # the neighbour never sent it: this copy was the only one
            other = plan.first(*home) + retry
            yield from range(other, other + cross)


# --- the clients ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClientJob:
    number: int
    base: str
    secret: str
    plan: Plan


def client_process(job: ClientJob, reports: Any, go: Any, deadline: Any) -> None:
    """Post batch after batch until the deadline; report each batch on `reports`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the run
    headers = {"Authorization": f"Bearer {job.secret}", "Content-Type": "application/json"}
    batch = 0
    try:
        with httpx.Client(base_url=job.base, headers=headers, timeout=300) as client:
            client.get("/health")
            reports.put(("ready", job.number))
            go.wait()
            cpu_began = time.process_time()
            while time.monotonic() < deadline.value:
                numbers = job.plan.numbers(job.number, batch)
                content = body(job.plan, numbers)
                began = time.perf_counter()
                response = client.post(BATCH_PATH, content=content)
                elapsed = time.perf_counter() - began
                if response.status_code != 200:
                    raise RuntimeError(f"client {job.number}, batch {batch}: HTTP "
                                       f"{response.status_code}: {response.text[:500]}")
                answer = response.json()
                if answer["rejected"]:
                    bad = next(r for r in answer["results"] if r["status"] == "rejected")
                    raise RuntimeError(f"client {job.number}, batch {batch}: "
                                       f"{answer['rejected']} rejected, e.g. {bad}")
                reports.put(("batch", job.number, batch, len(numbers), answer["accepted"],
                             answer["duplicate"], elapsed, time.monotonic()))
                batch += 1
            reports.put(("done", job.number, time.process_time() - cpu_began))
    except Exception as exc:  # the parent reports it
        reports.put(("failed", job.number, f"{type(exc).__name__}: {exc}"))


# --- where the CPU went -------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (the server's worker processes)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found.extend(process_tree(int(child)))
    return found


def machine_busy_seconds() -> float:
    """CPU time all processes on the machine have used, summed over its cores."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICK


@dataclass
class CpuMeter:
    """CPU seconds used by the server processes, this database's PostgreSQL backends and the
    whole machine (other work included), from start() to stop()."""

    server_pid: int
    target: Target
    server_s: float = 0.0
    postgres_s: float = 0.0
    machine_s: float = 0.0
    _start: dict[str, float] = field(default_factory=dict)

    def _backends(self) -> list[int]:
        with psycopg.connect(self.target.libpq_url) as connection:
            rows = connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = "
                                      "current_database() AND pid <> pg_backend_pid()")
            return [pid for (pid,) in rows]

    def _sample(self) -> dict[str, float]:
        sample = {f"pg{pid}": cpu_seconds(pid) for pid in self._backends()}
        sample["server"] = sum(cpu_seconds(pid) for pid in process_tree(self.server_pid))
        sample["machine"] = machine_busy_seconds()
        return sample

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> None:
        end = self._sample()
        self.server_s = end["server"] - self._start["server"]
        self.machine_s = end["machine"] - self._start["machine"]
        self.postgres_s = sum(used - self._start.get(name, 0.0)
                              for name, used in end.items() if name.startswith("pg"))


# --- the run ----------------------------------------------------------------------------------

@dataclass
class Result:
    seconds: float = 0.0
    events: int = 0  # posted, duplicates included
    accepted: int = 0
    duplicates_acknowledged: int = 0
    batch_ms: list[float] = field(default_factory=list)
    sent: set[tuple[int, int]] = field(default_factory=set)
    client_cpu_s: float = 0.0
    cpu: CpuMeter | None = None
    distinct: int = 0
    check: str = ""
    copy_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def copy_rate(self) -> float:
        return self.distinct / self.copy_s if self.copy_s else 0.0


def ingest(base: str, fixture: Fixture, plan: Plan, seconds: float, cpu: CpuMeter,
           result: Result) -> None:
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()
    go = context.Event()
    deadline = context.Value("d", 0.0)
    processes = [context.Process(target=client_process, daemon=True, args=(
        ClientJob(number, base, fixture.secret_key, plan), reports, go, deadline))
        for number in range(plan.clients)]
    for process in processes:
        process.start()
    try:
        ready = 0
        while ready < plan.clients:
            report = reports.get(timeout=120)
            if report[0] == "failed":
                raise RuntimeError(f"client {report[1]}: {report[2]}")
            ready += 1
        cpu.start()
        began = time.monotonic()
        deadline.value = began + seconds
        go.set()
        collect(reports, plan, began, seconds, result)
        cpu.stop()
        result.cpu = cpu
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


def collect(reports: Any, plan: Plan, began: float, seconds: float, result: Result) -> None:
    """Take the clients' reports until every client is done, showing progress."""
    done = 0
    last = began
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[events]:>12,} events  {task.fields[rate]:>8,.0f}/s"))
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("  ingesting", total=seconds, events=0, rate=0.0)
        while done < plan.clients:
            try:
                report = reports.get(timeout=0.25)
            except queue.Empty:
                report = None
            now = time.monotonic()
            if report is not None:
                kind = report[0]
                if kind == "failed":
                    raise RuntimeError(f"client {report[1]}: {report[2]}")
                if kind == "done":
                    done += 1
                    result.client_cpu_s += report[2]
                else:
                    _, client, batch, count, accepted, duplicate, elapsed, at = report
                    result.sent.add((client, batch))
                    result.events += count
                    result.accepted += accepted
                    result.duplicates_acknowledged += duplicate
                    result.batch_ms.append(elapsed * 1000)
                    last = max(last, at)
            bar.update(task, completed=min(seconds, now - began), events=result.events,
                       rate=result.events / max(now - began, 1e-9))
    result.seconds = last - began


def check(target: Target, plan: Plan, fixture: Fixture, result: Result) -> list[str]:
    """What does not hold of the stored rows and the answers; empty when all is well."""
    expected = set(distinct_numbers(plan, result.sent))
    result.distinct = len(expected)
    value_sum = sum(value_of(n) for n in expected)
    problems = []
    if result.accepted != len(expected):
        problems.append(f"{result.accepted:,} events accepted, {len(expected):,} distinct "
                        "events were sent")
    if result.duplicates_acknowledged != result.events - len(expected):
        problems.append(f"{result.duplicates_acknowledged:,} acknowledged as duplicates, "
                        f"{result.events - len(expected):,} duplicates were sent")
    with psycopg.connect(target.libpq_url) as connection, connection.cursor() as cursor:
        stored: set[int] = set()
        rows = 0
        with cursor.copy("COPY (SELECT substr(identifier, 4) FROM meter_events "
                         "WHERE org_id = %s) TO STDOUT", (fixture.org_id,)) as copy:
            for (number,) in copy.rows():
                stored.add(int(number))
                rows += 1
        cursor.execute("SELECT sum(value::numeric) FROM meter_events")
        (stored_sum,) = cursor.fetchone() or (None,)
        cursor.execute("SELECT sum(count), sum(sum_micros) FROM usage_hours")
        hours_count, hours_micros = cursor.fetchone() or (None, None)
    if rows != len(expected) or stored != expected:
        problems.append(f"{rows:,} rows stored, {len(expected):,} distinct events sent; "
                        f"{len(expected - stored):,} missing, {len(stored - expected):,} "
                        "unexpected")
    if stored_sum != value_sum:
        problems.append(f"stored values sum to {stored_sum}, the distinct events' to "
                        f"{value_sum}")
    if hours_count != len(expected) or hours_micros != value_sum * 1_000_000:
        problems.append(f"hourly aggregates count {hours_count} events summing to "
                        f"{hours_micros} millionths; expected {len(expected)} and "
                        f"{value_sum * 1_000_000}")
    return problems


def copy_chunks(plan: Plan, fixture: Fixture,
                numbers: list[int]) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of the distinct events, as ingestion stores them."""
    created = datetime.now(UTC)
    for start in range(0, len(numbers), COPY_CHUNK):
        yield [(fixture.org_id, identifier(n), fixture.meter_id,
                fixture.customer_ids[customer_of(n)],
                datetime.fromtimestamp(timestamp_of(plan, n), UTC), str(value_of(n)), None,
                True, f'{{"customer": "{external_id(customer_of(n))}", "value": '
                      f'{value_of(n)}}}', None, created)
               for n in numbers[start:start + COPY_CHUNK]]


def baseline(target: Target, plan: Plan, fixture: Fixture, result: Result) -> None:
    numbers = sorted(distinct_numbers(plan, result.sent))
    with progress() as bar:
        task = bar.add_task("  COPY baseline", total=len(numbers))
        result.copy_s, count = pg_copy(target, copy_chunks(plan, fixture, numbers),
                                       lambda n: bar.advance(task, n))
    if count != len(numbers):
        raise RuntimeError(f"COPY stored {count} rows, expected {len(numbers)}")


def run(target: Target, args: argparse.Namespace) -> Result:
    began = time.perf_counter()
    prepare_database(target)
    fixture = populate(target)
    console.print(f"  setup: {time.perf_counter() - began:.1f} s ({CUSTOMERS:,} customers "
                  "and subscriptions through the services layer)")
    plan = Plan(args.clients, args.batch, args.duplicates, int(time.time()),
                int(args.spread_hours * 3600))
    result = Result()
    with server(target, args.workers) as (base, pid):
        console.print(f"  profile the server with: .venv/bin/py-spy record --subprocesses "
                      f"-o ingest.svg --pid {pid}")
        ingest(base, fixture, plan, args.seconds, CpuMeter(pid, target), result)
    console.print(f"  ingestion: {result.rate:,.0f} events/s sustained ({result.events:,} "
                  f"events in {result.seconds:.1f} s, {len(result.batch_ms):,} batches); "
                  f"batch latency p50 {percentile(result.batch_ms, 50):,.0f} ms, "
                  f"p99 {percentile(result.batch_ms, 99):,.0f} ms")
    console.print(f"  CPU: {cpu_line(result)}")
    problems = check(target, plan, fixture, result)
    result.check = "failed" if problems else "passed"
    duplicates = result.events - result.distinct
    console.print(f"  de-duplication: {result.accepted:,} accepted, {duplicates:,} duplicates "
                  f"sent ({duplicates / result.events:.2%}), "
                  f"{result.duplicates_acknowledged:,} acknowledged as duplicates and not "
                  "stored")
    for problem in problems:
        console.print(f"  [red]check failed:[/] {problem}")
    if not problems:
        console.print(f"  check passed: the {result.distinct:,} stored rows are exactly the "
                      "distinct events sent (identifiers, values, hourly aggregates)")
    baseline(target, plan, fixture, result)
    console.print(f"  COPY baseline: {result.copy_rate:,.0f} rows/s ({result.distinct:,} rows "
                  f"in {result.copy_s:.1f} s); the API path is "
                  f"{result.copy_rate / result.rate:.1f}x slower")
    return result


def cpu_figures(result: Result) -> dict[str, float]:
    """Where the CPU went in the timed window: µs per event posted, and the cores other work
    on the machine took meanwhile."""
    cpu = result.cpu
    assert cpu is not None
    ours = cpu.server_s + cpu.postgres_s + result.client_cpu_s
    return {"server": cpu.server_s * 1e6 / result.events,
            "postgres": cpu.postgres_s * 1e6 / result.events,
            "clients": result.client_cpu_s * 1e6 / result.events,
            "machine": cpu.machine_s / result.seconds,
            "other": max(0.0, cpu.machine_s - ours) / result.seconds}


def cpu_line(result: Result) -> str:
    f = cpu_figures(result)
    return (f"server {f['server']:.0f} µs/event, PostgreSQL {f['postgres']:.0f} µs/event, "
            f"clients {f['clients']:.0f} µs/event; the machine was busy {f['machine']:.2f} "
            f"of {os.cpu_count()} cores, {f['other']:.2f} of them with other work")


def summary(result: Result, args: argparse.Namespace) -> Table:
    table = Table(title=f"Ingestion benchmark ({args.seconds:g} s, {args.clients} clients, "
                        f"batches of {args.batch:,}, {args.workers} server process"
                        f"{'es' if args.workers > 1 else ''})")
    table.add_column("")
    table.add_column("postgres", justify="right")
    duplicates = result.events - result.distinct
    cpu = cpu_figures(result)
    rows = [
        ("ingestion (events/s)", f"{result.rate:,.0f}"),
        ("events posted", f"{result.events:,}"),
        ("batch p50 (ms)", f"{percentile(result.batch_ms, 50):,.0f}"),
        ("batch p99 (ms)", f"{percentile(result.batch_ms, 99):,.0f}"),
        ("events accepted (stored)", f"{result.accepted:,}"),
        ("duplicates sent", f"{duplicates:,}"),
        ("duplicates acknowledged, not stored", f"{result.duplicates_acknowledged:,}"),
        ("stored rows = distinct events", result.check),
        ("COPY baseline (rows/s)", f"{result.copy_rate:,.0f}"),
        ("API path slower than COPY", f"{result.copy_rate / result.rate:.1f}x"),
        ("server CPU (µs/event)", f"{cpu['server']:.0f}"),
        ("PostgreSQL CPU (µs/event)", f"{cpu['postgres']:.0f}"),
        ("client CPU (µs/event)", f"{cpu['clients']:.0f}"),
        ("other work on the machine (cores)", f"{cpu['other']:.2f}"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def main() -> int:
    # A plain `kill` of the benchmark still runs the `finally` that stops the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=os.environ.get("KASSA_BENCH_PG_URL"),
                        help="PostgreSQL URL (its public schema is dropped!); default "
                             "$KASSA_BENCH_PG_URL")
    parser.add_argument("--seconds", type=float, default=60.0, help="the timed window")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--batch", type=int, default=5_000, help="events per batch request")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--duplicates", type=float, default=0.01,
                        help="share of each batch sent again on purpose (default 0.01)")
    parser.add_argument("--spread-hours", type=float, default=SPREAD / 3600,
                        help="timestamps fall within this many hours before the start "
                             f"(default {SPREAD // 3600}: nearly every event has an hour of "
                             "its own to add to)")
    parser.add_argument("--keep", action="store_true", help="keep the server log directory")
    args = parser.parse_args()
    if not args.pg_url or not args.pg_url.startswith("postgresql"):
        parser.error("needs a postgresql+psycopg:// URL (--pg-url or KASSA_BENCH_PG_URL); "
                     "its public schema is dropped and recreated")
    if not 100 <= args.batch <= meters.MAX_BATCH:
        parser.error(f"--batch is 100 to {meters.MAX_BATCH:,}")
    if not 0 <= args.duplicates <= 0.3 or args.clients < 1 or args.workers < 1:
        parser.error("--duplicates is 0 to 0.3; --clients and --workers at least 1")
    if not 60 <= args.spread_hours * 3600 <= SPREAD:
        parser.error(f"--spread-hours is at least a minute and at most {SPREAD // 3600}")
    console.print(f"kassa {revision()}: {args.seconds:g} s, {args.clients} client processes, "
                  f"batches of {args.batch:,}, {args.duplicates:.1%} duplicates, "
                  f"{args.workers} server process{'es' if args.workers > 1 else ''}, "
                  f"{os.cpu_count()} CPUs")
    directory = Path(tempfile.mkdtemp(prefix="kassa-bench-ingest-"))
    failed = True
    try:
        result = run(Target("postgres", args.pg_url, directory), args)
        console.print(summary(result, args))
        failed = result.check != "passed"
    except Exception as exc:
        console.print(f"[red]failed:[/] {exc}")
        console.print(f"  (files kept in {directory})")
        return 1
    finally:
        if not args.keep and not failed:
            shutil.rmtree(directory, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
