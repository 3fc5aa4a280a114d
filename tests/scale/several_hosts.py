"""Kassa's billing run on several machines that share nothing but PostgreSQL.

Network namespaces stand in for the machines. `kassa-db-<pid>` runs a throw-away PostgreSQL
server; `kassa-host-a-<pid>` and `kassa-host-b-<pid>` are worker hosts, each linked to the
database host by a veth pair of its own on a /30 of its own and given no other route, so
all a worker host can reach is that server. The root namespace sets the database up through
the server's Unix socket (a socket in the file system is reachable from every namespace), so
no address of a run shows up in the root namespace and runs side by side never collide.

Then `kassa bill` runs on both hosts at once, and the database is asked whether every
renewal was invoiced exactly once, every invoice finalized with gapless numbers, and the
work done from both hosts' addresses, as PostgreSQL saw them (`inet_client_addr()`): per
invoice (a trigger this module adds) and, where the schema has them, per batch
(`billing_batches`).

Used by scripts/several-hosts and tests/scale/test_several_hosts.py. Needs root, `ip`
(Debian: iproute2) and PostgreSQL's server binaries (Debian: postgresql).

    .venv/bin/python tests/scale/several_hosts.py [--customers N] [--batch-size N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, inspect, select, text

from kassa.config import Kassa, Settings
from kassa.core.clock import FrozenClock
from kassa.services import catalog, customers, organizations, subscriptions
from kassa.store import models as m
from kassa.store.db import make_engine

HOSTS = ("host-a", "host-b")
DATABASE = "kassa"
PORT = 5432  # the database host is a namespace of its own: nothing else listens there
SECRET_KEY = "several-hosts"  # one installation: every machine shares the key
Say = Callable[[str], None]


@dataclass(frozen=True)
class Host:
    name: str  # its KASSA_WORKER_NAME
    namespace: str
    address: str  # its end of its link
    db_address: str  # the database host's end: where it finds PostgreSQL


@dataclass(frozen=True)
class Network:
    db_namespace: str
    hosts: tuple[Host, ...]


@dataclass(frozen=True)
class Server:
    directory: Path  # data/, sock/ and server.log

    def url(self, address: str | None = None) -> str:
        """The database's URL over TCP at `address`, or else over the Unix socket."""
        if address is None:
            return (f"postgresql+psycopg://postgres@/{DATABASE}"
                    f"?host={self.directory / 'sock'}&port={PORT}")
        return f"postgresql+psycopg://postgres@{address}:{PORT}/{DATABASE}"

    def log_tail(self, lines: int = 30) -> str:
        log = self.directory / "server.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) \
            if log.exists() else ""


@dataclass(frozen=True)
class HostRun:
    host: Host
    returncode: int
    seconds: float
    output: str


@dataclass(frozen=True)
class BatchGroup:
    """The batches one worker claimed from one address."""

    claimed_by: str | None
    client_addr: str | None
    batches: int
    done: int
    invoices: int


@dataclass(frozen=True)
class Report:
    hosts: tuple[HostRun, ...]
    seconds: float  # the billing run, both hosts at once
    subscriptions: int
    invoices: int  # renewal invoices
    first_number: str | None
    last_number: str | None
    missing: int  # subscriptions whose renewal was not invoiced
    duplicates: int  # renewals invoiced twice, periods billed twice
    drafts: int  # invoices left unfinalized or unnumbered
    gaps: tuple[str, ...]  # series whose numbers are not 1..n
    invoices_by_address: dict[str | None, int]  # renewal invoices by PostgreSQL's client address
    batches: tuple[BatchGroup, ...] | None  # None: no billing_batches table (yet)
    server_log: str

    def problems(self) -> list[str]:
        """What went wrong; empty when the run did what a billing run on several hosts must."""
        found = [f"{run.host.name} exited {run.returncode}:\n{run.output[-3000:]}"
                 for run in self.hosts if run.returncode != 0]
        if self.missing:
            found.append(f"{self.missing} of {self.subscriptions} renewals not invoiced")
        if self.duplicates:
            found.append(f"{self.duplicates} renewals or periods invoiced more than once")
        if self.drafts:
            found.append(f"{self.drafts} invoices not finalized")
        found += [f"invoice numbers of series {series} have gaps" for series in self.gaps]
        addresses = {run.host.address for run in self.hosts}
        if set(self.invoices_by_address) != addresses:
            found.append(f"renewals were invoiced from {sorted(map(str, self.invoices_by_address))}"
                         f", not from exactly the hosts {sorted(addresses)}")
        if self.batches is not None:
            found += _batch_problems(self.batches, {run.host.name: run.host.address
                                                    for run in self.hosts})
        return found


