"""The customer self-service portal's sessions and what a portal customer may see and do.

The SaaS asks for a session for one customer (`POST /v1/billing_portal/sessions`) and sends
the customer to its URL; or, when the organization turned its login page on, the customer
asks for a link by e-mail there (`email_links`). The link works once and for LINK_LIFETIME
(EMAILED_LINK_LIFETIME by e-mail); opening it starts a browser session (a cookie, HttpOnly,
SameSite=Lax) for SESSION_LIFETIME. Only hashes of the
link and the cookie are stored. A session ends at logout, at its end, or as soon as the API
key that made it is revoked or expires. Everything a portal page reads goes through
`customer_of` and the `owned` helpers, which only ever load that customer's objects: an id of
anyone else's is "not found". Forms carry a CSRF token derived from the session.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from kassa.core.clock import to_unix
from kassa.core.errors import AuthenticationFailed, InvalidRequest, NotFound
from kassa.core.ids import new_id
from kassa.core.secrets import check_form_token, form_token, hash_secret
from kassa.services import emails, portal_settings, scoping
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

LINK_LIFETIME = timedelta(minutes=10)
EMAILED_LINK_LIFETIME = timedelta(minutes=30)  # e-mail can take a while to arrive
EMAILED_LINK_WINDOW = timedelta(minutes=15)
EMAILED_LINKS_PER_WINDOW = 3
SESSION_LIFETIME = timedelta(hours=1)
COOKIE = "kassa_portal"


def create_session(uow: UnitOfWork, pepper: bytes, public_url: str, org_id: str, *,
                   customer: str, return_url: str | None = None, locale: str | None = None,
                   api_key_id: str | None = None) -> tuple[m.PortalSession, str]:
    """A session for `customer`; returns it and its one-time URL."""
    found = scoping.get(uow.session, m.Customer, org_id, customer, param="customer")
    if found.erased_at is not None:
        raise InvalidRequest("This customer's data was erased.", param="customer")
    if return_url is not None:
        parts = urlsplit(return_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequest("return_url is an absolute http(s) address.",
                                 param="return_url")
    row, link = _new_session(uow, pepper, found, origin="api", lifetime=LINK_LIFETIME,
                             return_url=return_url, locale=locale, api_key_id=api_key_id)
    uow.commit()
    return row, f"{public_url.rstrip('/')}{link}"


def _new_session(uow: UnitOfWork, pepper: bytes, customer: m.Customer, *, origin: str,
                 lifetime: timedelta, return_url: str | None = None,
                 locale: str | None = None,
                 api_key_id: str | None = None) -> tuple[m.PortalSession, str]:
    """A new session row (the caller commits) and the path of its one-time link."""
    link = secrets.token_urlsafe(32)
    now = uow.clock.now()
    row = m.PortalSession(
        id=new_id("bps"), org_id=customer.org_id, customer_id=customer.id,
        api_key_id=api_key_id, origin=origin,
        link_hash=hash_secret("link:" + link, pepper), link_expires_at=now + lifetime,
        expires_at=now + lifetime + SESSION_LIFETIME, return_url=return_url,
        locale=locale, created=now)
    uow.session.add(row)
    return row, f"/portal/session/{link}"


# --- sign-in links by e-mail ---------------------------------------------------------------

def login_path(pepper: bytes, org_id: str) -> str:
    """The address of the organization's portal login page (where customers ask for a link
    by e-mail): the organization's id and a code only Kassa can make for it."""
    return f"/portal/login/{org_id}/{_login_code(pepper, org_id)}"


def _login_code(pepper: bytes, org_id: str) -> str:
    return hash_secret(f"portal-login:{org_id}", pepper)[:32]


def login_organization(uow: UnitOfWork, pepper: bytes, org_id: str,
                       code: str) -> m.Organization:
    """The organization of a login page address, if its login page is on; else not found."""
    org = uow.session.get(m.Organization, org_id)
    if org is None or not hmac.compare_digest(_login_code(pepper, org_id), code) \
            or not portal_settings.effective(org.portal_settings)["login_page"]:
        raise NotFound("No such page.")
    return org


