"""The organization's logo: upload (the image as the request body), read back, remove."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from kassa.api import bodies
from kassa.api.deps import Ctx
from kassa.config import Kassa
from kassa.services import logos, objects

router = APIRouter(tags=["organization"])

_IMAGE_BODY = {"requestBody": {"required": True, "content": {
    content_type: {"schema": {"type": "string", "format": "binary"}}
    for content_type in logos.CONTENT_TYPES}}}


def _upload(kassa: Kassa, org_id: str, data: bytes) -> dict[str, Any]:
    with kassa.uow() as uow:
        return objects.organization(logos.upload(uow, kassa.files, org_id, data))


@router.post("/organization/logo", openapi_extra=_IMAGE_BODY)
async def upload_logo(request: Request, ctx: Ctx) -> dict[str, Any]:
    """Upload the logo shown on invoices, credit notes, statements and the hosted page: a
    PNG, JPEG, GIF or WebP image of at most 512 KB, sent as the body with its Content-Type.
    The image is decoded to check it; anything else is refused and nothing changes."""
    data = await bodies.read(
        request, types=logos.CONTENT_TYPES, max_bytes=logos.MAX_BYTES, param="logo",
        wrong_type="Send the logo as the body with Content-Type image/png, image/jpeg, "
                   "image/gif or image/webp.",
        too_large=f"The logo is larger than {logos.MAX_BYTES // 1024} KB.")
    return await run_in_threadpool(_upload, ctx.kassa, ctx.org_id, data)


@router.get("/organization/logo", response_class=Response,
            responses={200: {"content": {t: {} for t in logos.CONTENT_TYPES}}})
def get_logo(ctx: Ctx) -> Response:
    with ctx.kassa.uow() as uow:
        logo = logos.get(uow, ctx.kassa.files, ctx.org_id)
    return Response(logo.content, media_type=logo.content_type,
                    headers={"X-Content-Type-Options": "nosniff"})


@router.delete("/organization/logo")
def delete_logo(ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.organization(logos.remove(uow, ctx.org_id))
