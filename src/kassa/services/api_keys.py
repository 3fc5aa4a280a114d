"""API keys. Secret keys (`sk_live_...`) carry a scope: `full`, `read_only`, or
`restricted` to named resources, each `read` or `write`. Publishable keys (`pk_live_...`)
are for the customer portal's browser side and open no `/v1` endpoint. A key is shown once and
stored only as a keyed hash (core/secrets.py). Rolling a key makes a new one with the same
scope and lets the old one work until its `expires_at` (an overlap for deploying the new
one); revoking ends it at once. `last_used_at` is kept to the minute.

A resource is the first part of a `/v1` path (`customers`, `invoices`, `billing`...); reads
are GET and HEAD, everything else writes. Managing keys needs a full secret key.

A verified key is cached in the process (`verified_key`), by the keyed hash of its secret,
so a request costs no database round trip for its key. Revoking or rolling a key forgets it
at once in the process that does it and, on PostgreSQL, in every other one as soon as the
notification sent with the commit arrives (on SQLite one process serves); a PostgreSQL
process that cannot hear notifications does not use its cache. A cached key is read again
at least once a minute anyway, when its `last_used_at` is due.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from kassa.core.clock import parse_timestamp, to_unix
from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.ids import new_id
from kassa.core.secrets import hash_secret, new_secret
from kassa.services import organizations, scoping, validation
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

RESOURCES = (
    "acquisition_costs", "api_keys", "audit_log", "balance_transactions", "bank_statements",
    "bank_transactions", "billing", "billing_portal", "coupons", "credit_notes", "customers",
    "disputes", "dunning_cases", "dunning_policies", "email_messages", "entitlements", "events",
    "exchange_rates", "invoiceitems", "invoices", "ledger", "organization", "payment_methods",
    "payments", "payouts",
    "price_migrations", "prices", "products", "promotion_codes", "refunds", "reports",
    "sepa_debit_files", "sepa_status_reports", "subscription_items", "subscription_schedules",
    "subscriptions", "tax_rates", "tax_reports", "test_clocks", "test_helpers", "vat",
    "webhook_deliveries", "webhook_endpoints")
TYPES = ("secret", "publishable")
LAST_USED_EVERY = timedelta(minutes=1)
REVALIDATE_EVERY = 60.0  # seconds a cached key is trusted without asking the database
CACHED_KEYS = 10_000
CHANNEL = "kassa_api_keys"  # PostgreSQL notifications: the hash of a key that changed
HEARTBEAT = 10.0  # seconds between checks that the connection notifications come on lives

log = logging.getLogger("kassa.api_keys")


def check_scope(value: Any) -> dict[str, Any]:
    """A scope as stored: {"mode", "resources"}; InvalidRequest naming `scope...`."""
    if value is None or value == "full":
        return {"mode": "full", "resources": {}}
    if value == "read_only":
        return {"mode": "read_only", "resources": {}}
    if not isinstance(value, dict) or set(value) != {"restricted"} \
            or not isinstance(value["restricted"], dict) or not value["restricted"]:
        raise InvalidRequest('scope is "full", "read_only" or {"restricted": {resource: '
                             '"read" | "write"}}.', param="scope")
    resources = value["restricted"]
    for name, access in resources.items():
        if name not in RESOURCES:
            raise InvalidRequest(f"Unknown resource {name!r}; resources: "
                                 f"{', '.join(RESOURCES)}.", param=f"scope[restricted][{name}]")
        if access not in ("read", "write"):
            raise InvalidRequest("Access is read or write.",
                                 param=f"scope[restricted][{name}]")
    return {"mode": "restricted", "resources": dict(sorted(resources.items()))}


def allows(scope: dict[str, Any] | None, resource: str, write: bool) -> bool:
    """Whether a key of `scope` may read (or write) `resource`."""
    mode = (scope or {}).get("mode", "full")
    if mode == "full":
        return True
    if mode == "read_only":
        return not write and resource != "api_keys"
    access = (scope or {}).get("resources", {}).get(resource)
    return access == "write" or (access == "read" and not write)


def resource_of(path: str) -> str | None:
    """The resource a `/v1` path names (None outside `/v1`)."""
    parts = path.split("/")
    return parts[2] if len(parts) > 2 and parts[1] == "v1" else None


def create_key(uow: UnitOfWork, pepper: bytes, org_id: str, *, name: str | None = None,
               type: str = "secret", scope: Any = None,
               expires_at: Any = None) -> tuple[m.ApiKey, str]:
    """A new key of the organization; returns it and its secret, shown this once."""
    if type not in TYPES:
        raise InvalidRequest("type is secret or publishable.", param="type")
    if type == "publishable" and scope is not None:
        raise InvalidRequest("A publishable key has no scope.", param="scope")
    now = uow.clock.now()
    if expires_at is not None:
        expires_at = parse_timestamp(expires_at, "expires_at")
    if expires_at is not None and expires_at <= now:
        raise InvalidRequest("expires_at must be in the future.", param="expires_at")
    secret = new_secret("sk_live" if type == "secret" else "pk_live")
    row = m.ApiKey(id=new_id("key"), org_id=org_id, secret_hash=hash_secret(secret, pepper),
                   last4=secret[-4:], name=name, created=now, type=type,
                   scope=check_scope(scope) if type == "secret" else None,
                   expires_at=expires_at)
    uow.session.add(row)
    uow.commit()
    return row, secret


def roll_key(uow: UnitOfWork, pepper: bytes, org_id: str, key_id: str, *,
             expires_in: int | None = None) -> tuple[m.ApiKey, str]:
    """A new key with the old one's name, type and scope; the old one works for
    `expires_in` more seconds (default a day, at most 7 days, 0: ends now)."""
    overlap = validation.overlap(expires_in)
    old = _live(uow, org_id, key_id)
    now = uow.clock.now()
    ends = now + overlap
    old.expires_at = min(old.expires_at, ends) if old.expires_at else ends
    if not overlap:
        old.revoked_at = now
    _announce_change(uow.session, old)
    new, secret = create_key(uow, pepper, org_id, name=old.name, type=old.type,
                             scope=_as_input(old.scope))
    _forget(uow.session, old)
    return new, secret


def revoke_key(uow: UnitOfWork, org_id: str, key_id: str) -> m.ApiKey:
    row = _live(uow, org_id, key_id)
    row.revoked_at = uow.clock.now()
    _announce_change(uow.session, row)
    uow.commit()
    _forget(uow.session, row)
    return row


def _live(uow: UnitOfWork, org_id: str, key_id: str) -> m.ApiKey:
    row = scoping.get(uow.session, m.ApiKey, org_id, key_id, lock=True)
    if row.revoked_at is not None:
        raise InvalidState(f"Key {row.id} is revoked.")
    return row


def _as_input(scope: dict[str, Any] | None) -> Any:
    if not scope or scope["mode"] == "full":
        return None
    return "read_only" if scope["mode"] == "read_only" else {"restricted": scope["resources"]}


def list_keys(uow: UnitOfWork, org_id: str, **page: Any) -> scoping.Page:
    query = select(m.ApiKey).where(m.ApiKey.org_id == org_id)
    return scoping.paginate(uow.session, query, m.ApiKey, **page)


def touch(row: m.ApiKey, now: datetime) -> bool:
    """Note the key's use (to the minute); whether anything changed."""
    if _touch_due(row.last_used_at, now):
        row.last_used_at = now
        return True
    return False


