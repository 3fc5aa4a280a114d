"""Billing as a pure function: worked examples, and the idempotency properties.

Amounts are in cents; every expected amount is worked out by hand with the half-up rule, e.g.
1999 * 17/31 = 33983/31 = 1096.23 -> 1096.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kassa.core.money import round_minor
from kassa.domain.billing import (
    DueCharge,
    ItemTerms,
    PriceTerms,
    ServicePeriod,
    SubscriptionTerms,
    due_charges,
    next_billing_at,
    period_at,
    service_periods,
)
from kassa.domain.periods import Recurrence, boundary, index_at

UTC_ZONE = ZoneInfo("UTC")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MONTHLY = Recurrence("month")
FAR_FUTURE = datetime(2035, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def item(unit: str | int = 1999, quantity: int = 1, recurrence: Recurrence = MONTHLY,
         name: str = "Pro", item_id: str = "si_1") -> ItemTerms:
    price = PriceTerms(id=f"price_{item_id}", product_name=name, currency="eur",
                       unit_amount_decimal=Decimal(unit), recurrence=recurrence)
    return ItemTerms(id=item_id, price=price, quantity=quantity)


def terms(start: datetime, *, anchor: datetime | None = None,
          items: tuple[ItemTerms, ...] | None = None, tz: ZoneInfo = UTC_ZONE,
          **options: object) -> SubscriptionTerms:
    return SubscriptionTerms(id="sub_1", customer_id="cus_1", currency="eur", tz=tz,
                             start=start, anchor=start if anchor is None else anchor,
                             items=items or (item(),), **options)  # type: ignore[arg-type]


def spans(charges: list[DueCharge]) -> list[tuple[datetime, datetime]]:
    return [(c.period.start, c.period.end) for c in charges]


def amounts(charges: list[DueCharge]) -> list[list[int]]:
    return [[line.amount for line in c.lines] for c in charges]


# --- worked examples ---

def test_monthly_price_times_quantity_is_charged_in_full_each_period() -> None:
    sub = terms(utc(2026, 1, 1), items=(item(1999, 3),))
    charges = due_charges(sub, None, utc(2026, 3, 1))
    assert spans(charges) == [(utc(2026, 1, 1), utc(2026, 2, 1)),
                              (utc(2026, 2, 1), utc(2026, 3, 1)),
                              (utc(2026, 3, 1), utc(2026, 4, 1))]
    assert amounts(charges) == [[5997], [5997], [5997]]
    line = charges[0].lines[0]
    assert (line.quantity, line.unit_amount_decimal, line.description) == (3, 1999, "3 × Pro")
    assert (line.proration, line.proration_fraction) == (False, 1)
    assert (line.subscription_id, line.item_id, line.price_id) == ("sub_1", "si_1",
                                                                    "price_si_1")
    assert [c.billing_at for c in charges] == [utc(2026, 1, 1), utc(2026, 2, 1), utc(2026, 3, 1)]
    assert {(c.subscription_id, c.customer_id, c.currency) for c in charges} == {
        ("sub_1", "cus_1", "eur")}


def test_each_item_gets_its_own_line_rounded_on_its_own() -> None:
    # 0.3333 * 3 = 0.9999 -> 1 cent; 10.005 * 100 = 1000.5 -> 1001 cents (half up).
    sub = terms(utc(2026, 1, 1), items=(item(1999, 3), item("0.3333", 3, item_id="si_2"),
                                        item("10.005", 100, item_id="si_3")))
    [charge] = due_charges(sub, None, utc(2026, 1, 1))
    assert [line.amount for line in charge.lines] == [5997, 1, 1001]
    assert [line.item_id for line in charge.lines] == ["si_1", "si_2", "si_3"]


def test_trial_of_14_days_is_a_free_period_then_regular_periods_follow() -> None:
    start = utc(2026, 1, 1)
    trial_end = start + timedelta(days=14)
    sub = terms(start, anchor=trial_end, trial_end=trial_end, items=(item(1999, 3),))
    charges = due_charges(sub, None, utc(2026, 2, 15))
    assert spans(charges) == [(utc(2026, 1, 1), utc(2026, 1, 15)),
                              (utc(2026, 1, 15), utc(2026, 2, 15)),
                              (utc(2026, 2, 15), utc(2026, 3, 15))]
    assert [c.period.kind for c in charges] == ["trial", "regular", "regular"]
    assert amounts(charges) == [[0], [5997], [5997]]
    trial_line = charges[0].lines[0]
    assert trial_line.description == "Trial period for Pro"
    assert (trial_line.proration, trial_line.proration_fraction) == (False, 0)


def test_trial_ending_mid_cycle_prorates_the_rest_of_the_cycle() -> None:
    # Anchored on Jan 1, trial to Jan 15: Jan 15..Feb 1 is 17/31 of January, billed even when
    # the first period is not prorated, because it is not the subscription's first period.
    sub = terms(utc(2026, 1, 1), trial_end=utc(2026, 1, 15), prorate_first_period=False)
    charges = due_charges(sub, None, utc(2026, 2, 1))
    assert spans(charges) == [(utc(2026, 1, 1), utc(2026, 1, 15)),
                              (utc(2026, 1, 15), utc(2026, 2, 1)),
                              (utc(2026, 2, 1), utc(2026, 3, 1))]
    assert amounts(charges) == [[0], [1096], [1999]]
    assert charges[1].lines[0].description == "Partial period: 1 × Pro"


def test_billing_cycle_anchor_next_month_prorates_the_first_period_by_seconds() -> None:
    # Jan 15 12:00 to Feb 1 00:00 is 16.5 days of January's 31: 33/62.
    # 1999 * 3 * 33/62 = 197901/62 = 3191.95 -> 3192.
    sub = terms(utc(2026, 1, 15, 12), anchor=utc(2026, 2, 1), items=(item(1999, 3),))
    charges = due_charges(sub, None, utc(2026, 3, 1))
    assert spans(charges) == [(utc(2026, 1, 15, 12), utc(2026, 2, 1)),
                              (utc(2026, 2, 1), utc(2026, 3, 1)),
                              (utc(2026, 3, 1), utc(2026, 4, 1))]
    assert amounts(charges) == [[3192], [5997], [5997]]
    first = charges[0]
    assert first.period.partial
    assert (first.period.cycle.start, first.period.cycle.end) == (utc(2026, 1, 1),
                                                                  utc(2026, 2, 1))
    assert first.lines[0].proration
    assert abs(first.lines[0].proration_fraction * 62 - 33) < Decimal("1e-30")
    assert first.lines[0].description == "Partial period: 3 × Pro"
    assert not charges[1].period.partial


def test_prorated_amount_exactly_half_a_cent_rounds_up() -> None:
    # Feb 15..Mar 1 is 14 of February's 28 days: 1001 / 2 = 500.5 -> 501 (half even: 500).
    sub = terms(utc(2026, 2, 15), anchor=utc(2026, 3, 1), items=(item(1001),))
    [first] = due_charges(sub, None, utc(2026, 2, 15))
    assert first.lines[0].proration_fraction == Decimal("0.5")
    assert first.lines[0].amount == 501


def test_first_partial_period_is_free_when_not_prorated() -> None:
    sub = terms(utc(2026, 1, 15, 12), anchor=utc(2026, 2, 1), items=(item(1999, 3),),
                prorate_first_period=False)
    charges = due_charges(sub, None, utc(2026, 2, 1))
    assert spans(charges) == [(utc(2026, 1, 15, 12), utc(2026, 2, 1)),
                              (utc(2026, 2, 1), utc(2026, 3, 1))]
    assert amounts(charges) == [[0], [5997]]
    assert (charges[0].lines[0].proration, charges[0].lines[0].proration_fraction) == (True, 0)


def test_ends_at_mid_period_prorates_the_last_period_and_stops() -> None:
    # Mar 1..Mar 16 is 15 of March's 31 days: 1999 * 15/31 = 29985/31 = 967.26 -> 967.
    sub = terms(utc(2026, 1, 1), ends_at=utc(2026, 3, 16))
    charges = due_charges(sub, None, FAR_FUTURE)
    assert spans(charges) == [(utc(2026, 1, 1), utc(2026, 2, 1)),
                              (utc(2026, 2, 1), utc(2026, 3, 1)),
                              (utc(2026, 3, 1), utc(2026, 3, 16))]
    assert amounts(charges) == [[1999], [1999], [967]]
    assert charges[-1].period.partial
    assert next_billing_at(sub, utc(2026, 3, 16)) is None
    assert due_charges(sub, utc(2026, 3, 16), FAR_FUTURE) == []


def test_ends_at_on_a_boundary_leaves_whole_periods() -> None:
    sub = terms(utc(2026, 1, 31), ends_at=utc(2026, 3, 31))
    charges = due_charges(sub, None, FAR_FUTURE)
    assert spans(charges) == [(utc(2026, 1, 31), utc(2026, 2, 28)),
                              (utc(2026, 2, 28), utc(2026, 3, 31))]
    assert amounts(charges) == [[1999], [1999]]


def test_ends_at_during_trial_cuts_the_trial_and_bills_nothing_more() -> None:
    sub = terms(utc(2026, 1, 1), trial_end=utc(2026, 1, 15), ends_at=utc(2026, 1, 10))
    charges = due_charges(sub, None, FAR_FUTURE)
    assert spans(charges) == [(utc(2026, 1, 1), utc(2026, 1, 10))]
    assert charges[0].period.kind == "trial"
    assert amounts(charges) == [[0]]


def test_subscription_with_trial_ended_at_its_start_has_no_periods() -> None:
    # Created with a trial and canceled at once on a frozen test clock: ends_at == start.
    start = utc(2026, 1, 1)
    sub = terms(start, trial_end=utc(2026, 1, 15), ends_at=start)
    assert list(service_periods(sub)) == []
    assert period_at(sub, start) is None


def test_subscription_without_trial_ended_at_its_start_has_no_periods() -> None:
    start = utc(2026, 1, 1)
    sub = terms(start, ends_at=start)
    assert list(service_periods(sub)) == []
    assert next_billing_at(sub, None) is None


def test_invoice_lead_time_bills_14_days_before_the_period_starts() -> None:
    sub = terms(utc(2026, 2, 1), lead=timedelta(days=14))
    assert due_charges(sub, None, utc(2026, 1, 17, 23, 59, 59)) == []
    charges = due_charges(sub, None, utc(2026, 1, 18))
    assert spans(charges) == [(utc(2026, 2, 1), utc(2026, 3, 1))]
    assert charges[0].billing_at == utc(2026, 1, 18)
    # The March period is billed on Feb 15, 14 days before it starts.
    charges = due_charges(sub, utc(2026, 3, 1), utc(2026, 2, 15))
    assert spans(charges) == [(utc(2026, 3, 1), utc(2026, 4, 1))]
    assert charges[0].billing_at == utc(2026, 2, 15)
    assert next_billing_at(sub, utc(2026, 4, 1)) == utc(2026, 3, 18)


def test_a_year_of_monthly_billing_from_jan_31_is_13_periods() -> None:
    sub = terms(utc(2026, 1, 31))
    charges = due_charges(sub, None, utc(2027, 1, 31))
    # The 13th period starts (and so is billed) exactly at T: it is included.
    assert len(charges) == 13
    assert [c.period.start.day for c in charges] == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                                     30, 31, 31]
    assert charges[-1].period.start == utc(2027, 1, 31)
    assert len(due_charges(sub, None, utc(2027, 1, 30, 23, 59, 59))) == 12
    assert all(c.lines[0].amount == 1999 for c in charges)


def test_next_billing_at_is_the_billing_time_of_the_first_unbilled_period() -> None:
    sub = terms(utc(2026, 1, 31))
    assert next_billing_at(sub, None) == utc(2026, 1, 31)
    charges = due_charges(sub, None, utc(2026, 2, 28))
    billed_through = charges[-1].period.end
    assert billed_through == utc(2026, 3, 31)
    assert next_billing_at(sub, billed_through) == utc(2026, 3, 31)
    lead = replace(sub, lead=timedelta(days=7))
    assert next_billing_at(lead, billed_through) == utc(2026, 3, 24)


def test_billing_again_to_the_same_time_finds_nothing() -> None:
    sub = terms(utc(2026, 1, 31))
    first = due_charges(sub, None, utc(2026, 5, 1))
    assert len(first) == 4
    assert due_charges(sub, first[-1].period.end, utc(2026, 5, 1)) == []


def test_service_period_at_an_instant() -> None:
    sub = terms(utc(2026, 1, 15, 12), anchor=utc(2026, 2, 1), ends_at=utc(2026, 3, 16))
    before = period_at(sub, utc(2026, 1, 1))
    assert before is not None and (before.start, before.end) == (utc(2026, 1, 15, 12),
                                                                 utc(2026, 2, 1))
    during = period_at(sub, utc(2026, 2, 1))
    assert during is not None and (during.start, during.end) == (utc(2026, 2, 1),
                                                                 utc(2026, 3, 1))
    last = period_at(sub, utc(2026, 3, 15, 23))
    assert last is not None and (last.start, last.end) == (utc(2026, 3, 1), utc(2026, 3, 16))
    assert period_at(sub, utc(2026, 3, 16)) is None


# --- timezones ---

def test_monthly_billing_in_amsterdam_keeps_nine_oclock_local_across_dst() -> None:
    start = datetime(2026, 1, 31, 9, tzinfo=AMSTERDAM)  # 08:00 UTC
    sub = terms(start.astimezone(UTC), tz=AMSTERDAM)
    charges = due_charges(sub, None, utc(2026, 4, 30, 12))
    assert [c.period.start for c in charges] == [utc(2026, 1, 31, 8), utc(2026, 2, 28, 8),
                                                 utc(2026, 3, 31, 7), utc(2026, 4, 30, 7)]
    # The March period is an hour short, but it is a whole cycle: charged in full.
    assert amounts(charges) == [[1999]] * 4


def test_billing_days_follow_the_local_date_not_the_utc_date() -> None:
    # Jan 31 23:30 UTC is Feb 1 00:30 in Amsterdam: the subscription renews on the local 1st.
    sub = terms(utc(2026, 1, 31, 23, 30), tz=AMSTERDAM)
    charges = due_charges(sub, None, utc(2026, 4, 1))
    assert [c.period.start for c in charges] == [utc(2026, 1, 31, 23, 30),
                                                 utc(2026, 2, 28, 23, 30),
                                                 utc(2026, 3, 31, 22, 30)]


@pytest.mark.parametrize(("granularity", "expected"), [
    # Day: 17 of 31 local days -> 33983/31 = 1096.23 -> 1096.
    ("day", 1096),
    # Second: Mar 15 08:00 UTC to Mar 31 22:00 UTC is 398 h of local March's 743 h:
    # 1999 * 398/743 = 795602/743 = 1070.80 -> 1071.
    ("second", 1071),
])
def test_partial_first_period_in_amsterdam_by_day_and_by_second(granularity: str,
                                                                 expected: int) -> None:
    sub = terms(datetime(2026, 3, 15, 9, tzinfo=AMSTERDAM).astimezone(UTC),
                anchor=datetime(2026, 4, 1, tzinfo=AMSTERDAM).astimezone(UTC),
                tz=AMSTERDAM, granularity=granularity)
    [first] = due_charges(sub, None, utc(2026, 3, 15, 8))
    assert (first.period.cycle.start, first.period.cycle.end) == (utc(2026, 2, 28, 23),
                                                                  utc(2026, 3, 31, 22))
    assert first.lines[0].amount == expected


def test_subscription_started_in_the_repeated_fall_back_hour_pays_a_full_first_period() -> None:
    # Oct 25 2026 01:30 UTC is the second 02:30 of that night in Amsterdam (CET).
    start = utc(2026, 10, 25, 1, 30)
    sub = terms(start, tz=AMSTERDAM, items=(item(1999, 1, Recurrence("day")),))
    [first] = due_charges(sub, None, start)
    assert (first.period.start, first.period.end) == (start, utc(2026, 10, 26, 1, 30))
    assert not first.period.partial
    assert first.lines[0].amount == 1999  # today: 1999 * 24/25 = 1919.04 -> 1919


# --- properties: billing twice equals billing once ---

ZONES = [UTC_ZONE, AMSTERDAM, ZoneInfo("America/New_York"), ZoneInfo("Pacific/Auckland"),
         ZoneInfo("Asia/Kolkata")]
CYCLE_DAYS = {"day": 1, "week": 7, "month": 31, "year": 366}


@st.composite
def subscription_terms(draw: st.DrawFn) -> SubscriptionTerms:
    tz = draw(st.sampled_from(ZONES))
    start = draw(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31),
                              timezones=st.just(UTC))).replace(microsecond=0)
    interval = draw(st.sampled_from(["day", "week", "month", "year"]))
    count = draw(st.integers(1, {"day": 30, "week": 4, "month": 6, "year": 2}[interval]))
    recurrence = Recurrence(interval, count)
    cycle = CYCLE_DAYS[interval] * count * 86_400
    anchor = draw(st.one_of(
        st.just(start),
        st.integers(-cycle, cycle).map(lambda s: start + timedelta(seconds=s)),
    ))
    items = tuple(
        ItemTerms(
            id=f"si_{n}", quantity=draw(st.integers(1, 1000)),
            price=PriceTerms(
                id=f"price_{n}", product_name=f"Product {n}", currency="eur",
                unit_amount_decimal=draw(st.decimals(min_value=0, max_value=100_000,
                                                     places=draw(st.integers(0, 6)))),
                recurrence=recurrence))
        for n in range(draw(st.integers(1, 3))))
    trial_end = draw(st.none() | st.integers(1, 60 * 86_400).map(
        lambda s: start + timedelta(seconds=s)))
    ends_at = draw(st.none() | st.integers(1, 800 * 86_400).map(
        lambda s: start + timedelta(seconds=s)))
    lead = timedelta(seconds=draw(st.integers(0, 30 * 86_400)))
    return SubscriptionTerms(
        id="sub_p", customer_id="cus_p", currency="eur", tz=tz, start=start, anchor=anchor,
        items=items, trial_end=trial_end, ends_at=ends_at, lead=lead,
        prorate_first_period=draw(st.booleans()),
        granularity=draw(st.sampled_from(["second", "day"])))


@st.composite
def terms_and_targets(draw: st.DrawFn) -> tuple[SubscriptionTerms, list[datetime]]:
    sub = draw(subscription_terms())
    # Enough horizon for dozens of cycles, but bounded so daily plans stay fast.
    horizon = min(900, 40 * CYCLE_DAYS[sub.recurrence.interval] * sub.recurrence.count)
    offsets = draw(st.lists(st.integers(-40 * 86_400, horizon * 86_400), min_size=1,
                            max_size=6))
    return sub, [sub.start + timedelta(seconds=s) for s in sorted(offsets)]


def bill_in_chunks(sub: SubscriptionTerms,
                   targets: list[datetime]) -> tuple[list[DueCharge], datetime | None]:
    """A biller that remembers `billed_through` and bills up to each target in turn."""
    billed: list[DueCharge] = []
    billed_through: datetime | None = None
    for target in targets:
        charges = due_charges(sub, billed_through, target)
        billed.extend(charges)
        if charges:
            billed_through = charges[-1].period.end
        # (a) billing to the same target again finds nothing
        assert due_charges(sub, billed_through, target) == []
    return billed, billed_through


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(case=terms_and_targets())
def test_billing_in_chunks_equals_billing_once_and_twice_finds_nothing(
        case: tuple[SubscriptionTerms, list[datetime]]) -> None:
    sub, targets = case
    billed, _ = bill_in_chunks(sub, targets)
    # (b) any sequence of billing runs up to T invoices exactly what one run to T does
    assert billed == due_charges(sub, None, targets[-1])
    # ... and running the whole sequence again after it changes nothing
    assert bill_in_chunks(sub, targets)[0] == billed


@PROPERTY_SETTINGS
@given(case=terms_and_targets())
def test_billed_periods_are_contiguous_complete_and_charged_in_whole_non_negative_cents(
        case: tuple[SubscriptionTerms, list[datetime]]) -> None:
    sub, targets = case
    billed, billed_through = bill_in_chunks(sub, targets)
    until = targets[-1]
    periods = [c.period for c in billed]
    # (c) contiguous and non-overlapping from the start; each period invoiced once
    if periods:
        assert periods[0].start == sub.start
    for earlier, later in pairwise(periods):
        assert earlier.end == later.start
    assert all(p.start < p.end for p in periods)
    assert len({p.start for p in periods}) == len(periods)
    # everything due by `until` was billed, nothing later was
    assert all(c.billing_at <= until for c in billed)
    following = next_billing_at(sub, billed_through)
    assert following is None or following > until
    # periods are contiguous, so the next one starts where billing stopped (or at the start)
    resume = sub.start if billed_through is None else billed_through
    if sub.ends_at is not None and resume >= sub.ends_at:
        assert following is None
    else:
        assert following == resume - sub.lead
    if sub.ends_at is not None:
        assert all(p.end <= sub.ends_at for p in periods)
    for charge in billed:
        assert_charge_is_sound(sub, charge)


def assert_charge_is_sound(sub: SubscriptionTerms, charge: DueCharge) -> None:
    period = charge.period
    assert charge.billing_at == period.start - sub.lead
    assert len(charge.lines) == len(sub.items)
    if period.kind == "regular":
        # a regular period lies in one cycle of the anchor
        cycle = period.cycle
        k = index_at(sub.anchor, sub.recurrence, cycle.start, sub.tz)
        assert cycle.start == boundary(sub.anchor, sub.recurrence, k, sub.tz)
        assert cycle.end == boundary(sub.anchor, sub.recurrence, k + 1, sub.tz)
        assert cycle.start <= period.start < period.end <= cycle.end
    for line, terms_item in zip(charge.lines, sub.items, strict=True):
        assert type(line.amount) is int
        assert line.amount >= 0
        assert (line.period_start, line.period_end) == (period.start, period.end)
        assert line.proration == period.partial
        full = round_minor(terms_item.price.unit_amount_decimal * terms_item.quantity)
        if period.kind == "trial":
            assert line.amount == 0
        elif period.partial:
            # proration never charges more than the full period would
            assert 0 <= line.proration_fraction <= 1
            assert line.amount <= full
        else:
            assert line.amount == full


@settings(max_examples=100, deadline=None)
@given(sub=subscription_terms())
def test_service_periods_start_at_the_start_and_end_at_ends_at(sub: SubscriptionTerms) -> None:
    periods: list[ServicePeriod] = []
    for period in service_periods(sub):
        periods.append(period)
        if len(periods) >= 60:
            break
    assert periods[0].start == sub.start
    assert all(a.end == b.start for a, b in pairwise(periods))
    if sub.ends_at is not None and len(periods) < 60:
        assert periods[-1].end == sub.ends_at


@PROPERTY_SETTINGS
@given(sub=subscription_terms(), offset=st.integers(-86_400 * 40, 86_400 * 900))
def test_service_periods_after_an_instant_are_those_ending_after_it(
        sub: SubscriptionTerms, offset: int) -> None:
    # The billing run asks for the periods after what is billed, found by arithmetic: they
    # must be exactly the ones a walk from the start finds.
    after = sub.start + timedelta(seconds=offset)
    walked: list[ServicePeriod] = []
    for period in service_periods(sub):
        if period.end > after:
            walked.append(period)
        if len(walked) >= 5:
            break
    jumped = list(islice(service_periods(sub, after=after), 5))
    assert jumped == walked


@settings(max_examples=100, deadline=None)
@given(open_sub=subscription_terms(), ends_after=st.integers(1, 800 * 86_400))
def test_an_end_date_only_truncates_the_periods_of_the_open_ended_subscription(
        open_sub: SubscriptionTerms, ends_after: int) -> None:
    sub = replace(open_sub, ends_at=open_sub.start + timedelta(seconds=ends_after))
    ended = list(service_periods(sub))
    open_ended = service_periods(replace(sub, ends_at=None))
    for period, unbounded in zip(ended, open_ended, strict=False):
        assert (period.start, period.kind) == (unbounded.start, unbounded.kind)
        if period is ended[-1]:
            assert period.end == sub.ends_at <= unbounded.end
        else:
            assert period == unbounded
