"""Entitlements: features, the products that grant them, and what a customer may use now.

A customer's active entitlements are derived on every request from their subscriptions
(subscription item → price → product → product features), so a plan change takes effect
at once and nothing can go stale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kassa.core.errors import InvalidRequest, InvalidState, NotFound
from kassa.core.ids import new_id
from kassa.domain import entitlements as domain
from kassa.services import events, objects, scoping, validation
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

T = TypeVar("T")



def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("A feature needs a name.", param="name")
    return value.strip()


def _limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequest("limit must be a non-negative integer (omit it for unlimited).",
                             param="limit")
    return value


def _save(uow: UnitOfWork, row: Any, *, param: str, message: str) -> None:
    """Flush `row`; a unique constraint hit (a concurrent twin) becomes a 400 naming `param`."""
    uow.session.add(row)
    try:
        uow.session.flush()
    except IntegrityError:
        uow.rollback()
        raise InvalidRequest(message, param=param, code="resource_already_exists") from None


# --- features -------------------------------------------------------------------------------

def create_feature(uow: UnitOfWork, org_id: str, *, name: str, lookup_key: str,
                   metadata: dict[str, Any] | None = None,
                   limit: int | None = None) -> m.Feature:
    """A feature customers can be entitled to; `lookup_key` is unique in the organization and
    `limit` (optional) caps its use, e.g. "max 5 projects"."""
    name = _name(name)
    if not isinstance(lookup_key, str) or not lookup_key.strip() \
            or lookup_key != lookup_key.strip():
        raise InvalidRequest("lookup_key is a non-empty text without surrounding spaces.",
                             param="lookup_key")
    limit = _limit(limit)
    taken = f"A feature with lookup_key {lookup_key!r} already exists."
    existing = uow.session.scalar(select(m.Feature.id).where(
        m.Feature.org_id == org_id, m.Feature.lookup_key == lookup_key))
    if existing:
        raise InvalidRequest(taken, param="lookup_key", code="resource_already_exists")
    feature = m.Feature(id=new_id("feat"), org_id=org_id, name=name, lookup_key=lookup_key,
                        limit=limit, active=True,
                        metadata_=validation.merge_metadata({}, metadata or {}),
                        created=uow.clock.now())
    _save(uow, feature, param="lookup_key", message=taken)
    events.record(uow.session, org_id, "entitlements.feature.created",
                  objects.entitlement_feature(feature), feature.created)
    uow.commit()
    return feature


def update_feature(uow: UnitOfWork, org_id: str, feature_id: str, *, name: Any = ...,
                   metadata: Any = None, limit: Any = ..., active: Any = None) -> m.Feature:
    """Rename, change metadata or limit (None: unlimited), or archive (`active` false) a
    feature. An archived feature stays on its products but grants nothing."""
    feature = scoping.get(uow.session, m.Feature, org_id, feature_id, lock=True)
    before = objects.entitlement_feature(feature)
    if name is not ...:
        feature.name = _name(name)
    if metadata is not None:
        feature.metadata_ = validation.merge_metadata(feature.metadata_, metadata)
    if limit is not ...:
        feature.limit = _limit(limit)
    if active is not None:
        if not isinstance(active, bool):
            raise InvalidRequest("active is true or false.", param="active")
        feature.active = active
    after = objects.entitlement_feature(feature)
    events.record(uow.session, org_id, "entitlements.feature.updated", after, uow.clock.now(),
                  {k: v for k, v in before.items() if after.get(k) != v})
    uow.commit()
    return feature


def list_features(uow: UnitOfWork, org_id: str, *, lookup_key: str | None = None,
                  archived: bool | None = None, **page: Any) -> scoping.Page:
    query = select(m.Feature).where(m.Feature.org_id == org_id)
    if lookup_key is not None:
        query = query.where(m.Feature.lookup_key == lookup_key)
    if archived is not None:
        query = query.where(m.Feature.active.is_(not archived))
    return scoping.paginate(uow.session, query, m.Feature, **page)


# --- product features -----------------------------------------------------------------------

def attach_feature(uow: UnitOfWork, org_id: str, product_id: str, *,
                   entitlement_feature: str) -> m.ProductFeature:
    """Make a product grant a feature to everyone subscribed to one of its prices."""
    product = scoping.get(uow.session, m.Product, org_id, product_id)
    feature = scoping.get(uow.session, m.Feature, org_id, entitlement_feature,
                          param="entitlement_feature")
    if not feature.active:
        raise InvalidState("An archived feature cannot be attached to a product.",
                           param="entitlement_feature")
    taken = f"Product {product.id} already grants feature {feature.id}."
    existing = uow.session.scalar(select(m.ProductFeature.id).where(
        m.ProductFeature.product_id == product.id, m.ProductFeature.feature_id == feature.id))
    if existing:
        raise InvalidRequest(taken, param="entitlement_feature",
                             code="resource_already_exists")
    attached = m.ProductFeature(id=new_id("prodft"), org_id=org_id, product_id=product.id,
                                feature_id=feature.id, feature=feature,
                                created=uow.clock.now())
    _save(uow, attached, param="entitlement_feature", message=taken)
    uow.commit()
    return attached


def list_product_features(uow: UnitOfWork, org_id: str, product_id: str,
                          **page: Any) -> scoping.Page:
    product = scoping.get(uow.session, m.Product, org_id, product_id)
    query = select(m.ProductFeature).where(m.ProductFeature.org_id == org_id,
                                           m.ProductFeature.product_id == product.id)
    return scoping.paginate(uow.session, query, m.ProductFeature, **page)


def detach_feature(uow: UnitOfWork, org_id: str, product_id: str,
                   product_feature_id: str) -> m.ProductFeature:
    """Stop a product granting a feature; its subscribers lose it at once."""
    product = scoping.get(uow.session, m.Product, org_id, product_id)
    attached = scoping.get(uow.session, m.ProductFeature, org_id, product_feature_id,
                           param="product_feature")
    if attached.product_id != product.id:
        raise NotFound(f"No such product_feature on product {product.id}: "
                       f"'{product_feature_id}'", param="product_feature")
    uow.session.delete(attached)
    uow.commit()
    return attached


# --- active entitlements --------------------------------------------------------------------

def entitlements_of(uow: UnitOfWork, org_id: str, customer_id: str) -> list[domain.Entitlement]:
    """What the customer may use now: the active features of the products of their
    subscriptions that provide service (and whose service dunning has not suspended), each
    with its most generous limit."""
    query = (
        select(m.Feature.id, m.Feature.lookup_key, m.Feature.limit)
        .join(m.ProductFeature, m.ProductFeature.feature_id == m.Feature.id)
        .join(m.Price, m.Price.product_id == m.ProductFeature.product_id)
        .join(m.SubscriptionItem, m.SubscriptionItem.price_id == m.Price.id)
        .join(m.Subscription, m.Subscription.id == m.SubscriptionItem.subscription_id)
        .where(m.Subscription.org_id == org_id, m.Subscription.customer_id == customer_id,
               m.Subscription.status.in_(sorted(domain.GRANTING_STATUSES)),
               m.Subscription.suspended_at.is_(None),
               m.SubscriptionItem.org_id == org_id, m.ProductFeature.org_id == org_id,
               m.Feature.org_id == org_id, m.Feature.active.is_(True)))
    return domain.resolve(domain.Grant(feature_id, lookup_key, limit)
                          for feature_id, lookup_key, limit in uow.session.execute(query))


def list_active_entitlements(uow: UnitOfWork, org_id: str, customer: Any,
                             **page: Any) -> scoping.Page:
    """The customer's active entitlements, a page at a time (cursors are entitlement ids)."""
    found = scoping.get(uow.session, m.Customer, org_id, customer, param="customer")
    rows = entitlements_of(uow, org_id, found.id)
    return _paginate(rows, lambda e: objects.active_entitlement_id(found.id, e.feature_id),
                     **page)


def _paginate(rows: list[T], key: Callable[[T], str], *, limit: int = 10,
              starting_after: str | None = None, ending_before: str | None = None,
              created: dict[str, int] | None = None) -> scoping.Page:
    """`scoping.paginate` over rows computed in memory: newest first, Stripe's cursors (no
    `created` filter: active entitlements are derived now, not created)."""
    if created:
        op = next(iter(created))
        raise InvalidRequest("Active entitlements cannot be filtered by created.",
                             param=f"created[{op}]")
    if not 1 <= limit <= scoping.MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {scoping.MAX_PAGE}.", param="limit")
    if starting_after and ending_before:
        raise InvalidRequest("Give starting_after or ending_before, not both.",
                             param="ending_before")
    ordered = sorted(rows, key=key, reverse=True)
    if ending_before:
        newer = [row for row in ordered if key(row) > ending_before]
        return scoping.Page(newer[-limit:], len(newer) > limit)
    if starting_after:
        ordered = [row for row in ordered if key(row) < starting_after]
    return scoping.Page(ordered[:limit], len(ordered) > limit)
