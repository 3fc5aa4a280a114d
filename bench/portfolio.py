"""A realistic SaaS portfolio of N subscriptions that all renew at one instant, built fast.

One organization (a Dutch SaaS, EU VAT on, draft_grace_seconds 0 so a renewal is finalized in
the billing run that creates it) sells monthly and yearly flat plans, per-seat plans and a
base fee with graduated API-request usage, in EUR, USD and GBP. Its customers follow the
ARCHETYPES below: consumers across the EU (VAT of their country), businesses with a VAT id
(reverse charge; Dutch ones pay Dutch VAT), the US (New York sales tax, elsewhere outside
the scope of EU VAT), the UK (the seller's UK VAT), paying by card on the sandbox gateway
or by bank transfer on a sent invoice, some with a coupon (20% off, 10% off for a year,
5.00 off).

How it is made, so that 100,000 subscriptions take a minute or two on PostgreSQL:

1. One *template* customer per archetype is made through Kassa's services on a frozen
   clock, as the API would: at its start instant (RENEWAL minus a month, or a year) the
   customer, its VAT id checked, its card, its subscription with its first invoice, paid
   by card at once or by bank transfer five days later; the billing run is brought up to
   just before RENEWAL (renewal reminders), and the usage templates report a month of API
   requests.
2. Each template is *cloned* with set-based SQL (INSERT ... SELECT) into every table that
   holds per-customer state the billing run reads (CLONED); a clone's ids are its
   template's + "_<n>". Past invoices and what came with them are not cloned (NOT_CLONED
   says why for every table that names a customer or subscription).

RENEWAL is the first day of the current month, 00:00 UTC, from the real clock, so a
`kassa bill` started now on the system clock finds every subscription due.

    .venv/bin/python bench/portfolio.py [N] [--database-url URL]

With --database-url (PostgreSQL), the database's public schema is DROPPED and recreated:
never point it at a database you care about. Without it, a SQLite file in a temporary
directory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import Connection, func, select, text

from kassa.adapters.vies import VatStatus
from kassa.config import Kassa, Settings
from kassa.core.clock import FrozenClock
from kassa.jobs.billing import run_billing
from kassa.services import (
    catalog,
    customers,
    discounts,
    meters,
    organizations,
    payments,
    subscriptions,
    tax_rates,
    vat_checks,
)
from kassa.store import models as m
from kassa.store.migrate import upgrade

PAID_BY_TRANSFER_AFTER = timedelta(days=5)
USAGE_EVENTS = 30  # per usage customer, spread over the month before RENEWAL


@dataclass(frozen=True)
class Plan:
    product: str
    interval: str  # month | year
    amounts: dict[str, int]  # currency: unit amount in minor units
    unit_label: str | None = None


PLANS = {
    "starter": Plan("Starter", "month", {"eur": 1900, "usd": 2100, "gbp": 1700}),
    "pro": Plan("Pro", "month", {"eur": 4900, "usd": 5500, "gbp": 4500}),
    "pro_yearly": Plan("Pro", "year", {"eur": 49000, "usd": 55000, "gbp": 45000}),
    "seats": Plan("Team", "month", {"eur": 1200, "usd": 1300, "gbp": 1100}, "seat"),
    "seats_yearly": Plan("Team", "year", {"eur": 12000, "usd": 13000, "gbp": 11000}, "seat"),
    # The base fee of the usage plan; its API requests are the metered price below.
    "usage": Plan("Business", "month", {"eur": 19900, "usd": 22900}),
}
# API requests, graduated: the first 10,000 of a month free, then 0.05 cent each up to
# 100,000, then 0.02 cent.
USAGE_TIERS = [{"up_to": 10_000, "unit_amount": 0},
               {"up_to": 100_000, "unit_amount_decimal": "0.05"},
               {"up_to": "inf", "unit_amount_decimal": "0.02"}]
COUPONS = {  # welcome: the customer's; the others: the subscription's
    "welcome": {"name": "Welcome 20%", "percent_off": 20, "duration": "forever"},
    "loyal": {"name": "Loyalty 10% for a year", "percent_off": 10, "duration": "repeating",
              "duration_in_months": 12},
    **{f"fixed-{currency}": {"name": "5 off", "amount_off": 500, "currency": currency,
                             "duration": "forever"} for currency in ("eur", "usd", "gbp")},
}


@dataclass(frozen=True)
class Archetype:
    key: str
    share: float  # of the portfolio's subscriptions
    plan: str  # a key of PLANS
    currency: str
    country: str
    state: str | None = None
    vat_id: str | None = None  # a business, its VAT id found valid by VIES (EU ones)
    collection: str = "charge_automatically"  # by card; send_invoice: paid by transfer
    quantity: int = 1
    coupon: str | None = None  # welcome | loyal | fixed
    usage: int = 0  # API requests in the month before RENEWAL
    locale: str | None = None


ARCHETYPES = (
    # Consumers in the EU: VAT of their country (of the Netherlands for Dutch ones).
    Archetype("nl-consumer-starter", .07, "starter", "eur", "NL", locale="nl"),
    Archetype("de-consumer-starter", .06, "starter", "eur", "DE", locale="de"),
    Archetype("fr-consumer-pro", .05, "pro", "eur", "FR", locale="fr"),
    Archetype("es-consumer-pro-welcome", .03, "pro", "eur", "ES", coupon="welcome"),
    Archetype("it-consumer-starter", .03, "starter", "eur", "IT"),
    Archetype("be-consumer-pro-fixed", .02, "pro", "eur", "BE", coupon="fixed"),
    Archetype("at-consumer-pro-loyal", .02, "pro", "eur", "AT", coupon="loyal", locale="de"),
    Archetype("pl-consumer-pro-yearly", .03, "pro_yearly", "eur", "PL"),
    Archetype("se-consumer-pro-yearly", .02, "pro_yearly", "eur", "SE"),
    Archetype("fi-consumer-starter-invoiced", .02, "starter", "eur", "FI",
              collection="send_invoice"),
    Archetype("ie-consumer-pro-yearly-welcome", .02, "pro_yearly", "eur", "IE",
              coupon="welcome"),
    # Businesses in the EU: reverse charge; Dutch ones pay Dutch VAT.
    Archetype("nl-business-seats-5", .04, "seats", "eur", "NL", vat_id="NL000099998B57",
              collection="send_invoice", quantity=5, locale="nl"),
    Archetype("de-business-seats-12", .05, "seats", "eur", "DE", vat_id="DE136695976",
              quantity=12, locale="de"),
    Archetype("fr-business-seats-yearly-25", .03, "seats_yearly", "eur", "FR",
              vat_id="FR11123456782", collection="send_invoice", quantity=25),
    Archetype("be-business-seats-3-welcome", .02, "seats", "eur", "BE",
              vat_id="BE0776091951", collection="send_invoice", quantity=3, coupon="welcome"),
    Archetype("it-business-seats-yearly-50", .02, "seats_yearly", "eur", "IT",
              vat_id="IT00743110157", quantity=50),
    Archetype("es-business-pro-yearly", .02, "pro_yearly", "eur", "ES", vat_id="ESB58378431",
              collection="send_invoice"),
    Archetype("at-business-pro", .02, "pro", "eur", "AT", vat_id="ATU12345675"),
    Archetype("dk-business-seats-8-loyal", .02, "seats", "eur", "DK", vat_id="DK13585628",
              quantity=8, coupon="loyal"),
    Archetype("se-business-usage-small", .02, "usage", "eur", "SE",
              vat_id="SE556703748501", usage=6_000),
    Archetype("nl-business-usage-medium", .03, "usage", "eur", "NL",
              vat_id="NL123456782B01", collection="send_invoice", usage=85_000),
    Archetype("ie-business-usage-large-fixed", .02, "usage", "eur", "IE",
              vat_id="IE6388047V", usage=420_000, coupon="fixed"),
    Archetype("pl-business-usage-medium", .02, "usage", "eur", "PL",
              vat_id="PL5260250274", usage=140_000),
    # North America: New York sales tax (the seller's own rate); elsewhere no tax.
    Archetype("us-ny-consumer-starter", .04, "starter", "usd", "US", state="NY"),
    Archetype("us-ca-consumer-pro", .04, "pro", "usd", "US", state="CA"),
    Archetype("us-tx-business-seats-20", .04, "seats", "usd", "US", state="TX",
              collection="send_invoice", quantity=20),
    Archetype("us-wa-consumer-pro-yearly-welcome", .03, "pro_yearly", "usd", "US", state="WA",
              coupon="welcome"),
    Archetype("us-ny-business-usage", .03, "usage", "usd", "US", state="NY", usage=260_000),
    Archetype("ca-business-seats-yearly-10", .02, "seats_yearly", "usd", "CA", state="ON",
              collection="send_invoice", quantity=10),
    # The United Kingdom: the seller's UK VAT registration (20%).
    Archetype("gb-consumer-starter", .03, "starter", "gbp", "GB"),
    Archetype("gb-business-seats-yearly-10", .02, "seats_yearly", "gbp", "GB",
              vat_id="GB980780684", collection="send_invoice", quantity=10),
    Archetype("gb-consumer-pro-fixed", .02, "pro", "gbp", "GB", coupon="fixed"),
)


@dataclass(frozen=True)
class Template:
    archetype: Archetype
    customer_id: str
    subscription_id: str


@dataclass(frozen=True)
class Templates:
    org_id: str
    renewal: datetime
    templates: tuple[Template, ...]


# --- what is cloned -------------------------------------------------------------------------

# Per table: how a template's rows are joined to its clones (`k`: template_id, n, suffix), and
# the columns whose value a clone changes (every other column is copied as it is). A
# customer's VAT id and what VIES said of it, its balance and its gateway ids are columns of
# its row; the catalog, coupons, meter and tax rates are the organization's, shared.
_BY_CUSTOMER = "JOIN portfolio_clones k ON k.template_id = t.customer_id"
CLONED: dict[str, tuple[str, dict[str, str]]] = {
    "customers": ("JOIN portfolio_clones k ON k.template_id = t.id", {
        "id": "t.id || k.suffix", "name": "t.name || ' ' || k.n",
        "email": "replace(t.email, '@', '+' || k.n || '@')",
        "default_payment_method_id": "t.default_payment_method_id || k.suffix"}),
    "payment_methods": (_BY_CUSTOMER, {
        "id": "t.id || k.suffix", "customer_id": "t.customer_id || k.suffix",
        "gateway_ref": "t.gateway_ref || k.suffix"}),
    # The latest invoice is the template's first one, which is not cloned.
    "subscriptions": (_BY_CUSTOMER, {
        "id": "t.id || k.suffix", "customer_id": "t.customer_id || k.suffix",
        "latest_invoice_id": "NULL"}),
    "subscription_items": (
        "JOIN subscriptions s ON s.id = t.subscription_id "
        "JOIN portfolio_clones k ON k.template_id = s.customer_id",
        {"id": "t.id || k.suffix", "subscription_id": "t.subscription_id || k.suffix"}),
    "discounts": (_BY_CUSTOMER, {
        "id": "t.id || k.suffix", "customer_id": "t.customer_id || k.suffix",
        "subscription_id": "t.subscription_id || k.suffix"}),
    "meter_events": (_BY_CUSTOMER, {
        "identifier": "t.identifier || k.suffix", "customer_id": "t.customer_id || k.suffix",
        "payload": "{payload}"}),
    "usage_hours": (_BY_CUSTOMER, {"customer_id": "t.customer_id || k.suffix"}),
}
# The payload names its customer (the meter's customer key).
_PAYLOAD = {
    "postgresql": "CAST(CAST(t.payload AS jsonb) || jsonb_build_object('customer', "
                  "t.customer_id || k.suffix) AS json)",
    "sqlite": "json_set(t.payload, '$.customer', t.customer_id || k.suffix)",
}
_HISTORY = "the template's history before RENEWAL; the billing run does not read it"
_NONE = "the templates have none"
NOT_CLONED = {
    "invoices": "past invoices: all paid (the run reads drafts, and open invoices' due "
                "dates, of which the templates have none)",
    "invoice_lines": _HISTORY, "billed_periods": _HISTORY, "payments": _HISTORY,
    "balance_transactions": _HISTORY,
    "email_messages": "the first invoice's e-mails and the yearly renewal reminders, sent "
                      "before RENEWAL; the run looks a notice up only while it is due",
    "journal_lines": _HISTORY, "revenue_schedules": _HISTORY,
    "invoice_items": _NONE, "subscription_schedules": _NONE, "price_migration_entries": _NONE,
    "meter_alerts": _NONE, "dunning_cases": _NONE, "credit_notes": _NONE,
    "promotion_codes": _NONE, "prices": _NONE, "portal_sessions": _NONE,
    "bank_transactions": _NONE,
}


# --- building ---------------------------------------------------------------------------------

def renewal_instant(now: datetime | None = None) -> datetime:
    """The first day of the current month, 00:00 UTC."""
    now = now or datetime.now(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def start_of(archetype: Archetype, renewal: datetime) -> datetime:
    """When the archetype's subscription started: one billing period before RENEWAL."""
    interval = PLANS[archetype.plan].interval
    return renewal - (relativedelta(years=1) if interval == "year" else relativedelta(months=1))


