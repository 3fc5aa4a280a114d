"""The gapless series invoices and credit notes are numbered in (`invoice_sequences`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from kassa.store import models as m
from kassa.store.db import upsert_insert


def take(session: Session, org_id: str, series: str, count: int) -> int:
    """Take `count` consecutive numbers of a series; returns the first.

    One atomic upsert increments the series and keeps its row locked until the transaction
    ends: a concurrent taker waits, and a rollback gives the numbers back, so numbers are
    never skipped or repeated."""
    table = m.InvoiceSequence.__table__
    statement = (upsert_insert(session, table)
                 .values(org_id=org_id, series=series, next_number=1 + count)
                 .on_conflict_do_update(index_elements=[table.c.org_id, table.c.series],
                                        set_={"next_number": table.c.next_number + count})
                 .returning(table.c.next_number))
    with session.no_autoflush:
        return int(session.execute(statement).scalar_one()) - count
