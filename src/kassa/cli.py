"""The `kassa` command."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from kassa.config import Kassa, Settings
from kassa.core.errors import KassaError

app = typer.Typer(help="Kassa: subscription billing and payments.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
# Piped output (CI logs, files) gets a width that fits the demo's tables.
console = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, soft_wrap=True)  # an error stays one line


def _kassa() -> Kassa:
    return Kassa(Settings.from_env())


@contextmanager
def _readable_errors() -> Iterator[None]:
    """Turn expected failures into one readable line and a non-zero exit."""
    try:
        yield
    except KassaError as exc:
        param = f" ({exc.param})" if exc.param else ""
        err.print(f"[red]error:[/] {escape(exc.message + param)}")
        raise typer.Exit(1) from None
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        err.print(f"[red]error:[/] cannot use the database: {escape(reason)}")
        raise typer.Exit(1) from None


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def _migrate(kassa: Kassa) -> None:
    from kassa.store.migrate import upgrade

    upgrade(kassa.engine)
    if not kassa.settings.is_sqlite and not inspect(kassa.engine).has_table("procrastinate_jobs"):
        from kassa.jobs.queue import apply_schema  # the job queue's library, loaded if needed

        apply_schema(kassa)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
    console.print(f"Database is up to date: {kassa.engine.url.render_as_string()}")


@app.command()
def init(name: Annotated[str, typer.Option("--name", help="The organization's name")],
         country: Annotated[str | None, typer.Option(help="ISO country code, e.g. NL")] = None,
         currency: Annotated[str, typer.Option(help="Default currency")] = "eur",
         timezone: Annotated[str, typer.Option(help="IANA timezone")] = "UTC") -> None:
    """Create an organization and print its secret API key (shown once)."""
    from kassa.services.organizations import create_organization

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        with kassa.uow() as uow:
            created = create_organization(uow, kassa.pepper, name=name, country=country,
                                          default_currency=currency, timezone=timezone)
    console.print(f"Organization {created.organization.name} ({created.organization.id})")
    console.print("Secret key (store it now; it is not shown again):")
    print(created.secret_key)


@app.command()
def serve(host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
          scheduler: Annotated[bool | None, typer.Option(
              help="Run billing in this process (default on SQLite; on PostgreSQL run "
                   "`kassa worker`)")] = None,
          workers: Annotated[int, typer.Option(
              min=1, help="API processes sharing the port (PostgreSQL only), about one per "
                          "CPU")] = 1) -> None:
    """Serve the API (and, on SQLite, the billing scheduler)."""
    kassa = _kassa()
    if workers > 1 and kassa.settings.is_sqlite:
        err.print("[red]error:[/] several API processes need PostgreSQL (KASSA_DATABASE_URL); "
                  "on SQLite one process serves.")
        raise typer.Exit(1)
    with _readable_errors():
        _migrate(kassa)
    _serve(kassa, host, port, kassa.settings.is_sqlite if scheduler is None else scheduler,
           workers)


def _serve(kassa: Kassa, host: str, port: int, with_scheduler: bool, workers: int = 1) -> None:
    import uvicorn

    from kassa.api import create_app
    from kassa.api.server import LOOP, PROTOCOL
    from kassa.jobs.scheduler import Scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    runner = Scheduler(kassa) if with_scheduler else None
    if runner:
        runner.start()
    try:
        if workers > 1:  # each worker process builds the app from the same environment
            uvicorn.run("kassa.api.app:create_app_from_env", factory=True, host=host,
                        port=port, workers=workers, log_level="info", http=PROTOCOL,
                        loop=LOOP)
        else:
            uvicorn.run(create_app(kassa), host=host, port=port, log_level="info",
                        http=PROTOCOL, loop=LOOP)
    finally:
        if runner:
            runner.stop()


@app.command()
def worker(burst: Annotated[bool, typer.Option(help="Exit when the queue is empty")] = False,
           concurrency: Annotated[int, typer.Option(help="Jobs run at once")] = 1,
           queues: Annotated[str, typer.Option(
               help="Comma-separated queues to work on: billing, payments, emails, "
                    "documents, webhooks (default: all)")] = "") -> None:
    """Run a background worker (PostgreSQL). Run as many as you like, on any machines; give
    a worker some queues only to keep, say, PDF rendering off the billing machines."""
    from kassa.jobs.queue import QUEUES

    chosen = [name.strip() for name in queues.split(",") if name.strip()] or list(QUEUES)
    unknown = sorted(set(chosen) - set(QUEUES))
    if unknown:
        err.print(f"[red]error:[/] unknown queue {unknown[0]!r}; queues: {', '.join(QUEUES)}")
        raise typer.Exit(2)
    kassa = _kassa()
    if kassa.settings.is_sqlite:
        err.print("[red]error:[/] workers need PostgreSQL (KASSA_DATABASE_URL); on SQLite, "
                  "`kassa serve` runs billing in-process.")
        raise typer.Exit(1)
    from kassa.jobs.queue import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with _readable_errors():
        run_worker(kassa, burst=burst, concurrency=concurrency, queues=chosen)


@app.command()
def bill() -> None:
    """Run billing now for everything due: renewals, finalizations, trial ends.

    Start it on as many machines as you like: they share the run (in batches of
    KASSA_BILLING_BATCH_SIZE customers), and each waits until the whole run is done.
    """
    from kassa.jobs import billing

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        with progress_bar() as bar:
            task = bar.add_task("Billing customers", total=None)

            def show(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = billing.run(kassa, progress=show)
    console.print(f"Billed {result.customers} customers in {result.batches} batches: "
                  f"{result.invoices} invoices, {result.finalized} finalized "
                  f"({result.skipped} taken by another worker, {result.failed} failed).")
    if result.failed:
        raise typer.Exit(1)


@app.command()
def demo(serve_after: Annotated[bool, typer.Option("--serve/--no-serve",
                                                   help="Serve the API afterwards")] = True,
         host: str = "127.0.0.1", port: int = 8000) -> None:
    """Bill a year of a demo SaaS on a fresh SQLite file in seconds, then serve it."""
    from kassa.demo import run_demo

    url = f"http://{host}:{port}"
    with _readable_errors():
        # The links it prints (portal, dashboard) point where it serves, unless
        # KASSA_PUBLIC_URL says otherwise.
        kassa, secret = run_demo(console, progress_bar,
                                 public_url=None if os.environ.get("KASSA_PUBLIC_URL")
                                 else url)
    console.print(f"\nAPI key: [bold]{secret}[/]", soft_wrap=True)
    console.print(f"Try:     curl -H 'Authorization: Bearer {secret}' {url}/v1/invoices",
                  soft_wrap=True)
    if serve_after:
        console.print(f"Serving the API at {url} (docs at {url}/docs). Ctrl-C stops it.")
        _serve(kassa, host, port, with_scheduler=True)


def _organization_id(kassa: Kassa, org: str | None) -> str:
    """The organization named, or else the only one there is."""
    from sqlalchemy import select

    from kassa.core.errors import InvalidRequest
    from kassa.services.organizations import get_organization
    from kassa.store import models as m

    with kassa.uow() as uow:
        if org is not None:
            return get_organization(uow.session, org).id
        ids = list(uow.session.scalars(select(m.Organization.id).limit(2)))
    if len(ids) != 1:
        raise InvalidRequest("Name the organization: --org org_... (there is not exactly "
                             "one).", param="org")
    return ids[0]


OrgOption = Annotated[str | None, typer.Option(
    "--org", help="The organization's id (default: the only organization)")]

tax_rates_app = typer.Typer(help="Tax rates the seller maintains (GST, HST, PST, sales tax).",
                            no_args_is_help=True)
app.add_typer(tax_rates_app, name="tax-rates")


@tax_rates_app.command("load-examples")
def load_example_tax_rates(org: OrgOption = None) -> None:
    """Create Kassa's example rates (AU, NZ, SG, Canada, some US states) to start from;
    rates already there are skipped. Check them: they are yours to maintain."""
    from kassa.services.tax_rates import load_examples

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        org_id = _organization_id(kassa, org)
        with kassa.uow() as uow:
            loaded = load_examples(uow, org_id)
    for rate in loaded.created:
        place = rate.country + (f"-{rate.state}" if rate.state else "")
        console.print(f"  {place:6} {rate.display_name:10} {rate.percentage}%  ({rate.id})")
    for example, reason in loaded.skipped:
        console.print(f"  skipped {escape(example.id)}: {escape(reason)}")
    console.print(f"Created {len(loaded.created)} tax rates, skipped {len(loaded.skipped)}.")


@app.command("import-ecb")
def import_ecb(path: Annotated[Path, typer.Argument(
                   exists=True, dir_okay=False, readable=True,
                   help="eurofxref-daily.xml, eurofxref-hist-90d.xml or eurofxref-hist.xml")],
               org: OrgOption = None) -> None:
    """Import the ECB's euro reference rates (for reports only); days already there are
    left as they are, so importing twice adds nothing."""
    from kassa.adapters import ecb
    from kassa.services.exchange_rates import import_ecb as import_rates

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        org_id = _organization_id(kassa, org)
        references = ecb.parse(path.read_bytes())
        with progress_bar() as bar, kassa.uow() as uow:
            task = bar.add_task("Importing ECB rates", total=len(references))
            result = import_rates(uow, org_id, references, lambda n: bar.advance(task, n))
    console.print(f"{result.created} rates added, {result.existing} already there "
                  f"({result.days} days, {result.first_date} to {result.last_date}).")
    if result.skipped_currencies:
        console.print("Left out (not current ISO 4217 currencies): "
                      + ", ".join(result.skipped_currencies))


@app.command("import-statement")
def import_statement(path: Annotated[Path, typer.Argument(
                         exists=True, dir_okay=False, readable=True,
                         help="an MT940 (.sta, .940, .txt) or CAMT.053 (.xml) statement")],
                     org: OrgOption = None) -> None:
    """Import a bank statement and match every payment in it to its invoices; importing the
    same file twice registers nothing twice."""
    from kassa.services.reconciliation import import_statement as import_file

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        org_id = _organization_id(kassa, org)
        with kassa.uow() as uow:
            result = import_file(uow, org_id, path.read_bytes(), path.name)
    if result.duplicate:
        console.print(f"{escape(path.name)} was imported before; nothing registered again.")
        return
    console.print(f"{result.entries} entries: {result.matched} matched, {result.unmatched} "
                  f"waiting to be matched, {result.returned} returns, {result.ignored} "
                  f"ignored, {result.already_imported} already imported.")


emails_app = typer.Typer(help="The e-mail outbox: customer e-mails and their delivery.",
                         no_args_is_help=True)
app.add_typer(emails_app, name="emails")


@emails_app.command("send")
def send_emails(burst: Annotated[bool, typer.Option(
        help="Send what is due and exit (default: keep sending every 30 seconds)")] = False,
                ) -> None:
    """Deliver the due e-mails through KASSA_SMTP_HOST (retries with backoff)."""
    import time

    from kassa.jobs.emails import deliver_emails

    kassa = _kassa()
    if kassa.mailer is None:
        err.print("[red]error:[/] mail is off: set KASSA_SMTP_HOST (messages stay pending).")
        raise typer.Exit(1)
    with _readable_errors():
        _migrate(kassa)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        while True:
            result = deliver_emails(kassa)
            console.print(f"Sent {result.sent} e-mails ({result.retrying} to retry, "
                          f"{result.failed} failed).")
            if burst:
                break
            time.sleep(30)


@emails_app.command("list")
def list_emails(status: Annotated[str | None, typer.Option(
                    help="pending, sent or failed")] = None,
                limit: Annotated[int, typer.Option(help="At most this many")] = 50,
                org: OrgOption = None) -> None:
    """The newest e-mails in the outbox."""
    from rich.table import Table

    from kassa.services.emails import list_messages

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        org_id = _organization_id(kassa, org)
        with kassa.uow() as uow:
            rows = list_messages(uow, org_id, status=status, limit=min(limit, 100)).rows
    table = Table("id", "created", "status", "kind", "to", "subject", "attempts", "last error")
    for row in rows:
        table.add_row(row.id, f"{row.created:%Y-%m-%d %H:%M}", row.status, row.kind,
                      escape(row.to_address), escape(row.subject), str(row.attempts),
                      escape((row.last_error or "")[:60]))
    console.print(table)


@app.command("report")
def report(name: Annotated[str, typer.Argument(
               help="mrr, customers, retention, cohorts, unit-economics, cash, ar-aging or "
                    "late-payers")],
           first: Annotated[str | None, typer.Option(
               "--from", help="First month, YYYY-MM (default: twelve months back)")] = None,
           last: Annotated[str | None, typer.Option(
               "--to", help="Last month, YYYY-MM (default: this month)")] = None,
           as_of: Annotated[str | None, typer.Option(
               help="As known at this moment (ISO date or date-time; default now)")] = None,
           csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV")] = False,
           org: OrgOption = None) -> None:
    """A report from the invoices, payments and refunds (see README, "Reports")."""
    import csv
    from datetime import UTC, datetime

    from rich.table import Table

    from kassa.core.errors import InvalidRequest
    from kassa.services import reports

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        org_id = _organization_id(kassa, org)
        moment = None
        if as_of is not None:
            try:
                moment = datetime.fromisoformat(as_of)
            except ValueError:
                raise InvalidRequest("as_of is an ISO date or date-time.",
                                     param="as_of") from None
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        with kassa.reports_uow() as uow:
            body = reports.report(uow, org_id, name.replace("-", "_"), first=first,
                                  last=last, as_of=moment)
    header, rows = reports.csv_rows(body)
    if csv_out:
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(rows)
        return
    unit = f"{body['currency'].upper()}, minor units" if body.get("currency") \
        else "minor units of each row's currency"
    table = Table(title=f"{body['name']} ({unit}; {body['from']} to {body['to']})")
    for index, title in enumerate(header):  # numbers are folded, never cut short
        table.add_column(title.replace("_", " "), no_wrap=index == 0, overflow="fold",
                         justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*("" if value is None else escape(str(value)) for value in row))
    console.print(table)
    for currency, total in (body.get("totals") or {}).items():
        console.print(f"{currency.upper()}: debits {total['debits']}, credits "
                      f"{total['credits']}; closing debits {total['closing_debits']}, "
                      f"closing credits {total['closing_credits']}")
    if "balanced" in body:
        console.print("Balanced." if body["balanced"] else "[red]NOT balanced.[/red]")
        if not body["balanced"]:
            raise typer.Exit(1)


ledger_app = typer.Typer(help="The ledger: close a month, export the journal, recognize "
                              "revenue (reports: kassa report trial-balance...).",
                         no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("close")
def close_period(period: Annotated[str, typer.Argument(help="The month, YYYY-MM")],
                 org: OrgOption = None) -> None:
    """Close a month that has ended: revenue recognized, then nothing dated in it accepted."""
    from kassa.services import accounting

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        org_id = _organization_id(kassa, org)
        with kassa.uow() as uow:
            accounting.close_period(uow, org_id, period)
    console.print(f"Closed {period}.")


@ledger_app.command("export")
def export_journal(first: Annotated[str, typer.Option("--from", help="First month, YYYY-MM")],
                   last: Annotated[str, typer.Option("--to", help="Last month, YYYY-MM")],
                   output: Annotated[Path | None, typer.Option(
                       help="Write to this file (default: standard output)")] = None,
                   org: OrgOption = None) -> None:
    """The journal as CSV in the import layout of docs/ledger.md."""
    import csv

    from kassa.services import ledger_reports

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        org_id = _organization_id(kassa, org)
        start, end = ledger_reports.month_span(first, last)
        with kassa.uow() as uow:
            rows = list(ledger_reports.journal_rows(uow.session, org_id, start, end))
    with (output.open("w", newline="") if output else nullcontext(sys.stdout)) as out:
        writer = csv.writer(out)
        writer.writerow(ledger_reports.JOURNAL_COLUMNS)
        writer.writerows(rows)
    if output:
        console.print(f"{len(rows)} postings written to {output}.")


@ledger_app.command("recognize")
def recognize_revenue() -> None:
    """Post the revenue earned up to today now, for every organization (the workers do it
    every hour; customers on test clocks move with their clock)."""
    from kassa.services import recognition

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        moved = recognition.recognize_due(kassa.session_factory, kassa.clock)
    console.print(f"{moved} revenue schedules moved.")


operator_app = typer.Typer(help="Operators: the staff who use the operator dashboard "
                                "(/dashboard).", no_args_is_help=True)
app.add_typer(operator_app, name="operator")


@operator_app.command("create")
def create_operator(email: Annotated[str, typer.Argument(help="Their e-mail: their login")],
                    role: Annotated[str, typer.Option(help="admin, finance or support")],
                    password_stdin: Annotated[bool, typer.Option(
                        "--password-stdin", help="Read the password (12 characters or "
                        "more) from standard input; otherwise a strong one is made and "
                        "printed once")] = False,
                    org: OrgOption = None) -> None:
    """Add an operator who signs in to the organization's dashboard."""
    from kassa.services import operators

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        org_id = _organization_id(kassa, org)
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin \
            else operators.new_password()
        with kassa.uow() as uow:
            made = operators.create_operator(uow, org_id, email=email, role=role,
                                             password=password)
    console.print(f"Operator {escape(made.email)} ({made.role}) of {org_id}: {made.id}")
    if not password_stdin:
        console.print("Password (store it now; it is not shown again):")
        print(password)


@operator_app.command("list")
def list_operators(org: OrgOption = None) -> None:
    """The organization's operators."""
    from rich.table import Table

    from kassa.services import operators

    kassa = _kassa()
    with _readable_errors():
        _migrate(kassa)
        org_id = _organization_id(kassa, org)
        with kassa.uow() as uow:
            rows = operators.list_operators(uow, org_id)
    table = Table("id", "e-mail", "role", "status", "last sign-in", "added")
    for row in rows:
        table.add_row(row.id, escape(row.email), row.role,
                      "active" if row.active else "deactivated",
                      f"{row.last_login_at:%Y-%m-%d %H:%M}" if row.last_login_at else "never",
                      f"{row.created:%Y-%m-%d}")
    console.print(table)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)




if __name__ == "__main__":
    main()
