"""The invoice's JSON shape reads a snapshot of the columns when all of them are there, and
the object itself otherwise: the shape is the same either way, for a new invoice, a loaded
one, an expired one and one with a column expired or changed since it was loaded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from kassa.services import catalog, customers, objects, subscriptions
from kassa.store import models as m
from kassa.store import rows


def _through_the_orm(invoice: m.Invoice) -> dict:
    """The shape read attribute by attribute (the descriptors, as before the snapshot)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rows, "snapshot", lambda obj: obj)
        return objects.invoice(invoice)


@pytest.fixture
def invoice_id(kassa, org, clock):
    org_id = org.organization.id
    with kassa.uow() as uow:
        price = catalog.create_price(uow, org_id, product_data={"name": "Plan"},
                                     currency="eur", unit_amount=2500,
                                     recurring={"interval": "month"})
        customer = customers.create_customer(uow, org_id, name="Ada", email="a@example.com")
        subscriptions.create_subscription(uow, org_id, customer=customer.id,
                                          items=[{"price": price.id, "quantity": 3}])
        uow.commit()
    with kassa.uow() as uow:
        return uow.session.scalars(select(m.Invoice.id)).one()


def test_the_shape_of_a_stored_invoice_is_the_same_read_either_way(kassa, invoice_id):
    with kassa.uow() as uow:
        invoice = uow.session.get(m.Invoice, invoice_id)
        loaded = objects.invoice(invoice)
        assert loaded == _through_the_orm(invoice)
        assert loaded["total"] == 7500 and loaded["lines"]["data"][0]["quantity"] == 3
        assert type(rows.snapshot(invoice)) is not m.Invoice  # the snapshot was read

        invoice.description = "changed, not yet flushed"
        assert objects.invoice(invoice)["description"] == "changed, not yet flushed"

        uow.session.expire(invoice, ["total"])
        assert rows.snapshot(invoice) is invoice  # a column to load: the object itself
        assert objects.invoice(invoice)["total"] == 7500

        uow.session.expire(invoice)  # the change was flushed by reading `total` back
        assert rows.snapshot(invoice) is invoice
        assert objects.invoice(invoice) == {**loaded, "description": "changed, not yet flushed"}


def test_the_shape_of_a_new_invoice_reads_its_unset_columns_as_none():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    invoice = m.Invoice(id="in_new", org_id="org", customer_id="cus", status="draft",
                        currency="eur", billing_at=now, period_start=now,
                        period_end=now + relativedelta(months=1), created=now, metadata_={})
    line = m.InvoiceLine(id="il_new", amount=500, currency="eur", type="subscription",
                         period_start=now, period_end=now + relativedelta(months=1))
    shape = objects.invoice(invoice, [line])
    assert shape == _through_the_orm_with(invoice, [line])
    assert shape["number"] is None and shape["total"] is None
    assert shape["lines"]["data"][0]["amount"] == 500


def _through_the_orm_with(invoice: m.Invoice, lines: list[m.InvoiceLine]) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rows, "snapshot", lambda obj: obj)
        return objects.invoice(invoice, lines)