def _batch_problems(groups: tuple[BatchGroup, ...], addresses: dict[str, str]) -> list[str]:
    if not groups:
        return ["billing_batches exists, but the billing run recorded no batches in it"]
    found = []
    undone = sum(group.batches - group.done for group in groups)
    if undone:
        found.append(f"{undone} billing batches not done")
    workers = {group.claimed_by for group in groups}
    if workers != set(addresses):
        found.append(f"batches were claimed by {sorted(map(str, workers))}, not by both "
                     f"hosts {sorted(addresses)}")
    found += [f"{group.batches} batches of {group.claimed_by} came from {group.client_addr}, "
              f"not from its address {addresses.get(group.claimed_by or '')}"
              for group in groups
              if group.claimed_by in addresses and
              group.client_addr != addresses[group.claimed_by]]
    return found


# --- the machines ------------------------------------------------------------------------


def unavailable() -> str | None:
    """Why this machine cannot run several hosts, or None if it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "needs `ip` (Debian package iproute2)"
    # Root in a container may still not be allowed to make one: try.
    probe = f"kassa-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    _delete_namespaces([probe])
    if made.returncode != 0:
        return f"`ip netns` does not work here: {made.stderr.strip()}"
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _can_route(namespace: str, address: str) -> bool:
    return subprocess.run(["ip", "-n", namespace, "route", "get", address],
                          capture_output=True).returncode == 0


@contextmanager
def network(tag: str, names: tuple[str, ...] = HOSTS) -> Iterator[Network]:
    """A database host and worker hosts, each worker linked to the database host only; all
    of it deleted afterwards (the veth pairs go with their namespaces)."""
    db = f"kassa-db-{tag}"
    hosts = tuple(Host(name, f"kassa-{name}-{tag}", f"10.213.{index}.2", f"10.213.{index}.1")
                  for index, name in enumerate(names, start=1))
    namespaces = [db, *(host.namespace for host in hosts)]
    # The names carry our pid: one that exists already was left by a killed process that
    # had this pid before us.
    _delete_namespaces(namespaces)
    try:
        for namespace in namespaces:
            _ip("netns", "add", namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
        for host in hosts:
            # Made right inside the namespaces: no interface of a run appears in the root
            # namespace, where names or addresses could collide with another run's.
            link = f"to-{host.name}"[:15]
            _ip("link", "add", link, "netns", db, "type", "veth",
                "peer", "name", "to-db", "netns", host.namespace)
            _ip("-n", db, "addr", "add", f"{host.db_address}/30", "dev", link)
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/30", "dev", "to-db")
            _ip("-n", db, "link", "set", link, "up")
            _ip("-n", host.namespace, "link", "set", "to-db", "up")
        for host in hosts:
            others = [address for other in hosts if other != host
                      for address in (other.address, other.db_address)]
            if not _can_route(host.namespace, host.db_address) or any(
                    _can_route(host.namespace, address) for address in others):
                raise RuntimeError(f"{host.namespace} is not linked to the database host "
                                   "alone")
        yield Network(db, hosts)
    finally:
        _delete_namespaces(namespaces)


def _delete_namespaces(namespaces: list[str]) -> None:
    for namespace in namespaces:
        subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)


# --- the database server -----------------------------------------------------------------


def _pg_bin() -> Path | None:
    """PostgreSQL's server binaries: $KASSA_PG_BIN, or the newest under /usr/lib/postgresql."""
    if os.environ.get("KASSA_PG_BIN"):
        return Path(os.environ["KASSA_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda path: int(path.parent.parent.name)
                   if path.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


def _as_postgres(*command: str, namespace: str | None = None) -> None:
    netns = ["ip", "netns", "exec", namespace] if namespace else []
    done = subprocess.run([*netns, "runuser", "-u", "postgres", "--", *command], cwd="/",
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed: {done.stdout}{done.stderr}")


@contextmanager
def postgres(net: Network) -> Iterator[Server]:
    """A throw-away PostgreSQL server in the database host, listening on its end of every
    host's link (trusting those links) and on a Unix socket; stopped and removed after."""
    pg_bin = _pg_bin()
    if pg_bin is None:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql (Debian "
                           "package postgresql) and no KASSA_PG_BIN")
    # Not under pytest's tmp_path: the postgres user must be able to reach it, and the
    # socket's path must stay short.
    server = Server(Path(tempfile.mkdtemp(prefix="kassa-hosts-pg-")))
    data = server.directory / "data"
    try:
        (server.directory / "sock").mkdir()
        shutil.chown(server.directory, "postgres")
        shutil.chown(server.directory / "sock", "postgres")
        _as_postgres(str(pg_bin / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres",
                     "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
        _configure(data, net)
        try:
            _as_postgres(str(pg_bin / "pg_ctl"), "start", "-D", str(data), "-w", "-t", "60",
                         "-l", str(server.directory / "server.log"), namespace=net.db_namespace)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{server.log_tail()}") from None
        with _connect(server, "postgres") as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")
        yield server
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", str(pg_bin / "pg_ctl"), "stop",
                            "-D", str(data), "-m", "immediate", "-w"], cwd="/",
                           capture_output=True)
        shutil.rmtree(server.directory, ignore_errors=True)


def _configure(data: Path, net: Network) -> None:
    listen = ",".join(host.db_address for host in net.hosts)
    settings = {"listen_addresses": f"'{listen}'", "port": str(PORT),
                "unix_socket_directories": f"'{data.parent / 'sock'}'",
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                "log_connections": "on", "log_line_prefix": "'%m [%p] %h '"}
    with (data / "postgresql.conf").open("a") as conf:
        conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
    with (data / "pg_hba.conf").open("a") as hba:
        hba.writelines(f"host all all {host.db_address}/30 trust\n" for host in net.hosts)


def _connect(server: Server, database: str):  # -> psycopg.Connection
    import psycopg

    return psycopg.connect(host=str(server.directory / "sock"), port=PORT, user="postgres",
                           dbname=database, autocommit=True)


# --- the workload ------------------------------------------------------------------------


def build_workload(url: str, data_dir: Path, count: int, now: datetime) -> str:
    """One organization with `count` customers, each with a monthly subscription made 35
    days before `now` on a frozen clock, so every one renews at the same instant, before
    `now`. Renewals are finalized at once (no draft grace). Returns the organization's id."""
    began = (now - timedelta(days=35)).replace(minute=0, second=0, microsecond=0)
    kassa = Kassa(Settings(data_dir=data_dir, database_url=url, secret_key=SECRET_KEY),
                  clock=FrozenClock(began))
    try:
        with kassa.uow() as uow:
            org_id = organizations.create_organization(
                uow, kassa.pepper, name="Several Hosts", timezone="UTC",
                draft_grace_seconds=0).organization.id
            price_id = catalog.create_price(uow, org_id, product_data={"name": "Plan"},
                                            currency="eur", unit_amount=4900,
                                            recurring={"interval": "month"}).id

        def subscribe(indexes: range) -> None:
            with kassa.uow() as uow:
                for index in indexes:  # every service call commits
                    customer = customers.create_customer(
                        uow, org_id, name=f"Customer {index}", email=f"c{index}@hosts.example")
                    subscriptions.create_subscription(
                        uow, org_id, customer=customer.id, items=[{"price": price_id}],
                        collection_method="send_invoice", days_until_due=14)

        # Two at a time: while one waits for the database, the other composes.
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(subscribe, (range(start, count, 2) for start in (0, 1))))
    finally:
        kassa.engine.dispose()
    return org_id


def renewal_instants(engine: Engine, org_id: str) -> list[datetime]:
    with engine.connect() as connection:
        return list(connection.scalars(select(m.Subscription.next_billing_at).where(
            m.Subscription.org_id == org_id).distinct()))


def record_invoice_origins(engine: Engine) -> None:
    """From now on, note for every new invoice the address its writer connected from, as
    PostgreSQL saw it: which host did the work, whatever the billing run records itself."""
    with engine.begin() as connection:
        connection.execute(text(
            "CREATE TABLE invoice_origins (invoice_id varchar(40) PRIMARY KEY, "
            "client_addr inet)"))
        connection.execute(text(
            "CREATE FUNCTION note_invoice_origin() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN INSERT INTO invoice_origins VALUES (NEW.id, inet_client_addr()); "
            "RETURN NEW; END $$"))
        connection.execute(text(
            "CREATE TRIGGER invoice_origin AFTER INSERT ON invoices FOR EACH ROW "
            "EXECUTE FUNCTION note_invoice_origin()"))


# --- the billing run ---------------------------------------------------------------------


def _kassa_command() -> list[str]:
    script = Path(sys.executable).parent / "kassa"  # the venv's `kassa`
    return [str(script)] if script.exists() else [sys.executable, "-m", "kassa"]


def _environment(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment for `kassa`: none of our own KASSA_* settings leak into it."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("KASSA_")}
    data_dir.mkdir(parents=True, exist_ok=True)
    return {**env, "KASSA_DATABASE_URL": url, "KASSA_DATA_DIR": str(data_dir),
            "KASSA_SECRET_KEY": SECRET_KEY, **extra}


def migrate(server: Server, workdir: Path) -> None:
    """`kassa migrate`, from the root namespace."""
    done = subprocess.run([*_kassa_command(), "migrate"], capture_output=True, text=True,
                          env=_environment(server.url(), workdir / "root"), cwd=workdir)
    if done.returncode != 0:
        raise RuntimeError(f"kassa migrate failed:\n{done.stdout}{done.stderr}")


def bill_on_hosts(net: Network, server: Server, workdir: Path, batch_size: int,
                  timeout: float = 300) -> tuple[HostRun, ...]:
    """`kassa bill` on every host at once; waits for all of them."""
    started = time.monotonic()
    running = []
    try:
        for host in net.hosts:
            env = _environment(server.url(host.db_address), workdir / host.name,
                               KASSA_WORKER_NAME=host.name,
                               KASSA_BILLING_BATCH_SIZE=str(batch_size))
            output = (workdir / f"{host.name}.out").open("w+")
            process = subprocess.Popen(
                ["ip", "netns", "exec", host.namespace, *_kassa_command(), "bill"],
                env=env, cwd=workdir, stdout=output, stderr=subprocess.STDOUT)
            running.append((host, process, output))
        ended: dict[str, float] = {}
        while len(ended) < len(running):
            for host, process, _ in running:
                if host.name not in ended and process.poll() is not None:
                    ended[host.name] = time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"kassa bill ran longer than {timeout:.0f} s")
            time.sleep(0.02)
        runs = []
        for host, process, output in running:
            output.seek(0)
            runs.append(HostRun(host, process.returncode, ended[host.name], output.read()))
        return tuple(runs)
    finally:
        for _, process, output in running:
            if process.poll() is None:
                process.kill()
                process.wait()
            output.close()


# --- the checks --------------------------------------------------------------------------


def check(engine: Engine, org_id: str, runs: tuple[HostRun, ...], seconds: float,
          server: Server) -> Report:
    """What the billing run left in the database."""
    with engine.connect() as connection:
        subs = list(connection.scalars(select(m.Subscription.id).where(
            m.Subscription.org_id == org_id)))
        renewals = Counter(connection.scalars(select(m.Invoice.subscription_id).where(
            m.Invoice.org_id == org_id, m.Invoice.billing_reason == "subscription_cycle")))
        periods = Counter(connection.execute(select(
            m.BilledPeriod.subscription_id, m.BilledPeriod.period_start,
            m.BilledPeriod.kind).where(m.BilledPeriod.org_id == org_id)).all())
        invoices = connection.execute(select(m.Invoice.status, m.Invoice.number).where(
            m.Invoice.org_id == org_id)).all()
        renewal_numbers = sorted(connection.scalars(select(m.Invoice.number).where(
            m.Invoice.org_id == org_id, m.Invoice.billing_reason == "subscription_cycle",
            m.Invoice.number.is_not(None))))
        origins = dict(connection.execute(text(
            "SELECT host(o.client_addr), count(*) FROM invoice_origins o "
            "JOIN invoices i ON i.id = o.invoice_id "
            "WHERE i.billing_reason = 'subscription_cycle' GROUP BY 1")).all())
    return Report(
        hosts=runs, seconds=seconds, subscriptions=len(subs), invoices=sum(renewals.values()),
        first_number=renewal_numbers[0] if renewal_numbers else None,
        last_number=renewal_numbers[-1] if renewal_numbers else None,
        missing=len(set(subs) - set(renewals)),
        duplicates=sum(count - 1 for count in [*renewals.values(), *periods.values()]),
        drafts=sum(1 for status, number in invoices if status == "draft" or number is None),
        gaps=_gapped_series([number for _, number in invoices if number]),
        invoices_by_address=origins, batches=_batches(engine), server_log=server.log_tail())


def _gapped_series(numbers: list[str]) -> tuple[str, ...]:
    """The series (what comes before a number's last '-') not numbered 1..n exactly."""
    series: dict[str, list[int]] = {}
    for number in numbers:
        prefix, _, counter = number.rpartition("-")
        series.setdefault(prefix, []).append(int(counter))
    return tuple(prefix for prefix, counters in sorted(series.items())
                 if sorted(counters) != list(range(1, len(counters) + 1)))


def _batches(engine: Engine) -> tuple[BatchGroup, ...] | None:
    """The billing run's batches by worker and address; None while there is no such table."""
    if not inspect(engine).has_table("billing_batches"):
        return None
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT claimed_by, client_addr, count(*), "
            "count(*) FILTER (WHERE status = 'done'), coalesce(sum(invoices), 0) "
            "FROM billing_batches GROUP BY 1, 2 ORDER BY 1, 2")).all()
    # inet_client_addr() as text may carry a /32.
    return tuple(BatchGroup(claimed_by, client_addr.split("/")[0] if client_addr else None,
                            batches, done, invoices)
                 for claimed_by, client_addr, batches, done, invoices in rows)


