"""`kassa demo`: a demo SaaS with a small catalog and a few dozen customers, billed for a
whole year on a test clock in seconds, through exactly the code that bills in real time."""

from __future__ import annotations

import dataclasses
import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from time import perf_counter
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select

from kassa import demo_models
from kassa.config import Kassa, Settings
from kassa.core.clock import to_unix
from kassa.core.money import round_minor, to_major
from kassa.services import (
    accounting,
    catalog,
    customers,
    documents,
    dunning,
    exchange_rates,
    invoices,
    ledger_reports,
    operators,
    organizations,
    payments,
    portal,
    subscriptions,
    test_clocks,
)
from kassa.store import models as m
from kassa.store.migrate import upgrade

YEAR_START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
COMPANIES = [
    "Aurora Analytics", "Bakkerij de Vries", "Brightlane", "Canal Street Media", "Delta Docs",
    "Eikenhout Studio", "Fjord Labs", "Golden Gate Goods", "Helix Health", "Ijsselstroom",
    "Juniper Legal", "Kiwi Logistics", "Lumen Schools", "Maple & Co", "Nordwind Energie",
    "Orchard Apps", "Polder Pay", "Quill Press", "Rijnmond Rentals", "Sable Security",
    "Tulip Travel", "Utrecht Makers", "Vela Robotics", "Waddenzee Fisheries", "Xylo Music",
    "Yonder Outdoor", "Zeeland Wind", "Atlas Freight", "Bloom Florists", "Cobalt Cloud",
    "Dune Architects", "Ember Games", "Fable Books", "Grove Coffee",
]
# Businesses with an EU VAT id are reverse charged; the others pay their country's VAT.
VAT_IDS = {"DE": ["DE136695976", "DE811128135"], "FR": ["FR40303265045"],
           "BE": ["BE0776091951", "BE0403019261"]}
COUNTRIES = [("NL", "Europe/Amsterdam", "nl"), ("DE", "Europe/Berlin", "de"),
             ("FR", "Europe/Paris", "fr"), ("BE", "Europe/Brussels", "nl"),
             ("US", "America/New_York", "en"), ("GB", "Europe/London", "en")]


@dataclass
class DemoCustomer:
    id: str
    pays_after_days: int | None  # None: never pays


def fresh_instance(settings: Settings) -> Kassa:
    """A Kassa on a new, empty SQLite file in the data directory."""
    path = settings.data_dir / "demo.db"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    files = settings.data_dir / "demo-files"  # the demo's own documents, never the real ones
    shutil.rmtree(files, ignore_errors=True)
    kassa = Kassa(Settings(data_dir=settings.data_dir, database_url=f"sqlite:///{path}",
                           secret_key=settings.secret_key, mode=settings.mode,
                           files_dir=files, public_url=settings.public_url))
    upgrade(kassa.engine)
    return kassa


def _catalog(kassa: Kassa, org_id: str) -> dict[str, str]:
    plans = {
        "starter": ("Starter", "eur", 2900, "month", 1),
        "pro": ("Pro", "eur", 9900, "month", 1),
        "pro_yearly": ("Pro (yearly)", "eur", 99000, "year", 1),
        "team": ("Team seats", "eur", 1200, "month", 1),
        "quarterly": ("Compliance pack (quarterly)", "eur", 14900, "month", 3),
        "starter_usd": ("Starter", "usd", 3500, "month", 1),
        "pro_yearly_usd": ("Pro (yearly)", "usd", 110000, "year", 1),
    }
    prices = {}
    for key, (name, currency, amount, interval, count) in plans.items():
        with kassa.uow() as uow:
            price = catalog.create_price(uow, org_id, product_data={"name": name},
                                         currency=currency, unit_amount=amount,
                                         recurring={"interval": interval,
                                                    "interval_count": count},
                                         lookup_key=key)
            prices[key] = price.id
    with kassa.uow() as uow:  # what customers may do in the portal
        organizations.update_organization(uow, org_id, {"portal_settings": {
            "plan_prices": [prices[key] for key in ("starter", "pro", "pro_yearly",
                                                    "starter_usd", "pro_yearly_usd")],
            "login_page": True}})
    return prices