def key_object(row: m.ApiKey) -> dict[str, Any]:
    def ts(value: datetime | None) -> int | None:
        return to_unix(value) if value else None

    return {"id": row.id, "object": "api_key", "name": row.name, "type": row.type,
            "scope": row.scope, "last4": row.last4, "created": ts(row.created),
            "expires_at": ts(row.expires_at), "last_used_at": ts(row.last_used_at),
            "revoked": row.revoked_at is not None}


# --- verified keys, cached -----------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedKey:
    """What a request needs of its live secret key."""

    id: str
    org_id: str
    scope: dict[str, Any] | None
    expires_at: datetime | None
    last_used_at: datetime | None


def verified_key(session_factory: sessionmaker[Session], pepper: bytes, secret: str,
                 now: datetime) -> VerifiedKey:
    """The live secret key `secret` is (not revoked, not expired by `now`), or
    AuthenticationFailed as `organizations.api_key` raises it. Its use is noted to the
    minute. Answered from the process's cache when it may be."""
    cache = _cache_of(session_factory)
    digest = hash_secret(secret, pepper)
    cached = _usable(cache.get(digest), now)
    if cached is not None:
        return cached
    generation = cache.generation
    with session_factory() as session:
        row = organizations.api_key(session, pepper, secret, now)
        if touch(row, now):
            session.commit()
        key = VerifiedKey(row.id, row.org_id, row.scope, row.expires_at, row.last_used_at)
    cache.put(digest, key, generation)
    return key


