"""Building and reading model objects a column at a time, without the ORM's per-attribute
events and descriptors: for the billing run, which builds and reads a few objects per
invoice (services/prefetch.py, services/objects.py)."""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from sqlalchemy import Column, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import NO_VALUE, instance_state
from sqlalchemy.orm.state import InstanceState

from kassa.store.models import Base

M = TypeVar("M", bound=Base)


@cache
def column_attrs(model: type[Base]) -> list[tuple[str, Column[Any]]]:
    """A model's attribute names and their columns."""
    return [(attr.key, attr.columns[0]) for attr in inspect(model).column_attrs]


@cache
def column_names(model: type[Base]) -> dict[str, str]:
    """A model's attribute names and the names of their columns."""
    return {key: column.name for key, column in column_attrs(model)}


@cache
def _identity_class(model: type[Base]) -> type[Base]:
    return cast(type[Base], inspect(model)._identity_class)


def held(session: Session, model: type[M], ident: Any) -> M | None:
    """`session.get(model, ident)` at a tenth of its cost when the session holds the object:
    read straight from its identity map. One that is expired (it may be gone since) goes
    through `Session.get`, as does one the session does not hold."""
    obj = session.identity_map.get((_identity_class(model), (ident,), None))
    if obj is not None and isinstance(obj, model) and not instance_state(obj).expired:
        return obj
    return session.get(model, ident)


def built(model: type[M], values: dict[str, Any]) -> M:
    """A new instance of `model` with these column values, in the state its constructor
    leaves it in (each value recorded as set on a new object, so a flush inserts it and the
    ledger sees what was set), at a tenth of the constructor's cost, which sets them one by
    one through the ORM's events."""
    _check_columns(model, values)
    obj: M = inspect(model).class_manager.new_instance()
    obj.__dict__.update(values)
    state = instance_state(obj)
    state.committed_state.update(dict.fromkeys(values, NO_VALUE))
    state.modified = True
    return obj


def _check_columns(model: type[Base], values: dict[str, Any]) -> None:
    names = column_names(model)
    if not values.keys() <= names.keys():  # a subset test makes no set, unlike a difference
        unknown = values.keys() - names.keys()
        raise TypeError(f"{model.__name__} has no column {', '.join(sorted(unknown))}")


@cache
def _plain_columns(model: type[Base]) -> frozenset[str]:
    """The model's column attributes whose setting fires nothing but the change record (no
    listener, no history loaded first)."""
    manager = inspect(model).class_manager
    return frozenset(key for key, _ in column_attrs(model)
                     if manager[key].impl.send_modified_events
                     and not manager[key].impl.dispatch._active_history
                     and not manager[key].impl.dispatch.set)


def assign(obj: Base, **values: Any) -> None:
    """Set `obj`'s attributes to `values`, as setting them one by one does. A new object in
    no session (a billing batch's fresh invoices and their lines) takes them straight into
    its state, each recorded as changed as the ORM's set records it, at a fraction of the
    cost of its per-attribute events; any other object gets them through the ORM."""
    _check_columns(type(obj), values)
    state = instance_state(obj)
    if state.key is not None or state.session_id is not None or state._last_known_values \
            or not values.keys() <= _plain_columns(type(obj)):
        for key, value in values.items():
            setattr(obj, key, value)
        return
    current, committed = obj.__dict__, state.committed_state
    for key in values:
        if key not in committed:
            committed[key] = current.get(key, NO_VALUE)
    current.update(values)
    state.modified = True


def changes(obj: Base) -> dict[str, Any] | None:
    """The columns of a loaded `obj` set since it was loaded or last flushed, with their
    values now (by column name; empty if none), or None where an UPDATE of its columns
    would not write all of them: it is not persistent, or a relationship or an expired
    attribute changed."""
    state = instance_state(obj)
    if state.key is None or state.deleted or state.detached or state.expired_attributes:
        return None
    names = column_names(type(obj))
    if not state.committed_state.keys() <= names.keys():
        return None
    values = obj.__dict__
    return {names[key]: values[key] for key in state.committed_state}


def mark_written(objs: list[Base]) -> None:
    """Record that the changes of `objs` (`changes`) are in the database, as a flush that
    wrote them would: they are clean in their session."""
    if objs:
        session = instance_state(objs[0]).session
        InstanceState._commit_all_states(  # what a flush does after its UPDATEs
            ((instance_state(obj), obj.__dict__) for obj in objs),
            session.identity_map if session is not None else None)


def snapshot(obj: M) -> M:
    """`obj`'s column values as plain attributes, to read many of: a snapshot of its state
    when every column is in it (a new object, or a loaded one not expired), else `obj`
    itself. The ORM's attribute descriptor costs a few tenths of a microsecond per read."""
    names = column_names(type(obj))
    values = obj.__dict__
    state = instance_state(obj)
    if state.key is not None and (state.expired_attributes
                                  or not names.keys() <= values.keys()):
        return obj
    view = SimpleNamespace(**dict.fromkeys(names))  # a new object's unset columns read None
    view.__dict__.update(values)
    return cast(M, view)
