"""Two delivery workers drain the same outbox at once on PostgreSQL: every message reaches
the SMTP server exactly once (rows are taken with SKIP LOCKED and marked sent in the same
transaction), and both workers do part of the work."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from kassa.config import Kassa
from kassa.services import emails, organizations
from kassa.services.emails import deliver_due
from kassa.store import models as m
from smtp_server import SmtpServer

pytestmark = pytest.mark.postgres_only

MESSAGES = 120


def test_two_workers_send_every_message_exactly_once(
        kassa: Kassa, org: organizations.NewOrganization, smtp: SmtpServer) -> None:
    with kassa.uow() as uow:
        seller = uow.session.get(m.Organization, org.organization.id)
        assert seller is not None
        for index in range(MESSAGES):
            emails.enqueue(uow, seller, customer=None, kind="payment_receipt",
                           dedupe_key=f"load:{index}", to=f"c{index}@example.com",
                           subject=f"Message {index}", text="Hello")
        uow.commit()
    sent = [0, 0]
    start = threading.Barrier(2)

    def worker(slot: int) -> None:
        start.wait()
        while True:
            counts = deliver_due(kassa.session_factory, kassa.clock, smtp.mailer, limit=5)
            sent[slot] += counts.sent
            if counts.sent + counts.retrying + counts.failed == 0:
                return

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    subjects = Counter(message["Subject"] for message in smtp.messages)
    assert len(subjects) == MESSAGES and set(subjects.values()) == {1}
    assert sum(sent) == MESSAGES and min(sent) > 0, sent  # both workers took messages
    with kassa.uow() as uow:
        statuses = Counter(uow.session.scalars(
            m.EmailMessage.__table__.select().with_only_columns(m.EmailMessage.status)))
    assert statuses == {"sent": MESSAGES}
