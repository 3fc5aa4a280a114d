"""The customer self-service portal's pages (`/portal/...`), server-rendered with Jinja2:
the overview (plans, renewal, balance, what is overdue with a pay button), invoices with
their PDFs, and billing details. A visitor is one customer (services/portal.py); pages load
only that customer's objects, forms carry a CSRF token, changes are made as the portal
customer (the events and the audit log name them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kassa.adapters.gateways import sandbox_page
from kassa.api.deps import get_kassa
from kassa.config import Kassa
from kassa.core import actors, locales
from kassa.core.clock import from_unix
from kassa.core.errors import AuthenticationFailed, InvalidRequest, InvalidState, NotFound
from kassa.core.ids import new_id
from kassa.services import (
    audit,
    billing,
    customers,
    documents,
    einvoices,
    emails,
    payments,
    portal,
    validation,
)
from kassa.services.customers import now_for
from kassa.store import models as m
from kassa.store.uow import UnitOfWork
from kassa.web.texts import interval_text, texts

router = APIRouter(include_in_schema=False)

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape())
# Scripts only from Kassa itself (htmx); styles inline in the page; the logo may live
# elsewhere; forms post back here only; never framed.
CONTENT_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                  "img-src 'self' data: https:; form-action 'self'; frame-ancestors 'none'; "
                  "base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff",
                    "Content-Security-Policy": CONTENT_POLICY}
KassaDep = Annotated[Kassa, Depends(get_kassa)]
PortalCookie = Annotated[str | None, Cookie(alias=portal.COOKIE)]
DETAIL_FIELDS = (("name", "name"), ("email", "email"), ("line1", "street-address"),
                 ("postal_code", "postal-code"), ("city", "address-level2"),
                 ("country", "country"), ("vat_id", "off"))


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = _ENV.get_template(f"portal/{template}").render(**values)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def ended(locale: str | None, status: int, key: str, detail: str | None = None) -> HTMLResponse:
    """A page with one message (the session ended, not found...) and maybe its reason."""
    t = texts(locale)
    reason = f"<p>{escape(detail)}</p>" if detail else ""
    html = (f'<!DOCTYPE html><html lang="{locales.language(locale)}"><head><meta charset="utf-8">'
            f"<title>{t['portal']}</title></head><body><main><h1>{t['portal']}</h1>"
            f'<p role="alert">{t[key]}</p>{reason}</main></body></html>')
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """A malformed form or an unknown address under /portal, as a page (api/errors.py)."""
    return ended(None, status, "not_found" if status == 404 else "bad_request", message)


def frame(uow: UnitOfWork, kassa: Kassa, who: portal.Visitor, current: str) -> dict[str, Any]:
    """What every page shows: the organization's name, logo and colour, the navigation."""
    org = uow.session.get(m.Organization, who.org_id)
    customer = portal.customer_of(uow, who)
    assert org is not None
    locale = who.locale or customer.locale or org.locale
    return {"t": texts(locale), "lang": locales.language(locale), "org_name": org.name,
            "brand": org.brand_color or "#334155",
            "logo": documents.org_logo(org, kassa.publishing), "page": current,
            "csrf": portal.csrf_token(kassa.pepper, who), "return_url": who.return_url,
            "customer_name": customer.name or customer.email or customer.id,
            "locale": locale, "org": org, "customer": customer}


