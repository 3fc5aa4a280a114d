from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import Empty
from kassa.services import emails

router = APIRouter(tags=["email_messages"])


@router.get("/email_messages")
def list_email_messages(request: Request, ctx: Ctx, page: Paging,
                        status: Literal["pending", "sent", "failed"] | None = None,
                        customer: str | None = None,
                        kind: str | None = None) -> dict[str, Any]:
    """The e-mail outbox, newest first, bodies included."""
    with ctx.kassa.uow() as uow:
        result = emails.list_messages(uow, ctx.org_id, status=status, customer=customer,
                                      kind=kind, **page.asdict())
        return listing(request, result, emails.to_object)


@router.get("/email_messages/{message_id}")
def get_email_message(message_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return emails.to_object(emails.get_message(uow, ctx.org_id, message_id))


@router.post("/email_messages/{message_id}/retry")
def retry_email_message(message_id: str, ctx: Ctx, body: Empty | None = None) -> dict[str, Any]:
    """A failed message is pending again and sent on the next delivery run."""
    with ctx.kassa.uow() as uow:
        return emails.to_object(emails.retry(uow, ctx.org_id, message_id))


@router.get("/invoices/{invoice_id}/email_preview")
def preview_invoice_email(invoice_id: str, ctx: Ctx,
                          locale: Annotated[str, Query(max_length=16)] | None = None
                          ) -> dict[str, Any]:
    """What the invoice's e-mail would say (subject, text, HTML, attachments); sends nothing."""
    with ctx.kassa.uow() as uow:
        return emails.preview_invoice_email(uow, ctx.org_id, invoice_id, locale=locale,
                                            public_url=ctx.kassa.settings.public_url)
