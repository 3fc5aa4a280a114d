"""Fixtures: a migrated database (SQLite file, or the PostgreSQL server named by
KASSA_TEST_DATABASE_URL), a Kassa instance on a frozen clock, an organization and an API
client authenticated as it."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.helpers import shared_app
from kassa.config import Kassa, Settings
from kassa.core.clock import FrozenClock
from kassa.services import organizations
from kassa.store.db import make_engine
from kassa.store.migrate import upgrade
from kassa.store.models import Base
from smtp_server import SmtpServer

PG_URL = os.environ.get("KASSA_TEST_DATABASE_URL")
ON_POSTGRES = bool(PG_URL)
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="needs PostgreSQL (set KASSA_TEST_DATABASE_URL)")
    for item in items:
        if "postgres_only" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database: on SQLite a template file copied per test."""
    if PG_URL:
        engine = make_engine(PG_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(engine)
        engine.dispose()
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "kassa.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return str(path)


@functools.cache
def _pg_engine() -> Engine:
    return make_engine(PG_URL or "")


def fresh_database(template_db: str, directory: Path) -> str:
    """An empty, migrated database: a copy of the SQLite template, or PostgreSQL truncated."""
    if PG_URL:
        # Only the tables a test wrote to are emptied: truncating all of them costs about a
        # second per test, finding the used ones takes one query.
        names = [t.name for t in Base.metadata.sorted_tables]
        probe = " UNION ALL ".join(
            f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM {name})" for name in names)
        with _pg_engine().begin() as connection:
            used = list(connection.execute(text(probe)).scalars())
            if used:
                connection.execute(text(f"TRUNCATE {', '.join(used)} RESTART IDENTITY "
                                        "CASCADE"))
        return PG_URL
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "kassa.db"
    shutil.copy(template_db, target)
    return f"sqlite:///{target}"


@pytest.fixture
def database_url(template_db: str, tmp_path: Path) -> str:
    return fresh_database(template_db, tmp_path)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def kassa(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Kassa]:
    # No rate limit: tests send hundreds of requests a second with one key
    # (tests/hardening/test_api_keys.py tries the limit with a limiter of its own).
    instance = Kassa(Settings(data_dir=tmp_path / "data", database_url=database_url,
                              secret_key="test-pepper", rate_limit=0), clock=clock)
    yield instance
    instance.engine.dispose()


@pytest.fixture
def org(kassa: Kassa) -> organizations.NewOrganization:
    """A Dutch SaaS. Its invoices carry no tax (`automatic_tax` off), so tests of billing
    mechanics read plain amounts; the tax tests (tests/tax) switch it on."""
    with kassa.uow() as uow:
        return organizations.create_organization(
            uow, kassa.pepper, name="Acme Cloud", country="NL", timezone="Europe/Amsterdam",
            default_currency="eur", vat_id="NL004495445B01", automatic_tax=False)


@pytest.fixture
def other_org(kassa: Kassa) -> organizations.NewOrganization:
    """A second organization (another tenant) with its own secret key."""
    with kassa.uow() as uow:
        return organizations.create_organization(
            uow, kassa.pepper, name="Globex", country="DE", timezone="Europe/Berlin",
            default_currency="eur")


@pytest.fixture
def api(kassa: Kassa, org: organizations.NewOrganization) -> Iterator[TestClient]:
    with TestClient(shared_app(kassa), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {org.secret_key}"
        yield client


@pytest.fixture(scope="session")
def make_database(template_db: str):
    """A factory of empty, migrated databases, for tests that need several in one test."""
    return lambda directory: fresh_database(template_db, directory)


@pytest.fixture
def live_server(kassa: Kassa) -> Iterator[str]:
    """Kassa's application served by uvicorn on a free loopback port (for a real browser, or
    truly concurrent clients); its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(shared_app(kassa), host="127.0.0.1", port=port,
                                           log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) collecting what it is sent (tests/smtp_server.py)."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless (and without its sandbox: the tests run as root),
    driven by Playwright; skipped where it is not installed (scripts/test installs it)."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip("needs Chromium (scripts/test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        yield browser
        browser.close()
