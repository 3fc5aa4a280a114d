"""Pooled PostgreSQL connections are checked before use only after they rested: a connection
the server closed meanwhile is replaced, one used a moment ago is not pinged."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from conftest import PG_URL
from kassa.store import db

pytestmark = pytest.mark.postgres_only


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    killer = db.make_engine(PG_URL or "")
    with killer.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"),
                                  {"pid": pid}).scalar_one()
    killer.dispose()


def _one_connection_killed(monkeypatch, ping_after_idle: float):
    """An engine with a pool of one connection, which the server has just closed, and the
    backend pid that connection had."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE", ping_after_idle)
    engine = db.make_engine(PG_URL or "", pool_size=1, max_overflow=0)
    first = _backend_pid(engine)
    _terminate(first)
    return engine, first


def test_a_rested_connection_the_server_closed_is_replaced(monkeypatch):
    engine, first = _one_connection_killed(monkeypatch, 0.0)
    second = _backend_pid(engine)  # checked out after resting: pinged, found closed, replaced
    assert second != first
    assert _backend_pid(engine) == second  # the new connection is pooled again
    engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(monkeypatch):
    engine, first = _one_connection_killed(monkeypatch, 3600.0)
    # Not pinged: the closed connection is used as it is, and its failure says so.
    with pytest.raises(exc.OperationalError):
        _backend_pid(engine)
    assert _backend_pid(engine) != first  # the pool discarded it after the failure
    engine.dispose()
