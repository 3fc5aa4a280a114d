"""The portal's login page: a customer asks for a sign-in link by e-mail (when the
organization turned `portal_settings.login_page` on). The page answers the same whether the
address is known or not; the link works once, for 30 minutes. The form's CSRF token is bound
to a cookie set with the form (double submit), as there is no session yet."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Cookie, Form
from fastapi.responses import Response

from kassa.core import locales
from kassa.core.errors import InvalidRequest, NotFound
from kassa.core.secrets import check_form_token, form_token
from kassa.services import documents, portal
from kassa.store import models as m
from kassa.web.portal import KassaDep, ended, page
from kassa.web.texts import texts

router = APIRouter(include_in_schema=False)

COOKIE = "kassa_portal_login"
LoginCookie = Annotated[str | None, Cookie(alias=COOKIE)]


def _login_page(org: m.Organization, kassa: KassaDep, cookie: str, *, sent: bool = False,
                error: str | None = None, status: int = 200) -> Response:
    t = texts(org.locale)
    response = page("login.html", status=status, t=t, lang=locales.language(org.locale),
                    org_name=org.name, brand=org.brand_color or "#334155",
                    logo=documents.org_logo(org, kassa.publishing), login=True,
                    csrf=form_token(kassa.pepper, "portal-login", cookie), sent=sent, error=error,
                    action=portal.login_path(kassa.pepper, org.id), return_url=None)
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/portal/login",
                        secure=kassa.settings.public_url.startswith("https://"))
    return response


@router.get("/portal/login/{org_id}/{code}")
def login_form(org_id: str, code: str, kassa: KassaDep, form: LoginCookie = None) -> Response:
    with kassa.uow() as uow:
        try:
            org = portal.login_organization(uow, kassa.pepper, org_id, code)
        except NotFound:
            return ended(None, 404, "not_found")
        return _login_page(org, kassa, form or secrets.token_urlsafe(24))


@router.post("/portal/login/{org_id}/{code}")
def ask_for_link(org_id: str, code: str, kassa: KassaDep, form: LoginCookie = None,
                 csrf_token: Annotated[str, Form()] = "",
                 email: Annotated[str, Form(max_length=320)] = "") -> Response:
    with kassa.uow() as uow:
        try:
            org = portal.login_organization(uow, kassa.pepper, org_id, code)
        except NotFound:
            return ended(None, 404, "not_found")
        try:
            check_form_token(kassa.pepper, "portal-login", form, csrf_token)
        except InvalidRequest:
            return _login_page(org, kassa, form or secrets.token_urlsafe(24), status=400,
                               error=texts(org.locale)["session_ended"])
        try:
            portal.email_links(uow, kassa.pepper, org, email)
        except InvalidRequest as exc:
            return _login_page(org, kassa, form, status=400, error=str(exc))
        except portal.RateLimited:
            return _login_page(org, kassa, form, status=429,
                               error=texts(org.locale)["too_many_links"])
        return _login_page(org, kassa, form, sent=True)
