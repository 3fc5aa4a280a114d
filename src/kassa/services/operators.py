"""Operators: the SaaS's own staff (finance, support) who use the operator dashboard of one
organization; their roles, their sign-in and their browser sessions.

Roles (`PERMISSIONS`): every operator reads everything of their organization; what they
may change depends on the role. `admin` may do everything, managing operators included;
`finance` every invoice, payment, credit and bank action; `support` may send a payment
reminder and retry a payment, nothing else.

Sign-in is by e-mail and password; only an argon2id hash of the password is stored. An
unknown e-mail gets the same answer as a wrong password (and costs the same time). After
MAX_FAILURES failed sign-ins for one e-mail within FAILURE_WINDOW, that e-mail is locked
for LOCKOUT, whether an operator has it or not, so the lockout tells nothing either.

A session is a random cookie of which only a keyed hash is stored. It ends at sign-out,
SESSION_LIFETIME after sign-in, after IDLE_TIMEOUT without a request, and when its
operator is deactivated. Forms carry a CSRF token derived from the session.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from kassa.core.errors import AuthenticationFailed, InvalidRequest, InvalidState
from kassa.core.ids import new_id
from kassa.core.secrets import check_form_token, form_token, hash_secret
from kassa.services import scoping
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

ROLES = ("admin", "finance", "support")

# What an operator may change, by name; reading is open to every role.
ACTIONS = {
    "invoice.void": "Void an invoice",
    "invoice.mark_uncollectible": "Mark an invoice uncollectible",
    "invoice.mark_paid": "Mark an invoice paid out of band",
    "invoice.retry_payment": "Retry a payment (collect now)",
    "invoice.send_reminder": "Send a payment reminder e-mail",
    "credit_note.create": "Issue a credit note",
    "credit_note.void": "Void a credit note",
    "payment.refund": "Refund a payment",
    "customer.credit": "Add credit to a customer's balance",
    "bank_transaction.match": "Match a bank transaction to an invoice",
    "bank_transaction.ignore": "Set a bank transaction aside",
    "operators.manage": "Add operators, change their role, deactivate them",
}
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ACTIONS),
    "finance": frozenset(ACTIONS) - {"operators.manage"},
    "support": frozenset({"invoice.send_reminder", "invoice.retry_payment"}),
}

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)
IDLE_TIMEOUT = timedelta(minutes=30)
TOUCH_EVERY = timedelta(minutes=1)  # last use is written at most this often
COOKIE = "kassa_dashboard"
MIN_PASSWORD = 12
MAX_PASSWORD = 1000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_hasher = PasswordHasher()


class NotAllowed(Exception):
    """The operator's role does not allow the action."""


class LockedOut(Exception):
    """Too many failed sign-ins for this e-mail; sign-in is refused until `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until)
        self.until = until


@dataclass(frozen=True)
class Staff:
    """Who is in the dashboard: one operator of one organization, in one session."""

    session_id: str
    operator_id: str
    org_id: str
    email: str
    role: str

    def may(self, action: str) -> bool:
        return may(self.role, action)


def may(role: str, action: str) -> bool:
    """Whether `role` may do `action` (one of ACTIONS)."""
    assert action in ACTIONS, action
    return action in PERMISSIONS.get(role, frozenset())


def require(who: Staff, action: str) -> None:
    """NotAllowed unless the operator's role allows `action`."""
    if not who.may(action):
        raise NotAllowed(f"A {who.role} operator may not: {ACTIONS[action].lower()}.")


# --- accounts ------------------------------------------------------------------------------

def _email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 320 or not _EMAIL.fullmatch(email):
        raise InvalidRequest("Enter a valid e-mail address.", param="email")
    return email


def _role(value: str) -> str:
    if value not in ROLES:
        raise InvalidRequest(f"role is one of {', '.join(ROLES)}.", param="role")
    return value


def _password_hash(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters.",
                             param="password")
    return _hasher.hash(password)


