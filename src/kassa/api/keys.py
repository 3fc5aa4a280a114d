"""API keys: `/v1/api_keys` (create with a scope, list, roll with an overlap, revoke). Only a
full secret key manages keys (services/api_keys.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import ApiKeyCreate, ApiKeyRoll
from kassa.services import api_keys

router = APIRouter(tags=["api keys"])


@router.post("/api_keys")
def create_api_key(body: ApiKeyCreate, ctx: Ctx) -> dict[str, Any]:
    """A secret key with `scope` "full" (default), "read_only" or `{"restricted":
    {"customers": "write", "invoices": "read"}}`, or a `publishable` key; the answer has its
    `secret`, shown this once."""
    with ctx.kassa.uow() as uow:
        row, secret = api_keys.create_key(uow, ctx.kassa.pepper, ctx.org_id, **body.fields())
        return {**api_keys.key_object(row), "secret": secret}


@router.get("/api_keys")
def list_api_keys(request: Request, ctx: Ctx, page: Paging) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return listing(request, api_keys.list_keys(uow, ctx.org_id, **page.asdict()),
                       api_keys.key_object)


@router.post("/api_keys/{key_id}/roll")
def roll_api_key(key_id: str, ctx: Ctx, body: ApiKeyRoll | None = None) -> dict[str, Any]:
    """A new key with the same scope (its `secret` in the answer); the old one keeps working
    for `expires_in` seconds (default 86400, at most 7 days; 0: ends now)."""
    with ctx.kassa.uow() as uow:
        row, secret = api_keys.roll_key(uow, ctx.kassa.pepper, ctx.org_id, key_id,
                                        expires_in=body.expires_in if body else None)
        return {**api_keys.key_object(row), "secret": secret}


@router.delete("/api_keys/{key_id}")
def revoke_api_key(key_id: str, ctx: Ctx) -> dict[str, Any]:
    """The key stops working now."""
    with ctx.kassa.uow() as uow:
        return api_keys.key_object(api_keys.revoke_key(uow, ctx.org_id, key_id))