# Illustrative euro-dollar rates for the first of each month (not the ECB's figures): the
# reports convert the dollar customers to euros with them.
DEMO_USD_PER_EUR = ("1.0850", "1.0820", "1.0790", "1.0880", "1.0910", "1.0870", "1.0830",
                    "1.0960", "1.1010", "1.0980", "1.0940", "1.0900", "1.0920", "1.0950")


def _exchange_rates(kassa: Kassa, org_id: str) -> None:
    with kassa.uow() as uow:
        for index, rate in enumerate(DEMO_USD_PER_EUR):  # December 2025 to January 2027
            year, month = divmod(2025 * 12 + 11 + index, 12)
            exchange_rates.create_exchange_rate(uow, org_id, date=f"{year}-{month + 1:02d}-01",
                                                base="eur", currency="usd", rate=rate)


def _customers(kassa: Kassa, org_id: str, clock_id: str,
               prices: dict[str, str]) -> list[DemoCustomer]:
    rng = random.Random(2026)
    made = []
    for index, name in enumerate(COMPANIES):
        country, tz, locale = COUNTRIES[index % len(COUNTRIES)]
        usd = country == "US"
        plan = rng.choice(["starter_usd", "pro_yearly_usd"] if usd else
                          ["starter", "pro", "pro", "pro_yearly", "team", "quarterly"])
        start = YEAR_START + timedelta(days=rng.choice([0, 0, 3, 10, 17, 31, 45, 60, 95]),
                                       hours=rng.randint(0, 8))
        options: dict[str, object] = {}
        if index == 0:  # anchored on the 31st: renews Feb 28, Mar 31, Apr 30, ...
            start = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
        elif index == 1:  # calendar billing: prorated until the 1st, then monthly
            start = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
            options["billing_cycle_anchor"] = to_unix(datetime(2026, 2, 1, tzinfo=UTC))
        elif index % 7 == 2:
            options["trial_period_days"] = 14
        if index % 4 == 3:
            options.update(collection_method="send_invoice", days_until_due=14,
                           invoice_lead_days=7)
        if index == 5:
            options["cancel_at"] = to_unix(start + timedelta(days=120))
        vat_id = VAT_IDS[country].pop() if VAT_IDS.get(country) and index % 2 else None
        with kassa.uow() as uow:
            customer = customers.create_customer(
                uow, org_id, name=name, email=f"billing@{name.split()[0].lower()}.example",
                country=country, vat_id=vat_id,
                address={"line1": f"{rng.randint(1, 200)} Main Street", "city": "Springfield",
                         "postal_code": f"{rng.randint(1000, 9999)}", "country": country},
                timezone=tz, locale=locale, test_clock=clock_id)
        if index == 8:
            with kassa.uow() as uow:
                customers.adjust_balance(uow, org_id, customer.id, amount=-5000,
                                         currency="eur", description="Goodwill credit")
        if options.get("collection_method") != "send_invoice":
            with kassa.uow() as uow:  # the card or mandate they gave on the checkout page
                payments.attach_method(uow, kassa.gateways, org_id, customer.id,
                                       token=PAYMENT_TOKENS.get(index, "pm_card_visa"))
        quantity = rng.randint(3, 25) if plan == "team" else 1
        with kassa.uow() as uow:
            subscriptions.create_subscription(
                uow, org_id, customer=customer.id,
                items=[{"price": prices[plan], "quantity": quantity}],
                start_date=to_unix(start), **options)  # type: ignore[arg-type]
        pays_after = None if index in (7, 19) else (35 if index % 9 == 0 else
                                                    rng.randint(0, 10))
        made.append(DemoCustomer(customer.id, pays_after))
    return made


# Most customers pay by card (Stripe's test card 4242...); some by SEPA Direct Debit, and a
# few have a card that declines or a mandate their bank returns.
PAYMENT_TOKENS = {
    2: "pm_sepa_debit", 6: "pm_sepa_debit", 10: "pm_card_mastercard",
    9: "pm_card_chargeDeclinedInsufficientFunds", 13: "pm_card_chargeDeclinedStolenCard",
    17: "pm_sepa_debit_returned_AM04", 21: "pm_card_chargeDeclined",
}