def email_links(uow: UnitOfWork, pepper: bytes, org: m.Organization, address: str) -> int:
    """E-mail a one-time sign-in link to every customer of `org` billed at `address`
    (case-insensitive; erased customers never). Returns how many were sent, which the page
    does not tell: it answers the same whether the address is known or not. At most
    EMAILED_LINKS_PER_WINDOW links per customer in EMAILED_LINK_WINDOW (RateLimited)."""
    wanted = address.strip().lower()
    if not wanted or "@" not in wanted:
        raise InvalidRequest("Enter an e-mail address.", param="email")
    found = list(uow.session.scalars(select(m.Customer).where(
        m.Customer.org_id == org.id, func.lower(m.Customer.email) == wanted,
        m.Customer.erased_at.is_(None)).order_by(m.Customer.id).limit(5)))
    now = uow.clock.now()
    recent = uow.session.scalar(select(func.count()).select_from(m.PortalSession).where(
        m.PortalSession.customer_id.in_([c.id for c in found]),
        m.PortalSession.origin == "email",
        m.PortalSession.created > now - EMAILED_LINK_WINDOW)) or 0
    if found and recent >= EMAILED_LINKS_PER_WINDOW * len(found):
        raise RateLimited("Too many sign-in links were asked for; try again later.")
    for customer in found:
        row, link = _new_session(uow, pepper, customer, origin="email",
                                 lifetime=EMAILED_LINK_LIFETIME)
        uow.session.flush()
        emails.portal_login(uow, org, customer, link, row.id)
    uow.commit()
    return len(found)


class RateLimited(Exception):
    """Too many sign-in links for one address in a short time."""


def session_object(row: m.PortalSession, url: str | None = None) -> dict[str, Any]:
    return {"id": row.id, "object": "billing_portal.session", "customer": row.customer_id,
            "url": url, "return_url": row.return_url, "locale": row.locale,
            "created": to_unix(row.created), "expires_at": to_unix(row.link_expires_at)}


def open_link(uow: UnitOfWork, pepper: bytes, link: str) -> tuple[m.PortalSession, str]:
    """Start the browser session of a link (once); returns it and the cookie's value."""
    row = uow.session.scalars(select(m.PortalSession).where(
        m.PortalSession.link_hash == hash_secret("link:" + link, pepper))
        .with_for_update()).first()
    now = uow.clock.now()
    if row is None or row.used_at is not None or row.link_expires_at <= now \
            or not _key_live(uow, row, now):
        raise AuthenticationFailed("This portal link is not valid (any more).")
    cookie = secrets.token_urlsafe(32)
    row.used_at = now
    row.cookie_hash = hash_secret("cookie:" + cookie, pepper)
    row.expires_at = now + SESSION_LIFETIME
    uow.commit()
    return row, cookie


@dataclass(frozen=True)
class Visitor:
    """Who is in the portal: one customer of one organization, in one session."""

    session_id: str
    org_id: str
    customer_id: str
    return_url: str | None
    locale: str | None


def visitor(uow: UnitOfWork, pepper: bytes, cookie: str | None) -> Visitor:
    """The portal visitor a cookie belongs to, or AuthenticationFailed."""
    if not cookie:
        raise AuthenticationFailed("Not signed in to the portal.")
    row = uow.session.scalars(select(m.PortalSession).where(
        m.PortalSession.cookie_hash == hash_secret("cookie:" + cookie, pepper))).first()
    now = uow.clock.now()
    if row is None or row.ended_at is not None or row.expires_at <= now \
            or not _key_live(uow, row, now):
        raise AuthenticationFailed("The portal session has ended; open a new link.")
    return Visitor(row.id, row.org_id, row.customer_id, row.return_url, row.locale)


