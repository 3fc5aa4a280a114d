"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Engine, String, any_, bindparam, create_engine, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`. SQLite gets WAL, a busy timeout and write-locking transactions."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               **options)
        _make_sqlite_transactional(engine)
        return engine
    options.setdefault("pool_size", 10)
    options.setdefault("max_overflow", 20)
    options.setdefault("json_serializer", json_bytes)
    engine = create_engine(url, **options)
    if not options.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


def json_bytes(value: Any) -> bytes:
    """JSON for PostgreSQL's json columns (psycopg takes bytes), by orjson: a sixth of the
    standard library's time for an event's payload (3 against 17 µs), which a billing run
    writes twice per invoice. Anything orjson refuses (an integer beyond 64 bits, say) goes
    through the standard library, which accepts or refuses it as before, and writes text as
    orjson does (not escaped)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(value, ensure_ascii=False).encode()


PING_AFTER_IDLE = 5.0  # seconds a pooled connection rests before it is checked again


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it has rested PING_AFTER_IDLE or more.

    SQLAlchemy's `pool_pre_ping` checks on every checkout: a round trip per transaction (a
    tenth of an API read's CPU, three round trips for an idempotent write). A connection
    handed back a moment ago is as alive as the request that used it; one that rested may
    have been closed by a restart, a failover or an idle timeout, and is replaced before
    anything uses it. A server lost while connections are busy fails those transactions
    either way; SQLAlchemy then discards the whole pool."""

    @event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(str(error)) from error
        if not alive:
            raise exc.DisconnectionError("the connection did not answer")


def _make_sqlite_transactional(engine: Engine) -> None:
    # pysqlite opens transactions lazily and only for writes; Kassa wants every unit of work
    # to be one serializable transaction, so it begins them itself, taking the write lock
    # at once (BEGIN IMMEDIATE) rather than failing on a later lock upgrade.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def upsert_insert(session: Session, table: Any) -> Any:
    """An INSERT for `table` that takes ON CONFLICT clauses, for the session's database."""
    dialect = postgresql if is_postgres(session) else sqlite
    return dialect.insert(table)


def among(session: Session, column: Any, values: Iterable[str]) -> Any:
    """`column IN values` for string values; on PostgreSQL with the values as one array
    parameter: a statement with thousands of placeholders costs more to build and send than
    the query costs to run."""
    if is_postgres(session):
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(String)))
    return column.in_(values)
