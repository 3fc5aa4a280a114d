"""Webhook endpoints (`/v1/webhook_endpoints`), their delivery log, and resending an event
(`POST /v1/events/{id}/resend`). Kassa POSTs each event signed with `Kassa-Signature`; see
services/webhooks.py and the README for verifying it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import (
    EventResend,
    SecretRotation,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
)
from kassa.services import scoping, webhooks
from kassa.store import models as m

router = APIRouter(tags=["webhooks"])


@router.post("/webhook_endpoints")
def create_webhook_endpoint(body: WebhookEndpointCreate, ctx: Ctx) -> dict[str, Any]:
    """An endpoint for `enabled_events` (event types, `invoice.*`, or `*`); the answer
    carries its signing `secret` (whsec_...), shown this once."""
    with ctx.kassa.uow() as uow:
        endpoint = webhooks.create_endpoint(
            uow, ctx.org_id, allow_private=ctx.kassa.settings.allows_private_urls,
            **body.fields())
        return webhooks.endpoint_object(endpoint, webhooks.secret_of(
            ctx.kassa.pepper, endpoint.id, endpoint.secret_version))


@router.get("/webhook_endpoints")
def list_webhook_endpoints(request: Request, ctx: Ctx, page: Paging) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = webhooks.list_endpoints(uow, ctx.org_id, **page.asdict())
        return listing(request, result, webhooks.endpoint_object)


@router.get("/webhook_endpoints/{endpoint_id}")
def get_webhook_endpoint(endpoint_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return webhooks.endpoint_object(scoping.get(uow.session, m.WebhookEndpoint,
                                                    ctx.org_id, endpoint_id))


@router.post("/webhook_endpoints/{endpoint_id}")
def update_webhook_endpoint(endpoint_id: str, body: WebhookEndpointUpdate,
                            ctx: Ctx) -> dict[str, Any]:
    """Change the URL, the events, the description or metadata; `disabled: true` stops
    deliveries to it (what is pending waits)."""
    with ctx.kassa.uow() as uow:
        return webhooks.endpoint_object(webhooks.update_endpoint(
            uow, ctx.org_id, endpoint_id, allow_private=ctx.kassa.settings.allows_private_urls,
            **body.fields()))


@router.delete("/webhook_endpoints/{endpoint_id}")
def delete_webhook_endpoint(endpoint_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return webhooks.delete_endpoint(uow, ctx.org_id, endpoint_id)


@router.post("/webhook_endpoints/{endpoint_id}/rotate_secret")
def rotate_webhook_secret(endpoint_id: str, ctx: Ctx,
                          body: SecretRotation | None = None) -> dict[str, Any]:
    """A new signing secret (in the answer, this once). The previous one keeps signing
    alongside it, as a second `v1`, for `expires_in` seconds (default 86400, at most 7 days;
    0: at once no more)."""
    with ctx.kassa.uow() as uow:
        endpoint, secret = webhooks.rotate_secret(
            uow, ctx.kassa.pepper, ctx.org_id, endpoint_id,
            overlap_seconds=body.expires_in if body else None)
        return webhooks.endpoint_object(endpoint, secret)


@router.get("/webhook_endpoints/{endpoint_id}/attempts")
def list_webhook_attempts(endpoint_id: str, request: Request, ctx: Ctx,
                          page: Paging) -> dict[str, Any]:
    """The endpoint's delivery log: every POST, its status code and how long it took."""
    with ctx.kassa.uow() as uow:
        result = webhooks.list_attempts(uow, ctx.org_id, endpoint_id, **page.asdict())
        return listing(request, result, webhooks.attempt_object)


@router.get("/webhook_deliveries")
def list_webhook_deliveries(request: Request, ctx: Ctx, page: Paging,
                            webhook_endpoint: str | None = None, event: str | None = None,
                            status: str | None = None) -> dict[str, Any]:
    """Each event's way to each endpoint: pending, succeeded or failed, with its attempts."""
    with ctx.kassa.uow() as uow:
        result = webhooks.list_deliveries(uow, ctx.org_id, endpoint_id=webhook_endpoint,
                                          event_id=event, status=status, **page.asdict())
        return listing(request, result, webhooks.delivery_object)


@router.post("/events/{event_id}/resend", tags=["events"])
def resend_event(event_id: str, ctx: Ctx, body: EventResend | None = None) -> dict[str, Any]:
    """Deliver the event again now: to `webhook_endpoint`, or to every enabled endpoint
    that wants it."""
    with ctx.kassa.uow() as uow:
        rows = webhooks.resend(uow, ctx.org_id, event_id,
                               endpoint_id=body.webhook_endpoint if body else None)
        return {"object": "list", "url": f"/v1/events/{event_id}/resend", "has_more": False,
                "data": [webhooks.delivery_object(row) for row in rows]}
