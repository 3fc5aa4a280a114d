"""`rows.built` makes a new object in the very state its constructor leaves it in (what
billing relies on: a flush inserts it, the ledger sees each value as just set), only cheaper."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm.attributes import get_history

from kassa.store import models as m
from kassa.store.rows import assign, built, changes, held, mark_written

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_built_object_is_in_the_state_the_constructor_leaves():
    values = dict(id="in_b", org_id="org", customer_id="cus", status="draft", currency="eur",
                  amount_paid=0, billing_at=NOW, period_start=NOW, period_end=NOW,
                  metadata_={}, created=NOW)
    made, fast = m.Invoice(**values), built(m.Invoice, values)
    for obj in (made, fast):
        obj.status = "open"
    state, expected = inspect(fast), inspect(made)
    assert {k: v for k, v in fast.__dict__.items() if k != "_sa_instance_state"} == \
        {k: v for k, v in made.__dict__.items() if k != "_sa_instance_state"}
    assert state.committed_state == expected.committed_state
    assert state.modified and state.transient
    for name in ("status", "number", "amount_paid"):
        assert get_history(fast, name) == get_history(made, name)


def test_a_name_that_is_no_column_is_refused():
    with pytest.raises(TypeError, match="no column lines, totl"):
        built(m.Invoice, {"id": "in_x", "totl": 1, "lines": []})


def test_a_built_object_is_inserted_by_a_flush(kassa, org):
    with kassa.uow() as uow:
        uow.session.add(built(m.EmailMessage, dict(
            id="em_built", org_id=org.organization.id, kind="test", dedupe_key="built",
            locale="en", to_address="a@example.com", subject="Hi", text_body="Hello",
            attachments=[], status="pending", attempts=0, next_attempt_at=NOW, created=NOW)))
        uow.commit()
    with kassa.uow() as uow:
        assert uow.session.scalars(select(m.EmailMessage.subject).where(
            m.EmailMessage.id == "em_built")).one() == "Hi"


def _customer(kassa, org, id: str) -> None:
    with kassa.uow() as uow:
        uow.session.add(m.Customer(id=id, org_id=org.organization.id, name="Ada",
                                   email="ada@example.com", created=NOW))
        uow.commit()


def test_changes_are_the_columns_set_since_loading_and_mark_written_makes_them_clean(
        kassa, org):
    _customer(kassa, org, "cus_changes")
    with kassa.uow() as uow:
        customer = uow.session.get(m.Customer, "cus_changes")
        assert changes(customer) == {}
        customer.name, customer.email = "Ada L.", "ada@example.com"  # the e-mail as it was
        assert changes(customer) == {"name": "Ada L.", "email": "ada@example.com"}
        assert changes(built(m.Customer, {"id": "cus_new"})) is None  # not persistent
        uow.session.execute(m.Customer.__table__.update().where(
            m.Customer.id == "cus_changes").values(name="Ada L."))
        mark_written([customer])
        assert customer not in uow.session.dirty and changes(customer) == {}
        customer.email = "ada@lovelace.example"
        uow.session.expire(customer, ["name"])
        assert changes(customer) is None  # an expired column: not all of it is known
        uow.rollback()
    with kassa.uow() as uow:
        assert uow.session.get(m.Customer, "cus_changes").name == "Ada"  # rolled back


def test_a_relationship_changed_is_no_column_change(kassa, org):
    _customer(kassa, org, "cus_rel")
    with kassa.uow() as uow:
        invoice = built(m.Invoice, dict(
            id="in_rel", org_id=org.organization.id, customer_id="cus_rel", status="draft",
            currency="eur", billing_reason="manual", collection_method="send_invoice",
            amount_paid=0, billing_at=NOW, period_start=NOW, period_end=NOW,
            metadata_={}, created=NOW))
        uow.session.add(invoice)
        uow.session.flush()
        assert changes(invoice) == {}
        invoice.lines.append(m.InvoiceLine(id="il_rel", org_id=org.organization.id,
                                           position=0, type="invoiceitem", description="x",
                                           amount=1, currency="eur"))
        assert changes(invoice) is None


def test_held_finds_what_the_session_holds_without_a_query_and_asks_it_otherwise(
        kassa, org, monkeypatch):
    _customer(kassa, org, "cus_held")
    with kassa.uow() as uow:
        session = uow.session
        customer = session.get(m.Customer, "cus_held")
        asked: list[object] = []
        get = session.get
        monkeypatch.setattr(session, "get", lambda *args, **kw: asked.append(args[1])
                            or get(*args, **kw))
        assert held(session, m.Customer, "cus_held") is customer
        assert asked == []  # read from the identity map
        assert held(session, m.Customer, "cus_nobody") is None
        assert held(session, m.Organization, "cus_held") is None  # another model's key
        session.expire(customer)  # it may be gone since: Session.get checks
        assert held(session, m.Customer, "cus_held") is customer
        assert asked == ["cus_nobody", "cus_held", "cus_held"]
        assert customer.name == "Ada"


def test_assign_leaves_a_new_object_as_setting_each_attribute_does():
    values = dict(id="in_a", org_id="org", customer_id="cus", status="draft", currency="eur",
                  amount_paid=0, billing_at=NOW, period_start=NOW, period_end=NOW,
                  metadata_={}, created=NOW)
    by_hand, assigned = built(m.Invoice, values), built(m.Invoice, values)
    for obj in (by_hand, assigned):
        obj.number = "A-1"  # set before: its first value stays the one recorded
    by_hand.status, by_hand.number, by_hand.tax, by_hand.hosted_token = "open", "A-2", 21, "t"
    assign(assigned, status="open", number="A-2", tax=21, hosted_token="t")
    assert {k: v for k, v in assigned.__dict__.items() if k != "_sa_instance_state"} == \
        {k: v for k, v in by_hand.__dict__.items() if k != "_sa_instance_state"}
    assert inspect(assigned).committed_state == inspect(by_hand).committed_state
    for name in ("status", "number", "tax", "hosted_token", "currency"):
        assert get_history(assigned, name) == get_history(by_hand, name)


def test_assign_sets_a_stored_object_through_the_orm(kassa, org):
    _customer(kassa, org, "cus_assign")
    with kassa.uow() as uow:
        customer = uow.session.get(m.Customer, "cus_assign")
        assign(customer, name="Ada L.")
        assert customer in uow.session.dirty  # the unit of work knows: a flush updates it
        assert changes(customer) == {"name": "Ada L."}
        uow.commit()
    with kassa.uow() as uow:
        assert uow.session.get(m.Customer, "cus_assign").name == "Ada L."
    with pytest.raises(TypeError, match="Customer has no column nickname"):
        assign(m.Customer(id="cus_x"), name="x", nickname="x")
