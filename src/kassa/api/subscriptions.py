from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kassa.api.deps import Ctx, Expand, Paging, listing
from kassa.api.schemas import (
    ScheduleCreate,
    SubscriptionCancel,
    SubscriptionCreate,
    SubscriptionPause,
    SubscriptionResume,
    SubscriptionUpdate,
)
from kassa.services import expansion, objects, payments, schedules, scoping, subscriptions
from kassa.store import models as m

router = APIRouter(tags=["subscriptions"])


@router.post("/subscriptions")
def create_subscription(body: SubscriptionCreate, ctx: Ctx) -> dict[str, Any]:
    """Create the subscription; its first invoice, when there is one to collect, is charged
    at once on the customer's default payment method."""
    with ctx.kassa.uow() as uow:
        sub = subscriptions.create_subscription(uow, ctx.org_id, **body.fields())
        created, first_invoice = sub.id, sub.latest_invoice_id
        if first_invoice is None:
            return objects.subscription(sub)
    payments.collect_invoice(ctx.kassa.session_factory, ctx.kassa.clock, ctx.kassa.gateways,
                             first_invoice)
    with ctx.kassa.uow() as uow:
        return objects.subscription(scoping.get(uow.session, m.Subscription, ctx.org_id,
                                                created))


@router.get("/subscriptions")
def list_subscriptions(request: Request, ctx: Ctx, page: Paging, customer: str | None = None,
                       status: str | None = None, expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = subscriptions.list_subscriptions(uow, ctx.org_id, customer=customer,
                                                  status=status, **page.asdict())
        return expansion.expand(uow, ctx.org_id,
                                listing(request, result, objects.subscription), expand)


@router.get("/subscriptions/{subscription_id}")
def get_subscription(subscription_id: str, ctx: Ctx, expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return expansion.expand(uow, ctx.org_id, objects.subscription(scoping.get(
            uow.session, m.Subscription, ctx.org_id, subscription_id)), expand)


@router.post("/subscriptions/{subscription_id}")
def update_subscription(subscription_id: str, body: SubscriptionUpdate,
                        ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.subscription(subscriptions.update_subscription(
            uow, ctx.org_id, subscription_id, **body.fields()))


@router.delete("/subscriptions/{subscription_id}")
def cancel_subscription(subscription_id: str, ctx: Ctx, prorate: bool = False,
                        invoice_now: bool = False) -> dict[str, Any]:
    """Cancel now (Stripe's DELETE); `prorate` credits unused time, `invoice_now` bills it."""
    with ctx.kassa.uow() as uow:
        return objects.subscription(subscriptions.cancel_subscription(
            uow, ctx.org_id, subscription_id, prorate=prorate, invoice_now=invoice_now))


@router.post("/subscriptions/{subscription_id}/cancel")
def cancel_subscription_post(subscription_id: str, body: SubscriptionCancel,
                             ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.subscription(subscriptions.cancel_subscription(
            uow, ctx.org_id, subscription_id, **body.fields()))


@router.post("/subscriptions/{subscription_id}/pause")
def pause_subscription(subscription_id: str, body: SubscriptionPause,
                       ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.subscription(subscriptions.pause_subscription(
            uow, ctx.org_id, subscription_id, **body.fields()))


@router.post("/subscriptions/{subscription_id}/resume")
def resume_subscription(subscription_id: str, body: SubscriptionResume,
                        ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.subscription(subscriptions.resume_subscription(
            uow, ctx.org_id, subscription_id, **body.fields()))


@router.post("/subscription_schedules")
def create_schedule(body: ScheduleCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        schedule = schedules.create_schedule(uow, ctx.org_id, **body.fields())
        return objects.subscription_schedule(*schedules.get_schedule(uow, ctx.org_id,
                                                                     schedule.id))


@router.get("/subscription_schedules")
def list_schedules(request: Request, ctx: Ctx, page: Paging,
                   customer: str | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = schedules.list_schedules(uow, ctx.org_id, customer, **page.asdict())
        return listing(request, result, lambda row: objects.subscription_schedule(
            *schedules.get_schedule(uow, ctx.org_id, row.id)))


@router.get("/subscription_schedules/{schedule_id}")
def get_schedule(schedule_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.subscription_schedule(*schedules.get_schedule(uow, ctx.org_id,
                                                                     schedule_id))