def _key_live(uow: UnitOfWork, row: m.PortalSession, now: datetime) -> bool:
    if row.api_key_id is None:
        return True
    key = uow.session.get(m.ApiKey, row.api_key_id)
    return key is not None and key.revoked_at is None and (
        key.expires_at is None or key.expires_at > now)


def end(uow: UnitOfWork, who: Visitor) -> None:
    row = uow.session.get(m.PortalSession, who.session_id)
    if row is not None and row.ended_at is None:
        row.ended_at = uow.clock.now()
        uow.commit()


def set_locale(uow: UnitOfWork, who: Visitor, locale: str) -> None:
    """The session's pages from now on in `locale` (the caller commits)."""
    row = uow.session.get(m.PortalSession, who.session_id)
    if row is not None:
        row.locale = locale


def csrf_token(pepper: bytes, who: Visitor) -> str:
    return form_token(pepper, "portal", who.session_id)


def check_csrf(pepper: bytes, who: Visitor, token: str | None) -> None:
    check_form_token(pepper, "portal", who.session_id, token)


def customer_of(uow: UnitOfWork, who: Visitor) -> m.Customer:
    customer = uow.session.get(m.Customer, who.customer_id)
    if customer is None or customer.org_id != who.org_id:
        raise AuthenticationFailed("Not signed in to the portal.")
    return customer


def owned_invoice(uow: UnitOfWork, who: Visitor, invoice_id: str) -> m.Invoice:
    """One of the visitor's own finalized invoices; anything else is not found."""
    invoice = uow.session.get(m.Invoice, invoice_id)
    if invoice is None or invoice.org_id != who.org_id \
            or invoice.customer_id != who.customer_id or invoice.status == "draft":
        raise NotFound("No such invoice.", param="invoice")
    return invoice


def invoices_of(uow: UnitOfWork, who: Visitor) -> list[m.Invoice]:
    return list(uow.session.scalars(select(m.Invoice).where(
        m.Invoice.org_id == who.org_id, m.Invoice.customer_id == who.customer_id,
        m.Invoice.status != "draft").order_by(m.Invoice.id.desc()).limit(100)))


def credit_notes_of(uow: UnitOfWork, who: Visitor) -> list[m.CreditNote]:
    return list(uow.session.scalars(select(m.CreditNote).where(
        m.CreditNote.org_id == who.org_id, m.CreditNote.customer_id == who.customer_id)
        .order_by(m.CreditNote.id.desc()).limit(100)))


def owned_credit_note(uow: UnitOfWork, who: Visitor, credit_note_id: str) -> m.CreditNote:
    """One of the visitor's own credit notes; anything else is not found."""
    note = uow.session.get(m.CreditNote, credit_note_id)
    if note is None or note.org_id != who.org_id or note.customer_id != who.customer_id:
        raise NotFound("No such credit note.", param="credit_note")
    return note


def subscriptions_of(uow: UnitOfWork, who: Visitor) -> list[m.Subscription]:
    return list(uow.session.scalars(select(m.Subscription).where(
        m.Subscription.org_id == who.org_id, m.Subscription.customer_id == who.customer_id,
        m.Subscription.status.not_in(("canceled", "incomplete_expired")))
        .order_by(m.Subscription.id)))


def methods_of(uow: UnitOfWork, who: Visitor) -> list[m.PaymentMethod]:
    return list(uow.session.scalars(select(m.PaymentMethod).where(
        m.PaymentMethod.org_id == who.org_id, m.PaymentMethod.customer_id == who.customer_id,
        m.PaymentMethod.status == "attached").order_by(m.PaymentMethod.id)))


def owned_method(uow: UnitOfWork, who: Visitor, method_id: str) -> m.PaymentMethod:
    """One of the visitor's own attached payment methods; anything else is not found."""
    method = uow.session.get(m.PaymentMethod, method_id)
    if method is None or method.org_id != who.org_id \
            or method.customer_id != who.customer_id or method.status != "attached":
        raise NotFound("No such payment method.", param="payment_method")
    return method
