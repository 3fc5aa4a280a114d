"""Rendering ahead: the PDFs of newly finalized invoices and credit notes, stored right after
finalization (services/documents.py), each in its own transaction. Rendering is kept out of
the billing run itself: a billing-day spike invoices first and renders after."""

from __future__ import annotations

import logging

from kassa.config import Kassa
from kassa.services import documents

log = logging.getLogger("kassa.jobs")

BATCH = 50


def render_documents(kassa: Kassa, *, max_documents: int = 500) -> int:
    """Render and store up to `max_documents` missing PDFs; returns how many were stored.
    A document that fails to render is logged and does not stop the others (it is tried
    again on the next pass, and a download renders it on demand)."""
    target = kassa.publishing
    done, failed = 0, set[str]()
    while done + len(failed) < max_documents:
        with kassa.uow() as uow:
            batch = [entry for entry in documents.unrendered(uow, limit=BATCH + len(failed))
                     if entry[2] not in failed][:BATCH]
        if not batch:
            break
        for object_type, org_id, object_id in batch:
            try:
                with kassa.uow() as uow:
                    documents.store_pdf(uow, target, object_type, org_id, object_id)
            except Exception:
                log.exception("rendering the PDF of %s %s failed", object_type, object_id)
                failed.add(object_id)
            else:
                done += 1
    return done