def _collect(kassa: Kassa, org_id: str, people: list[DemoCustomer], now: datetime) -> None:
    """Customers who get invoices, and those whose card or debit failed, pay by bank
    transfer, each at their own pace (cards and mandates are charged by the sandbox)."""
    pace = {person.id: person.pays_after_days for person in people}
    with kassa.uow() as uow:
        due = [(inv.id, inv.customer_id, inv.finalized_at) for inv in uow.session.scalars(
            select(m.Invoice).where(m.Invoice.org_id == org_id, m.Invoice.status == "open"))
            if inv.collection_method == "send_invoice" or inv.payment_failed_at is not None]
    for invoice_id, customer_id, finalized_at in due:
        days = pace.get(customer_id)
        if finalized_at is None:
            continue
        with kassa.uow() as uow:
            if days is None and now - finalized_at > timedelta(days=75):
                invoices.mark_uncollectible(uow, org_id, invoice_id)
            elif days is not None and now - finalized_at >= timedelta(days=days):
                payments.record_payment(uow, org_id, invoice_id=invoice_id, amount=None,
                                        method="bank_transfer", reference="Demo transfer")
                uow.commit()


@dataclass
class PlanChange:
    when: datetime
    customer: str
    change: str
    billed: str


# Week of the year -> (the plan a customer is on, what happens to them).
CHANGES = {
    10: ("starter", "upgrade to Pro now, prorated on the next invoice"),
    14: ("pro", "downgrade to Starter at the end of the period"),
    20: ("team", "add 5 seats now, the difference invoiced at once"),
    26: ("pro", "cancel now, unused time credited and invoiced at once"),
    32: ("starter", "cancel at the end of the period"),
}


def _subscription_on(kassa: Kassa, org_id: str, price_id: str) -> m.Subscription | None:
    with kassa.uow() as uow:
        return uow.session.scalars(select(m.Subscription).join(
            m.SubscriptionItem, m.SubscriptionItem.subscription_id == m.Subscription.id).where(
            m.Subscription.org_id == org_id, m.Subscription.status == "active",
            m.Subscription.cancel_at.is_(None), m.SubscriptionItem.price_id == price_id,
            m.SubscriptionItem.ended_at.is_(None), m.SubscriptionItem.migrate_at.is_(None))
            .order_by(m.Subscription.id.desc())).first()


def _change_plan(kassa: Kassa, org_id: str, prices: dict[str, str],
                 week: int) -> PlanChange | None:
    """The plan change the demo makes this week, if any: through the same services the API
    calls."""
    if week not in CHANGES:
        return None
    plan, text = CHANGES[week]
    sub = _subscription_on(kassa, org_id, prices[plan])
    if sub is None:
        return None
    item = sub.items[0]
    with kassa.uow() as uow:
        if week == 10:
            changed = subscriptions.update_subscription(
                uow, org_id, sub.id, items=[{"id": item.id, "price": prices["pro"]}])
        elif week == 14:
            changed = subscriptions.update_subscription(
                uow, org_id, sub.id, items=[{"id": item.id, "price": prices["starter"]}],
                effective_at="period_end")
        elif week == 20:
            changed = subscriptions.update_subscription(
                uow, org_id, sub.id, items=[{"id": item.id, "quantity": item.quantity + 5}],
                proration_behavior="always_invoice")
        elif week == 26:
            changed = subscriptions.cancel_subscription(uow, org_id, sub.id, prorate=True,
                                                        invoice_now=True)
        else:
            changed = subscriptions.update_subscription(uow, org_id, sub.id,
                                                        cancel_at_period_end=True)
    with kassa.uow() as uow:
        customer = uow.session.get(m.Customer, changed.customer_id)
        assert customer is not None
        now = customers.now_for(uow, customer)
        items = list(uow.session.scalars(select(m.InvoiceItem).where(
            m.InvoiceItem.subscription_id == sub.id, m.InvoiceItem.proration.is_(True),
            m.InvoiceItem.created == now)))
        billed = "; ".join(f"{item.description}: {to_major(item.amount, item.currency):,}"
                           for item in items)
        if not billed:
            ends = changed.cancel_at or changed.current_period_end
            billed = f"nothing now; takes effect {ends:%Y-%m-%d}"
        return PlanChange(now, customer.name or "", text, billed)