def cached_key(session_factory: sessionmaker[Session], pepper: bytes, secret: str,
               now: datetime) -> VerifiedKey | None:
    """What `verified_key` answers when the process's cache may answer it, without the
    database (None: ask `verified_key`). Cheap enough for the event loop."""
    return _usable(_cache_of(session_factory).get(hash_secret(secret, pepper)), now)


def _usable(cached: VerifiedKey | None, now: datetime) -> VerifiedKey | None:
    if cached is not None and (cached.expires_at is None or cached.expires_at > now) \
            and not _touch_due(cached.last_used_at, now):
        return cached
    return None


def _touch_due(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= LAST_USED_EVERY


def _announce_change(session: Session, row: m.ApiKey) -> None:
    """Tell the other processes, when this transaction commits, to forget the key."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(CHANNEL, row.secret_hash)))


def _forget(session: Session, row: m.ApiKey) -> None:
    """Forget the key in this process now (the notification may come a moment later)."""
    cache = _caches.get(_cache_name(session.get_bind().engine))
    if cache is not None:
        cache.forget(row.secret_hash)


class _KeyCache:
    """Verified keys of one database by the hash of their secret, the most recently used
    kept. On PostgreSQL it answers only while its listener hears every change."""

    def __init__(self, engine: Engine) -> None:
        self._entries: OrderedDict[str, tuple[VerifiedKey, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.generation = 0  # moves on whenever anything is forgotten
        # Without PostgreSQL's notifications (SQLite: one process) it answers at once.
        self._listening = engine.dialect.name != "postgresql"
        if self._listening:
            return
        threading.Thread(target=self._listen, args=(engine,), daemon=True,
                         name="kassa-api-key-changes").start()

    def get(self, digest: str) -> VerifiedKey | None:
        with self._lock:
            found = self._entries.get(digest) if self._listening else None
            if found is None:
                return None
            if time.monotonic() - found[1] >= REVALIDATE_EVERY:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return found[0]

    def put(self, digest: str, key: VerifiedKey, generation: int) -> None:
        """Keep `key`, unless something was forgotten since `generation` was read (the
        key may have changed after it was loaded)."""
        with self._lock:
            if not self._listening or generation != self.generation:
                return
            self._entries[digest] = (key, time.monotonic())
            self._entries.move_to_end(digest)
            while len(self._entries) > CACHED_KEYS:
                self._entries.popitem(last=False)

    def forget(self, digest: str | None = None) -> None:
        """Forget one key (None: all of them)."""
        with self._lock:
            self.generation += 1
            if digest is None:
                self._entries.clear()
            else:
                self._entries.pop(digest, None)

    def _stop_listening(self) -> None:
        with self._lock:
            self._listening = False
        self.forget()

    def _listen(self, engine: Engine) -> None:
        """Forget the keys PostgreSQL says changed; without a connection to hear it on, the
        cache stays out of use (and is emptied: a change may have been missed)."""
        import psycopg

        args, params = engine.dialect.create_connect_args(engine.url)
        pause = 1.0
        while True:
            try:
                with psycopg.connect(*args, **{**params, "autocommit": True}) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.forget()
                    with self._lock:
                        self._listening = True
                    pause = 1.0
                    while True:
                        for notice in connection.notifies(timeout=HEARTBEAT):
                            self.forget(notice.payload)
                        connection.execute("SELECT 1")  # a silently lost connection fails
            except Exception:  # any failure: stop answering, connect again
                log.warning("API key changes unheard; keys are checked in the database "
                            "until the connection is back", exc_info=True)
            self._stop_listening()
            time.sleep(pause)
            pause = min(pause * 2, 30.0)


_caches: dict[str, _KeyCache] = {}
_caches_lock = threading.Lock()


def _cache_name(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _cache_of(session_factory: sessionmaker[Session]) -> _KeyCache:
    engine: Engine = session_factory.kw["bind"]
    name = _cache_name(engine)
    cache = _caches.get(name)
    if cache is None:
        with _caches_lock:
            cache = _caches.get(name)
            if cache is None:
                cache = _caches[name] = _KeyCache(engine)
    return cache
