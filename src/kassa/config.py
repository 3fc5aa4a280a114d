"""Settings from the environment, and the composition root that wires Kassa together."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kassa.adapters.vies import DisabledChecker, VatChecker, ViesChecker
from kassa.core.clock import Clock, SystemClock
from kassa.store.db import make_engine, make_session_factory
from kassa.store.uow import UnitOfWork


@dataclass(frozen=True)
class Settings:
    """Kassa's settings.

    KASSA_DATA_DIR      where the SQLite file, the key file and stored documents live
                        (default ./.kassa)
    KASSA_DATABASE_URL  SQLAlchemy URL (default: SQLite file in the data directory;
                        production: postgresql+psycopg://user:pass@host/db)
    KASSA_SECRET_KEY    key for hashing API secrets; every machine of one installation must
                        share it (default: generated once into the data directory)
    KASSA_MODE          development (default) or production
    KASSA_VIES_URL      the EU's VIES REST API for checking VAT ids, e.g.
                        https://ec.europa.eu/taxation_customs/vies/rest-api (default empty:
                        no checks, VAT ids stay "unchecked")
    """

    data_dir: Path
    database_url: str
    secret_key: str | None = None
    mode: str = "development"
    vies_url: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(os.environ.get("KASSA_DATA_DIR", ".kassa")).resolve()
        url = os.environ.get("KASSA_DATABASE_URL") or f"sqlite:///{data_dir / 'kassa.db'}"
        return cls(data_dir=data_dir, database_url=url,
                   secret_key=os.environ.get("KASSA_SECRET_KEY") or None,
                   mode=os.environ.get("KASSA_MODE", "development"),
                   vies_url=os.environ.get("KASSA_VIES_URL", "").strip())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@dataclass
class Kassa:
    """The composition root: one per process, holding the engine, sessions and the clock."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)

    @cached_property
    def engine(self) -> Engine:
        if self.settings.is_sqlite:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return make_engine(self.settings.database_url)

    @cached_property
    def vat_checker(self) -> VatChecker:
        """VIES when KASSA_VIES_URL is set; otherwise nobody is asked."""
        if self.settings.vies_url:
            return ViesChecker(self.settings.vies_url)
        return DisabledChecker()

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def pepper(self) -> bytes:
        """The key API secrets are hashed with."""
        if self.settings.secret_key:
            return self.settings.secret_key.encode()
        path = self.settings.data_dir / "secret.key"
        if not path.exists():
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.clock)
