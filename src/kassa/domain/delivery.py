"""When to try again after a failed delivery (e-mails; webhooks can share it)."""

from __future__ import annotations

from datetime import timedelta

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)

# The wait after the 1st, 2nd... failed attempt: about three days in all, then give up.
RETRY_DELAYS: tuple[timedelta, ...] = (
    MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 24 * HOUR)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


def retry_delay(failed_attempts: int) -> timedelta | None:
    """How long to wait after `failed_attempts` failures; None when it is time to give up."""
    if failed_attempts < 1:
        raise ValueError("failed_attempts starts at 1")
    if failed_attempts > len(RETRY_DELAYS):
        return None
    return RETRY_DELAYS[failed_attempts - 1]
