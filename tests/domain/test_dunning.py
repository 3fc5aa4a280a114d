"""The dunning policy's rules as pure functions (domain/dunning.py): when retries fall, which
declines are retried, the month-start rule for insufficient funds, reminders, and the
recovery report's arithmetic on a hand-computed portfolio."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.core.errors import InvalidRequest
from kassa.domain import dunning as d

AMS = ZoneInfo("Europe/Amsterdam")
NYC = ZoneInfo("America/New_York")
SOFT = d.Decline("generic_decline", hard=False)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_default_is_eight_attempts_within_two_weeks() -> None:
    started = utc(2026, 3, 2, 14, 30)
    moments = d.retry_moments(d.DEFAULT_POLICY, started, AMS)
    assert len(moments) + 1 == 8  # the first attempt and seven retries
    assert moments[-1] - started < timedelta(days=14)
    # 10:00 in Amsterdam is 09:00 UTC in winter
    assert moments[0] == utc(2026, 3, 3, 9)
    assert moments[-1] == utc(2026, 3, 16, 9)


def test_retries_fall_at_the_retry_time_in_the_customers_timezone_across_dst() -> None:
    policy = d.check_policy({"retry_schedule": [1, 2], "retry_time": "07:15"})
    # New York moves to daylight time on Sunday 8 March 2026.
    moments = d.retry_moments(policy, utc(2026, 3, 7, 13), NYC)
    assert moments == [utc(2026, 3, 8, 11, 15), utc(2026, 3, 9, 11, 15)]
    assert [m.astimezone(NYC).time() for m in moments] == [time(7, 15)] * 2


def test_a_failure_late_in_the_customers_evening_counts_from_their_day() -> None:
    # 23:30 UTC on the 2nd is 00:30 on the 3rd in Amsterdam: day 1 is the 4th.
    moments = d.retry_moments(d.DEFAULT_POLICY, utc(2026, 3, 2, 23, 30), AMS)
    assert moments[0] == utc(2026, 3, 4, 9)


def test_the_next_retry_is_the_first_scheduled_one_still_ahead() -> None:
    started = utc(2026, 3, 2, 9, 30)
    policy = d.DEFAULT_POLICY
    assert d.next_retry(policy, started, AMS, started, SOFT) == utc(2026, 3, 3, 9)
    # a retry made late (the worker was down) skips the retries that already passed
    assert d.next_retry(policy, started, AMS, utc(2026, 3, 8, 12), SOFT) == utc(2026, 3, 9, 9)
    # after the last one: none, dunning gives up
    assert d.next_retry(policy, started, AMS, utc(2026, 3, 16, 9), SOFT) is None


def test_a_hard_decline_is_never_retried() -> None:
    started = utc(2026, 3, 2, 9, 30)
    assert d.next_retry(d.DEFAULT_POLICY, started, AMS, started,
                        d.Decline("stolen_card", hard=True)) is None


def test_insufficient_funds_late_in_a_month_waits_for_the_first() -> None:
    started = utc(2026, 1, 27, 9, 30)
    funds = d.Decline("insufficient_funds", hard=False)
    assert d.next_retry(d.DEFAULT_POLICY, started, AMS, started, funds) == utc(2026, 2, 1, 9)
    # SEPA's AM04 is insufficient funds too
    assert d.next_retry(d.DEFAULT_POLICY, started, AMS, started,
                        d.Decline("AM04", hard=False)) == utc(2026, 2, 1, 9)
    # without the rule, the schedule
    plain = d.check_policy({"insufficient_funds_retry": "schedule"})
    assert d.next_retry(plain, started, AMS, started, funds) == utc(2026, 1, 28, 9)
    # early in a month the 1st of the next one is beyond the schedule: the schedule
    early = utc(2026, 1, 5, 9, 30)
    assert d.next_retry(d.DEFAULT_POLICY, early, AMS, early, funds) == utc(2026, 1, 6, 9)


def test_the_window_ends_with_the_last_retry() -> None:
    started = utc(2026, 3, 2, 9, 30)
    assert d.give_up_at(d.DEFAULT_POLICY, "charge_automatically", started, AMS) == \
        utc(2026, 3, 16, 9)
    assert d.give_up_at(d.DEFAULT_POLICY, "send_invoice", started, AMS) == \
        started + timedelta(days=30)


def test_reminders_fall_around_the_due_date_at_the_retry_time() -> None:
    due = utc(2026, 4, 15, 13)
    assert d.reminder_moments(d.DEFAULT_POLICY, due, AMS) == [
        (-3, utc(2026, 4, 12, 8)), (0, utc(2026, 4, 15, 8)), (3, utc(2026, 4, 18, 8)),
        (7, utc(2026, 4, 22, 8)), (14, utc(2026, 4, 29, 8))]


def test_suspension_counts_exact_days_past_due() -> None:
    since = utc(2026, 4, 15, 13, 7)
    assert d.suspend_at(d.DEFAULT_POLICY, since) is None
    policy = d.check_policy({"suspend_after_days": 5})
    assert d.suspend_at(policy, since) == utc(2026, 4, 20, 13, 7)


@pytest.mark.parametrize(("fields", "param"), [
    ({"retry_schedule": [1, 3, 3]}, "retry_schedule[2]"),
    ({"retry_schedule": [5, 2]}, "retry_schedule[1]"),
    ({"retry_schedule": list(range(1, 32))}, "retry_schedule"),
    ({"retry_schedule": []}, "retry_schedule"),
    ({"retry_schedule": [0, 1]}, "retry_schedule[0]"),
    ({"retry_schedule": [1, 91]}, "retry_schedule[1]"),
    ({"retry_schedule": [1, True]}, "retry_schedule[1]"),
    ({"retry_schedule": "1,2"}, "retry_schedule"),
    ({"reminder_schedule": [0, -3]}, "reminder_schedule[1]"),
    ({"reminder_schedule": [-61]}, "reminder_schedule[0]"),
    ({"retry_time": "25:00"}, "retry_time"),
    ({"retry_time": "9:00"}, "retry_time"),
    ({"final_action": "delete_customer"}, "final_action"),
    ({"insufficient_funds_retry": "weekly"}, "insufficient_funds_retry"),
    ({"suspend_after_days": 0}, "suspend_after_days"),
    ({"final_action_after_days": 400}, "final_action_after_days"),
    ({"colour": "red"}, "colour"),
])
def test_a_policy_that_makes_no_sense_is_refused_naming_the_field(
        fields: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        d.check_policy(fields)
    assert caught.value.param == param


def test_thirty_retries_are_allowed() -> None:
    policy = d.check_policy({"retry_schedule": list(range(1, 31))})
    assert len(policy.retry_schedule) == 30
    assert d.policy_fields(d.check_policy(d.policy_fields(policy))) == d.policy_fields(policy)


@given(schedule=st.lists(st.integers(1, 90), min_size=1, max_size=30, unique=True).map(sorted),
       offset_minutes=st.integers(0, 60 * 24 * 100),
       started_minutes=st.integers(0, 60 * 24 * 365),
       code=st.sampled_from(["insufficient_funds", "generic_decline", "AM04"]))
def test_a_retry_is_always_ahead_within_the_window_and_at_the_retry_time(
        schedule: list[int], offset_minutes: int, started_minutes: int, code: str) -> None:
    policy = d.check_policy({"retry_schedule": schedule, "retry_time": "06:45"})
    started = utc(2026, 1, 1) + timedelta(minutes=started_minutes)
    now = started + timedelta(minutes=offset_minutes)
    retry = d.next_retry(policy, started, AMS, now, d.Decline(code, hard=False))
    end = d.window_end(policy, started, AMS)
    if retry is None:
        assert now >= end
    else:
        assert now < retry <= end
        assert retry.astimezone(AMS).time() == time(6, 45)


def case(started: datetime, status: str, *, amount: int = 1000, currency: str = "eur",
         code: str | None = "generic_decline", method: str = "card",
         hours: float | None = None, attempt: int | None = None, paid: int = 0,
         final: str | None = None, canceled: int = 0) -> d.CaseFacts:
    return d.CaseFacts(
        started_at=started, currency=currency, amount=amount, status=status,
        decline_code=code, method_type=method,
        recovered_at=started + timedelta(hours=hours) if hours is not None else None,
        recovered_amount=paid, recovered_attempt=attempt, final_action=final,
        canceled_subscriptions=canceled)


def test_the_report_of_a_small_portfolio_matches_the_hand_computed_figures() -> None:
    t = utc(2026, 5, 4, 9)
    portfolio = [
        case(t, "recovered", amount=2500, code="insufficient_funds", hours=24, attempt=2,
             paid=2500),
        case(t, "recovered", amount=1000, code="stolen_card", hours=2, attempt=2, paid=1000),
        case(t, "recovered", amount=4000, code=None, method="send_invoice", hours=96,
             paid=4000),
        case(t, "exhausted", amount=1500, final="cancel_subscription", canceled=1),
        case(t, "active", amount=700, currency="usd", code="insufficient_funds", paid=200),
        case(t, "closed", amount=900, method="sepa_debit", code="AM04"),
    ]
    got = d.report(portfolio)
    assert (got["entered"], got["recovered"], got["recovery_rate"]) == (6, 3, "0.5000")
    assert got["amount_entered"] == {"eur": 2500 + 1000 + 4000 + 1500 + 900, "usd": 700}
    # money received while in dunning, also the part payment of the active case
    assert got["amount_recovered"] == {"eur": 7500, "usd": 200}
    assert got["outcomes"] == {"active": 1, "recovered": 3, "exhausted": 1, "closed": 1}
    # times to recover: 2 h, 24 h, 96 h -> median 24 h, mean 40.67 h
    assert got["time_to_recover"] == {
        "count": 3, "median_seconds": 86400, "mean_seconds": 146400,
        "median_days": "1.00", "mean_days": "1.69"}
    assert got["by_attempt"] == [
        {"attempt": 2, "entered": 2, "recovered": 2, "recovery_rate": "1.0000",
         "amount_entered": {"eur": 3500}, "amount_recovered": {"eur": 3500}},
        {"attempt": None, "entered": 1, "recovered": 1, "recovery_rate": "1.0000",
         "amount_entered": {"eur": 4000}, "amount_recovered": {"eur": 4000}}]
    by_code = {row["decline_code"]: (row["entered"], row["recovered"], row["recovery_rate"])
               for row in got["by_decline_code"]}
    assert by_code == {"insufficient_funds": (2, 1, "0.5000"), "stolen_card": (1, 1, "1.0000"),
                       "overdue": (1, 1, "1.0000"), "generic_decline": (1, 0, "0.0000"),
                       "AM04": (1, 0, "0.0000")}
    by_method = {row["type"]: (row["entered"], row["recovered"])
                 for row in got["by_payment_method_type"]}
    assert by_method == {"card": (4, 2), "send_invoice": (1, 1), "sepa_debit": (1, 0)}
    assert got["final_actions"] == {"cancel_subscription": 1}
    assert got["involuntary_churn"] == {"subscriptions": 1}


def test_an_empty_report_has_no_rates() -> None:
    got = d.report([])
    assert (got["entered"], got["recovery_rate"], got["time_to_recover"]["median_seconds"]) \
        == (0, None, None)
