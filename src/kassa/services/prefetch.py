"""Reading for many customers at once: what the billing run needs of a batch of customers,
loaded in a few queries before it bills them one after the other in one transaction.

The functions that bill one customer (services/billing.py, invoices.py, discounts.py,
taxes.py, schedule.py, ledger.py) ask `of(session)` first: inside a batch they take their
rows from here instead of querying, outside one they query as always. The same code computes
the amounts either way; only where the rows come from differs.

What is here stays true for the whole transaction: the customers' rows are locked, so no one
else changes their subscriptions, drafts, discounts or pending items, and what the batch
itself changes it changes on these same objects (a draft it creates is `add_draft`ed, a
period it bills `add_billed`). The catalog (prices, products, tax rates) is not changed by a
billing run, so it is read once per batch.

Invoice numbers are given out as the batch issues its invoices and taken from their series
only when it writes (`take_numbers`): a series stays locked from its numbers' taking to the
commit, and the less of the batch's work comes after, the less other workers wait for it.

Writing is done in bulk as well: the invoices the batch creates stay out of the session
until the batch is done (`write_fresh`), and rows that are only ever added (events, e-mails,
the journal) are gathered and inserted a table at a time (`Batch.insert`, `write_rows`), by
COPY on PostgreSQL.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from psycopg import sql
from sqlalchemy import JSON, Connection, Dialect, Table, bindparam, event, select
from sqlalchemy.orm import (
    Session,
    SessionTransaction,
    lazyload,
    object_session,
    selectinload,
)
from sqlalchemy.orm.attributes import set_committed_value

from kassa.services import sequences
from kassa.store import models as m
from kassa.store.db import among, json_bytes
from kassa.store.rows import changes, column_attrs, column_names, mark_written

_KEY = "kassa.prefetch"
T = TypeVar("T")


@dataclass
class Batch:
    """The rows of a batch's customers, by customer (and by subscription or invoice)."""

    customer_ids: frozenset[str]
    # Held here so the session's identity map keeps them for the whole batch (it holds its
    # objects weakly, and the ledger looks customers and organizations up at flush time).
    keep: list[Any] = field(default_factory=list)
    # The invoice numbers given out and not yet taken (`give_number`), by (organization,
    # series): what stands for each, whose number it is, and how the series writes it.
    unnumbered: dict[tuple[str, str], list[tuple[str, Any, Callable[[int], str]]]] = \
        field(default_factory=dict)
    # What begins every stand-in this batch gives out: a character no text of Kassa's has,
    # and a random part no one can guess and put in a text of theirs.
    marker: str = field(default_factory=lambda: f"\ue000{secrets.token_hex(8)}:")
    given: int = 0  # stand-ins given out so far: the next one's index
    subs: dict[str, list[m.Subscription]] = field(default_factory=dict)
    drafts: dict[str, list[m.Invoice]] = field(default_factory=dict)
    discounts: dict[str, list[m.Discount]] = field(default_factory=dict)
    items: dict[str, list[m.InvoiceItem]] = field(default_factory=dict)
    open_invoices: dict[str, list[m.Invoice]] = field(default_factory=dict)
    billed: dict[str, list[m.BilledPeriod]] = field(default_factory=dict)
    dunning_cases: dict[str, list[m.DunningCase]] = field(default_factory=dict)
    memo: dict[Hashable, Any] = field(default_factory=dict)
    # The drafts the batch composed (services/invoices.py), and when: finalizing one at that
    # same moment would compute it again from the same rows, so it is not recomposed.
    composed: dict[str, datetime] = field(default_factory=dict)
    # The invoices the batch created (with their lines and billed periods), kept out of the
    # session and written in bulk when the batch is done (`write_fresh`), each once, as it
    # ends up; a flush before that takes them into the unit of work instead (`_join_fresh`).
    fresh: list[m.Invoice] = field(default_factory=list)
    # Append-only rows the batch writes without the unit of work's bookkeeping per object
    # (events, e-mails, journal entries with their lines and schedules), by table: inserted
    # in bulk at the end of the next flush, or before the commit (`write_rows`).
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def covers(self, customer_id: str | None) -> bool:
        return customer_id in self.customer_ids

    def subscriptions(self, customer_id: str) -> list[m.Subscription]:
        return self.subs.get(customer_id, [])

    def add_draft(self, invoice: m.Invoice) -> None:
        """A draft the batch created, not in the session: later lookups of the customer's
        drafts find it, and the batch writes it (`write_fresh`)."""
        self.drafts.setdefault(invoice.customer_id, []).append(invoice)
        self.fresh.append(invoice)
        if invoice.subscription_id:
            self.open_invoices.setdefault(invoice.subscription_id, []).append(invoice)

    def add_billed(self, period: m.BilledPeriod) -> None:
        self.billed.setdefault(period.invoice_id, []).append(period)

    def insert(self, model: type[m.Base], values: dict[str, Any]) -> None:
        """Write a new row of `model` (its attributes' values) with the batch's next flush."""
        names = column_names(model)
        self.rows.setdefault(model.__tablename__, []).append(
            {names[key]: value for key, value in values.items()})

    def pending(self, model: type[m.Base]) -> list[dict[str, Any]]:
        """The rows of `model` inserted and not yet written (by column name)."""
        return self.rows.get(model.__tablename__, [])

    def give_number(self, org_id: str, series: str, target: Any,
                    form: Callable[[int], str]) -> str:
        """What stands for the next number of a series, for `target`'s `number` and every
        row built from it, until the batch takes the numbers it gave out (`take_numbers`);
        `form` writes a number as the series does."""
        stand_in = f"{self.marker}{self.given}\ue001"
        self.given += 1
        self.unnumbered.setdefault((org_id, series), []).append((stand_in, target, form))
        return stand_in

    def remember(self, key: Hashable, load: Callable[[], T]) -> T:
        """`load()` once per batch for `key` (catalog reads)."""
        if key not in self.memo:
            self.memo[key] = load()
        value: T = self.memo[key]
        return value