def build(kassa: Kassa, count: int, renewal: datetime | None = None) -> str:
    """Make a portfolio of `count` subscriptions renewing at `renewal` (default: the first
    of this month) in a fresh, migrated database; its organization's id. `kassa.clock` must
    be a FrozenClock: it is moved through the portfolio's history, and left at `renewal`."""
    made = make_templates(kassa, renewal or renewal_instant())
    clone(kassa, made, allocate(count))
    return made.org_id


def allocate(count: int) -> list[int]:
    """How many clones each archetype gets so that templates and clones make `count`
    subscriptions shared as ARCHETYPES say (largest remainder; every template counts)."""
    if count < len(ARCHETYPES):
        raise ValueError(f"a portfolio has at least {len(ARCHETYPES)} subscriptions "
                         "(one per archetype)")
    total = sum(a.share for a in ARCHETYPES)
    targets = [count * a.share / total for a in ARCHETYPES]
    sizes = [max(1, int(target)) for target in targets]
    while sum(sizes) < count:
        sizes[max(range(len(sizes)), key=lambda i: targets[i] - sizes[i])] += 1
    while sum(sizes) > count:
        sizes[min((i for i in range(len(sizes)) if sizes[i] > 1),
                  key=lambda i: targets[i] - sizes[i])] -= 1
    return [size - 1 for size in sizes]


