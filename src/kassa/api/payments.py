"""Payment methods (display data only), payments, and the gateways' inbound webhooks."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from kassa.api import bodies
from kassa.api.deps import Ctx, Expand, Paging, get_kassa, listing
from kassa.api.schemas import Empty, PaymentCreate, PaymentMethodCreate, RefundCreate
from kassa.services import expansion, gateway_events, payments, refunds, scoping
from kassa.store import models as m

router = APIRouter(tags=["payments"])
public = APIRouter(tags=["gateway webhooks"])

MAX_WEBHOOK_BYTES = 1024 * 1024


@router.post("/payment_methods")
def attach_payment_method(body: PaymentMethodCreate, ctx: Ctx) -> dict[str, Any]:
    """Attach a token from the gateway's hosted fields (`/sandbox/checkout` for the sandbox)
    or a test token (`pm_card_visa`...) to a customer. The first method is the default, and
    so is one given while an invoice is in dunning; a new default is tried on the
    customer's unpaid invoices before the answer."""
    with ctx.kassa.uow() as uow:
        method = payments.attach_method(uow, ctx.kassa.gateways, ctx.org_id, body.customer,
                                        token=body.token, gateway=body.gateway,
                                        set_default=body.set_default)
        view = payments.method_view(uow, method)
    _collect_now(ctx, view["customer"])
    return view


def _collect_now(ctx: Ctx, customer_id: str) -> None:
    """A new default method is tried on the customer's unpaid invoices before answering."""
    payments.collect_customer_now(ctx.kassa.session_factory, ctx.kassa.clock,
                                  ctx.kassa.gateways, customer_id)


@router.get("/payment_methods")
def list_payment_methods(request: Request, ctx: Ctx, page: Paging, customer: str,
                         include_detached: bool = False) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = payments.list_methods(uow, ctx.org_id, customer,
                                       include_detached=include_detached, **page.asdict())
        return listing(request, result, lambda method: payments.method_view(uow, method))


@router.get("/payment_methods/{method_id}")
def get_payment_method(method_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        method = scoping.get(uow.session, m.PaymentMethod, ctx.org_id, method_id)
        return payments.method_view(uow, method)


@router.post("/payment_methods/{method_id}/detach")
def detach_payment_method(method_id: str, ctx: Ctx,
                          body: Empty | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        method = payments.detach_method(uow, ctx.kassa.gateways, ctx.org_id, method_id)
        return payments.method_view(uow, method)


@router.post("/payment_methods/{method_id}/make_default")
def make_default_payment_method(method_id: str, ctx: Ctx,
                                body: Empty | None = None) -> dict[str, Any]:
    """Charge this method from now on; the customer's open invoices are tried on it at once."""
    with ctx.kassa.uow() as uow:
        method = scoping.get(uow.session, m.PaymentMethod, ctx.org_id, method_id)
        payments.set_default_method(uow, ctx.org_id, method.customer_id, method.id)
        view = payments.method_view(uow, method)
    _collect_now(ctx, view["customer"])
    return view


@router.post("/payments")
def record_payment(body: PaymentCreate, ctx: Ctx) -> dict[str, Any]:
    """Record a payment received outside a gateway (a transfer, cash): the whole remaining
    amount, or a part of it."""
    with ctx.kassa.uow() as uow:
        payment = payments.record_payment(uow, ctx.org_id, invoice_id=body.invoice,
                                          amount=body.amount, method=body.method,
                                          reference=body.reference)
        uow.commit()
        return payments.to_object(payment)


@router.get("/payments")
def list_payments(request: Request, ctx: Ctx, page: Paging, customer: str | None = None,
                  invoice: str | None = None,
                  status: Literal["processing", "requires_action", "succeeded", "failed",
                                  "returned"] | None = None,
                  expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = payments.list_payments(uow, ctx.org_id, customer=customer, invoice=invoice,
                                        status=status, **page.asdict())
        return expansion.expand(uow, ctx.org_id,
                                listing(request, result, payments.to_object), expand)


@router.get("/payments/{payment_id}")
def get_payment(payment_id: str, ctx: Ctx, expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return expansion.expand(uow, ctx.org_id, payments.to_object(
            payments.get_payment(uow, ctx.org_id, payment_id)), expand)


@router.post("/refunds")
def create_refund(body: RefundCreate, ctx: Ctx) -> dict[str, Any]:
    """Refund all or part of a payment through the gateway that took it; a credit note on the
    invoice records it. Beyond the organization's refund window only with an
    `override_reason` (kept on the refund)."""
    refund = refunds.create_refund(ctx.kassa.session_factory, ctx.kassa.clock,
                                   ctx.kassa.gateways, ctx.org_id, payment_id=body.payment,
                                   amount=body.amount, reason=body.reason,
                                   override_reason=body.override_reason)
    return refunds.to_object(refund)


@router.get("/refunds")
def list_refunds(request: Request, ctx: Ctx, page: Paging,
                 payment: str | None = None, expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = refunds.list_refunds(uow, ctx.org_id, payment=payment, **page.asdict())
        return expansion.expand(uow, ctx.org_id, listing(request, result, refunds.to_object),
                                expand)


@router.get("/refunds/{refund_id}")
def get_refund(refund_id: str, ctx: Ctx, expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return expansion.expand(uow, ctx.org_id, refunds.to_object(
            scoping.get(uow.session, m.Refund, ctx.org_id, refund_id)), expand)


@router.get("/disputes")
def list_disputes(request: Request, ctx: Ctx, page: Paging,
                  payment: str | None = None) -> dict[str, Any]:
    """Disputes (chargebacks) the gateways reported, against their payment and invoice."""
    with ctx.kassa.uow() as uow:
        result = gateway_events.list_disputes(uow, ctx.org_id, payment=payment,
                                              **page.asdict())
        return listing(request, result, gateway_events.dispute_object)


@public.post("/webhooks/gateways/{gateway}/{org_id}")
async def gateway_webhook(gateway: str, org_id: str, request: Request) -> dict[str, Any]:
    """A payment gateway's webhook for one organization: verified (401 and stored as rejected
    when the signature does not verify), stored, and processed once."""
    kassa = get_kassa(request)
    body = await bodies.read(request, types=None, max_bytes=MAX_WEBHOOK_BYTES,
                             too_large="A webhook body is at most 1 MB.")
    headers = {key.lower(): value for key, value in request.headers.items()}
    counts = await run_in_threadpool(gateway_events.receive, kassa.session_factory,
                                     kassa.clock, kassa.gateways, org_id, gateway,
                                     body, headers)
    return {"object": "webhook_receipt", **counts}
