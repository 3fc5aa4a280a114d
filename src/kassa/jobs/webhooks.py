"""Webhook delivery: new events routed to the endpoints that want them, then the due
deliveries POSTed (services/webhooks.py), batch after batch while there is work."""

from __future__ import annotations

import logging

from kassa.adapters import webhook_http
from kassa.config import Kassa
from kassa.services import webhooks

log = logging.getLogger("kassa.jobs")


def deliver_webhooks(kassa: Kassa, *, poster: webhooks.Poster = webhook_http.post,
                     max_batches: int = 20) -> webhooks.DeliveryCounts:
    """Route what is new and deliver what is due; sums the counts of all batches."""
    while webhooks.route(kassa.session_factory, kassa.clock):
        pass
    total = webhooks.DeliveryCounts()
    for _ in range(max_batches):
        batch = webhooks.deliver_due(kassa.session_factory, kassa.clock, kassa.pepper, poster,
                                     allow_private=kassa.settings.allows_private_urls)
        total.delivered += batch.delivered
        total.retrying += batch.retrying
        total.failed += batch.failed
        if batch.delivered + batch.retrying + batch.failed < webhooks.BATCH:
            break
    if total.retrying or total.failed:
        log.warning("webhooks: %s delivered, %s to retry, %s failed", total.delivered,
                    total.retrying, total.failed)
    return total
