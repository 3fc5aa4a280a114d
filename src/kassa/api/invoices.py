from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import bindparam, select

from kassa.api.deps import Context, Ctx, Expand, Paging, listing
from kassa.api.schemas import Empty, InvoiceCreate, InvoiceItemCreate, InvoicePay
from kassa.config import Kassa
from kassa.core.clock import MAX_TIMESTAMP
from kassa.core.errors import InvalidRequest
from kassa.services import (
    billing,
    einvoices,
    expansion,
    invoices,
    objects,
    payments,
    scoping,
    subscription_changes,
)
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
                  subscription: str | None = None, status: str | None = None,
                  expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = invoices.list_invoices(uow, ctx.org_id, customer=customer,
                                        subscription=subscription, status=status,
                                        **page.asdict())
        return expansion.expand(uow, ctx.org_id, listing(request, result, objects.invoice),
                                expand)


_ITEM_PARAM = re.compile(r"subscription_items\[(\d{1,2})\]\[(id|price|quantity|deleted)\]")


def _proposed_items(request: Request) -> list[dict[str, Any]] | None:
    """`subscription_items[N][id|price|quantity|deleted]` query parameters, as Stripe's."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in request.query_params.multi_items():
        match = _ITEM_PARAM.fullmatch(key)
        if match is None:
            if key.startswith("subscription_items"):
                raise InvalidRequest("Give items as subscription_items[N][id|price|quantity|"
                                     "deleted].", param=key[:60])
            continue
        index, field = int(match[1]), match[2]
        if index >= 20 or len(value) > 40:
            raise InvalidRequest("At most 20 items, with short ids.", param=key)
        if field == "quantity":
            if not value.isdigit() or int(value) > 10**6:
                raise InvalidRequest("quantity must be a whole number up to 1000000.",
                                     param=key)
            found.setdefault(index, {})[field] = int(value)
        elif field == "deleted":
            if value not in ("true", "false"):
                raise InvalidRequest("deleted is true or false.", param=key)
            found.setdefault(index, {})[field] = value == "true"
        else:
            found.setdefault(index, {})[field] = value
    if not found:
        return None
    if sorted(found) != list(range(len(found))):
        raise InvalidRequest("subscription_items are numbered from 0 without gaps.",
                             param="subscription_items")
    return [found[i] for i in range(len(found))]


@router.get("/invoices/upcoming")
def upcoming_invoice(request: Request, ctx: Ctx, customer: str,
                     subscription: str | None = None,
                     subscription_proration_date: Annotated[
                         int, Query(ge=0, le=MAX_TIMESTAMP)] | None = None,
                     subscription_proration_behavior: Literal[
                         "create_prorations", "always_invoice", "none"] = "create_prorations",
                     subscription_billing_cycle_anchor: Literal["now", "unchanged"] | None = None,
                     ) -> dict[str, Any]:
    """The customer's next invoice; with `subscription_items` (and a proration date or
    behavior), the invoice a proposed change of `subscription` would produce."""
    items = _proposed_items(request)
    proposing = items is not None or subscription_proration_date is not None or \
        subscription_billing_cycle_anchor == "now"
    with ctx.kassa.uow() as uow:
        if not proposing:
            return billing.upcoming_invoice(uow, ctx.org_id, customer, subscription)
        if subscription is None:
            raise InvalidRequest("A proposed change needs the subscription.",
                                 param="subscription")
        return subscription_changes.preview(
            uow, ctx.org_id, customer, subscription, items=items,
            proration_behavior=subscription_proration_behavior,
            proration_date=subscription_proration_date,
            billing_cycle_anchor=subscription_billing_cycle_anchor)


@router.get("/invoices/{invoice_id}")
async def get_invoice(invoice_id: str, ctx: Ctx, expand: Expand = None) -> dict[str, Any]:
    # `async`, its reading on a worker thread: FastAPI would check a plain `def` route's
    # answer on a second one.
    return await run_in_threadpool(_get_invoice, ctx, invoice_id, expand)


def _get_invoice(ctx: Context, invoice_id: str, expand: list[str] | None) -> dict[str, Any]:
    if not expand:
        return objects.invoice(*_read_invoice(ctx.kassa, ctx.org_id, invoice_id))
    with ctx.kassa.uow() as uow:
        return expansion.expand(uow, ctx.org_id, objects.invoice(
            scoping.get(uow.session, m.Invoice, ctx.org_id, invoice_id)), expand)


# Reading one invoice is the API's most frequent request: the invoice and its lines come in
# one statement (one snapshot) as plain, unsaved objects, without the session's bookkeeping.
_INVOICE = [(a.key, a.columns[0]) for a in m.Invoice.__mapper__.column_attrs]
_LINE = [(a.key, a.columns[0]) for a in m.InvoiceLine.__mapper__.column_attrs]
_invoices, _lines = m.Invoice.__table__, m.InvoiceLine.__table__
_READ_INVOICE = (
    select(*(column for _, column in _INVOICE), *(column for _, column in _LINE))
    .select_from(_invoices.outerjoin(_lines, _lines.c.invoice_id == _invoices.c.id))
    .where(_invoices.c.id == bindparam("id"), _invoices.c.org_id == bindparam("org_id"))
    .order_by(_lines.c.position))


def _read_invoice(kassa: Kassa, org_id: str, invoice_id: str) -> tuple[m.Invoice,
                                                                        list[m.InvoiceLine]]:
    with kassa.engine.connect() as connection:
        if connection.dialect.name == "postgresql":  # one statement needs no BEGIN/ROLLBACK
            connection.execution_options(isolation_level="AUTOCOMMIT")
        rows = connection.execute(_READ_INVOICE, {"id": invoice_id, "org_id": org_id}).all()
    if not rows:
        with kassa.uow() as uow:  # the NotFound every lookup raises
            scoping.get(uow.session, m.Invoice, org_id, invoice_id)
    at = len(_INVOICE)
    invoice = m.Invoice(**{name: rows[0][i] for i, (name, _) in enumerate(_INVOICE)})
    lines = [m.InvoiceLine(**{name: row[at + i] for i, (name, _) in enumerate(_LINE)})
             for row in rows if row[at] is not None]
    return invoice, lines


@router.delete("/invoices/{invoice_id}")
def delete_invoice(invoice_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        invoices.delete_draft(uow, ctx.org_id, invoice_id)
        return {"id": invoice_id, "object": "invoice", "deleted": True}


@router.post("/invoices/{invoice_id}/finalize")
def finalize_invoice(invoice_id: str, ctx: Ctx, body: Empty | None = None) -> dict[str, Any]:
    """Finalize the draft; an automatically collected one is charged at once."""
    with ctx.kassa.uow() as uow:
        invoices.finalize_invoice(uow, ctx.org_id, invoice_id)
    payments.collect_invoice(ctx.kassa.session_factory, ctx.kassa.clock, ctx.kassa.gateways,
                             invoice_id)
    with ctx.kassa.uow() as uow:
        return objects.invoice(scoping.get(uow.session, m.Invoice, ctx.org_id, invoice_id))


@router.post("/invoices/{invoice_id}/pay")
def pay_invoice(invoice_id: str, ctx: Ctx, body: InvoicePay | None = None) -> dict[str, Any]:
    """Pay the invoice now: charge the customer's default payment method (a decline is a
    402 `card_error`, the attempt recorded), or with `paid_out_of_band` record that it was
    paid outside Kassa."""
    params = body.fields() if body else {}
    with ctx.kassa.uow() as uow:
        invoice = payments.pay_invoice(uow, ctx.org_id, invoice_id, **params)
        if invoice.status == "paid":
            return objects.invoice(invoice)
    payment = payments.collect_invoice(ctx.kassa.session_factory, ctx.kassa.clock,
                                       ctx.kassa.gateways, invoice_id, force=True)
    payments.raise_if_declined(payment)
    with ctx.kassa.uow() as uow:
        return objects.invoice(scoping.get(uow.session, m.Invoice, ctx.org_id, invoice_id))


@router.post("/invoices/{invoice_id}/void")
def void_invoice(invoice_id: str, ctx: Ctx, body: Empty | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.invoice(invoices.void_invoice(uow, ctx.org_id, invoice_id))


@router.post("/invoices/{invoice_id}/mark_uncollectible")
def mark_uncollectible(invoice_id: str, ctx: Ctx, body: Empty | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.invoice(invoices.mark_uncollectible(uow, ctx.org_id, invoice_id))


@router.get("/invoices/{invoice_id}/ubl", response_class=Response,
            responses={200: {"content": {"application/xml": {}}}})
def invoice_ubl(invoice_id: str, ctx: Ctx) -> Response:
    """The finalized invoice as a Peppol BIS Billing 3.0 UBL e-invoice."""
    with ctx.kassa.uow() as uow:
        return Response(einvoices.invoice_ubl(uow, ctx.org_id, invoice_id),
                        media_type="application/xml")
