"""The customer self-service portal's sessions and what a portal customer may see and do.

The SaaS asks for a session for one customer (`POST /v1/billing_portal/sessions`) and sends
the customer to its URL. The link works once and for LINK_LIFETIME; opening it starts a
browser session (a cookie, HttpOnly, SameSite=Lax) for SESSION_LIFETIME. Only hashes of the
link and the cookie are stored. A session ends at logout, at its end, or as soon as the API
key that made it is revoked or expires. Everything a portal page reads goes through
`customer_of` and the `owned` helpers, which only ever load that customer's objects: an id of
anyone else's is "not found". Forms carry a CSRF token derived from the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from kassa.core.clock import to_unix
from kassa.core.errors import AuthenticationFailed, InvalidRequest, NotFound
from kassa.core.ids import new_id
from kassa.core.secrets import hash_secret
from kassa.services import scoping
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

LINK_LIFETIME = timedelta(minutes=10)
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
    link = secrets.token_urlsafe(32)
    now = uow.clock.now()
    row = m.PortalSession(
        id=new_id("bps"), org_id=org_id, customer_id=found.id, api_key_id=api_key_id,
        link_hash=hash_secret("link:" + link, pepper), link_expires_at=now + LINK_LIFETIME,
        expires_at=now + LINK_LIFETIME + SESSION_LIFETIME, return_url=return_url,
        locale=locale, created=now)
    uow.session.add(row)
    uow.commit()
    return row, f"{public_url.rstrip('/')}/portal/session/{link}"


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


def csrf_token(pepper: bytes, who: Visitor) -> str:
    return hmac.new(pepper, f"portal-csrf:{who.session_id}".encode(),
                    hashlib.sha256).hexdigest()


def check_csrf(pepper: bytes, who: Visitor, token: str | None) -> None:
    if not token or not hmac.compare_digest(csrf_token(pepper, who), token):
        raise InvalidRequest("The form has expired; reload the page and try again.",
                             param="csrf_token", code="csrf_invalid")


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