def of(session: Session) -> Batch | None:
    """The batch the session is billing, if it is billing one."""
    batch: Batch | None = session.info.get(_KEY)
    return batch


def of_object(obj: m.Base) -> Batch | None:
    """The batch the session of `obj` is billing, if it is in one that is."""
    session = object_session(obj)
    return None if session is None else of(session)


@event.listens_for(Session, "after_transaction_end")
def _end(session: Session, transaction: SessionTransaction) -> None:
    """A batch lasts one transaction: its locks and reads end with it."""
    if transaction.parent is None:
        session.info.pop(_KEY, None)


def take_numbers(session: Session) -> None:
    """Take from their series the numbers the batch gave out (`Batch.give_number`), one
    statement per series in a fixed order (so two workers never wait for each other in a
    circle), and put each in the place of its stand-in: on the object whose number it is,
    and in the rows the batch has gathered (an e-mail's texts, a journal entry's, an
    event's JSON). Called before anything the batch gathered is written.

    The texts that carry a stand-in are found before the series are locked: JSON is
    serialized for that, as COPY will send it (`_Json`), which takes the serializing out
    of the writes that follow. Once the numbers are taken, only those texts change."""
    batch = of(session)
    if batch is None or not batch.unnumbered:
        return
    carriers = list(_texts_with_stand_ins(batch))
    numbers: dict[str, str] = {}
    for (org_id, series), given in sorted(batch.unnumbered.items()):
        first = sequences.take(session, org_id, series, len(given))
        for offset, (stand_in, target, form) in enumerate(given):
            target.number = numbers[stand_in] = form(first + offset)
    batch.unnumbered.clear()
    for row, key, value in carriers:
        if isinstance(value, _Json):
            value.text = _put(value.text, batch.marker, numbers)
        else:
            row[key] = _put(value, batch.marker, numbers)


def _texts_with_stand_ins(batch: Batch) -> Iterator[tuple[dict[str, Any], str, str | _Json]]:
    """The values of the batch's gathered rows that carry a stand-in for a number (each
    row, its column and the value), their JSON columns serialized on the way (`_Json`)."""
    marker = batch.marker
    for name, rows in batch.rows.items():
        json_columns = _json_columns(m.Base.metadata.tables[name])
        for row in rows:
            for key, value in row.items():
                if key in json_columns and isinstance(value, (dict, list)):
                    value = row[key] = _Json(value)
                    if marker in value.text:
                        yield row, key, value
                elif isinstance(value, str):
                    if marker in value:
                        yield row, key, value
                elif isinstance(value, (dict, list)) and _mentions(value, marker):
                    raise _stand_in_written(f"{name}.{key}")


def _put(text: str, marker: str, numbers: dict[str, str]) -> str:
    """`text` with each stand-in (`marker`, its index, U+E001) replaced by its number."""
    parts, start = [], 0
    while (at := text.find(marker, start)) >= 0:
        end = text.index("\ue001", at) + 1
        parts += (text[start:at], numbers[text[at:end]])
        start = end
    parts.append(text[start:])
    return "".join(parts)


