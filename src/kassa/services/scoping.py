"""Loading rows sealed to one organization, and cursor pagination over them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kassa.core.clock import from_unix
from kassa.core.errors import InvalidRequest, NotFound

T = TypeVar("T")

MAX_PAGE = 100


def get(session: Session, model: type[T], org_id: str, object_id: Any, *,
        param: str = "id", lock: bool = False) -> T:
    """The row `object_id` of `model` in organization `org_id`, or NotFound naming `param`.

    A row of another organization is reported exactly like a missing one.
    """
    table: str = model.__tablename__  # type: ignore[attr-defined]
    name = table[:-3] + "y" if table.endswith("ies") else table.rstrip("s")
    if not isinstance(object_id, str) or not object_id or "\x00" in object_id:
        raise NotFound(f"No such {name}: {object_id!r}", param=param)
    query = select(model).where(model.id == object_id, model.org_id == org_id)  # type: ignore[attr-defined]
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise NotFound(f"No such {name}: '{object_id}'", param=param)
    return row


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    has_more: bool


_CREATED = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}


def paginate(session: Session, query: Select[Any], model: Any, *, limit: int = 10,
             starting_after: str | None = None, ending_before: str | None = None,
             created: Mapping[str, int] | None = None) -> Page:
    """Newest first, by id (ids sort by creation). Cursors as Stripe's: `starting_after`;
    `created` bounds the creation time ({"gte": unix, "lt": unix...})."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}.", param="limit")
    for op, stamp in (created or {}).items():
        if op not in _CREATED or not hasattr(model, "created"):
            raise InvalidRequest(f"This list cannot be filtered by created[{op}].",
                                 param=f"created[{op}]")
        query = query.where(getattr(model.created, _CREATED[op])(from_unix(stamp)))
    if starting_after and ending_before:
        raise InvalidRequest("Give starting_after or ending_before, not both.",
                             param="ending_before")
    # Ids sort by creation only in plain byte order; PostgreSQL's default collation may not
    # be that, so the cursor column is compared in the "C" collation there.
    key = model.id.collate("C") if session.get_bind().dialect.name == "postgresql" \
        else model.id
    if ending_before:
        rows = list(session.scalars(query.where(key > ending_before)
                                    .order_by(key.asc()).limit(limit + 1)))
        has_more = len(rows) > limit
        return Page(list(reversed(rows[:limit])), has_more)
    if starting_after:
        query = query.where(key < starting_after)
    rows = list(session.scalars(query.order_by(key.desc()).limit(limit + 1)))
    return Page(rows[:limit], len(rows) > limit)
