"""`POST /v1/billing_portal/sessions`: a short-lived link into the self-service portal for one
customer (as Stripe's billing portal sessions); the portal's pages are in web/portal.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kassa.api.deps import Ctx
from kassa.api.schemas import PortalSessionCreate
from kassa.core import actors
from kassa.services import portal

router = APIRouter(tags=["billing portal"])


@router.post("/billing_portal/sessions")
def create_portal_session(body: PortalSessionCreate, ctx: Ctx) -> dict[str, Any]:
    """A session for `customer`: its `url` works once, for 10 minutes, and opens a portal
    session of an hour for that customer only; `return_url` is the way back to the SaaS.
    The session ends early when the API key that made it is revoked."""
    actor = actors.current.get()
    with ctx.kassa.uow() as uow:
        row, url = portal.create_session(
            uow, ctx.kassa.pepper, ctx.kassa.settings.public_url, ctx.org_id,
            api_key_id=actor.id if actor and actor.type == "api_key" else None,
            **body.fields())
        return portal.session_object(row, url)