class _Json:
    """A JSON value serialized before its write, as the database gets it (`json_bytes`):
    COPY sends the text as it is, an INSERT reads it back first (by the standard library,
    which keeps an integer beyond 64 bits exact)."""

    __slots__ = ("text",)

    def __init__(self, value: Any) -> None:
        self.text = json_bytes(value).decode()


def _mentions(values: dict[str, Any] | list[Any], marker: str) -> bool:
    """Whether a text in `values` or the JSON within has `marker` in it."""
    return any(marker in value if isinstance(value, str) else
               isinstance(value, (dict, list)) and _mentions(value, marker)
               for value in (values.values() if isinstance(values, dict) else values))


def _check_numbered(session: Session, batch: Batch) -> None:
    """Nothing the unit of work writes may carry a stand-in for a number: the batch puts
    the numbers only in what it gathered itself. A stand-in anywhere else is a bug, and
    fails the batch (it is billed again one customer at a time) rather than being written."""
    if not batch.given:
        return
    for obj in (*session.new, *session.dirty):
        if _mentions(vars(obj), batch.marker):
            raise _stand_in_written(f"{type(obj).__name__} {getattr(obj, 'id', '')}")


def _stand_in_written(what: str) -> RuntimeError:
    return RuntimeError(f"{what} would be written with a stand-in for an invoice number")


# Referenced tables before the tables that refer to them.
_WRITE_ORDER = ("journal_entries", "journal_lines", "revenue_schedules", "events",
                "email_messages")


def write_rows(session: Session) -> None:
    """Insert the rows the batch has gathered (`Batch.insert`), a statement per table."""
    batch = of(session)
    if batch is None or not batch.rows:
        return
    take_numbers(session)
    connection = session.connection()
    for name in sorted(batch.rows, key=_WRITE_ORDER.index):
        rows = batch.rows.pop(name)
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            shapes[tuple(row)].append(row)
        table = m.Base.metadata.tables[name]
        for columns, same in shapes.items():
            _insert(connection, table, columns, same)


def _insert(connection: Connection, table: Table, columns: tuple[str, ...],
            rows: list[dict[str, Any]]) -> None:
    """Insert rows that all name the same `columns`."""
    if connection.dialect.name == "postgresql":
        _copy(connection, table, columns, rows)
    else:
        connection.execute(table.insert(), [
            {key: json.loads(value.text) if isinstance(value, _Json) else value
             for key, value in row.items()} for row in rows])


