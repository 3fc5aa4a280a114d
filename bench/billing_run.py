"""How fast `kassa bill` renews a portfolio, with 1 and with 2 worker processes, measured
against a plain bulk insert (COPY) of the rows it writes.

Builds the portfolio of bench/portfolio.py once (N subscriptions, default 100,000, every one
renewing at the first of this month, 00:00 UTC) into the database of --database-url, then
for each number of worker processes (1, then 2) makes a copy of that database (CREATE
DATABASE ... TEMPLATE), starts that many `kassa bill` processes on the copy at once (they
share the run; the bench treats them as a black box), waits until all have exited, and
reports:

- the wall time (from starting the processes until the last one exited; their start-up
  included) and invoices per second;
- the invoices created and finalized;
- the rows written per table and in total: rows inserted (a primary key that was not there)
  and rows updated (a primary key whose row version, xmin, changed), found against a
  snapshot of every table's keys taken after the build;
- that every subscription's renewal was invoiced exactly once (billed_periods: the period
  starting at the renewal; for metered subscriptions also the usage period ending there),
  and that the invoice numbers are gapless;
- the ratio of the run's wall time to a plain bulk insert of the same rows: the rows the run
  wrote (inserted ones, and the new versions of updated ones) are exported, then COPYed
  into empty copies of their tables (CREATE TABLE ... (LIKE ... INCLUDING ALL): every index
  and constraint but foreign keys) in one transaction, timed;
- the fixed start-up cost of a `kassa bill` process (imports, migration check, planning):
  one more is started on the billed database, where nothing is due; it must invoice
  nothing.

Before and after each run, a probe of the machine: a fixed piece of pure Python work run by
one process alone, then by two at once. Two whole cores run two as fast as one ("cores at
hand" 2.0); a virtual machine whose host lends it less shows fewer, and a run in such a spell
is slower for it, not for Kassa. The share of CPU time the host took ("steal" in /proc/stat)
during the run is shown too, where the kernel counts it.

Then the 2-worker speed-up and a final table.

    .venv/bin/python bench/billing_run.py [N] --database-url postgresql+psycopg://...

PostgreSQL only. The public schema of the --database-url database is DROPPED and
recreated, and the databases named after it with the suffixes _w1 and _w2 are DROPPED,
created anew for the runs and dropped afterwards (unless --keep-copies): never point it at
a database you care about.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
from portfolio import allocate, clone, fresh, make_templates, renewal_instant  # bench/
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

console = Console()
SNAPSHOT = "bench_before"  # every table's keys and row versions after the build
COPIES = "bench_copy"  # empty copies of the tables the run wrote to, for the COPY
KASSA = Path(sys.executable).with_name("kassa")


@dataclass
class Probe:
    """The machine's CPU at one moment: seconds of the probe's work alone, and two at once."""

    one: float
    two: float

    @property
    def cores(self) -> float:
        return 2 * self.one / self.two

    def __str__(self) -> str:
        return f"{self.cores:.2f} ({self.one:.2f} s alone, {self.two:.2f} s two at once)"


PROBE_WORK = "n = 0\nfor i in range(20_000_000):\n    n += i"


def probe() -> Probe:
    """Time PROBE_WORK in one process, then in two at once (the best of two tries each, so
    a passing hiccup does not count)."""
    def seconds(processes: int) -> float:
        started = time.perf_counter()
        running = [subprocess.Popen([sys.executable, "-c", PROBE_WORK])
                   for _ in range(processes)]
        for process in running:
            process.wait()
        return time.perf_counter() - started
    return Probe(one=min(seconds(1) for _ in range(2)), two=min(seconds(2) for _ in range(2)))


def cpu_times() -> list[int] | None:
    """The machine's CPU time counters (/proc/stat's first line), or None off Linux."""
    try:
        return [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
    except (OSError, ValueError):
        return None


def stolen(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of CPU time between two readings that the host took (steal)."""
    if before is None or after is None:
        return None
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / max(sum(spent), 1)