def print_taxes(console: Console, kassa: Kassa, org_id: str) -> None:
    """What tax the year's invoices carried, by kind of sale (EUR invoices)."""
    kinds = {"S": "VAT charged", "AE": "EU business: reverse charge",
             "O": "Outside the EU: outside scope", "E": "Exempt", "Z": "Zero rated"}
    table = Table(title="Tax on the year's EUR invoices (Demo SaaS is Dutch)")
    for column in ("Kind", "Rate", "Country", "Customers", "Taxable", "Tax", "Note"):
        table.add_column(column, justify="right" if column in ("Taxable", "Tax", "Customers")
                         else "left")
    rows: dict[tuple[str, str, str], list[Any]] = {}
    with kassa.uow() as uow:
        for invoice in uow.session.scalars(select(m.Invoice).where(
                m.Invoice.org_id == org_id, m.Invoice.currency == "eur",
                m.Invoice.status.in_(("open", "paid", "uncollectible")))):
            for group in invoice.tax_breakdown or []:
                key = (group["category"], group["rate"], group["country"] or "")
                row = rows.setdefault(key, [set(), 0, 0, group.get("note") or ""])
                row[0].add(invoice.customer_id)
                row[1] += group["taxable_amount"]
                row[2] += group["tax_amount"]
    for (category, rate, country), (who, taxable, tax_amount, note) in sorted(rows.items()):
        table.add_row(kinds.get(category, category), f"{rate}%", country, str(len(who)),
                      f"{to_major(taxable, 'eur'):,}", f"{to_major(tax_amount, 'eur'):,}",
                      note.split(" (")[0])
    console.print(table)


def write_pdfs(console: Console, kassa: Kassa, org_id: str) -> None:
    """Render a few of the year's invoices as PDF (one per kind of tax) and say where."""
    publishing = kassa.publishing
    with kassa.uow() as uow:
        chosen: dict[str, str] = {}
        for invoice in uow.session.scalars(select(m.Invoice).where(
                m.Invoice.org_id == org_id, m.Invoice.status.in_(("open", "paid")),
                m.Invoice.total > 0).order_by(m.Invoice.finalized_at.desc())):
            category = (invoice.tax_breakdown or [{}])[0].get("category", "")
            chosen.setdefault(category, invoice.id)
    root = kassa.settings.files_dir or kassa.settings.data_dir / "files"
    for category, invoice_id in sorted(chosen.items()):
        with kassa.uow() as uow:
            started = perf_counter()
            rendered = documents.invoice_pdf(uow, publishing, org_id, invoice_id)
            took = perf_counter() - started
            assert rendered.document is not None
            console.print(f"PDF ({category or 'untaxed'}, {rendered.language}, "
                          f"{took * 1000:.0f} ms): {root / rendered.document.path}",
                          soft_wrap=True, highlight=False)


def print_changes(console: Console, made: list[PlanChange]) -> None:
    table = Table(title="Plan changes during the year")
    for column in ("Date", "Customer", "Change", "Prorations billed"):
        table.add_column(column)
    for change in made:
        table.add_row(f"{change.when:%Y-%m-%d}", change.customer, change.change, change.billed)
    console.print(table)