def make_templates(kassa: Kassa, renewal: datetime) -> Templates:
    """The organization, its catalog and one template customer per archetype, brought up to
    just before `renewal` through Kassa's services."""
    clock = kassa.clock
    assert isinstance(clock, FrozenClock), "the portfolio is built on a FrozenClock"
    starts = sorted({start_of(a, renewal) for a in ARCHETYPES})
    clock.move_to(starts[0] - timedelta(days=1))
    org_id, prices = _organization(kassa)
    made: dict[str, Template] = {}
    for start in starts:
        _advance(kassa, start)
        group = [a for a in ARCHETYPES if start_of(a, renewal) == start]
        for archetype in group:
            made[archetype.key] = _subscribe(kassa, org_id, prices, archetype)
        _advance(kassa, start + PAID_BY_TRANSFER_AFTER)
        for archetype in group:
            if archetype.collection == "send_invoice":
                _pay_by_transfer(kassa, org_id, made[archetype.key].subscription_id)
    _advance(kassa, renewal - timedelta(minutes=1))
    for archetype in ARCHETYPES:
        if archetype.usage:
            _report_usage(kassa, org_id, archetype, made[archetype.key].customer_id, renewal)
    _advance(kassa, renewal)
    return Templates(org_id, renewal, tuple(made[a.key] for a in ARCHETYPES))