@dataclass
class Run:
    workers: int
    wall: float = 0.0
    exit_codes: list[int] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    invoices: int = 0
    finalized: int = 0
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    billed_once: bool = False
    gapless: bool = False
    checked: str = ""  # what the checks found
    copy_seconds: float = 0.0
    idle_seconds: float = 0.0  # a second `kassa bill` on the billed database
    idle_invoices: int = 0  # the invoices that second run made (there should be none)
    idle_exit_code: int = 0
    probes: list[Probe] = field(default_factory=list)  # before the run, and after it
    steal: float | None = None  # the share of CPU time the host took during the run

    @property
    def rows(self) -> int:
        return sum(self.inserted.values()) + sum(self.updated.values())

    @property
    def rate(self) -> float:
        return self.invoices / self.wall

    @property
    def working_rate(self) -> float:
        """Invoices per second without the processes' fixed start-up cost."""
        return self.invoices / max(self.wall - self.idle_seconds, 1e-9)


# --- the template database ------------------------------------------------------------------

def build(url: str, count: int, workdir: Path) -> datetime:
    """The portfolio in the database of `url`, its tables' keys snapshotted, vacuumed and
    analyzed; returns the renewal instant."""
    renewal = renewal_instant()
    with console.status("migrating"):
        kassa = fresh(url, workdir / "build")
    started = time.perf_counter()
    with console.status(f"templates: one customer per archetype, up to {renewal:%Y-%m-%d}"):
        made = make_templates(kassa, renewal)
    templated = time.perf_counter()
    with console.status(f"cloning them into {count:,} subscriptions"):
        written = clone(kassa, made, allocate(count))
    cloned = time.perf_counter()
    console.print(f"portfolio: {count:,} subscriptions renewing at {renewal:%Y-%m-%d %H:%M} "
                  f"UTC; {len(made.templates)} templates in {templated - started:.1f} s, "
                  f"{written:,} rows cloned in {cloned - templated:.1f} s: built in "
                  f"[bold]{cloned - started:.1f} s[/]")
    kassa.engine.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with console.status("snapshot of every table's keys; VACUUM ANALYZE"):
        snapshot(engine)
        with engine.connect() as connection:
            connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return renewal


def _keys(engine: Engine) -> dict[str, list[str]]:
    """Every table of the public schema and its primary key's columns."""
    inspector = inspect(engine)
    return {name: inspector.get_pk_constraint(name)["constrained_columns"]
            for name in inspector.get_table_names()}


def _quoted(columns: list[str]) -> str:
    return ", ".join(f'"{column}"' for column in columns)


def snapshot(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SNAPSHOT} CASCADE; "
                                f"CREATE SCHEMA {SNAPSHOT}"))
        for name, key in _keys(engine).items():
            if not key:
                raise SystemExit(f"table {name} has no primary key: its new rows cannot be "
                                 "told from the old ones")
            # Names come from the database's catalog, never from input.
            connection.execute(text(
                f"CREATE TABLE {SNAPSHOT}.{name} AS SELECT {_quoted(key)}, "  # noqa: S608
                f"xmin::text AS row_version FROM public.{name}"))
            connection.execute(text(f"ALTER TABLE {SNAPSHOT}.{name} ADD PRIMARY KEY "
                                    f"({_quoted(key)})"))


# --- one run ----------------------------------------------------------------------------------

def copy_database(url: str, name: str) -> str:
    """A fresh copy of the database of `url` named `name`; its URL."""
    source = make_url(url)
    drop_database(url, name)
    _admin(url, f'CREATE DATABASE "{name}" TEMPLATE "{source.database}" STRATEGY FILE_COPY')
    return source.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, name: str) -> None:
    _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(url: str, statement: str) -> None:
    """Run `statement` on the server's maintenance database, outside a transaction."""
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(statement))
    admin.dispose()


