"""The bench's portfolio (bench/portfolio.py) is faithful: billed at its renewal, every clone's
invoice equals its template's line for line, and every subscription is invoiced once. Billed
partly in batches and partly one customer at a time, it also shows both paths bill alike."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, inspect, or_, select

from kassa.jobs.billing import bill_customers, run_billing
from kassa.store import models as m

_PATH = Path(__file__).parents[2] / "bench" / "portfolio.py"
_SPEC = importlib.util.spec_from_file_location("bench_portfolio", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
portfolio = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = portfolio  # its dataclasses look their module up
_SPEC.loader.exec_module(portfolio)

COPIES = 3


def _line(line: m.InvoiceLine) -> tuple[Any, ...]:
    return (line.position, line.type, line.description, line.price_id, line.quantity,
            line.quantity_decimal, line.tier, line.unit_amount_decimal, line.amount,
            line.discount_amount, line.tax_behavior, line.tax_code, line.tax_category,
            line.tax_rate, line.tax_country, line.tax_region, line.tax_rate_id,
            line.tax_amount, line.amount_excluding_tax, line.period_start, line.period_end,
            line.proration, line.proration_fraction)


# What differs between customers, or between two invoices of one customer, by nature.
_OWN = {"id", "customer_id", "subscription_id", "number", "hosted_token", "discounts",
        "customer_name", "customer_email"}


def _invoice(invoice: m.Invoice) -> tuple[Any, ...]:
    """What a customer is billed, without the ids that differ between customers: every
    stored column (a batch writes its new invoices in bulk, the careful path through the
    unit of work; both must store the same)."""
    applied = [(d["coupon"], d["amount"]) for d in (invoice.discounts or {}).get("discounts", [])]
    columns = tuple((attr.key, getattr(invoice, attr.key))
                    for attr in inspect(m.Invoice).column_attrs if attr.key not in _OWN)
    return (columns, applied, invoice.number is not None, invoice.hosted_token is not None,
            [_line(line) for line in invoice.lines])


# A subscription's columns that differ between customers by nature.
_SUB_OWN = {"id", "customer_id", "latest_invoice_id", "default_payment_method_id"}


def _subscription(sub: m.Subscription, invoice: m.Invoice) -> tuple[Any, ...]:
    """Where billing left a subscription (its periods, what is billed through, its next
    action): every stored column but its ids. A batch writes these in one statement per
    shape of change, the careful path through the unit of work."""
    return (tuple((attr.key, getattr(sub, attr.key)) for attr in inspect(m.Subscription)
                  .column_attrs if attr.key not in _SUB_OWN),
            sub.latest_invoice_id == invoice.id)


def test_every_clone_is_invoiced_as_its_template_and_every_subscription_once(kassa, caplog):
    renewal = portfolio.renewal_instant()
    made = portfolio.make_templates(kassa, renewal)
    portfolio.clone(kassa, made, [COPIES] * len(made.templates))
    at = renewal + timedelta(hours=3)  # `kassa bill` runs some time after the renewal
    kassa.clock.move_to(at)

    # The first clone of each template goes the careful way (one customer per transaction,
    # every function reading for itself: where a failed batch goes), all others in batches:
    # both ways must bill the same.
    careful = [f"{template.customer_id}_1" for template in made.templates]
    one_by_one = bill_customers(kassa, careful, at)
    result = run_billing(kassa, at)

    assert (one_by_one.customers, one_by_one.failed) == (len(made.templates), 0)
    assert (result.customers, result.failed) == (len(made.templates) * COPIES, 0)
    # No batch failed over to the careful path (which would hide what the batch wrote).
    assert not [record.message for record in caplog.records
                if record.levelno >= logging.WARNING]
    with kassa.uow() as uow:
        renewed = list(uow.session.scalars(select(m.Invoice).where(
            m.Invoice.billing_at == renewal)))
        subs = list(uow.session.scalars(select(m.Subscription)))
        # The period that starts at the renewal (licensed fees), and the one that ends there
        # (usage).
        periods = Counter(uow.session.execute(select(
            m.BilledPeriod.subscription_id, m.BilledPeriod.kind).where(or_(
                and_(m.BilledPeriod.kind == "advance", m.BilledPeriod.period_start == renewal),
                and_(m.BilledPeriod.kind == "arrears",
                     m.BilledPeriod.period_end == renewal)))).all())
        by_customer = {invoice.customer_id: invoice for invoice in renewed}
        assert len(by_customer) == len(renewed) == len(subs)
        for template in made.templates:
            expected = _invoice(by_customer[template.customer_id])
            assert by_customer[template.customer_id].status in ("open", "paid")
            for n in range(1, COPIES + 1):
                assert _invoice(by_customer[f"{template.customer_id}_{n}"]) == expected, \
                    template.archetype.key
        sub_of = {sub.customer_id: sub for sub in subs}
        for template in made.templates:
            expected = _subscription(sub_of[template.customer_id],
                                     by_customer[template.customer_id])
            assert expected[1], template.archetype.key
            for n in range(1, COPIES + 1):
                clone = f"{template.customer_id}_{n}"
                assert _subscription(sub_of[clone], by_customer[clone]) == expected, \
                    template.archetype.key
    metered = {t.subscription_id for t in made.templates if t.archetype.usage}
    for sub in subs:
        template_id = sub.id.rsplit("_", 1)[0] if sub.id.count("_") == 2 else sub.id
        kinds = {"advance": 1, **({"arrears": 1} if template_id in metered else {})}
        assert {kind: periods[sub.id, kind] for kind in kinds} == kinds, sub.id
        # Finalizing closed the usage period it billed to later events, on either path.
        if template_id in metered:
            assert sub.usage_closed_through == renewal, sub.id


def test_the_portfolio_bills_the_mix_a_saas_has(kassa):
    renewal = portfolio.renewal_instant()
    made = portfolio.make_templates(kassa, renewal)
    run_billing(kassa, renewal)
    with kassa.uow() as uow:
        renewed = list(uow.session.scalars(select(m.Invoice).where(
            m.Invoice.billing_at == renewal)))
    lines = [line for invoice in renewed for line in invoice.lines]
    assert len(renewed) == len(made.templates)
    assert {invoice.currency for invoice in renewed} == {"eur", "usd", "gbp"}
    assert {invoice.collection_method for invoice in renewed} == {
        "charge_automatically", "send_invoice"}
    # Destination VAT, reverse charge, outside the scope of EU VAT, the seller's own rates.
    assert {line.tax_category for line in lines} >= {"S", "AE", "O"}
    assert {line.tax_country for line in lines if line.tax_category == "S"} >= {
        "NL", "DE", "FR", "GB", "US"}
    assert {line.type for line in lines} >= {"subscription", "usage"}
    assert any(line.tier for line in lines) and any(line.quantity == 50 for line in lines)
    assert {coupon for invoice in renewed for coupon in
            (d["coupon"] for d in (invoice.discounts or {}).get("discounts", []))} == {
        "welcome", "loyal", "fixed-eur", "fixed-gbp"}


def test_every_table_that_names_a_customer_or_subscription_is_cloned_or_says_why(kassa):
    named = {table for table in inspect(kassa.engine).get_table_names()
             if {"customer_id", "subscription_id"} & {
                 column["name"] for column in inspect(kassa.engine).get_columns(table)}}
    assert named == set(portfolio.CLONED) - {"customers"} | set(portfolio.NOT_CLONED)
