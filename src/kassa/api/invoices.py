from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import Empty, InvoiceCreate, InvoiceItemCreate, InvoicePay
from kassa.services import billing, invoices, objects, scoping
from kassa.store import models as m

router = APIRouter(tags=["invoices"])


@router.post("/invoiceitems")
def create_invoice_item(body: InvoiceItemCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.invoice_item(invoices.create_invoice_item(uow, ctx.org_id,
                                                                 **body.fields()))


@router.get("/invoiceitems")
def list_invoice_items(request: Request, ctx: Ctx, page: Paging,
                       customer: str | None = None, pending: bool | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        query = select(m.InvoiceItem).where(m.InvoiceItem.org_id == ctx.org_id)
        if customer:
            query = query.where(m.InvoiceItem.customer_id == customer)
        if pending is not None:
            query = query.where(m.InvoiceItem.invoice_id.is_(None) if pending
                                else m.InvoiceItem.invoice_id.is_not(None))
        result = scoping.paginate(uow.session, query, m.InvoiceItem, **page.asdict())
        return listing(request, result, objects.invoice_item)


@router.post("/invoices")
def create_invoice(body: InvoiceCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.invoice(invoices.create_invoice(uow, ctx.org_id, **body.fields()))


@router.get("/invoices")
def list_invoices(request: Request, ctx: Ctx, page: Paging, customer: str | None = None,
                  subscription: str | None = None, status: str | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = invoices.list_invoices(uow, ctx.org_id, customer=customer,
                                        subscription=subscription, status=status,
                                        **page.asdict())
        return listing(request, result, objects.invoice)


@router.get("/invoices/upcoming")
def upcoming_invoice(ctx: Ctx, customer: str, subscription: str | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return billing.upcoming_invoice(uow, ctx.org_id, customer, subscription)


@router.get("/invoices/{invoice_id}")
def get_invoice(invoice_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.invoice(scoping.get(uow.session, m.Invoice, ctx.org_id, invoice_id))


@router.delete("/invoices/{invoice_id}")
def delete_invoice(invoice_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        invoices.delete_draft(uow, ctx.org_id, invoice_id)
        return {"id": invoice_id, "object": "invoice", "deleted": True}


@router.post("/invoices/{invoice_id}/finalize")
def finalize_invoice(invoice_id: str, ctx: Ctx, body: Empty | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.invoice(invoices.finalize_invoice(uow, ctx.org_id, invoice_id))


@router.post("/invoices/{invoice_id}/pay")
def pay_invoice(invoice_id: str, ctx: Ctx, body: InvoicePay | None = None) -> dict[str, Any]:
    params = body.fields() if body else {}
    with ctx.kassa.uow() as uow:
        return objects.invoice(invoices.pay_invoice(uow, ctx.org_id, invoice_id, **params))


@router.post("/invoices/{invoice_id}/void")
def void_invoice(invoice_id: str, ctx: Ctx, body: Empty | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.invoice(invoices.void_invoice(uow, ctx.org_id, invoice_id))


@router.post("/invoices/{invoice_id}/mark_uncollectible")
def mark_uncollectible(invoice_id: str, ctx: Ctx, body: Empty | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.invoice(invoices.mark_uncollectible(uow, ctx.org_id, invoice_id))
