from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import CouponCreate, PromotionCodeCreate
from kassa.services import discounts, objects, scoping
from kassa.store import models as m

router = APIRouter(tags=["coupons"])


@router.post("/coupons")
def create_coupon(body: CouponCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.coupon(discounts.create_coupon(uow, ctx.org_id, **body.fields()))


@router.get("/coupons")
def list_coupons(request: Request, ctx: Ctx, page: Paging) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        query = select(m.Coupon).where(m.Coupon.org_id == ctx.org_id)
        return listing(request, scoping.paginate(uow.session, query, m.Coupon,
                                                 **page.asdict()), objects.coupon)


@router.get("/coupons/{coupon_id}")
def get_coupon(coupon_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.coupon(scoping.get(uow.session, m.Coupon, ctx.org_id, coupon_id))


@router.post("/promotion_codes")
def create_promotion_code(body: PromotionCodeCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.promotion_code(discounts.create_promotion_code(uow, ctx.org_id,
                                                                      **body.fields()))


@router.get("/promotion_codes")
def list_promotion_codes(request: Request, ctx: Ctx, page: Paging,
                         code: str | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        query = select(m.PromotionCode).where(m.PromotionCode.org_id == ctx.org_id)
        if code:
            query = query.where(m.PromotionCode.code == code)
        return listing(request, scoping.paginate(uow.session, query, m.PromotionCode,
                                                 **page.asdict()), objects.promotion_code)


@router.get("/promotion_codes/{promotion_code_id}")
def get_promotion_code(promotion_code_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.promotion_code(scoping.get(uow.session, m.PromotionCode, ctx.org_id,
                                                  promotion_code_id))


@router.get("/customers/{customer_id}/discounts")
def list_customer_discounts(customer_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        scoping.get(uow.session, m.Customer, ctx.org_id, customer_id)
        rows = uow.session.scalars(select(m.Discount).where(
            m.Discount.org_id == ctx.org_id, m.Discount.customer_id == customer_id)
            .order_by(m.Discount.id.desc()))
        return {"object": "list", "has_more": False,
                "data": [objects.discount(d) for d in rows]}
