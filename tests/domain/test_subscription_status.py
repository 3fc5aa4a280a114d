"""Subscription status from facts: ended > pending > incomplete > trialing > past due > active."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kassa.domain.subscriptions import INCOMPLETE_EXPIRES_AFTER, status_at

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)

BASE: dict[str, object] = {"start": NOW - 30 * 24 * HOUR, "trial_end": None, "ended_at": None,
                           "awaiting_first_payment": False, "incomplete_since": None,
                           "has_overdue_invoice": False}

STATUS_TABLE = [
    # (facts that differ from an ordinary paid-up subscription, expected status)
    ({}, "active"),
    # ended: at or before now; a scheduled end in the future does not count yet
    ({"ended_at": NOW}, "canceled"),
    ({"ended_at": NOW - HOUR}, "canceled"),
    ({"ended_at": NOW + SECOND}, "active"),
    # ended beats everything else
    ({"ended_at": NOW - HOUR, "trial_end": NOW + HOUR, "has_overdue_invoice": True,
      "awaiting_first_payment": True, "incomplete_since": NOW - HOUR}, "canceled"),
    # a start in the future is pending, until the start itself
    ({"start": NOW + SECOND}, "pending"),
    ({"start": NOW}, "active"),
    ({"start": NOW + HOUR, "trial_end": NOW + 15 * 24 * HOUR}, "pending"),
    ({"start": NOW + HOUR, "awaiting_first_payment": True, "incomplete_since": NOW - 48 * HOUR,
      "has_overdue_invoice": True}, "pending"),
    # ... but an end at or before now still wins (canceled before it started)
    ({"start": NOW + HOUR, "ended_at": NOW}, "canceled"),
    ({"start": NOW + HOUR, "ended_at": NOW + 2 * HOUR}, "pending"),
    # unpaid first invoice: incomplete for 23 hours, then expired
    ({"awaiting_first_payment": True, "incomplete_since": NOW}, "incomplete"),
    ({"awaiting_first_payment": True, "incomplete_since": NOW - 23 * HOUR + SECOND},
     "incomplete"),
    ({"awaiting_first_payment": True, "incomplete_since": NOW - 23 * HOUR},
     "incomplete_expired"),
    ({"awaiting_first_payment": True, "incomplete_since": NOW - 48 * HOUR},
     "incomplete_expired"),
    # incomplete beats trial and overdue
    ({"awaiting_first_payment": True, "incomplete_since": NOW - HOUR, "trial_end": NOW + HOUR,
      "has_overdue_invoice": True}, "incomplete"),
    # awaiting payment without an incomplete_since (not default_incomplete) is not incomplete
    ({"awaiting_first_payment": True}, "active"),
    ({"incomplete_since": NOW - 48 * HOUR}, "active"),
    # trial: until trial_end, exclusive
    ({"trial_end": NOW + SECOND}, "trialing"),
    ({"trial_end": NOW}, "active"),
    ({"trial_end": NOW - HOUR}, "active"),
    # trialing beats an overdue invoice
    ({"trial_end": NOW + HOUR, "has_overdue_invoice": True}, "trialing"),
    ({"trial_end": NOW - HOUR, "has_overdue_invoice": True}, "past_due"),
    ({"has_overdue_invoice": True}, "past_due"),
    ({"has_overdue_invoice": True, "ended_at": NOW + HOUR}, "past_due"),
]


@pytest.mark.parametrize(("facts", "expected"), STATUS_TABLE)
def test_status_at(facts: dict[str, object], expected: str) -> None:
    assert status_at(now=NOW, **{**BASE, **facts}) == expected  # type: ignore[arg-type]


def test_incomplete_expires_after_23_hours_as_in_stripe() -> None:
    assert timedelta(hours=23) == INCOMPLETE_EXPIRES_AFTER
