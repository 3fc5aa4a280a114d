from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kassa.api.deps import Ctx, Expand, Paging, listing
from kassa.api.schemas import PriceCreate, ProductCreate
from kassa.services import catalog, expansion, objects, scoping
from kassa.store import models as m

router = APIRouter(tags=["catalog"])


@router.post("/products")
def create_product(body: ProductCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.product(catalog.create_product(uow, ctx.org_id, **body.fields()))


@router.get("/products")
def list_products(request: Request, ctx: Ctx, page: Paging) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return listing(request, catalog.list_products(uow, ctx.org_id, **page.asdict()),
                       objects.product)


@router.get("/products/{product_id}")
def get_product(product_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.product(scoping.get(uow.session, m.Product, ctx.org_id, product_id))


@router.post("/prices")
def create_price(body: PriceCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.price(catalog.create_price(uow, ctx.org_id, **body.fields()))


@router.get("/prices")
def list_prices(request: Request, ctx: Ctx, page: Paging, product: str | None = None,
                active: bool | None = None, expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = catalog.list_prices(uow, ctx.org_id, product=product, active=active,
                                     **page.asdict())
        return expansion.expand(uow, ctx.org_id, listing(request, result, objects.price),
                                expand)


@router.get("/prices/{price_id}")
def get_price(price_id: str, ctx: Ctx, expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return expansion.expand(uow, ctx.org_id, objects.price(
            scoping.get(uow.session, m.Price, ctx.org_id, price_id)), expand)