def run_demo(console: Console, progress_bar: Callable[[], Progress], *,
             public_url: str | None = None) -> tuple[Kassa, str]:
    """Build the demo, bill a year, print the summary; returns the instance and the API key.
    `public_url` (else the settings') is where the printed links point."""
    settings = Settings.from_env()
    if public_url is not None:
        settings = dataclasses.replace(settings, public_url=public_url)
    kassa = fresh_instance(settings)
    with kassa.uow() as uow:
        created = organizations.create_organization(
            uow, kassa.pepper, name="Demo SaaS", legal_name="Demo SaaS B.V.", country="NL",
            timezone="Europe/Amsterdam", default_currency="eur", vat_id="NL004495445B01",
            iban="NL91ABNA0417164300", invoice_prefix="DEMO",
            invoice_number_format="{prefix}-{year}-{number:05d}", brand_color="#0f766e")
    org_id = created.organization.id
    with kassa.uow() as uow:
        clock = test_clocks.create_test_clock(uow, org_id, frozen_time=to_unix(YEAR_START),
                                              name="Demo year")
    with kassa.uow() as uow:  # unpaid for two weeks: access suspended; cards tried for two
        # weeks, invoices sent given 30 days past due, then the subscription ends
        dunning.create_policy(uow, org_id, name="Standard", is_default=True,
                              suspend_after_days=14, final_action="cancel_subscription")
    prices = _catalog(kassa, org_id)
    _exchange_rates(kassa, org_id)
    people = _customers(kassa, org_id, clock.id, prices)
    showcase = demo_models.setup(kassa, org_id, clock.id, YEAR_START)
    people += [DemoCustomer(person.customer_id, 3) for person in showcase]
    console.print(f"Demo SaaS: {len(people)} customers on test clock {clock.id}, starting "
                  f"{YEAR_START:%Y-%m-%d}; {len(showcase)} of them show one pricing model each.")
    weeks = 53
    changes: list[PlanChange] = []
    with progress_bar() as bar:
        task = bar.add_task("Billing a year on the test clock", total=weeks)
        for week in range(1, weeks + 1):
            at = YEAR_START + timedelta(weeks=week)
            # Usage happens during the week; the clock then moves to its end and bills.
            test_clocks.advance(kassa.session_factory, kassa.clock, org_id, clock.id,
                                to_unix(at - timedelta(seconds=1)), gateways=kassa.gateways)
            demo_models.send_week_of_usage(kassa, org_id, showcase,
                                           at - timedelta(weeks=1), at - timedelta(seconds=1),
                                           week)
            test_clocks.advance(kassa.session_factory, kassa.clock, org_id, clock.id,
                                to_unix(at), gateways=kassa.gateways)
            _collect(kassa, org_id, people, at)
            change = _change_plan(kassa, org_id, prices, week)
            if change is not None:
                changes.append(change)
            bar.advance(task)
    _payouts(kassa, org_id)
    print_summary(console, kassa, org_id)
    print_payments(console, kassa, org_id)
    print_dunning(console, kassa, org_id)
    print_taxes(console, kassa, org_id)
    print_changes(console, changes)
    print_ledger(console, kassa, org_id)
    write_pdfs(console, kassa, org_id)
    print_models(console, kassa, showcase)
    print_portal_link(console, kassa, org_id, people[0].id)
    print_dashboard_login(console, kassa, org_id)
    return kassa, created.secret_key


def print_portal_link(console: Console, kassa: Kassa, org_id: str, customer_id: str) -> None:
    """A customer portal link for one customer (it works once, for ten minutes)."""
    with kassa.uow() as uow:
        _, url = portal.create_session(uow, kassa.pepper, kassa.settings.public_url, org_id,
                                       customer=customer_id)
        name = uow.session.get(m.Customer, customer_id).name  # type: ignore[union-attr]
    # soft_wrap: a long address stays on one line, to be copied whole.
    console.print(f"Customer portal of {name} (opens once, within 10 minutes): {url}",
                  soft_wrap=True)
    login = kassa.settings.public_url.rstrip("/") + portal.login_path(kassa.pepper, org_id)
    console.print(f"Portal login page (a sign-in link by e-mail): {login}", soft_wrap=True)


def print_dashboard_login(console: Console, kassa: Kassa, org_id: str) -> None:
    """An admin operator of the demo's dashboard: its address, and the e-mail and password
    to sign in with (made now, printed once)."""
    password = operators.new_password()
    with kassa.uow() as uow:
        admin = operators.create_operator(uow, org_id, email="admin@demo-saas.example",
                                          role="admin", password=password)
    url = kassa.settings.public_url.rstrip("/") + "/dashboard/login"
    console.print(f"Operator dashboard: {url}", soft_wrap=True, highlight=False)
    console.print(f"Dashboard login: {admin.email} password {password}", soft_wrap=True,
                  highlight=False)


