"""The in-process scheduler for the embedded (SQLite) mode: the same billing run as the
workers', collection of payments, the storing of new PDFs, the e-mail and the webhook
delivery and revenue recognition, on a timer thread inside `kassa serve`."""

from __future__ import annotations

import logging
import threading

from kassa.config import Kassa
from kassa.jobs.billing import run_billing
from kassa.jobs.documents import render_documents
from kassa.jobs.emails import deliver_emails
from kassa.jobs.ledger import recognize_revenue
from kassa.jobs.payments import collect_payments
from kassa.jobs.webhooks import deliver_webhooks

log = logging.getLogger("kassa.scheduler")


class Scheduler:
    def __init__(self, kassa: Kassa, interval_seconds: float = 30.0) -> None:
        self.kassa = kassa
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kassa-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                result = run_billing(self.kassa)
                if result.customers or result.failed:
                    log.info("billing run: %s customers, %s failed", result.customers,
                             result.failed)
            except Exception:
                log.exception("billing run failed")
            try:
                collect_payments(self.kassa)
            except Exception:
                log.exception("collecting payments failed")
            try:
                render_documents(self.kassa)
            except Exception:
                log.exception("rendering documents failed")
            try:
                deliver_emails(self.kassa)
            except Exception:
                log.exception("e-mail delivery failed")
            try:
                deliver_webhooks(self.kassa)
            except Exception:
                log.exception("webhook delivery failed")
            try:
                recognize_revenue(self.kassa)
            except Exception:
                log.exception("revenue recognition failed")
            self._stop.wait(self.interval)
