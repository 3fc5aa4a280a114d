"""The billing run: everything due on real time (renewals, finalizations, trial ends,
cancellations, due dates), customer by customer, each in its own transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from kassa.config import Kassa
from kassa.services import billing

log = logging.getLogger("kassa.jobs")


@dataclass
class RunResult:
    customers: int = 0
    skipped: int = 0
    failed: int = 0


def due_customers(kassa: Kassa, now: datetime, *, limit: int = 100_000) -> list[str]:
    """Every customer on real time with work due by `now`."""
    return billing.all_due_customer_ids(kassa.session_factory, kassa.clock, now, limit=limit)


def bill_customers(kassa: Kassa, customer_ids: Sequence[str], now: datetime,
                   progress: Callable[[int], None] | None = None) -> RunResult:
    """Process the given customers at `now`. A customer that another worker holds is skipped
    (that worker does the work); a customer that fails is logged and left for the next run,
    so one bad record never holds up billing day."""
    result = RunResult()
    skip_locked = not kassa.settings.is_sqlite
    for customer_id in customer_ids:
        try:
            with kassa.uow() as uow:
                done = billing.process_customer(uow, customer_id, now, skip_locked=skip_locked)
        except Exception:
            log.exception("billing customer %s failed; it stays due", customer_id)
            result.failed += 1
        else:
            if done:
                result.customers += 1
            else:
                result.skipped += 1
        if progress:
            progress(1)
    return result


def run_billing(kassa: Kassa, now: datetime | None = None,
                progress: Callable[[int], None] | None = None) -> RunResult:
    """One whole billing run at `now` (default: the clock's now) in this process."""
    at = now or kassa.clock.now()
    return bill_customers(kassa, due_customers(kassa, at), at, progress)
