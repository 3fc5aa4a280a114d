"""Customer e-mails through an outbox: `enqueue` writes the message in the caller's
transaction, `deliver_due` sends what is due, each message in its own transaction.

Delivery is at least once: a message is marked sent only after the SMTP server accepted it,
and keeps a stable Message-ID, so a resend after a crash between the two is recognisably
the same message. Failures are retried with backoff (domain/delivery.py) for about three
days, then the message is `failed` until someone retries it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import lru_cache
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kassa.adapters.mail import Mailer
from kassa.core import locales
from kassa.core.clock import Clock
from kassa.core.errors import InvalidState
from kassa.core.ids import new_id
from kassa.core.money import to_major
from kassa.domain.delivery import retry_delay
from kassa.services import email_texts, objects, prefetch, scoping
from kassa.services.organizations import timezone_of
from kassa.store import models as m
from kassa.store import rows
from kassa.store.db import is_postgres, upsert_insert
from kassa.store.uow import UnitOfWork

log = logging.getLogger("kassa.emails")

AttachmentLoader = Callable[[Mapping[str, Any]], bytes]
"""Returns the bytes of one attachment entry ({"filename", "content_type", "document_id"}
or "invoice_id"); provided by the documents service."""

STATUSES = ("pending", "sent", "failed")

LEASE = timedelta(minutes=5)  # how long a claimed message is left to its worker

PUBLIC_URL = "{public_url}"  # in stored bodies: the deployment's KASSA_PUBLIC_URL

# Kinds whose links sign the reader in: once sent, the stored copy loses the link, so the
# outbox (and `GET /v1/emails`) never holds a usable one for longer than delivery takes.
SECRET_KINDS = frozenset({"portal_login"})
_SIGN_IN_LINK = re.compile(r"/portal/session/[A-Za-z0-9_-]+")


# --- the outbox --------------------------------------------------------------------------

def enqueue(uow: UnitOfWork, org: m.Organization, *, customer: m.Customer | None, kind: str,
            dedupe_key: str, to: str | None, subject: str, text: str,
            html: str | None = None, attachments: Iterable[Mapping[str, Any]] = (),
            locale: str = "en") -> m.EmailMessage | None:
    """Put a message in the outbox, in the caller's transaction (the caller commits).

    None when the organization turned `kind` off or there is no address. A second message
    with the same `dedupe_key` is not added: the first one is returned.
    """
    if kind in (org.email_settings or {}).get("disabled", []) or not to:
        return None
    now = uow.clock.now()
    values = dict(
        id=new_id("em"), org_id=org.id, customer_id=customer.id if customer else None,
        kind=kind, dedupe_key=dedupe_key, locale=locale, to_address=to, subject=subject,
        text_body=text, html_body=html, attachments=[dict(a) for a in attachments],
        status="pending", attempts=0, next_attempt_at=now, created=now)
    batch = prefetch.of(uow.session)
    if batch is not None:
        # A billing batch writes its messages with its other rows, in one flush. A key sent
        # before (there is no such case in billing: its keys name the new invoice) would
        # break the unique key and send the batch down the one-by-one path.
        return batch.remember(("email", org.id, dedupe_key),
                              lambda: _inserted(batch, values))
    table = m.EmailMessage.__table__
    statement = (upsert_insert(uow.session, table).values(**values)
                 .on_conflict_do_nothing(index_elements=[table.c.org_id, table.c.dedupe_key]))
    # The outbox row stands alone: nothing pending in the session needs flushing first.
    with uow.session.no_autoflush:
        uow.session.execute(statement)
        return uow.session.scalars(select(m.EmailMessage).where(
            m.EmailMessage.org_id == org.id, m.EmailMessage.dedupe_key == dedupe_key)).one()


def _inserted(batch: prefetch.Batch, values: dict[str, Any]) -> m.EmailMessage:
    batch.insert(m.EmailMessage, values)
    return rows.built(m.EmailMessage, values)


def enqueue_rendered(uow: UnitOfWork, org: m.Organization, customer: m.Customer, kind: str,
                     dedupe_key: str, attachments: Iterable[Mapping[str, Any]] = (),
                     **values: Any) -> m.EmailMessage | None:
    """Enqueue `kind` from the text catalog, in the customer's language, to the customer."""
    if not customer.email:
        return None
    rendered = email_texts.render(kind, customer.locale or org.locale, org=org.name,
                                  name=customer.name, brand_color=org.brand_color, **values)
    return enqueue(uow, org, customer=customer, kind=kind, dedupe_key=dedupe_key,
                   to=customer.email, subject=rendered.subject, text=rendered.text,
                   html=rendered.html, attachments=attachments, locale=rendered.locale)


