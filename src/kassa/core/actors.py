"""Who is acting: the API key, operator (dashboard) or portal customer behind the request
being served, with the request's id and address. The API sets it for the whole request;
every event written meanwhile carries it (services/events.py), which is what the audit log
reads. Background work has no actor (None): the system acts."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    type: str  # api_key | operator | portal_customer
    id: str
    request_id: str
    ip: str | None = None

    def asdict(self) -> dict[str, Any]:
        return asdict(self)


current: ContextVar[Actor | None] = ContextVar("kassa_actor", default=None)
