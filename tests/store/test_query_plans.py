"""The plans PostgreSQL picks for the billing run's reads stay good when its statistics are
stale, as they are during a billing run: taken before it, when few invoices were open."""

import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from kassa.store import models as m
from kassa.store.db import among

pytestmark = pytest.mark.postgres_only

CUSTOMERS = 400


def _seed(kassa, org_id: str, status: str, per_customer: int) -> list[str]:
    """Customers with a paid invoice each, analyzed; then `per_customer` invoices of
    `status` each, not analyzed (a billing run's). Returns the customers' ids."""
    invoice = """INSERT INTO invoices (id, org_id, customer_id, status, currency, billing_reason,
        collection_method, period_start, period_end, subtotal, tax, total, starting_balance,
        amount_due, amount_paid, amount_remaining, auto_advance, auto_finalize_at,
        paid_out_of_band, total_discount, metadata, created)
        SELECT CAST(:prefix AS text) || n || '_' || c.id, c.org_id, c.id, CAST(:status AS text),
            'eur', 'subscription_cycle', 'charge_automatically', now(), now(), 0, 0, 0, 0, 0, 0,
            0, true, CASE WHEN CAST(:status AS text) = 'draft' THEN now() END, false, 0, '{}',
            now()
        FROM customers c, generate_series(1, :count) n WHERE c.org_id = :org"""
    with kassa.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO customers (id, org_id, address, tax_exempt, metadata, balance, created,"
            " deleted) SELECT 'cus_plan' || lpad(n::text, 5, '0'), :org, '{}', 'none', '{}', 0,"
            " now(), false FROM generate_series(1, :count) n"),
            {"org": org_id, "count": CUSTOMERS})
        connection.execute(text(invoice), {"org": org_id, "prefix": "in_paid", "count": 1,
                                           "status": "paid"})
    with kassa.engine.connect() as connection:
        connection.execute(text("ANALYZE customers"))
        connection.execute(text("ANALYZE invoices"))
        connection.commit()
    with kassa.engine.begin() as connection:
        connection.execute(text(invoice), {"org": org_id, "prefix": f"in_{status}",
                                           "count": per_customer, "status": status})
    return [f"cus_plan{n:05d}" for n in range(1, 201)]  # a batch's customers


def _plan(kassa, statement) -> tuple[set[str], int]:
    """The indexes the statement's plan reads, and how many rows it returns."""
    with Session(kassa.engine) as session:
        dialect = session.connection().dialect
        compiled = dialect.statement_compiler(dialect, statement)
        query = str(compiled)
        params = compiled.construct_params()
        driver = session.connection().connection.driver_connection
        plan = driver.execute("EXPLAIN (FORMAT JSON) " + query, params).fetchone()[0]
        found = len(driver.execute(query, params).fetchall())

    def indexes(node: dict) -> set[str]:
        names = {node["Index Name"]} if "Index Name" in node else set()
        for child in node.get("Plans", []):
            names |= indexes(child)
        return names

    return indexes((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]), found


@pytest.mark.parametrize("status", ["open", "draft"])
def test_a_batch_reads_its_customers_invoices_by_customer(kassa, org, status):
    """The batch's read of its customers' open invoices (and drafts, services/prefetch.py)
    goes through the customer index, not through every invoice of that status: statistics
    that say few invoices are open must not make it scan the thousands a billing run has
    made by its last batches."""
    ids = _seed(kassa, org.organization.id, status, per_customer=50)
    with Session(kassa.engine) as session:
        statement = select(m.Invoice.id).where(among(session, m.Invoice.customer_id, ids),
                                               m.Invoice.status == status)
    used, found = _plan(kassa, statement)
    assert found == 200 * 50
    assert used == {"ix_invoices_customer_billing"}


def test_due_drafts_and_due_charges_have_partial_indexes_of_their_own(kassa, org):
    """The drafts due for finalization and the charges due are read through indexes of
    only the invoices concerned (the migrated schema has them as the models declare)."""
    _seed(kassa, org.organization.id, "draft", per_customer=1)
    with kassa.engine.connect() as connection:
        definitions = dict(connection.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'invoices'")).all())
    assert "WHERE (((status)::text = 'draft'::text) AND (auto_finalize_at IS NOT NULL))" \
        in definitions["ix_invoices_draft_finalize"]
    assert "WHERE (next_payment_attempt IS NOT NULL)" \
        in definitions["ix_invoices_next_payment_attempt"]
    assert not any(" (status" in definition for definition in definitions.values())
    due = select(m.Invoice.customer_id).where(m.Invoice.status == "draft",
                                              m.Invoice.auto_finalize_at <= text("now()"))
    used, found = _plan(kassa, due)
    assert found == CUSTOMERS
    assert used == {"ix_invoices_draft_finalize"}
