"""Everything payments need done by a moment, in one pass: the automatic collection attempts
that are due, the payments to ask their gateway about again, the dunning steps that fell due
(after the attempts, so that a last retry made at the moment dunning would give up decides
first), gateway webhooks whose processing failed, and refunds left pending. The worker runs
it every minute on real time; a test clock runs it for its customers at each step of an
advance."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from kassa.core.clock import Clock
from kassa.services import dunning, gateway_events, payments, refunds
from kassa.store import models as m

log = logging.getLogger("kassa.payments")


@dataclass
class RunCounts:
    attempted: int = 0
    checked: int = 0
    dunning: int = 0


def run_due(session_factory: sessionmaker[Session], clock: Clock, gateways: payments.Gateways,
            now: datetime, *, test_clock_id: str | None = None) -> RunCounts:
    """Every collection attempt and status check due by `now`, each in its own transactions;
    one that fails is logged and left for the next run."""
    counts = RunCounts()
    for invoice_id in payments.due_invoice_ids(session_factory, now, test_clock_id=test_clock_id):
        try:
            if payments.collect_invoice(session_factory, clock, gateways, invoice_id) is not None:
                counts.attempted += 1
        except Exception:
            log.exception("collecting invoice %s failed", invoice_id)
    for payment_id in payments.check_due_ids(session_factory, now, test_clock_id=test_clock_id):
        try:
            payments.check_payment(session_factory, clock, gateways, payment_id)
            counts.checked += 1
        except Exception:
            log.exception("checking payment %s failed", payment_id)
    counts.dunning = dunning.run_due(session_factory, clock, now, test_clock_id=test_clock_id)
    if test_clock_id is None:
        gateway_events.retry_failed(session_factory, clock)
        refunds.retry_pending(session_factory, clock, gateways, now)
    return counts


def next_due_at(session: Session, test_clock_id: str) -> datetime | None:
    """The earliest collection attempt, payment check or dunning step of a test clock's
    customers."""
    attempts = session.scalar(select(func.min(m.Invoice.next_payment_attempt)).join(
        m.Customer, m.Customer.id == m.Invoice.customer_id).where(
        m.Customer.test_clock_id == test_clock_id,
        m.Invoice.status.in_(("open", "uncollectible"))))
    checks = session.scalar(select(func.min(m.Payment.next_check_at)).join(
        m.Customer, m.Customer.id == m.Payment.customer_id).where(
        m.Customer.test_clock_id == test_clock_id, m.Payment.gateway.is_not(None)))
    moments = [moment for moment in (attempts, checks, dunning.next_due_at(session,
                                                                          test_clock_id))
               if moment is not None]
    return min(moments) if moments else None