def _organization(kassa: Kassa) -> tuple[str, dict[tuple[str, str], str]]:
    """The seller, its UK VAT and New York sales tax, meter, coupons and prices (by plan
    and currency; the usage plan's API requests under "requests")."""
    with kassa.uow() as uow:
        org_id = organizations.create_organization(
            uow, kassa.pepper, name="Portfolio Cloud", legal_name="Portfolio Cloud B.V.",
            country="NL", vat_id="NL004495445B01", timezone="UTC", default_currency="eur",
            address={"line1": "Keizersgracht 1", "city": "Amsterdam",
                     "postal_code": "1015 CC", "country": "NL"},
            support_email="billing@portfolio.example", automatic_tax=True,
            draft_grace_seconds=0).organization.id
    with kassa.uow() as uow:
        tax_rates.create_tax_rate(uow, org_id, display_name="VAT", tax_type="vat",
                                  country="GB", percentage="20")
    with kassa.uow() as uow:
        tax_rates.create_tax_rate(uow, org_id, display_name="Sales tax", tax_type="sales_tax",
                                  country="US", state="NY", percentage="8.875")
    with kassa.uow() as uow:
        meter_id = meters.create_meter(uow, org_id, display_name="API requests",
                                       event_name="api_requests",
                                       default_aggregation={"formula": "sum"}).id
    for coupon_id, fields in COUPONS.items():
        with kassa.uow() as uow:
            discounts.create_coupon(uow, org_id, id=coupon_id, **fields)
    products: dict[str, str] = {}
    prices: dict[tuple[str, str], str] = {}
    for plan_key, plan in PLANS.items():
        if plan.product not in products:
            with kassa.uow() as uow:
                products[plan.product] = catalog.create_product(
                    uow, org_id, name=plan.product, unit_label=plan.unit_label).id
        for currency, amount in plan.amounts.items():
            with kassa.uow() as uow:
                prices[plan_key, currency] = catalog.create_price(
                    uow, org_id, product=products[plan.product], currency=currency,
                    unit_amount=amount, recurring={"interval": plan.interval}).id
    with kassa.uow() as uow:
        requests = catalog.create_product(uow, org_id, name="API requests",
                                          unit_label="request").id
    for currency in PLANS["usage"].amounts:
        with kassa.uow() as uow:
            prices["requests", currency] = catalog.create_price(
                uow, org_id, product=requests, currency=currency, billing_scheme="tiered",
                tiers_mode="graduated", tiers=USAGE_TIERS,
                recurring={"interval": "month", "usage_type": "metered",
                           "meter": meter_id}).id
    return org_id, prices


