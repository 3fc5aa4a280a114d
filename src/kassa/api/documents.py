"""Invoice and credit note documents: PDF and HTML under /v1, customer statements of account
(JSON, PDF, CSV), and the public hosted invoice page at /i/{token}, which needs no API key
(the unguessable token is the key)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kassa.adapters.gateways import sandbox_page
from kassa.api.deps import Ctx, get_kassa
from kassa.config import Kassa
from kassa.core import locales
from kassa.services import documents, payments, statements
from kassa.services.documents import Rendered
from kassa.store import models as m

router = APIRouter(tags=["documents"])
public = APIRouter(tags=["hosted invoice page"])

Locale = Annotated[str | None, Query(max_length=16,
                                     description="en, nl, de or fr; others fall back to en")]


def _headers(rendered: Rendered, requested: str | None) -> dict[str, str]:
    headers = {"Content-Language": rendered.language}
    if requested and not locales.language_of(requested)[1]:
        headers["Kassa-Locale-Fallback"] = requested
    return headers


def _pdf(rendered: Rendered, requested: str | None, *, inline: bool = False) -> Response:
    disposition = "inline" if inline else "attachment"
    headers = {**_headers(rendered, requested),
               "Content-Disposition": f'{disposition}; filename="{rendered.filename}"'}
    return Response(rendered.content, media_type="application/pdf", headers=headers)


def _html(rendered: Rendered, requested: str | None) -> HTMLResponse:
    return HTMLResponse(rendered.content.decode(), headers=_headers(rendered, requested))


@router.get("/invoices/{invoice_id}/pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def invoice_pdf(invoice_id: str, ctx: Ctx, locale: Locale = None) -> Response:
    """The invoice as a PDF (rendered on the first download, then served as stored)."""
    with ctx.kassa.uow() as uow:
        return _pdf(documents.invoice_pdf(uow, ctx.kassa.publishing, ctx.org_id, invoice_id,
                                          locale), locale)


@router.get("/invoices/{invoice_id}/html", response_class=HTMLResponse)
def invoice_html(invoice_id: str, ctx: Ctx, locale: Locale = None) -> HTMLResponse:
    """The invoice as an HTML page."""
    with ctx.kassa.uow() as uow:
        return _html(documents.invoice_html(uow, ctx.kassa.publishing, ctx.org_id,
                                            invoice_id, locale), locale)


@router.get("/credit_notes/{credit_note_id}/pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def credit_note_pdf(credit_note_id: str, ctx: Ctx, locale: Locale = None) -> Response:
    """The credit note as a PDF (rendered on the first download, then served as stored)."""
    with ctx.kassa.uow() as uow:
        return _pdf(documents.credit_note_pdf(uow, ctx.kassa.publishing, ctx.org_id,
                                              credit_note_id, locale), locale)


@router.get("/credit_notes/{credit_note_id}/html", response_class=HTMLResponse)
def credit_note_html(credit_note_id: str, ctx: Ctx, locale: Locale = None) -> HTMLResponse:
    """The credit note as an HTML page."""
    with ctx.kassa.uow() as uow:
        return _html(documents.credit_note_html(uow, ctx.kassa.publishing, ctx.org_id,
                                                credit_note_id, locale), locale)


@router.get("/customers/{customer_id}/statement",
            responses={200: {"content": {"application/pdf": {}, "text/csv": {}}}})
def customer_statement(
        customer_id: str, ctx: Ctx,
        first: Annotated[str, Query(alias="from", max_length=12,
                                    description="YYYY-MM-DD (the customer's day) or a Unix "
                                                "timestamp; included")],
        last: Annotated[str, Query(alias="to", max_length=12,
                                   description="YYYY-MM-DD or a Unix timestamp; excluded")],
        currency: Annotated[str | None, Query(max_length=3)] = None,
        format: Literal["json", "pdf", "csv"] = "json", locale: Locale = None) -> Any:
    """The customer's statement of account for [from, to) in one currency (default: the
    customer's): opening balance, every invoice, void, write-off, credit note, payment,
    refund and balance adjustment with the running balance, closing balance. As JSON, a PDF
    in the customer's language, or CSV. Rendered on demand, never stored."""
    start = statements.parse_bound(first, "from")
    end = statements.parse_bound(last, "to")
    with ctx.kassa.uow() as uow:
        result = statements.customer_statement(uow, ctx.org_id, customer_id, start=start,
                                                end=end, currency=currency)
        if format == "pdf":
            return _pdf(statements.statement_pdf(ctx.kassa.publishing, result, locale),
                        locale)
        if format == "csv":
            name = statements.filename(result, "csv")
            return Response(statements.statement_csv(result),
                            media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return statements.statement_object(result)


@public.get("/i/{token}", response_class=HTMLResponse)
def hosted_invoice(token: str, kassa: Annotated[Kassa, Depends(get_kassa)],
                   locale: Locale = None) -> HTMLResponse:
    """The customer's page of a finalized invoice, with a link to its PDF."""
    with kassa.uow() as uow:
        return _html(documents.hosted_invoice_html(uow, kassa.publishing, token, locale),
                     locale)


@public.get("/i/{token}/pay")
def hosted_invoice_pay(token: str,
                       kassa: Annotated[Kassa, Depends(get_kassa)]) -> RedirectResponse:
    """The pay button: on to the gateway's own page for a card or a SEPA mandate, which
    comes back to /i/{token}/paid with a token (Kassa never sees the card number)."""
    return _to_checkout(kassa, token, "paid", only_payable=True)


@public.get("/i/{token}/payment_method")
def hosted_payment_method(token: str,
                          kassa: Annotated[Kassa, Depends(get_kassa)]) -> RedirectResponse:
    """The link in a failed-payment e-mail: give another card or SEPA mandate on the
    gateway's page; back at /i/{token}/payment_method/done it becomes the customer's default
    and their unpaid invoices are tried on it at once."""
    return _to_checkout(kassa, token, "payment_method/done", only_payable=False)


def _to_checkout(kassa: Kassa, token: str, back: str, *,
                 only_payable: bool) -> RedirectResponse:
    with kassa.uow() as uow:
        invoice = documents.invoice_by_token(uow, token)
        org = uow.session.get(m.Organization, invoice.org_id)
        assert org is not None
        if only_payable and not payments.payable(uow.session, invoice):
            return RedirectResponse(f"/i/{token}", status_code=303)
    return RedirectResponse(sandbox_page.checkout_path(
        f"{kassa.settings.public_url}/i/{token}/{back}", token, org.legal_name or org.name),
        status_code=303)


@public.get("/i/{token}/paid")
def hosted_invoice_paid(token: str, kassa: Annotated[Kassa, Depends(get_kassa)],
                        method: Annotated[str, Query(alias="token", min_length=1,
                                                     max_length=2000)]) -> RedirectResponse:
    """Back from the gateway's page: the payment method is attached to the invoice's
    customer (as their default) and the invoice charged on it; then back to the invoice's
    page, which shows the outcome."""
    with kassa.uow() as uow:
        invoice_id = documents.invoice_by_token(uow, token).id
    payments.pay_on_return(kassa.session_factory, kassa.clock, kassa.gateways, invoice_id,
                           method)
    return RedirectResponse(f"/i/{token}", status_code=303)


@public.get("/i/{token}/payment_method/done")
def hosted_payment_method_done(token: str, kassa: Annotated[Kassa, Depends(get_kassa)],
                               method: Annotated[str, Query(alias="token", min_length=1,
                                                            max_length=2000)]
                               ) -> RedirectResponse:
    """Back from the gateway's page with a new payment method; then to the invoice's page,
    which shows the outcome of the retry."""
    with kassa.uow() as uow:
        invoice_id = documents.invoice_by_token(uow, token).id
    payments.update_on_return(kassa.session_factory, kassa.clock, kassa.gateways, invoice_id,
                              method)
    return RedirectResponse(f"/i/{token}", status_code=303)


@public.get("/i/{token}/pdf", response_class=Response)
def hosted_invoice_pdf(token: str, kassa: Annotated[Kassa, Depends(get_kassa)],
                       locale: Locale = None) -> Response:
    """The invoice's PDF from its hosted page."""
    with kassa.uow() as uow:
        return _pdf(documents.hosted_invoice_pdf(uow, kassa.publishing, token, locale),
                    locale)
