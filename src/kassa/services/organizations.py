"""Organizations (the sellers) and their API keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.core.errors import AuthenticationFailed, InvalidRequest, NotFound
from kassa.core.ids import new_id
from kassa.core.money import normalize_currency
from kassa.core.secrets import hash_secret, new_secret
from kassa.domain import numbering
from kassa.services import email_settings, payment_settings, portal_settings, validation
from kassa.store import models as m
from kassa.store.uow import UnitOfWork


@dataclass(frozen=True)
class NewOrganization:
    organization: m.Organization
    secret_key: str


def _default_prefix(name: str) -> str:
    letters = re.sub(r"[^A-Za-z0-9]", "", name).upper()
    return (letters[:4] or "INV")


def create_organization(uow: UnitOfWork, pepper: bytes, *, name: str,
                        **settings: Any) -> NewOrganization:
    """Create an organization and its first secret key; the key is returned once, never stored."""
    if not name or not name.strip():
        raise InvalidRequest("An organization needs a name.", param="name")
    org = m.Organization(id=new_id("org"), name=name.strip(), created=uow.clock.now(),
                         invoice_prefix=_default_prefix(name),
                         invoice_number_format=numbering.DEFAULT_FORMAT)
    update_settings(org, settings)
    uow.session.add(org)
    uow.session.flush()
    secret = _add_key(uow.session, org, pepper, "default", uow)
    uow.commit()
    return NewOrganization(org, secret)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_BOUNDS = {"draft_grace_seconds": 30 * 86400, "invoice_lead_days": 90, "days_until_due": 365}


def update_settings(org: m.Organization, settings: dict[str, Any]) -> None:
    """Validate and apply organization settings; raises InvalidRequest naming the field."""
    for field, value in settings.items():
        if value is None:
            continue
        if field == "default_currency":
            value = normalize_currency(value, param=field)
        elif field == "timezone":
            validation.timezone(value, param=field)
        elif field == "country":
            value = validation.country(value, param=field)
        elif field == "vat_id":
            value = validation.vat_id(value, param=field)
        elif field == "iban":
            value = validation.iban(value, param=field)
        elif field == "invoice_number_format":
            try:
                numbering.validate_format(value)
            except ValueError as exc:
                raise InvalidRequest(str(exc), param=field) from None
        elif field in _BOUNDS:
            if isinstance(value, bool) or not isinstance(value, int) \
                    or not 0 <= value <= _BOUNDS[field]:
                raise InvalidRequest(f"{field} must be an integer from 0 to {_BOUNDS[field]}.",
                                     param=field)
        elif field == "automatic_tax":
            if not isinstance(value, bool):
                raise InvalidRequest("automatic_tax is true or false.", param=field)
        elif field == "reporting_currency":
            value = normalize_currency(value, param=field)
        elif field == "proration_granularity":
            if value not in ("second", "day"):
                raise InvalidRequest("proration_granularity is second or day.", param=field)
        elif field == "support_email":
            if not isinstance(value, str) or len(value) > 320 or not _EMAIL.fullmatch(value):
                raise InvalidRequest("support_email must be an e-mail address.", param=field)
        elif field == "email_settings":
            value = email_settings.updated(org.email_settings, value)
        elif field == "payment_settings":
            value = payment_settings.updated(org.payment_settings, value)
        elif field == "portal_settings":
            value = portal_settings.updated(org.portal_settings, value)
        elif field == "gross_margin_percent":
            try:
                value = Decimal(str(value))
            except ArithmeticError:
                value = Decimal(-1)
            if isinstance(settings[field], bool) or not value.is_finite() \
                    or not Decimal(0) <= value <= 100:
                raise InvalidRequest("gross_margin_percent is a number from 0 to 100.",
                                     param=field)
        elif field == "brand_color":
            if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
                raise InvalidRequest("brand_color must look like #1a2b3c.", param=field)
        elif field not in {"legal_name", "address", "locale", "invoice_prefix", "logo_url",
                           "name"}:
            raise InvalidRequest(f"Unknown setting: {field}.", param=field)
        setattr(org, field, value)


def get_organization(session: Session, org_id: str, *, lock: bool = False) -> m.Organization:
    org = session.get(m.Organization, org_id, with_for_update=lock)
    if org is None:
        raise NotFound(f"No such organization: '{org_id}'")
    return org


def update_organization(uow: UnitOfWork, org_id: str, settings: dict[str, Any]) -> m.Organization:
    """Change the organization's settings (all validated before any is applied)."""
    org = get_organization(uow.session, org_id, lock=True)
    update_settings(org, settings)
    if settings.get("portal_settings") is not None:
        portal_settings.check_prices(uow.session, org.id, org.portal_settings)
    uow.commit()
    return org


def _add_key(session: Session, org: m.Organization, pepper: bytes, name: str,
             uow: UnitOfWork) -> str:
    secret = new_secret("sk_live")
    session.add(m.ApiKey(id=new_id("key"), org_id=org.id, secret_hash=hash_secret(secret, pepper),
                         last4=secret[-4:], name=name, created=uow.clock.now()))
    return secret


def create_api_key(uow: UnitOfWork, pepper: bytes, org_id: str, name: str) -> str:
    """A further secret key for the organization (shown once)."""
    org = uow.session.get(m.Organization, org_id)
    assert org is not None
    secret = _add_key(uow.session, org, pepper, name, uow)
    uow.commit()
    return secret


def authenticate(session: Session, pepper: bytes, secret: str, now: datetime) -> str:
    """The organization id a live secret key belongs to, or AuthenticationFailed."""
    return api_key(session, pepper, secret, now).org_id


def api_key(session: Session, pepper: bytes, secret: str, now: datetime) -> m.ApiKey:
    """The live secret key a secret is (not revoked, not expired by `now`), or
    AuthenticationFailed."""
    if secret.startswith("pk_"):
        raise AuthenticationFailed("A publishable key (pk_) cannot call the API; use a "
                                   "secret key (sk_).")
    if not secret.startswith("sk_"):
        raise AuthenticationFailed("Invalid API key provided.")
    key = session.scalars(select(m.ApiKey).where(
        m.ApiKey.secret_hash == hash_secret(secret, pepper),
        m.ApiKey.revoked_at.is_(None))).first()
    if key is None or key.type != "secret" or (
            key.expires_at is not None and key.expires_at <= now):
        raise AuthenticationFailed("Invalid API key provided (revoked or expired?).")
    return key


def timezone_of(org: m.Organization, customer: m.Customer | None = None) -> ZoneInfo:
    """The timezone billing dates are computed in: the customer's, else the organization's."""
    name = (customer.timezone if customer is not None else None) or org.timezone or "UTC"
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")
