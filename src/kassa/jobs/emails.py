"""Delivery of the e-mail outbox: everything due, in batches, each message in its own
transaction (services/emails.py). Mail off (no KASSA_SMTP_HOST): messages stay pending."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kassa.config import Kassa
from kassa.services import documents
from kassa.services.emails import AttachmentLoader, DeliveryCounts, deliver_due
from kassa.store import models as m

log = logging.getLogger("kassa.jobs")

BATCH = 100


def invoice_pdf_loader(kassa: Kassa) -> AttachmentLoader:
    """Attachments by reference: an invoice's PDF, rendered once and then served stored."""
    publishing = kassa.publishing

    def load(attachment: Mapping[str, Any]) -> bytes:
        with kassa.uow() as uow:
            invoice = uow.session.get(m.Invoice, attachment["invoice_id"])
            if invoice is None:
                raise LookupError(f"no invoice {attachment['invoice_id']}")
            rendered = documents.invoice_pdf(uow, publishing, invoice.org_id, invoice.id)
            uow.commit()
            return rendered.content

    return load


def deliver_emails(kassa: Kassa, *, attachment_loader: AttachmentLoader | None = None,
                   max_batches: int = 50) -> DeliveryCounts:
    """Send the due messages of every organization; sums the counts of all batches.
    Invoice PDFs are attached (rendered on first use)."""
    total = DeliveryCounts()
    if kassa.mailer is None:
        return total
    attachment_loader = attachment_loader or invoice_pdf_loader(kassa)
    for _ in range(max_batches):
        batch = deliver_due(kassa.session_factory, kassa.clock, kassa.mailer, limit=BATCH,
                            attachment_loader=attachment_loader,
                            sender=kassa.settings.mail_from or None,
                            public_url=kassa.settings.public_url)
        total.sent += batch.sent
        total.retrying += batch.retrying
        total.failed += batch.failed
        if batch.sent + batch.retrying + batch.failed < BATCH:
            break
    if total.retrying or total.failed:
        log.warning("e-mail delivery: %s sent, %s to retry, %s failed", total.sent,
                    total.retrying, total.failed)
    return total