# --- all of it ---------------------------------------------------------------------------


def run(count: int = 400, batch_size: int = 10, say: Say = print) -> Report:
    """Set up the machines and the database, bill on every host at once, check; cleans up
    everything it made, also when something fails."""
    workdir = Path(tempfile.mkdtemp(prefix="kassa-hosts-"))
    try:
        with network(str(os.getpid())) as net:
            say(f"database host {net.db_namespace}; worker hosts linked to it alone:")
            for host in net.hosts:
                say(f"  {host.name}: {host.namespace}, {host.address} -> PostgreSQL at "
                    f"{host.db_address}:{PORT}")
            with postgres(net) as server:
                say(f"PostgreSQL started in {server.directory}")
                started = time.monotonic()
                migrate(server, workdir)
                say(f"`kassa migrate` from the root namespace, over the server's Unix socket "
                    f"({time.monotonic() - started:.1f} s)")
                return _bill_and_check(net, server, workdir, count, batch_size, say)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _bill_and_check(net: Network, server: Server, workdir: Path, count: int,
                    batch_size: int, say: Say) -> Report:
    engine = make_engine(server.url())
    try:
        now = datetime.now(UTC)
        started = time.monotonic()
        org_id = build_workload(server.url(), workdir / "root", count, now)
        instants = renewal_instants(engine, org_id)
        if len(instants) != 1 or instants[0] > now:
            raise RuntimeError(f"the subscriptions renew at {instants}, not all at one "
                               f"instant before {now}")
        say(f"workload: {count} customers with a monthly subscription each, all renewing at "
            f"{instants[0]:%Y-%m-%d %H:%M} UTC ({time.monotonic() - started:.1f} s)")
        record_invoice_origins(engine)
        say(f"`kassa bill` on {', '.join(host.name for host in net.hosts)} at once "
            f"(KASSA_BILLING_BATCH_SIZE={batch_size})")
        started = time.monotonic()
        runs = bill_on_hosts(net, server, workdir, batch_size)
        seconds = time.monotonic() - started
        for host_run in runs:
            last = host_run.output.strip().splitlines()[-1:] or [""]
            say(f"  {host_run.host.name}: exit {host_run.returncode} after "
                f"{host_run.seconds:.1f} s: {last[0]}")
        return check(engine, org_id, runs, seconds, server)
    finally:
        engine.dispose()