# --- the messages Kassa sends --------------------------------------------------------------

@lru_cache(maxsize=4096)
def amount_text(amount: int, currency: str, locale: str | None) -> str:
    """An amount in minor units as the locale writes it: "€19.99", "€ 19,99"."""
    return str(format_currency(to_major(amount, currency), currency.upper(),
                               locale=locales.language(locale)))


def date_text(org: m.Organization, customer: m.Customer, at: datetime | None) -> str | None:
    """The day of `at` in the customer's timezone, written out in the customer's language."""
    if at is None:
        return None
    day = at.astimezone(timezone_of(org, customer)).date()
    return _day_text(day, customer.locale or org.locale)


@lru_cache(maxsize=4096)
def _day_text(day: date, locale: str | None) -> str:
    return str(format_date(day, format="long", locale=locales.language(locale)))


def plan_name(org: m.Organization, sub: m.Subscription) -> str:
    """What the customer calls the subscription: the product of its first current item."""
    items = objects.current_items(sub) or list(sub.items)
    return items[0].price.product.name if items else org.name


def _invoice_link(invoice: m.Invoice, page: str | None = None) -> str | None:
    """The invoice's hosted page (or one of its pages: `payment_method`)."""
    if not invoice.hosted_token:
        return None
    return f"{PUBLIC_URL}/i/{invoice.hosted_token}" + (f"/{page}" if page else "")


def invoice_issued(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                   invoice: m.Invoice) -> None:
    """E-mail a finalized invoice with its PDF (invoices with nothing to pay are not sent)."""
    if invoice.total == 0 and invoice.amount_due == 0:
        return
    attachments, values = _invoice_message(org, customer, invoice,
                                           customer.locale or org.locale)
    enqueue_rendered(uow, org, customer, "invoice_issued", f"invoice_issued:{invoice.id}",
                     attachments, **values)


