"""Settings from the environment, and the composition root that wires Kassa together."""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kassa.adapters.files import FileStore, LocalFileStore
from kassa.adapters.gateways.bank_debit import BankDebitGateway
from kassa.adapters.mail import DEFAULT_PORTS, SECURITIES, Mailer, Security, SmtpMailer
from kassa.adapters.vies import DisabledChecker, VatChecker, ViesChecker
from kassa.core.clock import Clock, SystemClock
from kassa.core.ratelimit import RateLimiter
from kassa.store.db import make_engine, make_session_factory
from kassa.store.uow import UnitOfWork

if TYPE_CHECKING:
    from kassa.adapters.gateways.base import Gateway
    from kassa.adapters.gateways.sandbox import SandboxGateway
    from kassa.services.documents import Publishing


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
    KASSA_SMTP_HOST     the SMTP relay customer e-mails go through (default empty: mail is
                        off, messages wait in the outbox as pending; `kassa emails list`)
    KASSA_SMTP_PORT     default by security: 25 (none), 587 (starttls), 465 (tls)
    KASSA_SMTP_SECURITY none | starttls (default) | tls
    KASSA_SMTP_USER, KASSA_SMTP_PASSWORD   log in when a user is given
    KASSA_MAIL_FROM     the From address, e.g. billing@kassa.example (default: the
                        organization's support e-mail); replies go to the support e-mail
    KASSA_FILES_DIR     where rendered documents (invoice PDFs...) are kept
                        (default {data_dir}/files)
    KASSA_PUBLIC_URL    the address customers reach Kassa at, for links in documents
                        (default http://127.0.0.1:8000)
    KASSA_STRIPE_API_KEY, KASSA_STRIPE_WEBHOOK_SECRET   turn the Stripe gateway on
    KASSA_MOLLIE_API_KEY                                turn the Mollie gateway on
    KASSA_STRIPE_API_BASE, KASSA_MOLLIE_API_BASE        another API address (tests)
    KASSA_RATE_LIMIT    requests a second per API key and API process, bursts of twice
                        that (default 100; 0: no limit); past it 429 with Retry-After
    KASSA_BILLING_BATCH_SIZE     customers a billing worker bills in one transaction
                                 (default 500)
    KASSA_BILLING_LEASE_SECONDS  how long a billing batch stays with the worker that took
                                 it; after that another worker takes it over (default 300)
    KASSA_WORKER_NAME   this worker's name in the billing batches it does (default
                        host:pid)
    KASSA_REPORTS_DATABASE_URL   a read replica the reports read from (default: the
                                 database itself); reports only read
    The built-in `sandbox` gateway is always on (test cards and IBANs, no money moves), and
    so is `bank`: SEPA Direct Debit through the organization's own bank (pain.008 files).
    """

    data_dir: Path
    database_url: str
    secret_key: str | None = None
    mode: str = "development"
    vies_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: Security = "starttls"
    smtp_user: str = ""
    smtp_password: str = ""
    mail_from: str = ""
    files_dir: Path | None = None
    public_url: str = "http://127.0.0.1:8000"
    stripe_api_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    mollie_api_key: str = ""
    mollie_api_base: str = ""
    rate_limit: float = 100.0
    # 500 rather than 200: 100,000 renewals with two workers took 5-8% less time (fewer
    # transactions, statements and collections per invoice; bench/README.md).
    billing_batch_size: int = 500
    billing_lease_seconds: int = 300
    worker_name: str = ""
    reports_database_url: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(os.environ.get("KASSA_DATA_DIR", ".kassa")).resolve()
        url = os.environ.get("KASSA_DATABASE_URL") or f"sqlite:///{data_dir / 'kassa.db'}"
        return cls(data_dir=data_dir, database_url=url,
                   secret_key=os.environ.get("KASSA_SECRET_KEY") or None,
                   mode=os.environ.get("KASSA_MODE", "development"),
                   vies_url=os.environ.get("KASSA_VIES_URL", "").strip(),
                   files_dir=(Path(os.environ["KASSA_FILES_DIR"]).resolve()
                              if os.environ.get("KASSA_FILES_DIR") else None),
                   public_url=(os.environ.get("KASSA_PUBLIC_URL", "").strip().rstrip("/")
                               or "http://127.0.0.1:8000"),
                   rate_limit=float(os.environ.get("KASSA_RATE_LIMIT", "100") or 100),
                   billing_batch_size=_count("KASSA_BILLING_BATCH_SIZE", 500),
                   billing_lease_seconds=_count("KASSA_BILLING_LEASE_SECONDS", 300),
                   worker_name=os.environ.get("KASSA_WORKER_NAME", "").strip(),
                   reports_database_url=os.environ.get("KASSA_REPORTS_DATABASE_URL",
                                                       "").strip(),
                   **_smtp_from_env(), **_gateways_from_env())

    @property
    def allows_private_urls(self) -> bool:
        """Outside production, webhooks may go to loopback and private addresses."""
        return self.mode != "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _count(name: str, default: int) -> int:
    """A positive whole number from the environment."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive whole number, not {raw!r}.")
    return int(raw)