def _copy(connection: Connection, table: Table, columns: tuple[str, ...],
          rows: list[dict[str, Any]]) -> None:
    """COPY rows into a PostgreSQL table: a fraction of the server's and the driver's work
    of an INSERT per row. Each value goes through its column type's bind processing (exact
    decimals, UTC timestamps), as an INSERT would do it, and JSON is serialized as the
    engine does it (`json_bytes`), straight to the text COPY sends; None is SQL NULL (also
    in a JSON column)."""
    processors = _processors(connection.dialect, table, columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with _driver(connection).cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([value if process is None or value is None else process(value)
                            for value, process in zip(row.values(), processors, strict=True)])


@cache
def _processors(dialect: Dialect, table: Table,
                columns: tuple[str, ...]) -> list[Callable[[Any], Any] | None]:
    """What the columns' types make of a value to send (their bind processing); JSON as
    the engine serializes it (`json_bytes`), to text. Made once per table and columns."""
    return [_json_text if name in _json_columns(table) else
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in columns]


@cache
def _json_columns(table: Table) -> frozenset[str]:
    return frozenset(column.name for column in table.c if isinstance(column.type, JSON))


def _driver(connection: Connection) -> Any:
    driver = connection.connection.driver_connection
    assert driver is not None
    return driver


def _json_text(value: Any) -> str:
    return value.text if isinstance(value, _Json) else json_bytes(value).decode()


def _fresh_periods(batch: Batch, invoices: list[m.Invoice]) -> list[m.BilledPeriod]:
    return [period for invoice in invoices for period in batch.billed.get(invoice.id, [])]


@event.listens_for(Session, "before_flush")
def _join_fresh(session: Session, flush_context: Any, instances: Any) -> None:
    """A flush while the batch still holds fresh invoices (a query that autoflushes, say):
    they join the unit of work, which inserts them now and updates them later. Registered
    before the ledger's listener, which so posts them like any other new invoice."""
    batch = of(session)
    if batch is None:
        return
    take_numbers(session)
    _check_numbered(session, batch)
    if batch.fresh:
        fresh, batch.fresh = batch.fresh, []
        session.add_all(fresh)
        session.add_all(_fresh_periods(batch, fresh))


def write_fresh(session: Session) -> None:
    """Insert the batch's fresh invoices with their lines and billed periods as they are
    now, a statement per table (COPY on PostgreSQL), without the unit of work. The caller
    has posted their journal entries (services/ledger.py `post`).

    A billed period's unique key still stops a second invoice for the same period: the
    statement fails, and with it the batch's transaction."""
    batch = of(session)
    if batch is None or not batch.fresh:
        return
    take_numbers(session)
    fresh, batch.fresh = batch.fresh, []
    rows: dict[type[m.Base], list[dict[str, Any]]] = {m.Invoice: [], m.InvoiceLine: [],
                                                      m.BilledPeriod: []}
    for invoice in fresh:
        rows[m.Invoice].append(_row(invoice))
        rows[m.InvoiceLine].extend(_row(line, invoice_id=invoice.id) for line in invoice.lines)
    rows[m.BilledPeriod].extend(_row(period) for period in _fresh_periods(batch, fresh))
    connection = session.connection()
    for model, values in rows.items():
        if values:
            _insert(connection, model.__table__, tuple(values[0]), values)  # type: ignore[arg-type]


def _row(obj: m.Base, **values: Any) -> dict[str, Any]:
    """The row an INSERT of `obj` by the unit of work would write (by column name): its
    attributes, the columns' defaults for those it leaves unset. An autoincremented key is
    left to the database."""
    state = obj.__dict__
    row = {}
    for key, column in column_attrs(type(obj)):
        if key in values:
            row[column.name] = values[key]
        elif key in state:
            row[column.name] = state[key]
        elif column.autoincrement is True:
            continue
        elif column.default is None:
            row[column.name] = None
        elif column.default.is_callable:
            row[column.name] = column.default.arg(None)  # type: ignore[attr-defined]
        else:
            row[column.name] = column.default.arg  # type: ignore[attr-defined]
    return row


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context: Any) -> None:
    # The journal is written at flush time (services/ledger.py): its rows go out with it.
    write_rows(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write_rows(session)
    write_changes(session)


def write_changes(session: Session) -> None:
    """Update the batch's subscriptions billing changed (periods, billed through, next
    action), an executemany per set of changed columns, rather than through the unit of
    work's bookkeeping per object, which cost more than the rest of the commit. One that
    changed anything else (a relationship) is left to the unit of work, as everything is
    outside a batch. Subscriptions are not among what the ledger posts from a flush."""
    batch = of(session)
    if batch is None:
        return
    shapes: dict[tuple[str, ...], list[tuple[m.Subscription, dict[str, Any]]]] = \
        defaultdict(list)
    for subs in batch.subs.values():
        for sub in subs:
            changed = changes(sub)
            if changed:
                if batch.given and _mentions(changed, batch.marker):
                    raise _stand_in_written(f"Subscription {sub.id}")
                shapes[tuple(sorted(changed))].append((sub, changed))
    if not shapes:
        return
    table: Table = m.Subscription.__table__  # type: ignore[assignment]
    connection = session.connection()
    for columns, same in shapes.items():
        if connection.dialect.name == "postgresql" and _json_columns(table).isdisjoint(columns):
            _update_from_arrays(connection, table, columns,
                                [(sub.id, changed) for sub, changed in same])
        else:
            # The parameters are named apart from the columns (an UPDATE reserves those).
            statement = table.update().where(table.c.id == bindparam("_id")).values(
                {name: bindparam(f"_{name}") for name in columns})
            connection.execute(statement, [
                {f"_{name}": value for name, value in changed.items()} | {"_id": sub.id}
                for sub, changed in same])
        mark_written([sub for sub, _ in same])


def _update_from_arrays(connection: Connection, table: Table, columns: tuple[str, ...],
                        rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Update rows (by id) that all change the same `columns` in one statement on
    PostgreSQL, each column's new values an array parameter, rather than a statement per
    row: the server plans it once, the driver sends a parameter per column. Not for JSON
    columns (an array of JSON is no JSON column's bind processing)."""
    processors = _processors(connection.dialect, table, columns)
    names = ("id", *columns)
    types = [sql.SQL(table.c[name].type.compile(connection.dialect) + "[]")
             for name in names]
    statement = sql.SQL("UPDATE {table} SET {sets} FROM unnest({arrays}) AS new ({names})"
                        " WHERE {table}.id = new.id").format(
        table=sql.Identifier(table.name),
        sets=sql.SQL(", ").join(sql.SQL("{0} = new.{0}").format(sql.Identifier(name))
                                for name in columns),
        arrays=sql.SQL(", ").join(sql.SQL("%s::{}").format(type_) for type_ in types),
        names=sql.SQL(", ").join(map(sql.Identifier, names)))
    arrays: list[list[Any]] = [[row_id for row_id, _ in rows]]
    for name, process in zip(columns, processors, strict=True):
        arrays.append([value if process is None or value is None else process(value)
                       for value in (changed[name] for _, changed in rows)])
    with _driver(connection).cursor() as cursor:
        cursor.execute(statement, arrays)


def _grouped(rows: Iterable[T], key: Callable[[T], str | None]) -> dict[str, list[T]]:
    result: dict[str, list[T]] = defaultdict(list)
    for row in rows:
        value = key(row)
        if value is not None:
            result[value].append(row)
    return dict(result)


def load(session: Session, customers: list[m.Customer], now: datetime) -> Batch:
    """Read what billing the (locked) customers by `now` needs, and put it on the session."""
    ids = [customer.id for customer in customers]
    batch = Batch(frozenset(ids))
    batch.keep.extend(customers)
    batch.keep.extend(session.get(m.Organization, org_id)
                      for org_id in {customer.org_id for customer in customers})
    # The items without their prices, then each price once, put on its items, rather than
    # every item row carrying its price and product again (joined, with their JSON). Each
    # list of ids is one array parameter on PostgreSQL (`among`).
    subs = session.scalars(select(m.Subscription).where(
        among(session, m.Subscription.customer_id, ids))
        .options(lazyload(m.Subscription.items)).order_by(m.Subscription.id)).all()
    items = _grouped(session.scalars(select(m.SubscriptionItem).where(
        among(session, m.SubscriptionItem.subscription_id, [sub.id for sub in subs]))
        .options(lazyload(m.SubscriptionItem.price),
                 lazyload(m.SubscriptionItem.migrate_to_price))
        .order_by(m.SubscriptionItem.id)), lambda row: row.subscription_id)
    for sub in subs:  # as the relationship's own load would (ordered by id)
        set_committed_value(sub, "items", items.get(sub.id, []))
    price_ids = {price_id for sub in subs for row in sub.items
                 for price_id in (row.price_id, row.migrate_to_price_id) if price_id}
    if price_ids:
        prices = {price.id: price for price in session.scalars(select(m.Price).where(
            among(session, m.Price.id, price_ids)))}
        batch.keep.extend(prices.values())
        for sub in subs:  # each item's prices, as their lazy load would find them
            for row in sub.items:
                for key, price_id in (("price", row.price_id),
                                      ("migrate_to_price", row.migrate_to_price_id)):
                    if price_id in prices:
                        set_committed_value(row, key, prices[price_id])
    batch.subs = _grouped(subs, lambda sub: sub.customer_id)
    drafts = session.scalars(select(m.Invoice).where(
        among(session, m.Invoice.customer_id, ids), m.Invoice.status == "draft")
        .options(selectinload(m.Invoice.lines)).order_by(m.Invoice.id)).all()
    batch.drafts = _grouped(drafts, lambda invoice: invoice.customer_id)
    batch.discounts = _grouped(session.scalars(select(m.Discount).where(
        among(session, m.Discount.customer_id, ids)).order_by(m.Discount.id)),
        lambda d: d.customer_id)
    batch.items = _grouped(session.scalars(select(m.InvoiceItem).where(
        among(session, m.InvoiceItem.customer_id, ids), m.InvoiceItem.invoice_id.is_(None))
        .order_by(m.InvoiceItem.id)), lambda item: item.customer_id)
    opened = session.scalars(select(m.Invoice).where(
        among(session, m.Invoice.customer_id, ids), m.Invoice.status == "open")).all()
    batch.open_invoices = _grouped([*opened, *drafts], lambda invoice: invoice.subscription_id)
    if opened:
        cases = session.scalars(select(m.DunningCase).where(
            among(session, m.DunningCase.invoice_id, [invoice.id for invoice in opened]))).all()
        customer_of = {invoice.id: invoice.customer_id for invoice in opened}
        batch.dunning_cases = _grouped(cases, lambda case: customer_of[case.invoice_id])
    if drafts:
        batch.billed = _grouped(session.scalars(select(m.BilledPeriod).where(
            among(session, m.BilledPeriod.invoice_id, [d.id for d in drafts]))),
            lambda p: p.invoice_id)
    session.info[_KEY] = batch
    return batch