class _ViesSaysValid:
    """A VAT register that knows every id (the bench asks nobody)."""

    def check(self, country: str, number: str) -> VatStatus:
        return "valid"


def _subscribe(kassa: Kassa, org_id: str, prices: dict[tuple[str, str], str],
               archetype: Archetype) -> Template:
    """The archetype's customer and subscription, made now, its first invoice finalized (and
    paid, when by card)."""
    a = archetype
    address = {"line1": "1 Main Street", "city": "Capital", "postal_code": "1000",
               "country": a.country, **({"state": a.state} if a.state else {})}
    with kassa.uow() as uow:
        customer_id = customers.create_customer(
            uow, org_id, name=a.key.replace("-", " ").title(),
            email=f"{a.key}@customers.example", address=address, vat_id=a.vat_id,
            locale=a.locale, **({"coupon": "welcome"} if a.coupon == "welcome" else {})).id
    if a.vat_id and not a.vat_id.startswith("GB"):
        with kassa.uow() as uow:
            vat_checks.check_customer_vat(uow, org_id, customer_id, _ViesSaysValid())
    if a.collection == "charge_automatically":
        with kassa.uow() as uow:
            payments.attach_method(uow, kassa.gateways, org_id, customer_id,
                                   token="pm_card_visa" if a.currency == "eur"
                                   else "pm_card_mastercard")
    items: list[dict[str, Any]] = [{"price": prices[a.plan, a.currency],
                                    "quantity": a.quantity}]
    if a.plan == "usage":
        items.append({"price": prices["requests", a.currency]})
    coupon = {"loyal": "loyal", "fixed": f"fixed-{a.currency}"}.get(a.coupon or "")
    with kassa.uow() as uow:
        sub = subscriptions.create_subscription(
            uow, org_id, customer=customer_id, items=items, collection_method=a.collection,
            days_until_due=30 if a.collection == "send_invoice" else None, coupon=coupon)
    if a.collection == "charge_automatically":
        assert sub.latest_invoice_id is not None
        paid = payments.collect_invoice(kassa.session_factory, kassa.clock, kassa.gateways,
                                        sub.latest_invoice_id)
        assert paid is not None and paid.status == "succeeded", a.key
    return Template(a, customer_id, sub.id)