def bill(url: str, workers: int, renewal: datetime, total: int, workdir: Path) -> Run:
    """Start `workers` `kassa bill` processes on the database of `url` at once and wait for
    them, showing the renewals billed so far."""
    run = Run(workers)
    run.probes.append(probe())
    env = _environment(url, workdir)
    logs = [workdir / f"worker-{i + 1}.log" for i in range(workers)]
    engine = create_engine(url)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)
    with progress:
        task = progress.add_task(f"{workers} × kassa bill: renewals invoiced", total=total)
        counters = cpu_times()
        started = time.perf_counter()
        outputs = [log.open("w") for log in logs]
        processes = [subprocess.Popen([str(KASSA), "bill"], env=env, stdout=output,
                                      stderr=subprocess.STDOUT) for output in outputs]
        while any(process.poll() is None for process in processes):
            progress.update(task, completed=_renewals_billed(engine, renewal))
            time.sleep(0.5)
        run.wall = time.perf_counter() - started
        run.steal = stolen(counters, cpu_times())
        progress.update(task, completed=_renewals_billed(engine, renewal))
    engine.dispose()
    for output in outputs:
        output.close()
    run.exit_codes = [process.returncode for process in processes]
    run.outputs = [log.read_text() for log in logs]
    run.probes.append(probe())
    return run


def _environment(url: str, workdir: Path) -> dict[str, str]:
    """What a `kassa bill` process is started with: the database, and a data directory."""
    workdir.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "KASSA_DATABASE_URL": url, "KASSA_SECRET_KEY": "bench",
            "KASSA_DATA_DIR": str(workdir)}


def _renewals_billed(engine: Engine, renewal: datetime) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM billed_periods WHERE kind = 'advance' "
            "AND period_start = :renewal"), {"renewal": renewal}).scalar_one())


def _new_or_changed(name: str, key: list[str]) -> str:
    """The rows of `name` that are new or changed since the snapshot."""
    joined = " AND ".join(f't."{column}" = b."{column}"' for column in key)
    return (f"FROM public.{name} t LEFT JOIN {SNAPSHOT}.{name} b ON {joined} "
            f"WHERE (b.row_version IS NULL OR b.row_version <> t.xmin::text)")


def count_written(engine: Engine, run: Run) -> None:
    keys = _keys(engine)
    with engine.connect() as connection:
        for name, key in keys.items():
            inserted, updated = connection.execute(text(
                f"SELECT count(*) FILTER (WHERE b.row_version IS NULL), "
                f"count(*) FILTER (WHERE b.row_version IS NOT NULL) "
                f"{_new_or_changed(name, key)}")).one()
            if inserted:
                run.inserted[name] = inserted
            if updated:
                run.updated[name] = updated
        run.invoices = run.inserted.get("invoices", 0)
        run.finalized = connection.execute(text(
            f"SELECT count(*) {_new_or_changed('invoices', keys['invoices'])} "
            "AND b.row_version IS NULL AND t.status <> 'draft'")).scalar_one()


def check(engine: Engine, run: Run, renewal: datetime) -> None:
    """Every subscription's renewal invoiced exactly once; invoice numbers gapless."""
    with engine.connect() as connection:
        subscriptions, advance, metered, arrears = connection.execute(text("""
            WITH periods AS (
              SELECT s.id,
                (SELECT count(*) FROM billed_periods b WHERE b.subscription_id = s.id
                   AND b.kind = 'advance' AND b.period_start = :renewal) AS advance,
                (SELECT count(*) FROM billed_periods b WHERE b.subscription_id = s.id
                   AND b.kind = 'arrears' AND b.period_end = :renewal) AS arrears,
                EXISTS (SELECT 1 FROM subscription_items i JOIN prices p ON p.id = i.price_id
                   WHERE i.subscription_id = s.id AND p.recurring_usage_type = 'metered')
                   AS metered
              FROM subscriptions s)
            SELECT count(*), count(*) FILTER (WHERE advance = 1),
                   count(*) FILTER (WHERE metered),
                   count(*) FILTER (WHERE metered AND arrears = 1)
            FROM periods"""), {"renewal": renewal}).one()
        numbers = list(connection.execute(text(
            "SELECT number FROM invoices WHERE number IS NOT NULL")).scalars())
    run.billed_once = advance == subscriptions and arrears == metered
    series: dict[str, list[int]] = defaultdict(list)
    for number in numbers:
        found = re.fullmatch(r"(.*?)(\d+)", number)
        assert found is not None, number
        series[found[1]].append(int(found[2]))
    run.gapless = all(sorted(taken) == list(range(1, len(taken) + 1))
                      for taken in series.values())
    run.checked = (f"billed once: {advance:,}/{subscriptions:,} renewals, {arrears:,}/"
                   f"{metered:,} usage periods; {len(numbers):,} invoice numbers in "
                   f"{len(series)} series")