def print_summary(console: Console, kassa: Kassa, org_id: str) -> None:
    with kassa.uow() as uow:
        rows = list(uow.session.scalars(select(m.Invoice).where(m.Invoice.org_id == org_id)))
        subs = list(uow.session.scalars(select(m.Subscription).where(
            m.Subscription.org_id == org_id)))
    statuses = ["paid", "open", "uncollectible", "void", "draft"]
    currencies = sorted({row.currency for row in rows})
    by_month: dict[str, Counter[str]] = defaultdict(Counter)
    amounts: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        month = f"{row.created:%Y-%m}"
        by_month[month][row.status] += 1
        amounts[(month, row.currency)] += row.total
    table = Table(title="Invoices by month (created) and status")
    table.add_column("Month")
    for status in statuses:
        table.add_column(status.capitalize(), justify="right")
    for currency in currencies:
        table.add_column(f"Total {currency.upper()}", justify="right")
    for month in sorted(by_month):
        table.add_row(month, *(str(by_month[month][s] or "") for s in statuses),
                      *(f"{to_major(amounts[(month, c)], c):,}" for c in currencies))
    console.print(table)
    totals = Table(title="Totals by currency (invoiced = credit applied + paid + outstanding "
                         "+ written off)")
    for column in ("Currency", "Invoices", "Invoiced", "Credit applied", "Paid", "Outstanding",
                   "Written off"):
        totals.add_column(column, justify="right")
    for currency in currencies:
        mine = [row for row in rows if row.currency == currency]

        def money(amount: int, currency: str = currency) -> str:
            return f"{to_major(amount, currency):,}"

        totals.add_row(
            currency.upper(), str(len(mine)), money(sum(r.total for r in mine)),
            money(sum(r.total - r.amount_due for r in mine if r.status != "draft")),
            money(sum(r.amount_paid for r in mine if r.status == "paid")),
            money(sum(r.amount_remaining for r in mine if r.status == "open")),
            money(sum(r.amount_remaining for r in mine if r.status == "uncollectible")))
    console.print(totals)
    counts = Counter(sub.status for sub in subs)
    console.print("Subscriptions: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))



def print_payments(console: Console, kassa: Kassa, org_id: str) -> None:
    """How the year's invoices were collected: by method and outcome, with decline codes."""
    with kassa.uow() as uow:
        rows = list(uow.session.scalars(select(m.Payment).where(m.Payment.org_id == org_id)))
    table = Table(title="Payments collected through the sandbox gateway and by transfer")
    for column in ("Method", "Succeeded", "Failed", "Returned", "Processing", "Collected EUR",
                   "Decline codes"):
        table.add_column(column, justify="right" if column != "Decline codes" else "left")
    for method in sorted({row.method_type for row in rows}):
        mine = [row for row in rows if row.method_type == method]
        counts = Counter(row.status for row in mine)
        codes = Counter(row.decline_code for row in mine if row.decline_code)
        collected = sum(row.amount for row in mine
                        if row.status == "succeeded" and row.currency == "eur")
        table.add_row(method, str(counts["succeeded"]), str(counts["failed"]),
                      str(counts["returned"]), str(counts["processing"]),
                      f"{to_major(collected, 'eur'):,}",
                      ", ".join(f"{code} x{n}" for code, n in sorted(codes.items())))
    console.print(table)


def print_dunning(console: Console, kassa: Kassa, org_id: str) -> None:
    """How the year's unpaid invoices fared in dunning (GET /v1/reports/dunning)."""
    with kassa.uow() as uow:
        report = dunning.report(uow, org_id, YEAR_START.date(),
                                YEAR_START.date() + timedelta(days=364))
    table = Table(title=f"Dunning: {report['entered']} invoices entered, {report['recovered']} "
                        f"recovered (rate {report['recovery_rate']}), median time to recover "
                        f"{report['time_to_recover']['median_days']} days, "
                        f"{report['involuntary_churn']['subscriptions']} subscriptions ended "
                        "for non-payment")
    for column in ("Why", "Entered", "Recovered", "Rate", "Recovered EUR"):
        table.add_column(column, justify="left" if column == "Why" else "right")
    for row in report["by_decline_code"]:
        table.add_row(row["decline_code"], str(row["entered"]), str(row["recovered"]),
                      row["recovery_rate"] or "",
                      f"{to_major(row['amount_recovered'].get('eur', 0), 'eur'):,}")
    console.print(table)
    console.print("Outcomes: " + ", ".join(f"{n} {s}" for s, n in report["outcomes"].items())
                  + "; final actions: " + (", ".join(
                      f"{n} {a}" for a, n in report["final_actions"].items()) or "none"))


def print_models(console: Console, kassa: Kassa,
                 showcase: list[demo_models.ModelCustomer]) -> None:
    table = Table(title="One customer per pricing model (EUR)")
    for column in ("Model", "Customer", "Invoices", "Billed in the year", "Last invoice"):
        table.add_column(column, justify="left" if column in ("Model", "Customer") else "right")
    with kassa.uow() as uow:
        for person in showcase:
            customer = uow.session.get(m.Customer, person.customer_id)
            invoices = list(uow.session.scalars(select(m.Invoice).where(
                m.Invoice.customer_id == person.customer_id).order_by(m.Invoice.created)))
            assert customer is not None
            table.add_row(person.model, customer.name or "", str(len(invoices)),
                          f"{to_major(sum(i.total for i in invoices), 'eur'):,}",
                          f"{to_major(invoices[-1].total, 'eur'):,}" if invoices else "")
    console.print(table)


def _payouts(kassa: Kassa, org_id: str) -> None:
    """The sandbox gateway pays out each month's net card and SEPA takings on the 3rd of
    the next month, less a 1.4% fee; dollars arrive in the euro bank account at the demo's
    rate (through the FX differences account)."""
    net: dict[tuple[str, str], int] = defaultdict(int)
    with kassa.uow() as uow:
        for payment in uow.session.scalars(select(m.Payment).where(
                m.Payment.org_id == org_id, m.Payment.gateway.is_not(None),
                m.Payment.succeeded_at.is_not(None))):
            assert payment.succeeded_at is not None
            month = payment.succeeded_at.strftime("%Y-%m")
            kept = 0 if payment.status == "returned" else payment.amount
            net[(month, payment.currency)] += kept - payment.amount_refunded
    for (month, currency), amount in sorted(net.items()):
        if amount <= 0:
            continue
        year, number = (int(part) for part in month.split("-"))
        arrival = date(year + number // 12, number % 12 + 1, 3)
        fee = amount * 14 // 1000
        rate = Decimal(DEMO_USD_PER_EUR[min(number, len(DEMO_USD_PER_EUR) - 1)])
        bank = None if currency == "eur" else round_minor((amount - fee) / rate)
        with kassa.uow() as uow:
            accounting.record_payout(uow, org_id, gateway="sandbox",
                                     reference=f"po_demo_{month}_{currency}", amount=amount,
                                     fee=fee, currency=currency, arrival_date=arrival,
                                     bank_amount=bank, bank_currency="eur")


def print_ledger(console: Console, kassa: Kassa, org_id: str) -> None:
    """The year's books: the trial balance (it balances) and revenue recognized by month."""
    year_end = (YEAR_START + timedelta(days=365)).date()
    with kassa.uow() as uow:
        balance = ledger_reports.trial_balance(uow.session, org_id, YEAR_START.date(),
                                               year_end)
        waterfall = ledger_reports.revenue_waterfall(uow.session, org_id, YEAR_START.date(),
                                                     year_end)
    table = Table(title="Trial balance 2026 (kassa report trial-balance --from 2026-01 --to "
                        "2026-12): " + ("balanced" if balance["balanced"] else "NOT balanced"))
    for column in ("Account", "Name", "Currency", "Debits", "Credits", "Balance"):
        table.add_column(column, justify="right" if column in ("Debits", "Credits", "Balance")
                         else "left")
    for row in balance["data"]:
        currency = row["currency"]
        table.add_row(row["account"], row["name"], currency.upper(),
                      f"{to_major(row['debits'], currency):,}",
                      f"{to_major(row['credits'], currency):,}",
                      f"{to_major(row['balance'], currency):,}")
    console.print(table)
    months: dict[str, int] = defaultdict(int)
    for row in waterfall["data"]:
        if row["currency"] == "eur":
            months[row["month"]] += row["recognized"]
    console.print("Revenue recognized by month, EUR (kassa report revenue-waterfall): "
                  + ", ".join(f"{month[5:]} {to_major(amount, 'eur'):,}"
                              for month, amount in sorted(months.items())))
