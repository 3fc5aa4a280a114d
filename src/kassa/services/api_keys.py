"""API keys. Secret keys (`sk_live_...`) carry a scope: `full`, `read_only`, or
`restricted` to named resources, each `read` or `write`. Publishable keys (`pk_live_...`)
are for the customer portal's browser side and open no `/v1` endpoint. A key is shown once and
stored only as a keyed hash (core/secrets.py). Rolling a key makes a new one with the same
scope and lets the old one work until its `expires_at` (an overlap for deploying the new
one); revoking ends it at once. `last_used_at` is kept to the minute.

A resource is the first part of a `/v1` path (`customers`, `invoices`, `billing`...); reads
are GET and HEAD, everything else writes. Managing keys needs a full secret key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from kassa.core.clock import parse_timestamp, to_unix
from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.ids import new_id
from kassa.core.secrets import hash_secret, new_secret
from kassa.services import scoping, validation
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
    new, secret = create_key(uow, pepper, org_id, name=old.name, type=old.type,
                             scope=_as_input(old.scope))
    return new, secret


def revoke_key(uow: UnitOfWork, org_id: str, key_id: str) -> m.ApiKey:
    row = _live(uow, org_id, key_id)
    row.revoked_at = uow.clock.now()
    uow.commit()
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
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
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