def _invoice_message(org: m.Organization, customer: m.Customer, invoice: m.Invoice,
                     locale: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The attachment and the text values of an invoice's e-mail."""
    number = invoice.number or "draft"
    attachment = {"filename": f"{number}.pdf", "content_type": "application/pdf",
                  "document_id": None, "invoice_id": invoice.id}
    return [attachment], {"url": _invoice_link(invoice), "number": number,
                          "amount": amount_text(invoice.amount_due, invoice.currency, locale),
                          "due_date": date_text(org, customer, invoice.due_date)}


def preview_invoice_email(uow: UnitOfWork, org_id: str, invoice_id: str, *,
                          locale: str | None = None,
                          public_url: str | None = None) -> dict[str, Any]:
    """What the invoice's e-mail says, as it would be sent (GET .../email_preview); writes
    nothing. An unknown `locale` falls back to English, and the answer says so."""
    invoice = scoping.get(uow.session, m.Invoice, org_id, invoice_id)
    org = uow.session.get(m.Organization, org_id)
    customer = uow.session.get(m.Customer, invoice.customer_id)
    assert org is not None and customer is not None
    wanted = locale or customer.locale or org.locale
    attachments, values = _invoice_message(org, customer, invoice, wanted)
    rendered = email_texts.render("invoice_issued", wanted, org=org.name, name=customer.name,
                                  brand_color=org.brand_color, **values)
    base = (public_url or "").rstrip("/")
    return {"object": "email_preview", "kind": "invoice_issued", "invoice": invoice.id,
            "to": customer.email, "locale": rendered.locale,
            "locale_fallback": locale is not None and not locales.language_of(locale)[1],
            "subject": rendered.subject, "text": rendered.text.replace(PUBLIC_URL, base),
            "html": (rendered.html or "").replace(PUBLIC_URL, base),
            "attachments": [{"filename": a["filename"], "content_type": a["content_type"]}
                            for a in attachments]}


def payment_receipt(uow: UnitOfWork, org: m.Organization, invoice: m.Invoice) -> None:
    """E-mail a receipt for an invoice that was paid (with money, not only credit)."""
    customer = uow.session.get(m.Customer, invoice.customer_id)
    if customer is None or invoice.amount_paid <= 0:
        return
    enqueue_rendered(uow, org, customer, "payment_receipt", f"payment_receipt:{invoice.id}",
                     number=invoice.number,
                     amount=amount_text(invoice.amount_paid, invoice.currency,
                                    customer.locale or org.locale))


def credit_note_issued(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                       invoice: m.Invoice, note: m.CreditNote) -> None:
    enqueue_rendered(uow, org, customer, "credit_note_issued", f"credit_note_issued:{note.id}",
                     number=note.number, invoice_number=invoice.number,
                     amount=amount_text(note.total, note.currency, customer.locale or org.locale))


def subscription_canceled(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                          sub: m.Subscription) -> None:
    enqueue_rendered(uow, org, customer, "subscription_canceled",
                     f"subscription_canceled:{sub.id}", plan=plan_name(org, sub),
                     ended=date_text(org, customer, sub.ended_at or uow.clock.now()))


def payment_failed(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                   invoice: m.Invoice, *, reason: str | None, next_attempt_at: datetime | None,
                   attempt: int, hard: bool = False, suspend_on: datetime | None = None,
                   cancel_on: datetime | None = None) -> m.EmailMessage | None:
    """Tell the customer that attempt `attempt` to collect the invoice failed: why (when
    known), a link to pay it and one to give another payment method, when the next try is
    (if any; after a `hard` decline the method is not tried again), and when service is
    suspended or the subscription canceled unless it is paid. Each attempt is told once."""
    locale = customer.locale or org.locale
    return enqueue_rendered(
        uow, org, customer, "payment_failed", f"payment_failed:{invoice.id}:{attempt}",
        number=invoice.number, reason=reason or None, url=_invoice_link(invoice),
        update_url=_invoice_link(invoice, "payment_method"),
        amount=amount_text(invoice.amount_remaining, invoice.currency, locale),
        next_attempt=date_text(org, customer, next_attempt_at), no_retry="" if hard else None,
        suspend_on=date_text(org, customer, suspend_on),
        cancel_on=date_text(org, customer, cancel_on))


def invoice_reminder(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                     invoice: m.Invoice, *, days: int, suspend_on: datetime | None = None,
                     cancel_on: datetime | None = None) -> m.EmailMessage | None:
    """Remind the customer of an invoice sent to them: `days` relative to its due date
    (before or on it: `invoice_reminder`; after it: `invoice_overdue`, with what happens
    when unless it is paid). Each reminder is sent once."""
    locale = customer.locale or org.locale
    kind = "invoice_overdue" if days > 0 else "invoice_reminder"
    return enqueue_rendered(
        uow, org, customer, kind, f"{kind}:{invoice.id}:{days}", number=invoice.number,
        amount=amount_text(invoice.amount_remaining, invoice.currency, locale),
        due_date=date_text(org, customer, invoice.due_date), days=days if days > 0 else None,
        url=_invoice_link(invoice), suspend_on=date_text(org, customer, suspend_on),
        cancel_on=date_text(org, customer, cancel_on))


def portal_login(uow: UnitOfWork, org: m.Organization, customer: m.Customer, link_path: str,
                 session_id: str) -> m.EmailMessage | None:
    """A sign-in link to the portal, asked for on its login page."""
    return enqueue_rendered(uow, org, customer, "portal_login", f"portal_login:{session_id}",
                            url=PUBLIC_URL + link_path)


def service_suspended(uow: UnitOfWork, org: m.Organization, customer: m.Customer,
                      invoice: m.Invoice, case_id: str) -> m.EmailMessage | None:
    """Tell the customer their service is suspended until the invoice is paid."""
    locale = customer.locale or org.locale
    return enqueue_rendered(
        uow, org, customer, "service_suspended", f"service_suspended:{case_id}",
        number=invoice.number, url=_invoice_link(invoice),
        amount=amount_text(invoice.amount_remaining, invoice.currency, locale))


# --- delivery ------------------------------------------------------------------------------

@dataclass
class DeliveryCounts:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def deliver_due(session_factory: sessionmaker[Session], clock: Clock, mailer: Mailer, *,
                limit: int = 100, attachment_loader: AttachmentLoader | None = None,
                sender: str | None = None, public_url: str | None = None) -> DeliveryCounts:
    """Send up to `limit` pending messages that are due, each in its own transaction.

    A message is claimed before it is sent (SKIP LOCKED on PostgreSQL, then a lease of
    LEASE), so two workers never send the same message; a worker that dies holding a claim
    delays the message by the lease, never loses it.
    """
    counts = DeliveryCounts()
    now = clock.now()
    for _ in range(limit):
        # Claim the message first (a lease: it is not due for anyone else until LEASE has
        # passed), then load its attachments outside any transaction (loading one may render
        # and store a document in a transaction of its own), then send it.
        with session_factory() as session:
            claimed = _next_due(session, now)
            if claimed is None:
                break
            claimed.next_attempt_at = lease = now + LEASE
            row_id, wanted = claimed.id, list(claimed.attachments or [])
            session.commit()
        loaded = _load(wanted, attachment_loader)
        with session_factory() as session:
            row = session.get(m.EmailMessage, row_id, with_for_update=True)
            if row is None or row.status != "pending" or row.next_attempt_at != lease:
                continue  # retried or sent by hand meanwhile: the lease is no longer ours
            org = session.get(m.Organization, row.org_id)
            assert org is not None
            try:
                if isinstance(loaded, Exception):
                    raise loaded
                mailer.send(build_message(row, org, sender, loaded, public_url))
            except Exception as exc:
                _record_failure(row, exc, now)
                if row.status == "failed":
                    counts.failed += 1
                else:
                    counts.retrying += 1
            else:
                row.status, row.sent_at, row.last_error = "sent", now, None
                row.attempts += 1
                row.message_id = message_id(row, sender or _sender(org))
                row.next_attempt_at = None
                if row.kind in SECRET_KINDS:
                    row.text_body = _without_links(row.text_body)
                    row.html_body = row.html_body and _without_links(row.html_body)
                counts.sent += 1
            session.commit()
    return counts


def _load(wanted: list[Mapping[str, Any]],
          loader: AttachmentLoader | None) -> AttachmentLoader | Exception | None:
    """The attachments' contents, loaded now and served from memory while the message is
    built; an error is kept and makes the attempt fail (it is retried)."""
    if loader is None or not wanted:
        return loader
    try:
        contents = {json.dumps(a, sort_keys=True): loader(a) for a in wanted}
    except Exception as exc:
        return exc
    return lambda attachment: contents[json.dumps(attachment, sort_keys=True)]


def _next_due(session: Session, now: datetime) -> m.EmailMessage | None:
    query = (select(m.EmailMessage)
             .where(m.EmailMessage.status == "pending", m.EmailMessage.next_attempt_at <= now)
             .order_by(m.EmailMessage.next_attempt_at, m.EmailMessage.id).limit(1))
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()


def _record_failure(row: m.EmailMessage, exc: Exception, now: datetime) -> None:
    row.attempts += 1
    row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    delay = retry_delay(row.attempts)
    if delay is None:
        row.status, row.next_attempt_at = "failed", None
        log.error("e-mail %s failed for good after %s attempts: %s", row.id, row.attempts,
                  row.last_error)
    else:
        row.next_attempt_at = now + delay
        log.warning("e-mail %s not sent (attempt %s), retry at %s: %s", row.id, row.attempts,
                    row.next_attempt_at, row.last_error)


def _without_links(body: str) -> str:
    return _SIGN_IN_LINK.sub("/portal/session/(removed after sending)", body)


def _sender(org: m.Organization) -> str:
    return org.support_email or "billing@localhost"


def message_id(row: m.EmailMessage, sender: str) -> str:
    """The Message-ID of the outbox row: the same for every attempt."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{row.id}@{domain}>"


def build_message(row: m.EmailMessage, org: m.Organization, sender: str | None = None,
                  attachment_loader: AttachmentLoader | None = None,
                  public_url: str | None = None) -> EmailMessage:
    """The MIME message of an outbox row: text (and HTML) with its attachments. Links to
    Kassa's public pages are stored relative to `{public_url}`, which the deployment's
    public URL replaces here (services do not know where they are served)."""

    def linked(text: str) -> str:
        return text.replace(PUBLIC_URL, (public_url or "").rstrip("/"))

    from_address = sender or _sender(org)
    message = EmailMessage()
    message["From"] = formataddr((org.name, str(Address(addr_spec=from_address))))
    message["To"] = row.to_address
    if org.support_email and org.support_email != from_address:
        message["Reply-To"] = org.support_email
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created)
    message["Message-ID"] = message_id(row, from_address)
    message.set_content(linked(row.text_body))
    if row.html_body:
        message.add_alternative(linked(row.html_body), subtype="html")
    for attachment in row.attachments or []:
        if attachment_loader is None:
            log.warning("e-mail %s: attachment %s left out (no attachment loader)", row.id,
                        attachment.get("filename"))
            continue
        maintype, _, subtype = attachment["content_type"].partition("/")
        message.add_attachment(attachment_loader(attachment), maintype=maintype,
                               subtype=subtype, filename=attachment["filename"])
    return message


# --- reading and retrying ------------------------------------------------------------------

def list_messages(uow: UnitOfWork, org_id: str, *, status: str | None = None,
                  customer: str | None = None, kind: str | None = None,
                  **page: Any) -> scoping.Page:
    query = select(m.EmailMessage).where(m.EmailMessage.org_id == org_id)
    if status:
        query = query.where(m.EmailMessage.status == status)
    if customer:
        query = query.where(m.EmailMessage.customer_id == customer)
    if kind:
        query = query.where(m.EmailMessage.kind == kind)
    return scoping.paginate(uow.session, query, m.EmailMessage, **page)


def get_message(uow: UnitOfWork, org_id: str, message_id: str) -> m.EmailMessage:
    return scoping.get(uow.session, m.EmailMessage, org_id, message_id)


def retry(uow: UnitOfWork, org_id: str, message_id: str) -> m.EmailMessage:
    """A failed message is pending again, due now, with a fresh set of attempts."""
    row = scoping.get(uow.session, m.EmailMessage, org_id, message_id, lock=True)
    if row.status != "failed":
        raise InvalidState(f"E-mail {row.id} is {row.status}; only failed e-mails can be "
                           "retried.")
    row.status, row.attempts, row.next_attempt_at = "pending", 0, uow.clock.now()
    uow.commit()
    return row


def to_object(row: m.EmailMessage) -> dict[str, Any]:
    """The API's `email_message` object."""
    def ts(value: datetime | None) -> int | None:
        return int(value.timestamp()) if value else None

    return {"id": row.id, "object": "email_message", "customer": row.customer_id,
            "kind": row.kind, "dedupe_key": row.dedupe_key, "locale": row.locale,
            "to": row.to_address, "subject": row.subject, "text": row.text_body,
            "html": row.html_body, "attachments": row.attachments or [],
            "status": row.status, "attempts": row.attempts,
            "next_attempt_at": ts(row.next_attempt_at), "last_error": row.last_error,
            "message_id": row.message_id, "sent_at": ts(row.sent_at),
            "created": ts(row.created)}