def _gateways_from_env() -> dict[str, Any]:
    names = ("stripe_api_key", "stripe_webhook_secret", "stripe_api_base", "mollie_api_key",
             "mollie_api_base")
    return {name: os.environ.get(f"KASSA_{name.upper()}", "").strip() for name in names}


def _smtp_from_env() -> dict[str, Any]:
    security = os.environ.get("KASSA_SMTP_SECURITY", "starttls").strip().lower()
    if security not in SECURITIES:
        raise ValueError(f"KASSA_SMTP_SECURITY must be one of {', '.join(SECURITIES)}")
    port = os.environ.get("KASSA_SMTP_PORT", "").strip()
    return {"smtp_host": os.environ.get("KASSA_SMTP_HOST", "").strip(),
            "smtp_port": int(port) if port else DEFAULT_PORTS[security],
            "smtp_security": security,
            "smtp_user": os.environ.get("KASSA_SMTP_USER", ""),
            "smtp_password": os.environ.get("KASSA_SMTP_PASSWORD", ""),
            "mail_from": os.environ.get("KASSA_MAIL_FROM", "").strip()}


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
    def mailer(self) -> Mailer | None:
        """The SMTP relay when KASSA_SMTP_HOST is set; None: mail is off."""
        s = self.settings
        if not s.smtp_host:
            return None
        return SmtpMailer(s.smtp_host, s.smtp_port, s.smtp_security, s.smtp_user or None,
                          s.smtp_password or None)

    @cached_property
    def files(self) -> FileStore:
        """Where rendered documents are kept."""
        return LocalFileStore(self.settings.files_dir or self.settings.data_dir / "files")

    @cached_property
    def publishing(self) -> Publishing:
        """Where documents are stored and the public address their links point to."""
        from kassa.services.documents import Publishing

        return Publishing(files=self.files, public_url=self.settings.public_url,
                          data_dir=self.settings.data_dir)

    @cached_property
    def sandbox(self) -> SandboxGateway:
        """The built-in test gateway (its secret derived from the installation's key)."""
        from kassa.adapters.gateways.sandbox import SandboxGateway

        return SandboxGateway(hmac.new(self.pepper, b"sandbox-gateway", "sha256").digest(),
                              public_url=self.settings.public_url)

    @cached_property
    def gateways(self) -> dict[str, Gateway]:
        """The payment gateways this installation can use, by name."""
        s = self.settings
        found: dict[str, Gateway] = {"sandbox": self.sandbox, "bank": BankDebitGateway(
            hmac.new(self.pepper, b"bank-gateway", "sha256").digest())}
        if s.stripe_api_key:
            from kassa.adapters.gateways.stripe import StripeGateway

            found["stripe"] = StripeGateway(s.stripe_api_key,
                                            webhook_secret=s.stripe_webhook_secret,
                                            base_url=s.stripe_api_base or None)
        if s.mollie_api_key:
            from kassa.adapters.gateways.mollie import MollieGateway

            found["mollie"] = MollieGateway(
                s.mollie_api_key, base_url=s.mollie_api_base or None,
                webhook_url=f"{s.public_url}/webhooks/gateways/mollie")
        return found

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        return RateLimiter(self.settings.rate_limit)

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

    @cached_property
    def reports_session_factory(self) -> sessionmaker[Session]:
        url = self.settings.reports_database_url
        return make_session_factory(make_engine(url)) if url else self.session_factory

    def reports_uow(self) -> UnitOfWork:
        """A unit of work for reports: on the read replica when one is configured, which
        may lag the primary by a moment."""
        return UnitOfWork(self.reports_session_factory, self.clock)
