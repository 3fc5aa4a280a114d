"""The operator dashboard (`/dashboard/...`): the SaaS's own staff (finance, support) sign in
with e-mail and password and see their organization's customers, invoices, payments, credit
notes, bank transactions and catalog; what they may change depends on their role
(services/operators.py). Server-rendered with Jinja2, in the organization's name and colour.

This module holds what every dashboard page shares: the session (a cookie, SameSite=Strict,
for /dashboard only), signing in and out, the page frame, the pages for "not signed in",
"not found" and "not allowed", and `act`, which runs an operator's change: the role is
checked, then the form's CSRF token, then the change is made as the operator (the events
and the audit log name them)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Cookie, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from kassa.config import Kassa
from kassa.core import actors
from kassa.core.errors import AuthenticationFailed, InvalidRequest, KassaError, NotFound
from kassa.core.ids import new_id
from kassa.core.money import exponent
from kassa.core.secrets import check_form_token, form_token
from kassa.services import audit, documents, emails, operators, scoping
from kassa.services.operators import Staff
from kassa.store import models as m
from kassa.store.uow import UnitOfWork
from kassa.web.portal import SECURITY_HEADERS, KassaDep

router = APIRouter(include_in_schema=False)

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape())
SessionCookie = Annotated[str | None, Cookie(alias=operators.COOKIE)]
LOGIN_COOKIE = "kassa_dashboard_login"
LoginCookie = Annotated[str | None, Cookie(alias=LOGIN_COOKIE)]
NAVIGATION = (("home", "/dashboard", "Home"), ("customers", "/dashboard/customers", "Customers"),
              ("invoices", "/dashboard/invoices", "Invoices"),
              ("payments", "/dashboard/payments", "Payments"),
              ("credit_notes", "/dashboard/credit_notes", "Credit notes"),
              ("bank", "/dashboard/bank_transactions", "Bank transactions"),
              ("catalog", "/dashboard/catalog", "Catalog"),
              ("operators", "/dashboard/operators", "Operators"))


class SignedOut(Exception):
    """No live dashboard session (see `install`)."""


class Missing(Exception):
    """Not one of the operator's organization's objects, or no such page (404)."""


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = _ENV.get_template(f"dashboard/{template}").render(**values)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def _staff(kassa: Kassa, cookie: str | None) -> Staff | None:
    try:
        with kassa.uow() as uow:
            return operators.staff(uow, kassa.pepper, cookie)
    except AuthenticationFailed:
        return None


def signed_in(kassa: KassaDep, session: SessionCookie = None) -> Staff:
    """The operator of a page that needs a dashboard session."""
    who = _staff(kassa, session)
    if who is None:
        raise SignedOut
    return who


Signed = Annotated[Staff, Depends(signed_in)]


async def _form(request: Request) -> dict[str, str]:
    """The posted form's text fields; the dashboard checks them itself, so that bad input
    is answered with a page that says what is wrong."""
    try:
        form = await request.form(max_files=0, max_fields=100)
    except (StarletteHTTPException, ValueError):
        return {}
    return {name: value for name, value in form.items() if isinstance(value, str)}


Fields = Annotated[dict[str, str], Depends(_form)]


def field(fields: Mapping[str, str], name: str, max_length: int = 200) -> str:
    """A form field, stripped; InvalidRequest when it is longer than `max_length`."""
    value = fields.get(name, "").strip()
    if len(value) > max_length:
        raise InvalidRequest(f"{name} has at most {max_length} characters.", param=name)
    return value


def amount_field(fields: Mapping[str, str], name: str, currency: str, *,
                 required: bool = True) -> int | None:
    """An amount typed in major units ("12.50") as minor units, positive. Only digits and a
    decimal point: "12,50" could mean twelve and a half or twelve hundred and fifty."""
    text = field(fields, name, 30)
    label = name.replace("_", " ")
    if not text:
        if required:
            raise InvalidRequest(f"Enter the {label}.", param=name)
        return None
    places = exponent(currency)
    if not _AMOUNT.fullmatch(text):
        raise InvalidRequest(f"The {label} is an amount in {currency.upper()} such as "
                             f"{'12.50' if places else '1250'}: digits and a decimal point.",
                             param=name)
    minor = Decimal(text).scaleb(places)
    if minor != minor.to_integral_value() or not 0 < minor <= 10**12:
        raise InvalidRequest(f"The {label} is a positive amount in {currency.upper()} with "
                             f"at most {places} decimals.", param=name)
    return int(minor)


_AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,6})?")


# --- the frame of every page -------------------------------------------------------------

def frame(uow: UnitOfWork, kassa: Kassa, who: Staff, current: str) -> dict[str, Any]:
    """What every page shows and uses: the organization's name, logo and colour, the
    navigation, the operator, the CSRF token, and how money and moments are written."""
    org = uow.session.get(m.Organization, who.org_id)
    assert org is not None
    zone = ZoneInfo(org.timezone or "UTC")

    def when(at: datetime | None) -> str:
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else "—"

    def day(at: datetime | date | None) -> str:
        if isinstance(at, datetime):
            return at.astimezone(zone).strftime("%Y-%m-%d")
        return at.isoformat() if at else "—"

    def money(amount: int | None, currency: str | None) -> str:
        if amount is None or not currency:
            return "—"
        return emails.amount_text(amount, currency, "en")

    return {"org": org, "org_name": org.name, "brand": org.brand_color or "#334155",
            "logo": documents.org_logo(org, kassa.publishing), "zone": zone,
            "navigation": NAVIGATION, "page": current, "who": who,
            "csrf": operators.csrf_token(kassa.pepper, who), "may": who.may,
            "when": when, "day": day, "money": money, "notice": None, "error": None,
            "error_param": None}


def problem(kassa: Kassa, who: Staff | None, status: int, title: str,
            text: str) -> HTMLResponse:
    """A page with one message: not found, not allowed, a refused form..."""
    if who is None:
        return page("message.html", status=status, title=title, text=text,
                    org_name="Kassa", brand="#334155", logo=None, who=None)
    with kassa.uow() as uow:
        return page("message.html", status=status, title=title, text=text,
                    **frame(uow, kassa, who, ""))


def owned(uow: UnitOfWork, model: Any, who: Staff, object_id: str) -> Any:
    """One of the operator's organization's rows; anything else is Missing (404)."""
    try:
        return scoping.get(uow.session, model, who.org_id, object_id)
    except NotFound as exc:
        raise Missing(exc.message) from None


def paging(request: Request, rows: scoping.Page, kept: Mapping[str, str], *,
           starting_after: str = "", ending_before: str = "") -> dict[str, str]:
    """The links to the newer and older pages of a list (newest first), keeping the list's
    filters `kept`. (`has_more` tells of older rows, or of newer ones after `ending_before`.)"""
    def link(cursor: str, row: Any) -> str:
        return f"{request.url.path}?" + urlencode({**kept, cursor: row.id})

    links = {}
    if rows.rows and (starting_after or (ending_before and rows.has_more)):
        links["newer"] = link("ending_before", rows.rows[0])
    if rows.rows and (ending_before or rows.has_more):
        links["older"] = link("starting_after", rows.rows[-1])
    return links


# --- changes as the operator -----------------------------------------------------------------

@contextmanager
def as_operator(kassa: Kassa, who: Staff, path: str, object_id: str | None, *,
                ip: str | None = None) -> Iterator[None]:
    """Changes made meanwhile name the operator as their actor (in the events, in the same
    transaction); when they succeed, the audit log gets its entry."""
    actor = actors.Actor("operator", who.operator_id, new_id("req"), ip)
    token = actors.current.set(actor)
    try:
        yield
    finally:
        actors.current.reset(token)
    with kassa.session_factory() as session:
        audit.record(session, who.org_id, actor, method="POST", path=path, status_code=303,
                     object_id=object_id, now=kassa.clock.now())


def act(request: Request, kassa: Kassa, who: Staff, action: str, fields: Mapping[str, str],
        object_id: str | None, run: Callable[[], str | Response | None], *,
        done: str | Callable[[], str], again: Callable[[str, str | None], Response]
        ) -> Response:
    """Make an operator's change: refused (403, nothing changed) unless the role allows
    `action`, then the form's CSRF token is checked (400), then `run` makes the change as the
    operator. Then on to `done` (a URL, or a function that gives it once `run` has run; with
`?done=` the notice `run` returns, if any; or `run` returns the page itself); a change
    the services refuse shows the page again (`again(message, param)`, 400)."""
    try:
        operators.require(who, action)
    except operators.NotAllowed as exc:
        return problem(kassa, who, 403, "Not allowed", f"{exc} Nothing was changed.")
    try:
        operators.check_csrf(kassa.pepper, who, fields.get("csrf_token"))
    except InvalidRequest as exc:
        return problem(kassa, who, 400, "The form has expired", exc.message)
    ip = request.client.host if request.client else None
    try:
        with as_operator(kassa, who, request.url.path, object_id, ip=ip):
            notice = run()
    except NotFound as exc:
        return problem(kassa, who, 404, "Not found", exc.message)
    except KassaError as exc:
        return again(exc.message, exc.param)
    if isinstance(notice, Response):  # a page to answer with at once
        return notice
    url = done if isinstance(done, str) else done()
    return see_other(f"{url}?done={notice}" if notice else url)


# --- signing in and out ----------------------------------------------------------------------

def _login_page(kassa: Kassa, cookie: str, *, status: int = 200, error: str | None = None,
                email: str = "", notice: str | None = None) -> Response:
    response = page("login.html", status=status, org_name="Kassa", brand="#334155", logo=None,
                    who=None, csrf=form_token(kassa.pepper, "dashboard-login", cookie), error=error,
                    email=email, notice=notice)
    response.set_cookie(LOGIN_COOKIE, cookie, httponly=True, samesite="strict",
                        path="/dashboard/login",
                        secure=kassa.settings.public_url.startswith("https://"))
    return response


@router.get("/dashboard/login")
def login_form(kassa: KassaDep, form: LoginCookie = None, session: SessionCookie = None,
               signed_out: str = "") -> Response:
    if _staff(kassa, session) is not None:
        return see_other("/dashboard")
    return _login_page(kassa, form or secrets.token_urlsafe(24),
                       notice="You are signed out." if signed_out else None)


@router.post("/dashboard/login")
def login(request: Request, kassa: KassaDep, fields: Fields,
          form: LoginCookie = None) -> Response:
    """Sign in; the same answer for an unknown e-mail and a wrong password."""
    email, password = fields.get("email", "")[:320], fields.get("password", "")
    try:
        check_form_token(kassa.pepper, "dashboard-login", form, fields.get("csrf_token"))
    except InvalidRequest:
        return _login_page(kassa, form or secrets.token_urlsafe(24), status=400, email=email,
                           error="The form has expired; please sign in again.")
    if not email.strip() or not password:
        return _login_page(kassa, form, status=400, email=email,
                           error="Enter your e-mail and password.")
    try:
        with kassa.uow() as uow:
            _, cookie = operators.sign_in(uow, kassa.pepper, email, password,
                                          ip=request.client.host if request.client else None)
    except operators.LockedOut as exc:
        return _login_page(kassa, form, status=429, email=email, error=(
            f"Too many failed sign-ins for this e-mail: it is locked until "
            f"{exc.until:%H:%M} UTC ({operators.LOCKOUT.seconds // 60} minutes). "
            "Try again then."))
    except AuthenticationFailed:
        return _login_page(kassa, form, status=401, email=email,
                           error="Wrong e-mail or password.")
    response = see_other("/dashboard")
    response.set_cookie(operators.COOKIE, cookie,
                        max_age=int(operators.SESSION_LIFETIME.total_seconds()),
                        httponly=True, samesite="strict", path="/dashboard",
                        secure=kassa.settings.public_url.startswith("https://"))
    return response


@router.post("/dashboard/logout")
def logout(kassa: KassaDep, fields: Fields, session: SessionCookie = None) -> Response:
    who = _staff(kassa, session)
    if who is not None:
        try:
            operators.check_csrf(kassa.pepper, who, fields.get("csrf_token"))
        except InvalidRequest as exc:
            return problem(kassa, who, 400, "The form has expired", exc.message)
        with kassa.uow() as uow:
            operators.sign_out(uow, who)
    response = see_other("/dashboard/login?signed_out=1")
    response.delete_cookie(operators.COOKIE, path="/dashboard")
    return response


# --- installing the pages --------------------------------------------------------------------

def _signed_out(request: Request, exc: Exception) -> Response:
    """A page asked for without a session goes to the sign-in page; a form sent without one
    is refused (nothing is changed)."""
    if request.method == "GET":
        return see_other("/dashboard/login")
    response = page("message.html", status=401, title="Signed out",
                    text="Your session has ended; sign in again. Nothing was changed.",
                    org_name="Kassa", brand="#334155", logo=None, who=None, sign_in=True)
    response.delete_cookie(operators.COOKIE, path="/dashboard")
    return response


def _missing(request: Request, exc: Exception) -> Response:
    kassa: Kassa = request.app.state.kassa
    return problem(kassa, _staff(kassa, request.cookies.get(operators.COOKIE)), 404,
                   "Not found", str(exc) or "That page does not exist.")


unknown = APIRouter(include_in_schema=False)


@unknown.api_route("/dashboard/{rest:path}", methods=["GET", "POST"])
def no_such_page(rest: str) -> Response:
    raise Missing("That page does not exist.")


def install(app: FastAPI) -> None:
    """The dashboard's pages on `app`, and its answers to a visitor without a session and to
    an object or page that is not there."""
    # The page modules build on this one, so they are imported once it is complete.
    from kassa.web import dashboard_admin, dashboard_billing, dashboard_customers, dashboard_home

    for pages in (router, dashboard_home.router, dashboard_customers.router,
                  dashboard_billing.router, dashboard_admin.router, unknown):
        app.include_router(pages)
    app.add_exception_handler(SignedOut, _signed_out)
    app.add_exception_handler(Missing, _missing)
