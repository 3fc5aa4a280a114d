"""The audit log: one entry per mutation made through the API (who, from where, which
request, and what changed). The changes are read from the events the request wrote, which
carry the actor in the same transaction as the change itself (services/events.py); the entry
adds the request's method, path, status and address once it has been answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kassa.core.actors import Actor
from kassa.core.clock import to_unix
from kassa.core.ids import new_id
from kassa.services import scoping
from kassa.store import models as m
from kassa.store.uow import UnitOfWork


def record(session: Session, org_id: str, actor: Actor, *, method: str, path: str,
           status_code: int, object_id: str | None, now: datetime) -> m.AuditEntry | None:
    """Write the entry of a request that changed something (None when it was written
    before: one entry per request)."""
    entry = add(session, org_id, actor, method=method, path=path, status_code=status_code,
                object_id=object_id, now=now)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return entry


def add(session: Session, org_id: str, actor: Actor, *, method: str, path: str,
        status_code: int, object_id: str | None, now: datetime) -> m.AuditEntry:
    """The entry of a request that changed something, added to the session's transaction
    (the caller commits it with whatever else the request's answer writes)."""
    rows = list(session.scalars(select(m.Event).where(
        m.Event.org_id == org_id, m.Event.request_id == actor.request_id).order_by(m.Event.id)))
    entry = m.AuditEntry(
        id=new_id("aud"), org_id=org_id, request_id=actor.request_id, actor_type=actor.type,
        actor_id=actor.id, ip=actor.ip, method=method, path=path[:500],
        status_code=status_code, object_id=object_id, changes=[_change(e) for e in rows],
        created=now)
    session.add(entry)
    return entry


def _change(event: m.Event) -> dict[str, Any]:
    """What one event says changed: every field named in `previous_attributes`, before and
    after; a created or deleted object is named without fields."""
    obj = event.data.get("object") or {}
    previous = event.data.get("previous_attributes") or {}
    return {"event": event.id, "type": event.type, "object": event.object_id,
            "object_type": obj.get("object"),
            "changes": {name: {"before": value, "after": obj.get(name)}
                        for name, value in previous.items()}}


def list_entries(uow: UnitOfWork, org_id: str, *, object_id: str | None = None,
                 actor: str | None = None, **page: Any) -> scoping.Page:
    query = select(m.AuditEntry).where(m.AuditEntry.org_id == org_id)
    if object_id:
        query = query.where(m.AuditEntry.object_id == object_id)
    if actor:
        query = query.where(m.AuditEntry.actor_id == actor)
    return scoping.paginate(uow.session, query, m.AuditEntry, **page)


def entry_object(entry: m.AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "object": "audit_entry",
            "actor": {"type": entry.actor_type, "id": entry.actor_id},
            "request": {"id": entry.request_id, "method": entry.method, "path": entry.path,
                        "status": entry.status_code, "ip": entry.ip},
            "resource": entry.object_id, "changes": entry.changes,
            "created": to_unix(entry.created)}
