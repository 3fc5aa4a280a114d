"""Dunning: what happens after an invoice is not paid when it should have been.

A **policy** decides it (plain data, checked by `check_policy`):

    retry_schedule            days after the first failed charge on which it is tried again,
                              strictly increasing, 1..90, at most 30 retries
                                                          [1, 3, 5, 7, 9, 11, 14]
                              (with the first attempt: 8 attempts within two weeks)
    retry_time                the time of day ("HH:MM") in the customer's timezone at which
                              retries are made and reminders go out              "10:00"
    insufficient_funds_retry  "month_start": after an insufficient-funds decline the next
                              retry waits for the 1st of the next month when that is still
                              within the schedule (salaries have come in); "schedule": no
                              special case                                  "month_start"
    reminder_schedule         for invoices the customer pays by transfer (`send_invoice`):
                              days relative to the due date on which a reminder goes out
                              (negative: before it, 0: on the day), strictly increasing,
                              -60..365, at most 30                        [-3, 0, 3, 7, 14]
    suspend_after_days        days past due after which the subscription's service (its
                              entitlements) is suspended until the invoice is paid; None:
                              never                                                  None
    final_action              what happens when dunning gives up: cancel_subscription,
                              mark_uncollectible (the invoice) or leave_past_due (the
                              organization decides to end accounts; nothing is ended
                              unless a policy says so)                     "leave_past_due"
    final_action_after_days   for `send_invoice` invoices: days past due at which dunning
                              gives up, 1..365                                          30

Automatic collection gives up when its last scheduled retry fails, or, when a hard decline
stopped the retries (a stolen card is not tried again), at the moment that last retry would
have been made: the customer has the whole window to give another payment method, which is
tried at once.

"Past due" starts at the first failed charge, or at the due date of a `send_invoice` invoice.
Every moment is exact; only retries and reminders are placed at `retry_time`, so that they
reach the customer in the morning of their day rather than at night.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from kassa.core.errors import InvalidRequest

FinalAction = Literal["cancel_subscription", "mark_uncollectible", "leave_past_due"]
FINAL_ACTIONS: tuple[FinalAction, ...] = ("cancel_subscription", "mark_uncollectible",
                                          "leave_past_due")
INSUFFICIENT_FUNDS_RETRIES = ("month_start", "schedule")
MAX_STEPS = 30
# Declines that mean "not enough money right now" (a card's, a SEPA debit's AM04).
INSUFFICIENT_FUNDS = frozenset({"insufficient_funds", "AM04"})


@dataclass(frozen=True)
class Policy:
    retry_schedule: tuple[int, ...] = (1, 3, 5, 7, 9, 11, 14)
    retry_time: time = time(10, 0)
    insufficient_funds_retry: str = "month_start"
    reminder_schedule: tuple[int, ...] = (-3, 0, 3, 7, 14)
    suspend_after_days: int | None = None
    final_action: FinalAction = "leave_past_due"
    final_action_after_days: int = 30


DEFAULT_POLICY = Policy()


# --- the policy's shape -------------------------------------------------------------------

def check_policy(fields: dict[str, Any], base: Policy = DEFAULT_POLICY) -> Policy:
    """`base` with the given fields changed (None: back to the default, which for
    `suspend_after_days` is never); raises InvalidRequest naming the field for anything not
    valid."""
    changed: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in _CHECKS:
            raise InvalidRequest(f"Unknown dunning policy field {key!r}.", param=key)
        changed[key] = getattr(DEFAULT_POLICY, key) if value is None \
            else _CHECKS[key](value, key)
    return Policy(**{**_as_dict(base), **changed})


def _as_dict(policy: Policy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in Policy.__dataclass_fields__}


def _schedule(value: Any, key: str, low: int, high: int) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidRequest(f"{key} lists whole days, e.g. [1, 3, 5].", param=key)
    if len(value) > MAX_STEPS:
        raise InvalidRequest(f"{key} has at most {MAX_STEPS} steps.", param=key)
    for index, day in enumerate(value):
        if isinstance(day, bool) or not isinstance(day, int) or not low <= day <= high:
            raise InvalidRequest(f"{key}[{index}] must be a whole number of days from {low} "
                                 f"to {high}.", param=f"{key}[{index}]")
        if index and day <= value[index - 1]:
            raise InvalidRequest(f"{key} must be strictly increasing: day {day} comes after "
                                 f"day {value[index - 1]}.", param=f"{key}[{index}]")
    return tuple(value)


def _time(value: Any, key: str) -> time:
    if isinstance(value, time):
        return value
    try:
        hours, minutes = str(value).split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise InvalidRequest(f"{key} is a time of day as HH:MM, e.g. 10:00.",
                             param=key) from None


def _choice(options: Sequence[str]) -> Any:
    def check(value: Any, key: str) -> str:
        if value not in options:
            raise InvalidRequest(f"{key} is one of {', '.join(options)}.", param=key)
        return str(value)
    return check


def _days(low: int, high: int) -> Any:
    def check(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidRequest(f"{key} is a whole number of days from {low} to {high}.",
                                 param=key)
        return value
    return check


_CHECKS: dict[str, Any] = {
    "retry_schedule": lambda value, key: _schedule(value, key, 1, 90),
    "retry_time": _time,
    "insufficient_funds_retry": _choice(INSUFFICIENT_FUNDS_RETRIES),
    "reminder_schedule": lambda value, key: _schedule(value, key, -60, 365),
    "suspend_after_days": _days(1, 365),
    "final_action": _choice(FINAL_ACTIONS),
    "final_action_after_days": _days(1, 365),
}


def policy_fields(policy: Policy) -> dict[str, Any]:
    """The policy as the API shows it (and stores it)."""
    return {"retry_schedule": list(policy.retry_schedule),
            "retry_time": policy.retry_time.strftime("%H:%M"),
            "insufficient_funds_retry": policy.insufficient_funds_retry,
            "reminder_schedule": list(policy.reminder_schedule),
            "suspend_after_days": policy.suspend_after_days,
            "final_action": policy.final_action,
            "final_action_after_days": policy.final_action_after_days}


# --- when things happen -------------------------------------------------------------------

def at_local(day: date, moment: time, tz: ZoneInfo) -> datetime:
    """`moment` on `day` in `tz`, as an aware instant (a time skipped by a DST change lands
    an hour later)."""
    return datetime.combine(day, moment, tzinfo=tz)


def retry_moments(policy: Policy, started_at: datetime, tz: ZoneInfo) -> list[datetime]:
    """When the scheduled retries fall: each schedule day after the first failure's day, at
    the retry time."""
    first_day = started_at.astimezone(tz).date()
    return [at_local(first_day + timedelta(days=days), policy.retry_time, tz)
            for days in policy.retry_schedule]


def window_end(policy: Policy, started_at: datetime, tz: ZoneInfo) -> datetime:
    """The moment of the last scheduled retry: automatic collection gives up by then."""
    return retry_moments(policy, started_at, tz)[-1]


@dataclass(frozen=True)
class Decline:
    code: str | None
    hard: bool


def next_retry(policy: Policy, started_at: datetime, tz: ZoneInfo, now: datetime,
               decline: Decline) -> datetime | None:
    """When to charge again after a failed attempt at `now`: never after a hard decline; else
    the first scheduled retry still ahead (None when none is: dunning gives up). After an
    insufficient-funds decline, the 1st of next month instead, if that still falls within
    the schedule."""
    if decline.hard:
        return None
    ahead = [moment for moment in retry_moments(policy, started_at, tz) if moment > now]
    if not ahead:
        return None
    if decline.code in INSUFFICIENT_FUNDS and policy.insufficient_funds_retry == "month_start":
        local = now.astimezone(tz).date()
        first = date(local.year + local.month // 12, local.month % 12 + 1, 1)
        month_start = at_local(first, policy.retry_time, tz)
        if ahead[0] < month_start <= ahead[-1]:
            return month_start
    return ahead[0]


def reminder_moments(policy: Policy, due_date: datetime,
                     tz: ZoneInfo) -> list[tuple[int, datetime]]:
    """(days relative to due, moment) of each reminder of a `send_invoice` invoice."""
    due_day = due_date.astimezone(tz).date()
    return [(days, at_local(due_day + timedelta(days=days), policy.retry_time, tz))
            for days in policy.reminder_schedule]


def suspend_at(policy: Policy, past_due_since: datetime) -> datetime | None:
    if policy.suspend_after_days is None:
        return None
    return past_due_since + timedelta(days=policy.suspend_after_days)


def give_up_at(policy: Policy, collection_method: str, past_due_since: datetime,
               tz: ZoneInfo) -> datetime:
    """When dunning gives up if nothing else ends it first: `final_action_after_days` past
    due for an invoice sent to the customer; the end of the retry window otherwise."""
    if collection_method == "send_invoice":
        return past_due_since + timedelta(days=policy.final_action_after_days)
    return window_end(policy, past_due_since, tz)


# --- analytics ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseFacts:
    """One invoice's time in dunning, as the report needs it."""

    started_at: datetime
    currency: str
    amount: int  # what remained to be paid when it entered dunning
    status: str  # active | recovered | exhausted | closed
    decline_code: str | None  # of the failure that opened it (None: a sent invoice overdue)
    method_type: str  # card | sepa_debit | send_invoice | ...
    recovered_at: datetime | None = None
    recovered_amount: int = 0  # money received on the invoice while in dunning (also in
    # part, by cases that did not end recovered)
    recovered_attempt: int | None = None  # the charge attempt that recovered it
    final_action: str | None = None
    canceled_subscriptions: int = 0


