from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from kassa.api.deps import Ctx, Expand, Paging, listing
from kassa.api.schemas import CreditNoteCreate, Empty
from kassa.services import credit_notes, einvoices, expansion, objects

router = APIRouter(tags=["credit_notes"])


@router.post("/credit_notes")
def create_credit_note(body: CreditNoteCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.credit_note(credit_notes.create_credit_note(uow, ctx.org_id,
                                                                   **body.fields()))


@router.post("/credit_notes/preview")
def preview_credit_note(body: CreditNoteCreate, ctx: Ctx) -> dict[str, Any]:
    """The credit note the same body would create (`id` and `number` null); writes nothing."""
    with ctx.kassa.uow() as uow:
        return objects.credit_note(credit_notes.preview_credit_note(uow, ctx.org_id,
                                                                    **body.fields()))


@router.get("/credit_notes")
def list_credit_notes(request: Request, ctx: Ctx, page: Paging, invoice: str | None = None,
                      customer: str | None = None, expand: Expand = None) -> dict[str, Any]:
    """Credit notes, newest first. Filtered by `invoice`, the list also carries the invoice's
    `pre_payment_credit_notes_amount` and `post_payment_credit_notes_amount`."""
    with ctx.kassa.uow() as uow:
        result = credit_notes.list_credit_notes(uow, ctx.org_id, invoice=invoice,
                                                customer=customer, **page.asdict())
        body = listing(request, result, objects.credit_note)
        if invoice:
            body.update(credit_notes.credited_amounts(uow, ctx.org_id, invoice))
        return expansion.expand(uow, ctx.org_id, body, expand)


@router.get("/credit_notes/{credit_note_id}")
def get_credit_note(credit_note_id: str, ctx: Ctx, expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return expansion.expand(uow, ctx.org_id, objects.credit_note(
            credit_notes.get_credit_note(uow, ctx.org_id, credit_note_id)), expand)


@router.post("/credit_notes/{credit_note_id}/void")
def void_credit_note(credit_note_id: str, ctx: Ctx, body: Empty | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.credit_note(credit_notes.void_credit_note(uow, ctx.org_id,
                                                                 credit_note_id))


@router.get("/credit_notes/{credit_note_id}/ubl", response_class=Response,
            responses={200: {"content": {"application/xml": {}}}})
def credit_note_ubl(credit_note_id: str, ctx: Ctx) -> Response:
    """The credit note as a Peppol BIS Billing 3.0 UBL e-invoice (CreditNote)."""
    with ctx.kassa.uow() as uow:
        return Response(einvoices.credit_note_ubl(uow, ctx.org_id, credit_note_id),
                        media_type="application/xml")