def new_password() -> str:
    """A strong password (about 190 random bits) for an operator who is given one."""
    return secrets.token_urlsafe(24)


def create_operator(uow: UnitOfWork, org_id: str, *, email: str, role: str,
                    password: str) -> m.Operator:
    """A new, active operator of the organization; the e-mail signs in to one organization
    only, so it is unique in the installation."""
    org = uow.session.get(m.Organization, org_id)
    if org is None:
        raise InvalidRequest(f"No such organization: {org_id!r}", param="org")
    row = m.Operator(id=new_id("op"), org_id=org_id, email=_email(email), role=_role(role),
                     password_hash=_password_hash(password), active=True,
                     created=uow.clock.now())
    taken = InvalidRequest("An operator with this e-mail already exists.", param="email",
                           code="resource_already_exists")
    if uow.session.scalar(select(m.Operator.id).where(m.Operator.email == row.email)):
        raise taken
    uow.session.add(row)
    try:
        uow.commit()
    except IntegrityError:  # added at the same moment by someone else
        uow.rollback()
        raise taken from None
    return row


def list_operators(uow: UnitOfWork, org_id: str) -> list[m.Operator]:
    """The organization's operators, active first, by e-mail."""
    return list(uow.session.scalars(select(m.Operator).where(m.Operator.org_id == org_id)
                                    .order_by(m.Operator.active.desc(), m.Operator.email)))


def _admins_left(uow: UnitOfWork, org_id: str, without: str) -> int:
    return uow.session.scalar(select(func.count()).select_from(m.Operator).where(
        m.Operator.org_id == org_id, m.Operator.role == "admin",
        m.Operator.active.is_(True), m.Operator.id != without)) or 0


def change_role(uow: UnitOfWork, org_id: str, operator_id: str, role: str) -> m.Operator:
    """Give the operator another role (from their next request on). The organization keeps
    at least one active admin."""
    row = scoping.get(uow.session, m.Operator, org_id, operator_id, param="operator",
                      lock=True)
    role = _role(role)
    if not row.active:
        raise InvalidState("This operator is deactivated.", param="operator")
    if row.role == "admin" and role != "admin" and not _admins_left(uow, org_id, row.id):
        raise InvalidState("The organization needs at least one admin.", param="role")
    row.role = role
    uow.commit()
    return row


def deactivate(uow: UnitOfWork, org_id: str, operator_id: str) -> m.Operator:
    """The operator can no longer sign in, and their sessions end now. The organization
    keeps at least one active admin."""
    row = scoping.get(uow.session, m.Operator, org_id, operator_id, param="operator",
                      lock=True)
    if not row.active:
        raise InvalidState("This operator is already deactivated.", param="operator")
    if row.role == "admin" and not _admins_left(uow, org_id, row.id):
        raise InvalidState("The organization needs at least one admin.", param="operator")
    now = uow.clock.now()
    row.active, row.deactivated_at = False, now
    for session in uow.session.scalars(select(m.OperatorSession).where(
            m.OperatorSession.operator_id == row.id, m.OperatorSession.ended_at.is_(None))):
        session.ended_at = now
    uow.commit()
    return row


# --- signing in ----------------------------------------------------------------------------

