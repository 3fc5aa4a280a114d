"""`rows.built` makes a new object in the very state its constructor leaves it in (what
billing relies on: a flush inserts it, the ledger sees each value as just set), only cheaper."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm.attributes import get_history

from kassa.store import models as m
from kassa.store.rows import built

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
