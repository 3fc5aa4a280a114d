from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import FeatureCreate, FeatureUpdate, ProductFeatureCreate
from kassa.services import entitlements, objects, scoping
from kassa.store import models as m

router = APIRouter(tags=["entitlements"])


@router.post("/entitlements/features")
def create_feature(body: FeatureCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.entitlement_feature(entitlements.create_feature(uow, ctx.org_id,
                                                                       **body.fields()))


@router.get("/entitlements/features")
def list_features(request: Request, ctx: Ctx, page: Paging, lookup_key: str | None = None,
                  archived: bool | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = entitlements.list_features(uow, ctx.org_id, lookup_key=lookup_key,
                                            archived=archived, **page.asdict())
        return listing(request, result, objects.entitlement_feature)


@router.get("/entitlements/features/{feature_id}")
def get_feature(feature_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.entitlement_feature(scoping.get(uow.session, m.Feature, ctx.org_id,
                                                       feature_id))


@router.post("/entitlements/features/{feature_id}")
def update_feature(feature_id: str, body: FeatureUpdate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.entitlement_feature(entitlements.update_feature(
            uow, ctx.org_id, feature_id, **body.fields()))


@router.post("/products/{product_id}/features")
def attach_feature(product_id: str, body: ProductFeatureCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.product_feature(entitlements.attach_feature(
            uow, ctx.org_id, product_id, **body.fields()))


@router.get("/products/{product_id}/features")
def list_product_features(request: Request, product_id: str, ctx: Ctx,
                          page: Paging) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = entitlements.list_product_features(uow, ctx.org_id, product_id,
                                                    **page.asdict())
        return listing(request, result, objects.product_feature)


@router.delete("/products/{product_id}/features/{product_feature_id}")
def detach_feature(product_id: str, product_feature_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.deleted_product_feature(entitlements.detach_feature(
            uow, ctx.org_id, product_id, product_feature_id))


@router.get("/entitlements/active_entitlements")
def list_active_entitlements(request: Request, ctx: Ctx, page: Paging,
                             customer: str) -> dict[str, Any]:
    """The features the customer may use now, derived live from their subscriptions."""
    with ctx.kassa.uow() as uow:
        result = entitlements.list_active_entitlements(uow, ctx.org_id, customer,
                                                       **page.asdict())
        return listing(request, result, partial(objects.active_entitlement, customer))
