"""JSON columns on PostgreSQL are written by orjson (kassa.store.db.json_bytes), and read back
as the standard library would have written them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from kassa.services import customers
from kassa.store import models as m
from kassa.store.db import json_bytes

VALUES = [
    {"id": "in_1", "lines": [{"amount": 1999, "rate": "21.00", "tax": None}], "paid": False},
    {"naïve": "één € ✓", "nested": {"deep": [1, [2, [3]]]}, "float": 0.1, "neg": -7},
    [], {}, "text", 12, None,
]


@pytest.mark.parametrize("value", VALUES)
def test_the_json_is_what_the_standard_library_reads_back_the_same(value):
    assert json.loads(json_bytes(value)) == value


def test_what_orjson_refuses_goes_through_the_standard_library():
    huge = {"count": 2**70, 3: "a key that is not a string"}
    assert json.loads(json_bytes(huge)) == {"count": 2**70, "3": "a key that is not a string"}
    with pytest.raises(TypeError):
        json_bytes({"amount": object()})  # refused by both, as before


@pytest.mark.postgres_only
def test_a_json_column_on_postgresql_round_trips_through_orjson(kassa, org):
    metadata = {"plan": "pro ✓", "seats": 12, "tags": ["a", "b"], "ratio": 0.25}
    with kassa.uow() as uow:
        customer = customers.create_customer(uow, org.organization.id, name="Ada")
        customer.metadata_ = metadata
        uow.commit()
    with kassa.uow() as uow:
        assert uow.session.scalar(select(m.Customer.metadata_).where(
            m.Customer.id == customer.id)) == metadata
        assert uow.session.scalar(select(text("metadata::text")).select_from(m.Customer)
                                  .where(m.Customer.id == customer.id)).startswith('{"plan":')