def summary(report: Report) -> list[str]:
    """The report in a few lines."""
    names = {run.host.address: run.host.name for run in report.hosts}
    lines = [
        f"billing run: {report.seconds:.1f} s on {len(report.hosts)} hosts at once",
        f"invoices: {report.invoices} for {report.subscriptions} renewals "
        f"({report.missing} missing, {report.drafts} not finalized), numbers "
        f"{report.first_number}..{report.last_number}"
        + (f", gaps in {', '.join(report.gaps)}" if report.gaps else ", gapless"),
        f"duplicates: {report.duplicates}",
        "invoices per host (client address at insert): " + ", ".join(
            f"{names.get(address or '', 'elsewhere')} {address}: {count}"
            for address, count in sorted(report.invoices_by_address.items(),
                                         key=lambda item: str(item[0])))]
    if report.batches is None:
        lines.append("batches per host: no billing_batches table in this version")
    else:
        lines.append("batches per host: " + (", ".join(
            f"{group.claimed_by} {group.client_addr}: {group.batches} batches "
            f"({group.done} done, {group.invoices} invoices)"
            for group in report.batches) or "none recorded"))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=10,
                        help="KASSA_BILLING_BATCH_SIZE: customers per billing batch")
    args = parser.parse_args()
    reason = unavailable()
    if reason:
        print(f"several-hosts: {reason}", file=sys.stderr)
        return 2
    # A TERM unwinds like Ctrl-C does, so namespaces and the server are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    report = run(args.customers, args.batch_size, lambda line: print(line, flush=True))
    for line in summary(report):
        print(line)
    problems = report.problems()
    if problems:
        print("PostgreSQL's log, last lines:\n" + report.server_log, file=sys.stderr)
        for problem in problems:
            print(f"FAILED: {problem}", file=sys.stderr)
        return 1
    print(f"OK: every renewal invoiced once, on both hosts ({time.monotonic() - started:.1f} s "
          "in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
