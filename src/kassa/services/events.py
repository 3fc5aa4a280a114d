"""The outbox: events are written in the same transaction as the change they describe."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kassa.core import actors
from kassa.core.ids import new_id
from kassa.services import prefetch
from kassa.store import models as m


def record(session: Session, org_id: str, type_: str, obj: dict[str, Any], at: datetime,
           previous_attributes: dict[str, Any] | None = None) -> None:
    """Add an event for `obj` to the outbox of `org_id`; it commits with the caller's change,
    and names who acted (the request's actor, core/actors.py; None for background work)."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes:
        data["previous_attributes"] = previous_attributes
    actor = actors.current.get()
    values = dict(id=new_id("evt"), org_id=org_id, type=type_, object_id=obj["id"], data=data,
                  created=at, request_id=actor.request_id if actor else None,
                  actor=actor.asdict() if actor else None)
    batch = prefetch.of(session)
    if batch is not None:
        batch.insert(m.Event, values)  # a billing batch writes its events in bulk
    else:
        session.add(m.Event(**values))
