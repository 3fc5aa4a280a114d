"""Webhooks: every event of the outbox, POSTed to the organization's endpoints, signed.

1. `route` hands new events (written in the same transaction as their change) to the
   endpoints that want them: one `WebhookDelivery` per endpoint and event.
2. `deliver_due` POSTs the due deliveries: claimed with a lease (never sent by two workers at
   once, never lost by a worker that dies), sent outside any transaction and in parallel,
   each with a timeout, at most a few per endpoint per pass and none more to an endpoint that
   just failed, so a slow or failing endpoint holds up neither other endpoints nor billing.
   A 2xx answer delivers it; anything else is retried with backoff (domain/delivery.py) for
   about three days, then the delivery is `failed` until resent (`resend`).

The body is the event object (`id`, `type`, `created`, `data.object`,
`data.previous_attributes`), the same bytes on every attempt; the header
`Kassa-Signature: t=<unix>,v1=<hex>` signs "<t>.<body>" (core/signatures.py). The signing
secret `whsec_...` is derived from the installation's key, the endpoint and its secret
version: nothing secret is stored. After `rotate_secret` the previous secret keeps signing
(a second `v1`) until its overlap ends.

In production mode an endpoint must be a public http(s) address (checked when it is saved
and again, resolving the name, before every POST); development mode also allows loopback and
private addresses, for local receivers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kassa.core import signatures
from kassa.core.clock import Clock, to_unix
from kassa.core.errors import InvalidRequest
from kassa.core.ids import new_id
from kassa.domain.delivery import retry_delay
from kassa.services import objects, scoping, validation
from kassa.store import models as m
from kassa.store.db import is_postgres
from kassa.store.uow import UnitOfWork

log = logging.getLogger("kassa.webhooks")

SIGNATURE_HEADER = "Kassa-Signature"
LEASE = timedelta(minutes=2)
TIMEOUT_SECONDS = 10.0
BATCH = 100
PER_ENDPOINT = 20  # deliveries to one endpoint per pass, so that others get their turn
THREADS = 8
MAX_ENDPOINTS = 16
_EVENT_TYPE = re.compile(r"[a-z_]+(\.[a-z_]+){0,3}(\.\*)?|\*")

Poster = Callable[[str, bytes, dict[str, str], float], int]
"""POSTs a body and returns the HTTP status (raises OSError when nothing answered)."""


# --- endpoints ------------------------------------------------------------------------------

def create_endpoint(uow: UnitOfWork, org_id: str, *, url: str, enabled_events: list[str],
                    description: str | None = None, metadata: dict[str, Any] | None = None,
                    allow_private: bool = False) -> m.WebhookEndpoint:
    """An endpoint for `enabled_events` (types, `invoice.*`, or `*` for all)."""
    count = uow.session.scalar(select(func.count()).select_from(m.WebhookEndpoint).where(
        m.WebhookEndpoint.org_id == org_id)) or 0
    if count >= MAX_ENDPOINTS:
        raise InvalidRequest(f"An organization has at most {MAX_ENDPOINTS} webhook endpoints.",
                             param="url")
    endpoint = m.WebhookEndpoint(
        id=new_id("we"), org_id=org_id, url=check_url(url, allow_private=allow_private),
        description=description, enabled_events=_event_types(enabled_events),
        status="enabled", secret_version=1,
        metadata_=validation.merge_metadata({}, metadata or {}), created=uow.clock.now())
    uow.session.add(endpoint)
    uow.session.flush()
    uow.commit()
    return endpoint


def update_endpoint(uow: UnitOfWork, org_id: str, endpoint_id: str, *,
                    url: str | None = None, enabled_events: list[str] | None = None,
                    description: str | None = None, disabled: bool | None = None,
                    metadata: dict[str, Any] | None = None,
                    allow_private: bool = False) -> m.WebhookEndpoint:
    endpoint = scoping.get(uow.session, m.WebhookEndpoint, org_id, endpoint_id, lock=True)
    if url is not None:
        endpoint.url = check_url(url, allow_private=allow_private)
    if enabled_events is not None:
        endpoint.enabled_events = _event_types(enabled_events)
    if description is not None:
        endpoint.description = description
    if disabled is not None:
        endpoint.status = "disabled" if disabled else "enabled"
    if metadata is not None:
        endpoint.metadata_ = validation.merge_metadata(endpoint.metadata_, metadata)
    uow.commit()
    return endpoint


def delete_endpoint(uow: UnitOfWork, org_id: str, endpoint_id: str) -> dict[str, Any]:
    """Remove the endpoint and what was still to be delivered to it."""
    endpoint = scoping.get(uow.session, m.WebhookEndpoint, org_id, endpoint_id, lock=True)
    uow.session.query(m.WebhookDelivery).filter_by(endpoint_id=endpoint.id).delete()
    uow.session.query(m.WebhookAttempt).filter_by(endpoint_id=endpoint.id).delete()
    uow.session.delete(endpoint)
    uow.commit()
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


def list_endpoints(uow: UnitOfWork, org_id: str, **page: Any) -> scoping.Page:
    query = select(m.WebhookEndpoint).where(m.WebhookEndpoint.org_id == org_id)
    return scoping.paginate(uow.session, query, m.WebhookEndpoint, **page)


def rotate_secret(uow: UnitOfWork, pepper: bytes, org_id: str, endpoint_id: str, *,
                  overlap_seconds: int | None = None) -> tuple[m.WebhookEndpoint, str]:
    """A new secret; the previous one keeps signing alongside it for the overlap (default
    24 hours, at most 7 days, 0 to stop at once). Returns the endpoint and the new secret."""
    overlap = validation.overlap(overlap_seconds)
    endpoint = scoping.get(uow.session, m.WebhookEndpoint, org_id, endpoint_id, lock=True)
    now = uow.clock.now()
    endpoint.previous_secret_version = endpoint.secret_version if overlap else None
    endpoint.previous_secret_expires_at = now + overlap if overlap else None
    endpoint.secret_version += 1
    uow.commit()
    return endpoint, secret_of(pepper, endpoint.id, endpoint.secret_version)


def secret_of(pepper: bytes, endpoint_id: str, version: int) -> str:
    """The endpoint's signing secret of `version`: derived, never stored."""
    digest = hmac.new(pepper, f"webhook-endpoint:{endpoint_id}:{version}".encode(),
                      hashlib.sha256).digest()
    return "whsec_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signing_secrets(pepper: bytes, endpoint: m.WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    found = [secret_of(pepper, endpoint.id, endpoint.secret_version)]
    if endpoint.previous_secret_version is not None and endpoint.previous_secret_expires_at \
            and now < endpoint.previous_secret_expires_at:
        found.append(secret_of(pepper, endpoint.id, endpoint.previous_secret_version))
    return found


