"""Applying Alembic migrations (and, on PostgreSQL, the job queue's schema)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_ASSIGNED = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)
_ID = re.compile(r"['\"]([0-9A-Za-z_]+)['\"]")


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache
def heads() -> frozenset[str]:
    """The newest revisions, read from the migration files' `revision` and `down_revision`
    lines (without loading Alembic, a third of a worker's start-up): the revisions no other
    revision builds on. tests/store checks them against Alembic's own reading."""
    revisions: set[str] = set()
    built_on: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for name, value in _ASSIGNED.findall(path.read_text(encoding="utf-8")):
            (revisions if name == "revision" else built_on).update(_ID.findall(value))
    return frozenset(revisions - built_on)


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest revision already."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        stored = set(connection.execute(text("SELECT version_num FROM alembic_version"))
                     .scalars())
    return stored == set(heads())


# The key of the PostgreSQL advisory lock held while Kassa changes its schema ("kassa").
SCHEMA_LOCK = 0x6B61737361


def change_once(engine: Engine, done: Callable[[], bool], change: Callable[[], None]) -> bool:
    """Make a schema change unless `done()` says it is made; True if this call made it.

    Several processes may start on an old schema at once (`kassa bill` with two workers, a
    worker on each of several hosts, API replicas after a deploy). On PostgreSQL each waits
    for an advisory lock and asks `done()` again once it holds it, so one makes the change
    and the others find it made. An embedded SQLite database has one machine's processes,
    which start one at a time."""
    if done():
        return False
    if engine.dialect.name != "postgresql":
        change()
        return True
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK})
        try:
            if done():
                return False  # another process made it while this one waited
            change()
            return True
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK})


def upgrade(engine: Engine) -> None:
    """Bring the database schema to the newest revision; safe to run repeatedly (and cheap
    when there is nothing to do: every `kassa bill` and worker starts with it), also from
    several processes at once (`change_once`)."""
    def to_head() -> None:
        from alembic import command

        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    change_once(engine, lambda: is_current(engine), to_head)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new revision from the models (a developer's tool)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