def time_copy(url: str, run: Run, workdir: Path) -> None:
    """Export the rows the run wrote and time COPYing them into empty copies of their
    tables, all indexes present, in one transaction."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    engine = create_engine(url)
    keys = _keys(engine)
    engine.dispose()
    tables = sorted(set(run.inserted) | set(run.updated))
    files = {name: workdir / f"{name}.copy" for name in tables}
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {COPIES} CASCADE")
        connection.execute(f"CREATE SCHEMA {COPIES}")
        for name in tables:
            connection.execute(f"CREATE TABLE {COPIES}.{name} (LIKE public.{name} "
                               "INCLUDING ALL)")
            with files[name].open("wb") as out, connection.cursor().copy(
                    f"COPY (SELECT t.* {_new_or_changed(name, keys[name])}) "
                    "TO STDOUT (FORMAT binary)") as copy:
                for chunk in copy:
                    out.write(chunk)
    with psycopg.connect(conninfo) as connection:
        started = time.perf_counter()
        for name in tables:
            with files[name].open("rb") as source, connection.cursor().copy(
                    f"COPY {COPIES}.{name} FROM STDIN (FORMAT binary)") as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
        connection.commit()
        run.copy_seconds = time.perf_counter() - started
    for path in files.values():
        path.unlink()


def bill_again(url: str, run: Run, workdir: Path) -> None:
    """Start one more `kassa bill` on the billed database: it finds nothing due, so its time
    is the fixed start-up cost of a process, and it must invoice nothing."""
    engine = create_engine(url)
    before = _invoices(engine)
    log = workdir / "again.log"
    env = _environment(url, workdir)
    started = time.perf_counter()
    with log.open("w") as output:
        run.idle_exit_code = subprocess.run([str(KASSA), "bill"], env=env, stdout=output,
                                            stderr=subprocess.STDOUT).returncode
    run.idle_seconds = time.perf_counter() - started
    run.idle_invoices = _invoices(engine) - before
    engine.dispose()


def _invoices(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM invoices")).scalar_one())


# --- reporting --------------------------------------------------------------------------------

def summary(run: Run) -> str:
    billed = [line.strip() for output in run.outputs for line in output.splitlines()
              if line.startswith("Billed")]
    failed = [code for code in run.exit_codes if code]
    lines = [f"[bold]{run.workers} worker{'s' if run.workers > 1 else ''}[/]: "
             f"{run.wall:.1f} s, {run.rate:,.1f} invoices/s ({run.working_rate:,.1f} without "
             f"the {run.idle_seconds:.1f} s a process takes to start and find nothing due); "
             f"{run.invoices:,} invoices created, {run.finalized:,} finalized; "
             f"{run.rows:,} rows written; COPY of them {run.copy_seconds:.2f} s, "
             f"the run took {run.wall / max(run.copy_seconds, 1e-9):,.0f}x that",
             f"  {run.checked}, gapless: {_yes(run.gapless)}; billing again made "
             f"{run.idle_invoices} invoices",
             f"  cores at hand before the run {run.probes[0]}, after it {run.probes[-1]}"
             + (f"; the host took {run.steal:.1%} of the CPU time during the run"
                if run.steal is not None else "")]
    lines += [f"  {line}" for line in billed]
    if failed:
        lines.append(f"  [red]exit codes {run.exit_codes}[/]; last output:")
        lines += [f"    {output.strip().splitlines()[-1] if output.strip() else ''}"
                  for output in run.outputs]
    return "\n".join(lines)


def _yes(ok: bool) -> str:
    return "yes" if ok else "[red]NO[/]"


def final_table(count: int, runs: list[Run]) -> Table:
    table = Table(title=f"kassa bill: {count:,} subscriptions renewing at once")
    table.add_column("")
    for run in runs:
        table.add_column(f"{run.workers} worker{'s' if run.workers > 1 else ''}",
                         justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("wall time", [f"{r.wall:.1f} s" for r in runs]),
        ("invoices/s", [f"{r.rate:,.1f}" for r in runs]),
        ("start-up of a kassa bill (nothing due)", [f"{r.idle_seconds:.1f} s" for r in runs]),
        ("invoices/s without start-up", [f"{r.working_rate:,.1f}" for r in runs]),
        ("invoices created", [f"{r.invoices:,}" for r in runs]),
        ("invoices finalized", [f"{r.finalized:,}" for r in runs]),
    ]
    for name in sorted({n for r in runs for n in (*r.inserted, *r.updated)}):
        rows.append((f"  {name} (inserted + updated)",
                     [f"{r.inserted.get(name, 0):,} + {r.updated.get(name, 0):,}"
                      for r in runs]))
    rows += [
        ("rows written", [f"{r.rows:,}" for r in runs]),
        ("COPY of those rows", [f"{r.copy_seconds:.2f} s" for r in runs]),
        ("run / COPY", [f"{r.wall / max(r.copy_seconds, 1e-9):,.0f}x" for r in runs]),
        ("each renewal billed once", [_yes(r.billed_once) for r in runs]),
        ("invoice numbers gapless", [_yes(r.gapless) for r in runs]),
        ("invoices made by billing again", [f"{r.idle_invoices}" for r in runs]),
        ("exit codes (of billing again)",
         [f"{' '.join(map(str, r.exit_codes))} ({r.idle_exit_code})" for r in runs]),
        ("cores at hand, before / after (probe)",
         [f"{r.probes[0].cores:.2f} / {r.probes[-1].cores:.2f}" for r in runs]),
        ("one core's probe, before / after",
         [f"{r.probes[0].one:.2f} / {r.probes[-1].one:.2f} s" for r in runs]),
        ("CPU time the host took (steal)",
         ["-" if r.steal is None else f"{r.steal:.1%}" for r in runs]),
    ]
    for label, values in rows:
        table.add_row(label, *values)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subscriptions", nargs="?", type=int, default=100_000)
    parser.add_argument("--database-url", required=True,
                        help="PostgreSQL; its public schema is dropped and recreated")
    parser.add_argument("--workers", default="1,2",
                        help="numbers of `kassa bill` processes to run, one run each "
                             "(empty: only build the portfolio)")
    parser.add_argument("--keep-copies", action="store_true",
                        help="keep the billed copies of the database (default: dropped)")
    args = parser.parse_args()
    url: URL = make_url(args.database_url)
    if url.get_backend_name() != "postgresql":
        raise SystemExit("billing_run.py needs PostgreSQL (--database-url postgresql+psycopg://...)")
    workdir = Path(tempfile.mkdtemp(prefix="kassa-bench-billing-run-"))
    # The interpreter matters: a build without profile-guided optimization bills slower.
    console.print(f"Python {platform.python_version()} ({sys.executable}), "
                  f"{os.cpu_count()} CPUs")
    renewal = build(args.database_url, args.subscriptions, workdir)
    runs = []
    for workers in (int(w) for w in args.workers.split(",") if w.strip()):
        with console.status(f"copying the database for {workers} worker(s)"):
            copy_url = copy_database(args.database_url, f"{url.database}_w{workers}")
        run = bill(copy_url, workers, renewal, args.subscriptions,
                   workdir / f"w{workers}")
        with console.status("counting rows written, checking, timing the COPY"):
            engine = create_engine(copy_url)
            count_written(engine, run)
            check(engine, run, renewal)
            engine.dispose()
            time_copy(copy_url, run, workdir)
        with console.status("a second kassa bill, with nothing due"):
            bill_again(copy_url, run, workdir / f"w{workers}")
        console.print(summary(run))
        runs.append(run)
        if not args.keep_copies:
            drop_database(args.database_url, f"{url.database}_w{workers}")
    if not runs:
        return
    console.print(final_table(args.subscriptions, runs))
    by_workers = {run.workers: run for run in runs}
    if 1 in by_workers and 2 in by_workers:
        one, two = by_workers[1], by_workers[2]
        console.print(f"2 workers vs 1: [bold]{one.wall / two.wall:.2f}x[/] as fast "
                      f"({two.working_rate / one.working_rate:.2f}x without start-up)")


if __name__ == "__main__":
    main()