@dataclass
class Group:
    entered: int = 0
    recovered: int = 0
    amount_entered: dict[str, int] = field(default_factory=dict)
    amount_recovered: dict[str, int] = field(default_factory=dict)

    def add(self, case: CaseFacts) -> None:
        self.entered += 1
        _add(self.amount_entered, case.currency, case.amount)
        if case.recovered_amount:
            _add(self.amount_recovered, case.currency, case.recovered_amount)
        if case.status == "recovered":
            self.recovered += 1

    def figures(self) -> dict[str, Any]:
        return {"entered": self.entered, "recovered": self.recovered,
                "recovery_rate": rate(self.recovered, self.entered),
                "amount_entered": dict(sorted(self.amount_entered.items())),
                "amount_recovered": dict(sorted(self.amount_recovered.items()))}


def _add(totals: dict[str, int], currency: str, amount: int) -> None:
    totals[currency] = totals.get(currency, 0) + amount


def rate(part: int, whole: int) -> str | None:
    """part/whole as a decimal string with 4 places (half up); None for an empty whole."""
    if not whole:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def report(cases: Iterable[CaseFacts]) -> dict[str, Any]:
    """How well dunning recovered the invoices that entered it (a cohort: the cases given are
    those that started in the period asked about, followed to today)."""
    total = Group()
    by_code: dict[str, Group] = defaultdict(Group)
    by_method: dict[str, Group] = defaultdict(Group)
    by_attempt: dict[int | None, Group] = defaultdict(Group)
    outcomes: Counter[str] = Counter()
    final_actions: Counter[str] = Counter()
    seconds: list[int] = []
    churned = 0
    for case in cases:
        total.add(case)
        by_code[case.decline_code or "overdue"].add(case)
        by_method[case.method_type].add(case)
        outcomes[case.status] += 1
        if case.final_action:
            final_actions[case.final_action] += 1
        churned += case.canceled_subscriptions
        if case.status == "recovered" and case.recovered_at is not None:
            by_attempt[case.recovered_attempt].add(case)
            seconds.append(int((case.recovered_at - case.started_at).total_seconds()))
    return {
        **total.figures(),
        "outcomes": {status: outcomes[status]
                     for status in ("active", "recovered", "exhausted", "closed")},
        "time_to_recover": _durations(seconds),
        "by_attempt": [{"attempt": attempt, **group.figures()}
                       for attempt, group in sorted(by_attempt.items(),
                                                    key=lambda kv: (kv[0] is None, kv[0] or 0))],
        "by_decline_code": [{"decline_code": code, **group.figures()}
                            for code, group in sorted(by_code.items())],
        "by_payment_method_type": [{"type": kind, **group.figures()}
                                   for kind, group in sorted(by_method.items())],
        "final_actions": dict(sorted(final_actions.items())),
        "involuntary_churn": {"subscriptions": churned},
    }


def _durations(seconds: list[int]) -> dict[str, Any]:
    if not seconds:
        return {"count": 0, "median_seconds": None, "mean_seconds": None,
                "median_days": None, "mean_days": None}
    median = Decimal(str(statistics.median(seconds)))
    mean = Decimal(sum(seconds)) / len(seconds)
    day = Decimal(86400)
    two = Decimal("0.01")
    return {"count": len(seconds),
            "median_seconds": int(median.quantize(Decimal(1), ROUND_HALF_UP)),
            "mean_seconds": int(mean.quantize(Decimal(1), ROUND_HALF_UP)),
            "median_days": str((median / day).quantize(two, ROUND_HALF_UP)),
            "mean_days": str((mean / day).quantize(two, ROUND_HALF_UP))}
