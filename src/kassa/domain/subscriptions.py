"""Subscription status: what state a subscription is in, decided from facts about it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

Status = Literal["pending", "incomplete", "incomplete_expired", "trialing", "active",
                 "past_due", "paused", "canceled"]

INCOMPLETE_EXPIRES_AFTER = timedelta(hours=23)


def status_at(*, now: datetime, start: datetime, trial_end: datetime | None,
              ended_at: datetime | None,
              awaiting_first_payment: bool, incomplete_since: datetime | None,
              has_overdue_invoice: bool, paused_at: datetime | None = None) -> Status:
    """The status a subscription has at `now`.

    Ended beats everything; a subscription that starts in the future is pending (as in
    Lago; Stripe has no such status); an unpaid first invoice under `default_incomplete`
    keeps it incomplete (expiring after 23 hours, as in Stripe); then trial; then an
    overdue invoice makes it past due. A pause of service makes it paused until it resumes.
    """
    if ended_at is not None and ended_at <= now:
        return "canceled"
    if now < start:
        return "pending"
    if awaiting_first_payment and incomplete_since is not None:
        expired = now - incomplete_since >= INCOMPLETE_EXPIRES_AFTER
        return "incomplete_expired" if expired else "incomplete"
    if paused_at is not None and paused_at <= now:
        return "paused"
    if trial_end is not None and now < trial_end:
        return "trialing"
    if has_overdue_invoice:
        return "past_due"
    return "active"
