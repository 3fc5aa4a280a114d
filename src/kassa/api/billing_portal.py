"""`POST /v1/billing_portal/sessions`: a short-lived link into the self-service portal for one
customer (as Stripe's billing portal sessions); the portal's pages are in web/portal.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kassa.api.deps import Ctx
from kassa.api.schemas import PortalSessionCreate
from kassa.core import actors
from kassa.services import portal, portal_settings
from kassa.store import models as m

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


@router.get("/billing_portal/configuration")
def portal_configuration(ctx: Ctx) -> dict[str, Any]:
    """What customers may do in the portal (`portal_settings`, changed with
    `POST /v1/organization`) and the address of its login page when that is on."""
    with ctx.kassa.uow() as uow:
        org = uow.session.get(m.Organization, ctx.org_id)
        assert org is not None
        settings = portal_settings.effective(org.portal_settings)
        url = ctx.kassa.settings.public_url.rstrip("/") + portal.login_path(ctx.kassa.pepper,
                                                                            org.id)
        return {"object": "billing_portal.configuration", **settings,
                "login_page_url": url if settings["login_page"] else None}