def _event_types(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > 100:
        raise InvalidRequest("enabled_events lists event types (or [\"*\"] for all).",
                             param="enabled_events")
    for index, kind in enumerate(value):
        if not isinstance(kind, str) or not _EVENT_TYPE.fullmatch(kind):
            raise InvalidRequest(f"{kind!r} is not an event type such as invoice.paid, "
                                 "invoice.* or *.", param=f"enabled_events[{index}]")
    return sorted(set(value))


def wants(endpoint: m.WebhookEndpoint, event_type: str) -> bool:
    """Whether the endpoint asked for events of `event_type`."""
    for kind in endpoint.enabled_events:
        if kind == "*" or kind == event_type or (
                kind.endswith(".*") and event_type.startswith(kind[:-1])):
            return True
    return False


def check_url(url: Any, *, allow_private: bool) -> str:
    """An absolute http(s) URL; in production a public one (by name, and by address when it
    is written as one)."""
    if not isinstance(url, str) or len(url) > 2000:
        raise InvalidRequest("url is an http(s) address of at most 2000 characters.",
                             param="url")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username \
            or parts.password:
        raise InvalidRequest("url must be an absolute http:// or https:// address without "
                             "a user name or password.", param="url")
    if not allow_private:
        host = parts.hostname
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise InvalidRequest("url must be a public address in production mode.",
                                 param="url")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and not address.is_global:
            raise InvalidRequest("url must be a public address in production mode.",
                                 param="url")
    return url.strip()


def public_only(url: str) -> None:
    """Before a POST in production: every address the name resolves to must be public, so
    that a name pointing inside the network is not called (OSError otherwise)."""
    host = urlsplit(url).hostname or ""
    for info in socket.getaddrinfo(host, None):
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise OSError(f"{host} resolves to a non-public address")


def endpoint_object(endpoint: m.WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    body = {"id": endpoint.id, "object": "webhook_endpoint", "url": endpoint.url,
            "description": endpoint.description, "enabled_events": endpoint.enabled_events,
            "status": endpoint.status, "metadata": endpoint.metadata_,
            "secret_rotation": ({"previous_expires_at":
                                 to_unix(endpoint.previous_secret_expires_at)}
                                if endpoint.previous_secret_expires_at else None),
            "created": to_unix(endpoint.created)}
    if secret is not None:
        body["secret"] = secret  # shown when created and when rotated only
    return body


# --- routing ----------------------------------------------------------------------------------

def route(session_factory: sessionmaker[Session], clock: Clock, *, limit: int = 1000) -> int:
    """Hand the events not yet routed to the endpoints that want them; returns how many
    events were routed. Two routers at once: SKIP LOCKED on PostgreSQL, and a delivery is
    unique per endpoint and event."""
    with session_factory() as session:
        query = select(m.Event.id, m.Event.org_id, m.Event.type).where(
            m.Event.routed.is_(None)).order_by(m.Event.id).limit(limit)
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        rows = session.execute(query).all()
        if not rows:
            return 0
        now = clock.now()
        org_ids = {org_id for _, org_id, _ in rows}
        endpoints: dict[str, list[m.WebhookEndpoint]] = {}
        for endpoint in session.scalars(select(m.WebhookEndpoint).where(
                m.WebhookEndpoint.org_id.in_(org_ids), m.WebhookEndpoint.status == "enabled")):
            endpoints.setdefault(endpoint.org_id, []).append(endpoint)
        for event_id, org_id, kind in rows:
            for endpoint in endpoints.get(org_id, []):
                if wants(endpoint, kind):
                    session.add(m.WebhookDelivery(
                        id=new_id("wd"), org_id=org_id, endpoint_id=endpoint.id,
                        event_id=event_id, status="pending", attempts=0, next_attempt_at=now,
                        created=now))
        # one statement marks the whole batch (billing days write events by the thousand)
        session.execute(update(m.Event).where(m.Event.id.in_([row[0] for row in rows]))
                        .values(routed=now))
        session.commit()
        return len(rows)


# --- delivery ---------------------------------------------------------------------------------

@dataclass
class DeliveryCounts:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Claimed:
    delivery_id: str
    endpoint_id: str
    event_id: str
    url: str
    body: bytes
    headers: dict[str, str]
    lease: datetime


def deliver_due(session_factory: sessionmaker[Session], clock: Clock, pepper: bytes,
                poster: Poster, *, allow_private: bool = False) -> DeliveryCounts:
    """POST the deliveries that are due (one batch), in parallel; returns the counts."""
    now = clock.now()
    claimed = _claim(session_factory, pepper, now)
    counts = DeliveryCounts()
    if not claimed:
        return counts
    failed_endpoints: set[str] = set()

    def send(item: _Claimed) -> tuple[_Claimed, int | None, str | None, int]:
        started = clock_ms()
        try:
            if not allow_private:
                public_only(item.url)
            status: int | None = poster(item.url, item.body, item.headers, TIMEOUT_SECONDS)
            error = None if 200 <= (status or 0) < 300 else f"HTTP {status}"
        except OSError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"[:500]
        return item, status, error, clock_ms() - started

    with ThreadPoolExecutor(max_workers=min(THREADS, len(claimed))) as pool:
        for item, status, error, took in pool.map(send, claimed):
            if error is not None:
                failed_endpoints.add(item.endpoint_id)
            outcome = _record(session_factory, item, status, error, took, now)
            setattr(counts, outcome, getattr(counts, outcome) + 1)
    if failed_endpoints:
        _hold_back(session_factory, failed_endpoints, now)
    return counts


def clock_ms() -> int:
    """A monotonic clock in milliseconds, for how long a POST took."""
    return int(time.monotonic() * 1000)


def _claim(session_factory: sessionmaker[Session], pepper: bytes,
           now: datetime) -> list[_Claimed]:
    with session_factory() as session:
        query = (select(m.WebhookDelivery)
                 .where(m.WebhookDelivery.status == "pending",
                        m.WebhookDelivery.next_attempt_at <= now,
                        or_(m.WebhookDelivery.lease_until.is_(None),
                            m.WebhookDelivery.lease_until <= now))
                 .order_by(m.WebhookDelivery.next_attempt_at, m.WebhookDelivery.id)
                 .limit(BATCH * 5))
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        per_endpoint: Counter[str] = Counter()
        chosen = []
        for row in session.scalars(query):
            if per_endpoint[row.endpoint_id] < PER_ENDPOINT and len(chosen) < BATCH:
                per_endpoint[row.endpoint_id] += 1
                chosen.append(row)
        claimed = []
        lease = now + LEASE
        for row in chosen:
            endpoint = session.get(m.WebhookEndpoint, row.endpoint_id)
            event = session.get(m.Event, row.event_id)
            if endpoint is None or event is None:
                continue
            row.lease_until = lease
            body = event_body(event)
            stamp = to_unix(now)
            claimed.append(_Claimed(row.id, endpoint.id, event.id, endpoint.url, body, {
                "Content-Type": "application/json", "User-Agent": "Kassa-Webhooks/1",
                SIGNATURE_HEADER: signatures.header(
                    [s.encode() for s in signing_secrets(pepper, endpoint, now)], stamp, body),
                "Kassa-Event-Id": event.id, "Kassa-Delivery-Attempt": str(row.attempts + 1)},
                lease))
        session.commit()
        return claimed


def event_body(event: m.Event) -> bytes:
    """The bytes an endpoint receives for `event`: the same on every attempt."""
    return json.dumps(objects.event(event), separators=(",", ":"), sort_keys=True).encode()


def _record(session_factory: sessionmaker[Session], item: _Claimed, status: int | None,
            error: str | None, took: int, now: datetime) -> str:
    with session_factory() as session:
        row = session.get(m.WebhookDelivery, item.delivery_id, with_for_update=True)
        if row is None or row.lease_until != item.lease or row.status != "pending":
            return "retrying"  # resent or removed meanwhile: the lease is no longer ours
        session.add(m.WebhookAttempt(
            id=new_id("wa"), org_id=row.org_id, endpoint_id=item.endpoint_id,
            delivery_id=item.delivery_id, event_id=item.event_id, status_code=status,
            duration_ms=took, error=error, created=now))
        row.attempts += 1
        row.lease_until = None
        row.last_status_code, row.last_error = status, error
        if error is None:
            row.status, row.delivered_at, row.next_attempt_at = "succeeded", now, None
            outcome = "delivered"
        else:
            delay = retry_delay(row.attempts)
            if delay is None:
                row.status, row.next_attempt_at = "failed", None
                outcome = "failed"
            else:
                row.next_attempt_at = now + delay
                outcome = "retrying"
        session.commit()
        return outcome


def _hold_back(session_factory: sessionmaker[Session], endpoint_ids: set[str],
               now: datetime) -> None:
    """An endpoint that just failed gets nothing more until its first retry is due: its
    waiting deliveries move behind it instead of failing one by one."""
    with session_factory() as session:
        for endpoint_id in endpoint_ids:
            first = session.scalar(select(m.WebhookDelivery.next_attempt_at).where(
                m.WebhookDelivery.endpoint_id == endpoint_id,
                m.WebhookDelivery.status == "pending",
                m.WebhookDelivery.attempts > 0).order_by(
                m.WebhookDelivery.next_attempt_at).limit(1))
            if first is None or first <= now:
                continue
            session.execute(update(m.WebhookDelivery).where(
                m.WebhookDelivery.endpoint_id == endpoint_id,
                m.WebhookDelivery.status == "pending", m.WebhookDelivery.attempts == 0,
                m.WebhookDelivery.next_attempt_at < first).values(next_attempt_at=first))
        session.commit()


# --- resend and the log --------------------------------------------------------------------

def resend(uow: UnitOfWork, org_id: str, event_id: str, *,
           endpoint_id: str | None = None) -> list[m.WebhookDelivery]:
    """Deliver the event again now, to one endpoint or to every enabled endpoint that wants
    it (also one that has it already, or that gave up on it)."""
    event = scoping.get(uow.session, m.Event, org_id, event_id)
    if endpoint_id is not None:
        targets = [scoping.get(uow.session, m.WebhookEndpoint, org_id, endpoint_id,
                               param="webhook_endpoint")]
    else:
        targets = [endpoint for endpoint in uow.session.scalars(select(m.WebhookEndpoint).where(
            m.WebhookEndpoint.org_id == org_id, m.WebhookEndpoint.status == "enabled"))
            if wants(endpoint, event.type)]
    if not targets:
        raise InvalidRequest("No enabled webhook endpoint wants this event.",
                             param="webhook_endpoint")
    now = uow.clock.now()
    done = []
    for endpoint in targets:
        row = uow.session.scalars(select(m.WebhookDelivery).where(
            m.WebhookDelivery.endpoint_id == endpoint.id,
            m.WebhookDelivery.event_id == event.id).with_for_update()).first()
        if row is None:
            row = m.WebhookDelivery(id=new_id("wd"), org_id=org_id, endpoint_id=endpoint.id,
                                    event_id=event.id, attempts=0, created=now)
            uow.session.add(row)
        row.status, row.next_attempt_at, row.lease_until = "pending", now, None
        done.append(row)
    try:
        uow.commit()
    except IntegrityError:  # routed at the same moment: that delivery goes out anyway
        uow.rollback()
    return done


def delivery_object(row: m.WebhookDelivery) -> dict[str, Any]:
    def ts(value: datetime | None) -> int | None:
        return to_unix(value) if value else None

    return {"id": row.id, "object": "webhook_delivery", "webhook_endpoint": row.endpoint_id,
            "event": row.event_id, "status": row.status, "attempts": row.attempts,
            "next_attempt_at": ts(row.next_attempt_at),
            "last_status_code": row.last_status_code, "last_error": row.last_error,
            "created": ts(row.created), "delivered_at": ts(row.delivered_at)}


def attempt_object(row: m.WebhookAttempt) -> dict[str, Any]:
    return {"id": row.id, "object": "webhook_attempt", "webhook_endpoint": row.endpoint_id,
            "delivery": row.delivery_id, "event": row.event_id,
            "status_code": row.status_code, "duration_ms": row.duration_ms,
            "error": row.error, "created": to_unix(row.created)}


def list_attempts(uow: UnitOfWork, org_id: str, endpoint_id: str, **page: Any) -> scoping.Page:
    """The endpoint's delivery log, newest first."""
    scoping.get(uow.session, m.WebhookEndpoint, org_id, endpoint_id)
    query = select(m.WebhookAttempt).where(m.WebhookAttempt.org_id == org_id,
                                           m.WebhookAttempt.endpoint_id == endpoint_id)
    return scoping.paginate(uow.session, query, m.WebhookAttempt, **page)


def list_deliveries(uow: UnitOfWork, org_id: str, *, endpoint_id: str | None = None,
                    event_id: str | None = None, status: str | None = None,
                    **page: Any) -> scoping.Page:
    query = select(m.WebhookDelivery).where(m.WebhookDelivery.org_id == org_id)
    if endpoint_id:
        query = query.where(m.WebhookDelivery.endpoint_id == endpoint_id)
    if event_id:
        query = query.where(m.WebhookDelivery.event_id == event_id)
    if status:
        query = query.where(m.WebhookDelivery.status == status)
    return scoping.paginate(uow.session, query, m.WebhookDelivery, **page)