@router.get("/portal/session/{link}")
def open_session(link: str, request: Request, kassa: KassaDep) -> Response:
    """The one-time link: starts the browser session and goes to the overview."""
    try:
        with kassa.uow() as uow:
            _, cookie = portal.open_link(uow, kassa.pepper, link)
    except AuthenticationFailed:
        return ended(None, 401, "session_ended")
    response = RedirectResponse("/portal", status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(portal.COOKIE, cookie, max_age=int(portal.SESSION_LIFETIME
                                                           .total_seconds()),
                        httponly=True, samesite="lax", path="/portal",
                        secure=kassa.settings.public_url.startswith("https://"))
    return response


def _visitor(kassa: Kassa, cookie: str | None) -> portal.Visitor | None:
    try:
        with kassa.uow() as uow:
            return portal.visitor(uow, kassa.pepper, cookie)
    except AuthenticationFailed:
        return None


class SignedOut(Exception):
    """No live portal session: answered with the "session ended" page (see `install`)."""


class Missing(Exception):
    """Not one of the visitor's objects: answered with the "not found" page (see `install`)."""

    def __init__(self, locale: str | None) -> None:
        super().__init__(locale)
        self.locale = locale


def signed_in(kassa: KassaDep, session: PortalCookie = None) -> portal.Visitor:
    """The visitor of a page that needs a portal session."""
    who = _visitor(kassa, session)
    if who is None:
        raise SignedOut
    return who


Signed = Annotated[portal.Visitor, Depends(signed_in)]


def install(app: FastAPI, *more: APIRouter) -> None:
    """The portal's pages (these and `more`) on `app`, and its answer to a visitor without
    a session."""
    for pages in (router, *more):
        app.include_router(pages)
    app.add_exception_handler(SignedOut, lambda request, exc: ended(None, 401,
                                                                    "session_ended"))
    app.add_exception_handler(Missing, lambda request, exc: ended(
        exc.locale if isinstance(exc, Missing) else None, 404, "not_found"))


@router.get("/portal")
def overview(kassa: KassaDep, who: Signed) -> Response:
    with kassa.uow() as uow:
        values = frame(uow, kassa, who, "overview")
        org, customer = values["org"], values["customer"]
        locale, t = values["locale"], values["t"]
        now = now_for(uow, customer)
        plans = []
        for sub in portal.subscriptions_of(uow, who):
            next_invoice = upcoming(uow, who, sub.id)
            plans.append({
                "id": sub.id, "ends": emails.date_text(org, customer, sub.cancel_at),
                "name": emails.plan_name(org, sub), "status": t.get(sub.status, sub.status),
                "cycle": _cycle(t, sub),
                "amount": emails.amount_text(next_invoice["amount_due"],
                                             next_invoice["currency"], locale)
                if next_invoice else "",
                "renews": emails.date_text(org, customer, from_unix(next_invoice["created"])
                                           if next_invoice else sub.current_period_end)})
        overdue = [{"amount": emails.amount_text(i.amount_remaining, i.currency, locale),
                    "number": i.number, "pay_url": f"/i/{i.hosted_token}/pay"}
                   for i in portal.invoices_of(uow, who)
                   if i.status == "open" and i.amount_remaining > 0
                   and (i.payment_failed_at is not None
                        or (i.due_date is not None and i.due_date <= now))]
        balance = emails.amount_text(-customer.balance, customer.currency or "eur", locale) \
            if customer.balance < 0 else None
        return page("overview.html", **values, plans=plans, overdue=overdue, balance=balance)


def _cycle(t: dict[str, str], sub: m.Subscription) -> str:
    items = [item for item in sub.items if item.ended_at is None]
    price = items[0].price if items else None
    return interval_text(t, price.recurring_interval if price else None,
                         price.recurring_interval_count if price else None)


def upcoming(uow: UnitOfWork, who: portal.Visitor, sub_id: str) -> dict[str, Any] | None:
    """The subscription's next invoice, exactly as billing would make it (None: none)."""
    try:
        return billing.upcoming_invoice(uow, who.org_id, who.customer_id, sub_id)
    except InvalidRequest:
        return None


@router.get("/portal/invoices")
def invoice_list(kassa: KassaDep, who: Signed) -> Response:
    with kassa.uow() as uow:
        values = frame(uow, kassa, who, "invoices")
        t, locale = values["t"], values["locale"]
        rows = [{"id": i.id, "number": i.number,
                 "date": emails.date_text(values["org"], values["customer"], i.finalized_at),
                 "amount": emails.amount_text(i.total, i.currency, locale),
                 "status": t.get(i.status, i.status),
                 "pay_url": f"/i/{i.hosted_token}/pay" if i.status == "open"
                 and i.amount_remaining > 0 else None}
                for i in portal.invoices_of(uow, who)]
        numbers = {i["id"]: i["number"] for i in rows}
        notes = [{"id": n.id, "number": n.number,
                  "date": emails.date_text(values["org"], values["customer"], n.created),
                  "amount": emails.amount_text(n.total, n.currency, locale),
                  "invoice": numbers.get(n.invoice_id, ""), "status": t.get(n.status, n.status)}
                 for n in portal.credit_notes_of(uow, who)]
        return page("invoices.html", **values, invoices=rows, credit_notes=notes)


@router.get("/portal/invoices/{object_id}/{fmt}")
def invoice_document(object_id: str, fmt: str, kassa: KassaDep, who: Signed) -> Response:
    return _download("invoices", object_id, fmt, kassa, who)


@router.get("/portal/credit_notes/{object_id}/{fmt}")
def credit_note_document(object_id: str, fmt: str, kassa: KassaDep, who: Signed) -> Response:
    return _download("credit_notes", object_id, fmt, kassa, who)


def _download(kind: str, object_id: str, fmt: str, kassa: Kassa,
              who: portal.Visitor) -> Response:
    """An invoice's or credit note's PDF (in the customer's language) or UBL e-invoice; the
    customer's own documents only."""
    if (kind, fmt) not in DOCUMENTS:
        return ended(who.locale, 404, "not_found")
    with kassa.uow() as uow:
        try:
            if kind == "invoices":
                number = portal.owned_invoice(uow, who, object_id).number
            else:
                number = portal.owned_credit_note(uow, who, object_id).number
        except NotFound:
            return ended(who.locale, 404, "not_found")
        try:
            content = DOCUMENTS[kind, fmt](uow, kassa, who.org_id, object_id)
        except InvalidState as exc:  # e.g. no e-invoice without a tax decision
            return ended(who.locale, 409, "no_document", str(exc))
        uow.commit()  # a PDF rendered for the first time is stored
    media_type = "application/pdf" if fmt == "pdf" else "application/xml"
    return Response(content, media_type=media_type, headers={
        **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{number}.{fmt}"'})


DOCUMENTS: dict[tuple[str, str], Callable[[UnitOfWork, Kassa, str, str], bytes]] = {
    ("invoices", "pdf"): lambda uow, kassa, org, id_: documents.invoice_pdf(
        uow, kassa.publishing, org, id_).content,
    ("invoices", "ubl"): lambda uow, kassa, org, id_: einvoices.invoice_ubl(uow, org, id_),
    ("credit_notes", "pdf"): lambda uow, kassa, org, id_: documents.credit_note_pdf(
        uow, kassa.publishing, org, id_).content,
    ("credit_notes", "ubl"): lambda uow, kassa, org, id_: einvoices.credit_note_ubl(
        uow, org, id_),
}


@router.get("/portal/details")
def details(kassa: KassaDep, who: Signed, saved: bool = False) -> Response:
    with kassa.uow() as uow:
        values = frame(uow, kassa, who, "details")
        return page("details.html", **values, saved=saved, **_languages(values),
                     fields=_fields(values["customer"], {}), error=None, error_param=None)


LANGUAGES = (("en", "English"), ("nl", "Nederlands"), ("de", "Deutsch"), ("fr", "Français"))


def _languages(values: dict[str, Any], chosen: str | None = None) -> dict[str, Any]:
    customer, org = values["customer"], values["org"]
    return {"languages": LANGUAGES, "customer_language": chosen or locales.language(
        customer.locale or org.locale)}


@router.get("/portal/details/vat_check")
def vat_check(kassa: KassaDep, who: Signed,
              vat_id: Annotated[str, Query(max_length=40)] = "") -> Response:
    """The VAT number checked as it is typed (format and check digits), as a fragment."""
    if not vat_id.strip():
        return HTMLResponse("", headers=SECURITY_HEADERS)
    with kassa.uow() as uow:
        t = frame(uow, kassa, who, "details")["t"]
    try:
        compact = validation.vat_id(vat_id, param="vat_id")
    except InvalidRequest as exc:
        return HTMLResponse(f'<span class="error">{escape(str(exc))}</span>',
                            headers=SECURITY_HEADERS)
    return HTMLResponse(f"✓ {escape(t['vat_valid'])}: {escape(compact)}",
                        headers=SECURITY_HEADERS)


def _fields(customer: m.Customer, sent: dict[str, str]) -> list[dict[str, str]]:
    address = customer.address or {}
    current = {"name": customer.name or "", "email": customer.email or "",
               "line1": address.get("line1", ""), "postal_code": address.get("postal_code", ""),
               "city": address.get("city", ""), "country": address.get("country", "")
               or customer.country or "", "vat_id": customer.vat_id or ""}
    return [{"name": name, "value": sent.get(name, current[name]), "autocomplete": auto}
            for name, auto in DETAIL_FIELDS]


@router.post("/portal/details")
def save_details(request: Request, kassa: KassaDep, who: Signed,
                 csrf_token: Annotated[str, Form()] = "",
                 name: Annotated[str, Form(max_length=200)] = "",
                 email: Annotated[str, Form(max_length=320)] = "",
                 line1: Annotated[str, Form(max_length=200)] = "",
                 postal_code: Annotated[str, Form(max_length=20)] = "",
                 city: Annotated[str, Form(max_length=100)] = "",
                 country: Annotated[str, Form(max_length=2)] = "",
                 vat_id: Annotated[str, Form(max_length=40)] = "",
                 locale: Annotated[str, Form(max_length=5)] = "") -> Response:
    """Change the billing details; the VAT number is checked (format and check digits) and a
    refused value shows the form again with the reason, nothing saved. The language chosen
    is the customer's (e-mails, documents) and this session's."""
    sent = {"name": name, "email": email, "line1": line1, "postal_code": postal_code,
            "city": city, "country": country.upper(), "vat_id": vat_id}
    try:
        if locale and locale not in dict(LANGUAGES):
            raise InvalidRequest("Choose one of the languages offered.", param="locale")
        language = {"locale": locale} if locale else {}
        with as_customer(kassa, who, "/portal/details",
                          ip=request.client.host if request.client else None), \
                kassa.uow() as uow:
            portal.check_csrf(kassa.pepper, who, csrf_token)
            if locale:
                portal.set_locale(uow, who, locale)  # committed with the customer's change
            customers.update_customer(
                uow, who.org_id, who.customer_id, name=name.strip() or None,
                email=email.strip() or None, vat_id=vat_id.strip() or None,
                address={"line1": line1.strip(), "postal_code": postal_code.strip(),
                         "city": city.strip(), "country": sent["country"] or None},
                **language)
    except (InvalidRequest, InvalidState) as exc:
        with kassa.uow() as uow:
            values = frame(uow, kassa, who, "details")
            return page("details.html", status=400, **values, saved=False,
                        **_languages(values, locale if locale in dict(LANGUAGES) else None),
                         fields=_fields(values["customer"], sent), error=str(exc),
                         error_param=exc.param)
    return RedirectResponse("/portal/details?saved=true", status_code=303,
                            headers=SECURITY_HEADERS)


@router.get("/portal/payment_methods")
def payment_methods(kassa: KassaDep, who: Signed,
                    added: bool = False) -> Response:
    with kassa.uow() as uow:
        values = frame(uow, kassa, who, "payment_methods")
        customer = values["customer"]
        rows = [{"id": method.id, "label": _method_label(method),
                 "default": method.id == customer.default_payment_method_id}
                for method in portal.methods_of(uow, who)]
        return page("payment_methods.html", **values, methods=rows, added=added)


def _method_label(method: m.PaymentMethod) -> str:
    if method.type == "card":
        return f"{(method.brand or 'card').title()} •••• {method.last4} " \
               f"({method.exp_month:02d}/{method.exp_year})"
    return f"SEPA {method.country or ''}•• •••• {method.last4} ({method.mandate_reference})"


@router.get("/portal/payment_methods/new")
def add_payment_method(kassa: KassaDep, who: Signed) -> Response:
    """On to the gateway's own page for a card or a SEPA mandate (Kassa never sees the
    number); it comes back with a token and this session's CSRF token as `state`."""
    with kassa.uow() as uow:
        org = uow.session.get(m.Organization, who.org_id)
        assert org is not None
        creditor = org.legal_name or org.name
    return RedirectResponse(sandbox_page.checkout_path(
        f"{kassa.settings.public_url}/portal/payment_methods/added",
        portal.csrf_token(kassa.pepper, who), creditor), status_code=303,
        headers=SECURITY_HEADERS)


@router.get("/portal/payment_methods/added")
def payment_method_added(kassa: KassaDep, who: Signed,
                         token: Annotated[str, Query(max_length=2000)] = "",
                         state: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Back from the gateway's page: the method becomes the customer's default and their
    unpaid invoices are tried on it at once."""
    try:
        portal.check_csrf(kassa.pepper, who, state)
        with as_customer(kassa, who, "/portal/payment_methods/added"):
            payments.adopt_method(kassa.session_factory, kassa.clock, kassa.gateways,
                                  who.org_id, who.customer_id, token)
    except InvalidRequest:
        return ended(who.locale, 400, "not_found")
    return RedirectResponse("/portal/payment_methods?added=true", status_code=303,
                            headers=SECURITY_HEADERS)


@router.post("/portal/payment_methods/{method_id}/{action}")
def change_payment_method(method_id: str, action: str, kassa: KassaDep, who: Signed,
                          csrf_token: Annotated[str, Form()] = "") -> Response:
    """`default` or `remove` one of the customer's own payment methods."""
    try:
        portal.check_csrf(kassa.pepper, who, csrf_token)
        with as_customer(kassa, who, f"/portal/payment_methods/{method_id}/{action}"), \
                kassa.uow() as uow:
            method = portal.owned_method(uow, who, method_id)
            if action == "default":
                payments.set_default_method(uow, who.org_id, who.customer_id, method.id)
            elif action == "remove":
                payments.detach_method(uow, kassa.gateways, who.org_id, method.id)
            else:
                raise NotFound("No such action.")
    except NotFound:
        return ended(who.locale, 404, "not_found")
    except (InvalidRequest, InvalidState):
        return ended(who.locale, 400, "not_found")
    if action == "default":
        payments.collect_customer_now(kassa.session_factory, kassa.clock, kassa.gateways,
                                      who.customer_id)
    return RedirectResponse("/portal/payment_methods", status_code=303,
                            headers=SECURITY_HEADERS)


@contextmanager
def as_customer(kassa: Kassa, who: portal.Visitor, path: str, *,
                 ip: str | None = None) -> Iterator[None]:
    """Changes made meanwhile name the portal customer as their actor (in the events, in
    the same transaction); when they succeed, the audit log gets its entry."""
    actor = actors.Actor("portal_customer", who.customer_id, new_id("req"), ip)
    token = actors.current.set(actor)
    try:
        yield
    finally:
        actors.current.reset(token)
    with kassa.session_factory() as session:
        audit.record(session, who.org_id, actor, method="POST", path=path, status_code=303,
                     object_id=who.customer_id, now=kassa.clock.now())


@router.post("/portal/logout")
def logout(kassa: KassaDep, csrf_token: Annotated[str, Form()] = "",
           session: PortalCookie = None) -> Response:
    who = _visitor(kassa, session)
    if who is not None:
        with kassa.uow() as uow:
            try:
                portal.check_csrf(kassa.pepper, who, csrf_token)
            except InvalidRequest:
                return ended(who.locale, 400, "session_ended")
            portal.end(uow, who)
    response = ended(who.locale if who else None, 200, "session_ended")
    response.delete_cookie(portal.COOKIE, path="/portal")
    return response
