"""The Alembic migrations build exactly the schema the models describe, on both databases."""

import json
import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from kassa.store.db import make_engine
from kassa.store.migrate import alembic_config, heads, is_current, upgrade
from kassa.store.models import Base


def include_name(name, type_, parent_names):
    # The job queue's own tables (procrastinate, on PostgreSQL) are not Kassa's models.
    return not (type_ == "table" and name and name.startswith("procrastinate"))


def test_migrated_schema_matches_the_models(database_url):
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrading_twice_is_harmless(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    assert "billed_periods" in inspect(engine).get_table_names()
    engine.dispose()


def test_a_period_can_be_billed_only_once_by_the_database_itself(database_url):
    """The unique constraint, not only the code, forbids invoicing a period (its fees in
    advance, or its usage in arrears) a second time."""
    engine = make_engine(database_url)
    constraints = inspect(engine).get_unique_constraints("billed_periods")
    engine.dispose()
    assert any(set(c["column_names"]) == {"subscription_id", "period_start", "kind"}
               for c in constraints)


def test_the_newest_revision_is_read_from_the_files_as_alembic_reads_it(database_url):
    """`kassa bill` and the workers check the schema without loading Alembic: the heads read
    from the migration files are Alembic's, and a migrated database is current, one a
    revision behind is not (and is upgraded)."""
    script = ScriptDirectory.from_config(alembic_config())
    assert heads() == frozenset(script.get_heads())
    assert len(heads()) == 1
    engine = make_engine(database_url)
    try:
        assert is_current(engine)
        head = script.get_revision(next(iter(heads())))
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :previous"),
                               {"previous": head.down_revision})
        assert not is_current(engine)
        with engine.begin() as connection:  # the step down undone, as the upgrade would do it
            connection.execute(text("UPDATE alembic_version SET version_num = :head"),
                               {"head": head.revision})
        assert is_current(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres_only
def test_event_payloads_are_compressed_with_lz4_on_postgresql(kassa, org):
    """A payload over the TOAST threshold is written with lz4 (a third faster than pglz)."""
    payload = json.dumps({"lines": [{"description": f"Line {i}", "amount": i}
                                    for i in range(200)]})
    with kassa.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO events (id, org_id, type, object_id, data, created) "
            "VALUES ('evt_lz4', :org, 'invoice.created', 'in_lz4', CAST(:data AS json), now())"),
            {"org": org.organization.id, "data": payload})
        method = connection.execute(text(
            "SELECT pg_column_compression(data) FROM events WHERE id = 'evt_lz4'")).scalar()
    assert method == "lz4"


@pytest.mark.postgres_only
def test_processes_that_start_on_an_old_schema_at_once_migrate_one_after_the_other(
        database_url):
    """Two processes starting on a schema a revision behind (two workers of `kassa bill`,
    or one on each of two hosts) both upgrade it: the second waits for the first and finds
    nothing left to do, instead of failing on an index the first has already dropped."""
    from alembic import command

    engine = make_engine(database_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    assert not is_current(engine)
    failures: list[BaseException] = []

    def start() -> None:
        try:
            upgrade(engine)
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    # The tables stay locked until both processes wait in their check of the revision, so
    # both find it old, as when they start within a few milliseconds of each other.
    holder = engine.connect()
    holder.execute(text("LOCK TABLE invoices, alembic_version IN ACCESS EXCLUSIVE MODE"))
    threads = [threading.Thread(target=start) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        with engine.connect() as watcher:
            while watcher.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()")).scalar() < 2:
                assert time.monotonic() < deadline, "the two processes never both waited"
                watcher.rollback()
                time.sleep(0.01)
    finally:
        holder.rollback()
        holder.close()
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert is_current(engine)
    engine.dispose()