@cache
def _decoy_hash() -> str:
    """What an unknown e-mail's password is checked against, so it takes as long."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def locked_until(uow: UnitOfWork, pepper: bytes, email: str) -> datetime | None:
    """Until when sign-in with `email` is refused (None: it is not)."""
    now = uow.clock.now()
    failures = list(uow.session.scalars(select(m.OperatorLoginFailure.created).where(
        m.OperatorLoginFailure.email_hash == _email_hash(pepper, email),
        m.OperatorLoginFailure.created > now - FAILURE_WINDOW - LOCKOUT)
        .order_by(m.OperatorLoginFailure.created)))
    until = None
    for last in range(MAX_FAILURES - 1, len(failures)):
        if failures[last] - failures[last - MAX_FAILURES + 1] <= FAILURE_WINDOW \
                and failures[last] + LOCKOUT > now:
            until = failures[last] + LOCKOUT
    return until


def _email_hash(pepper: bytes, email: str) -> str:
    return hash_secret("operator-email:" + email.strip().lower(), pepper)


def sign_in(uow: UnitOfWork, pepper: bytes, email: str, password: str, *,
            ip: str | None = None) -> tuple[m.OperatorSession, str]:
    """Start a session for the operator with this e-mail and password; returns it and its
    cookie's value. AuthenticationFailed (the same for an unknown e-mail, a wrong password
    and a deactivated operator), or LockedOut."""
    until = locked_until(uow, pepper, email)
    if until is not None:
        raise LockedOut(until)
    now = uow.clock.now()
    row = uow.session.scalars(select(m.Operator).where(
        m.Operator.email == email.strip().lower())).first()
    # Every refusal costs one password check: without an operator (or with a password
    # longer than any that can be set) the password is checked against a decoy.
    known = row.password_hash if row is not None and len(password) <= MAX_PASSWORD else None
    verified = _verify(known or _decoy_hash(), password[:MAX_PASSWORD]) and known is not None
    if row is None or not verified or not row.active:
        uow.session.execute(delete(m.OperatorLoginFailure).where(
            m.OperatorLoginFailure.created < now - FAILURE_WINDOW - LOCKOUT))  # never read
        uow.session.add(m.OperatorLoginFailure(id=new_id("olf"),
                                               email_hash=_email_hash(pepper, email),
                                               created=now))
        uow.commit()
        raise AuthenticationFailed("Wrong e-mail or password.")
    uow.session.execute(delete(m.OperatorLoginFailure).where(
        m.OperatorLoginFailure.email_hash == _email_hash(pepper, email)))
    if _hasher.check_needs_rehash(row.password_hash):
        row.password_hash = _hasher.hash(password)
    cookie = secrets.token_urlsafe(32)
    session = m.OperatorSession(
        id=new_id("ops"), org_id=row.org_id, operator_id=row.id,
        cookie_hash=hash_secret("operator-cookie:" + cookie, pepper), ip=ip, created=now,
        expires_at=now + SESSION_LIFETIME, last_seen_at=now)
    row.last_login_at = now
    uow.session.add(session)
    uow.commit()
    return session, cookie


def staff(uow: UnitOfWork, pepper: bytes, cookie: str | None) -> Staff:
    """The operator a session cookie belongs to (its use noted), or AuthenticationFailed."""
    if not cookie:
        raise AuthenticationFailed("Not signed in to the dashboard.")
    session = uow.session.scalars(select(m.OperatorSession).where(
        m.OperatorSession.cookie_hash == hash_secret("operator-cookie:" + cookie, pepper))
    ).first()
    now = uow.clock.now()
    if session is None or session.ended_at is not None or session.expires_at <= now \
            or now - session.last_seen_at >= IDLE_TIMEOUT:
        raise AuthenticationFailed("The dashboard session has ended; sign in again.")
    operator = uow.session.get(m.Operator, session.operator_id)
    if operator is None or not operator.active:
        raise AuthenticationFailed("The dashboard session has ended; sign in again.")
    if now - session.last_seen_at >= TOUCH_EVERY:
        session.last_seen_at = now
        uow.commit()
    return Staff(session.id, operator.id, operator.org_id, operator.email, operator.role)


def sign_out(uow: UnitOfWork, who: Staff) -> None:
    session = uow.session.get(m.OperatorSession, who.session_id)
    if session is not None and session.ended_at is None:
        session.ended_at = uow.clock.now()
        uow.commit()


def csrf_token(pepper: bytes, who: Staff) -> str:
    return form_token(pepper, "dashboard", who.session_id)


def check_csrf(pepper: bytes, who: Staff, token: str | None) -> None:
    check_form_token(pepper, "dashboard", who.session_id, token)