def _pay_by_transfer(kassa: Kassa, org_id: str, subscription_id: str) -> None:
    with kassa.uow() as uow:
        sub = uow.session.get(m.Subscription, subscription_id)
        assert sub is not None and sub.latest_invoice_id is not None
        payments.record_payment(uow, org_id, invoice_id=sub.latest_invoice_id, amount=None,
                                method="bank_transfer", reference="Bank transfer")
        uow.commit()


def _report_usage(kassa: Kassa, org_id: str, archetype: Archetype, customer_id: str,
                  renewal: datetime) -> None:
    """The month's API requests, reported in one batch just before `renewal`: USAGE_EVENTS
    events of uneven size spread over the month, adding up to `archetype.usage`."""
    start = start_of(archetype, renewal)
    weights = [1 + (i * 7) % 5 for i in range(USAGE_EVENTS)]
    values = [archetype.usage * w // sum(weights) for w in weights]
    values[-1] += archetype.usage - sum(values)
    step = (renewal - start) / USAGE_EVENTS
    batch = [{"event_name": "api_requests",
              "timestamp": int((start + step * (i + 0.5)).timestamp()),
              "payload": {"customer": customer_id, "value": value}}
             for i, value in enumerate(values)]
    with kassa.uow() as uow:
        outcomes = meters.ingest(uow, org_id, batch, kassa.clock.now())
    assert all(o.status == "accepted" for o in outcomes), outcomes


def _advance(kassa: Kassa, until: datetime) -> None:
    """Run billing at every moment work falls due before `until`, as the scheduler would
    (renewal reminders); leaves the clock at `until`."""
    clock = kassa.clock
    assert isinstance(clock, FrozenClock)
    previous = None
    while True:
        with kassa.uow() as uow:
            due = uow.session.scalar(select(func.min(m.Subscription.next_action_at)).where(
                m.Subscription.next_action_at < until))
        if due is None:
            break
        assert previous is None or due > previous, f"billing at {due} left work due"
        clock.move_to(due)
        result = run_billing(kassa, due)
        assert result.failed == 0
        previous = due
    clock.move_to(until)


# --- cloning ----------------------------------------------------------------------------------

def clone(kassa: Kassa, made: Templates, copies: Sequence[int]) -> int:
    """Clone each template `copies[i]` times (in the order of `made.templates`), in one
    transaction; returns the number of rows written."""
    written = 0
    with kassa.engine.begin() as connection:
        _clone_numbers(connection, [(t.customer_id, n)
                                    for t, n in zip(made.templates, copies, strict=True)])
        for table in CLONED:
            written += connection.execute(text(_clone_statement(connection, table))).rowcount
        connection.execute(text("DROP TABLE portfolio_clones"))
    if kassa.engine.dialect.name == "postgresql":
        with kassa.engine.connect() as connection:
            connection.execute(text(f"ANALYZE {', '.join(CLONED)}"))
            connection.commit()
    return written


def _clone_numbers(connection: Connection, copies: list[tuple[str, int]]) -> None:
    """A temporary table of every clone to make: (template_id, n, suffix "_<n>")."""
    connection.execute(text("CREATE TEMPORARY TABLE portfolio_copies "
                            "(template_id VARCHAR(40) PRIMARY KEY, copies INTEGER NOT NULL)"))
    connection.execute(text("INSERT INTO portfolio_copies VALUES (:id, :copies)"),
                       [{"id": id_, "copies": n} for id_, n in copies])
    connection.execute(text("CREATE TEMPORARY TABLE portfolio_clones (template_id VARCHAR(40) "
                            "NOT NULL, n INTEGER NOT NULL, suffix VARCHAR(12) NOT NULL, "
                            "PRIMARY KEY (template_id, n))"))
    connection.execute(text(
        "WITH RECURSIVE k(template_id, n, copies) AS ("
        " SELECT template_id, 1, copies FROM portfolio_copies WHERE copies > 0"
        " UNION ALL SELECT template_id, n + 1, copies FROM k WHERE n < copies) "
        "INSERT INTO portfolio_clones (template_id, n, suffix) "
        "SELECT template_id, n, '_' || n FROM k"))
    connection.execute(text("DROP TABLE portfolio_copies"))


def _clone_statement(connection: Connection, name: str) -> str:
    join, changed = CLONED[name]
    quote = connection.dialect.identifier_preparer.quote
    columns = [column.name for column in m.Base.metadata.tables[name].columns]
    values = [changed.get(column, f"t.{quote(column)}").format(
        payload=_PAYLOAD[connection.dialect.name]) for column in columns]
    # Names come from the models and CLONED, never from input.
    return (f"INSERT INTO {name} ({', '.join(map(quote, columns))}) "  # noqa: S608
            f"SELECT {', '.join(values)} FROM {name} t {join}")


# --- the command ------------------------------------------------------------------------------

def fresh(url: str | None, workdir: Path) -> Kassa:
    """A Kassa on a frozen clock over an empty, migrated database (PostgreSQL: the public
    schema dropped and recreated, and the job queue's tables installed, as `kassa migrate`
    does)."""
    target = url or f"sqlite:///{workdir / 'portfolio.db'}"
    kassa = Kassa(Settings(data_dir=workdir, database_url=target, secret_key="bench",
                           rate_limit=0), clock=FrozenClock(renewal_instant()))
    if url:
        with kassa.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(kassa.engine)
    if url:
        from kassa.jobs.queue import apply_schema

        apply_schema(kassa)
    return kassa


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subscriptions", nargs="?", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    kassa = fresh(args.database_url, Path(tempfile.mkdtemp(prefix="kassa-portfolio-")))
    renewal = renewal_instant()
    started = time.perf_counter()
    made = make_templates(kassa, renewal)
    templated = time.perf_counter()
    written = clone(kassa, made, allocate(args.subscriptions))
    done = time.perf_counter()
    print(f"{args.subscriptions:,} subscriptions renewing at {renewal:%Y-%m-%d %H:%M} UTC "
          f"({kassa.engine.dialect.name}): {len(made.templates)} templates in "
          f"{templated - started:.1f} s, {written:,} rows cloned in {done - templated:.1f} s")
    kassa.engine.dispose()


if __name__ == "__main__":
    main()
