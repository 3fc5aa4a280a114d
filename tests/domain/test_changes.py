"""Plan changes in the pure domain: worked examples and properties of the proration ledger.

The properties: whatever sequence of changes happens in an invoiced period, what the
customer ends up charged for it equals the time-weighted price of what they held (within
one minor unit per line), and no item is ever credited more than it was charged.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.domain.billing import (
    ItemTerms,
    PriceTerms,
    SubscriptionTerms,
    charge,
    period_at,
)
from kassa.domain.changes import Charged, Pending, change, full_amount
from kassa.domain.periods import Period, Recurrence
from kassa.domain.proration import Granularity, fraction

MONTHLY = Recurrence("month", 1)
UTC_ZONE = ZoneInfo("UTC")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def price(amount: int, name: str = "Pro", unit_label: str | None = None) -> PriceTerms:
    return PriceTerms(id=f"price_{name}_{amount}", product_name=name, currency="eur",
                      unit_amount_decimal=Decimal(amount), recurrence=MONTHLY,
                      unit_label=unit_label)


def terms(start: datetime, item: ItemTerms, granularity: Granularity = "second",
          tz: ZoneInfo = UTC_ZONE) -> SubscriptionTerms:
    return SubscriptionTerms(id="sub_1", customer_id="cus_1", currency="eur", tz=tz,
                             start=start, anchor=start, items=(item,),
                             granularity=granularity)


def first_charge(t: SubscriptionTerms) -> tuple[list[Charged], datetime]:
    period = period_at(t, t.start)
    assert period is not None
    due = charge(t, period)
    return [Charged(line.item_id or "", line.period_start, line.period_end, line.amount)
            for line in due.lines], period.end


def test_stripe_example_10_to_20_halfway() -> None:
    old = terms(utc(2026, 4, 1), ItemTerms("si_1", price(1000), 1))
    new = replace(old, items=(ItemTerms("si_1", price(2000, "Business"), 1),))
    charged, billed_through = first_charge(old)
    result = change(old, new, utc(2026, 4, 16), billed_through, charged)
    assert [(line.amount, line.description) for line in result.lines] == [
        (-500, "Unused time on Pro after 16 Apr 2026"),
        (1000, "Remaining time on Business after 16 Apr 2026")]
    assert all(line.proration for line in result.lines)
    assert result.lines[0].proration_fraction == Decimal("0.5")


def test_day_granularity_worked_example() -> None:
    """Chargebee and Recurly count days: a Mar 15 change in a 31-day March leaves 17 days."""
    old = terms(utc(2026, 3, 1), ItemTerms("si_1", price(3100), 1), "day")
    new = replace(old, items=(ItemTerms("si_1", price(3100), 3),))
    charged, billed_through = first_charge(old)
    result = change(old, new, utc(2026, 3, 15, 23, 59), billed_through, charged)
    assert [line.amount for line in result.lines] == [-1700, 5100]


def test_leap_february_has_29_days() -> None:
    old = terms(utc(2028, 2, 1), ItemTerms("si_1", price(2900), 1), "day")
    new = replace(old, items=(ItemTerms("si_1", price(5800), 1),))
    charged, billed_through = first_charge(old)
    assert billed_through == utc(2028, 3, 1)
    result = change(old, new, utc(2028, 2, 29), billed_through, charged)
    assert [line.amount for line in result.lines] == [-100, 200]  # one day of 29


def test_month_end_anchor_period_is_jan_31_to_feb_28() -> None:
    old = terms(utc(2026, 1, 31), ItemTerms("si_1", price(2800), 1), "day")
    new = replace(old, items=(ItemTerms("si_1", price(2800), 2),))
    charged, billed_through = first_charge(old)
    assert billed_through == utc(2026, 2, 28)
    result = change(old, new, utc(2026, 2, 14), billed_through, charged)
    # Jan 31 - Feb 28 is 28 days; 14 remain after Feb 14.
    assert [line.amount for line in result.lines] == [-1400, 2800]


def test_change_on_the_first_day_swaps_the_whole_period() -> None:
    old = terms(utc(2026, 4, 1), ItemTerms("si_1", price(1000), 1))
    new = replace(old, items=(ItemTerms("si_1", price(2000, "Business"), 1),))
    charged, billed_through = first_charge(old)
    result = change(old, new, utc(2026, 4, 1), billed_through, charged)
    assert [line.amount for line in result.lines] == [-1000, 2000]


def test_credit_is_capped_by_a_discounted_charge() -> None:
    old = terms(utc(2026, 4, 1), ItemTerms("si_1", price(1000), 1))
    new = replace(old, items=(ItemTerms("si_1", price(2000, "Business"), 1),))
    _, billed_through = first_charge(old)
    paid = [Charged("si_1", utc(2026, 4, 1), utc(2026, 5, 1), 500)]  # 50% off
    result = change(old, new, utc(2026, 4, 16), billed_through, paid)
    assert [line.amount for line in result.lines] == [-250, 1000]


def test_nothing_charged_nothing_credited() -> None:
    old = terms(utc(2026, 4, 1), ItemTerms("si_1", price(1000), 1))
    new = replace(old, items=(ItemTerms("si_1", price(2000, "Business"), 1),))
    result = change(old, new, utc(2026, 4, 16), utc(2026, 5, 1), [])
    assert [line.amount for line in result.lines] == [1000]


def test_pending_charge_is_shortened_not_credited() -> None:
    old = terms(utc(2026, 4, 1), ItemTerms("si_1", price(2000, "Business"), 1))
    new = replace(old, items=(ItemTerms("si_1", price(3000, "Enterprise"), 1),))
    pending = [Pending("ii_1", "si_1", utc(2026, 4, 16), utc(2026, 5, 1))]
    result = change(old, new, utc(2026, 4, 22), utc(2026, 5, 1), [], pending)
    shortened = result.shortened["ii_1"]
    assert shortened is not None and shortened.amount == 400  # 6 days of Business
    assert shortened.description == "Time on Business from 16 Apr 2026 until 22 Apr 2026"
    assert [line.amount for line in result.lines] == [900]  # 9 days of Enterprise
    same_moment = change(old, new, utc(2026, 4, 16), utc(2026, 5, 1), [], pending)
    assert same_moment.shortened == {"ii_1": None}


def test_ending_service_credits_every_item() -> None:
    old = replace(terms(utc(2026, 4, 1), ItemTerms("si_1", price(1000), 1)),
                  items=(ItemTerms("si_1", price(1000), 1),
                         ItemTerms("si_2", price(600, "Support"), 1)))
    charged, billed_through = first_charge(old)
    result = change(old, None, utc(2026, 4, 21), billed_through, charged)
    assert sorted(line.amount for line in result.lines) == [-333, -200]


def test_seat_descriptions_use_the_unit_label() -> None:
    seats = price(1000, unit_label="seat")
    old = terms(utc(2026, 3, 1), ItemTerms("si_1", seats, 10), "day")
    new = replace(old, items=(ItemTerms("si_1", seats, 12),))
    charged, billed_through = first_charge(old)
    result = change(old, new, utc(2026, 3, 15), billed_through, charged)
    assert [line.description for line in result.lines] == [
        "Unused time on Pro (10 seats) after 15 Mar 2026",
        "Remaining time on Pro (12 seats) after 15 Mar 2026"]


# --- properties ------------------------------------------------------------------------

HOLDINGS = [(1000, 1), (2000, 1), (1999, 3), (333, 7), (0, 1), (12345, 2), (1, 1)]
STARTS = [utc(2026, 4, 1), utc(2026, 1, 31), utc(2028, 2, 1), utc(2028, 2, 29, 13, 7),
          utc(2026, 3, 28, 22, 30), utc(2026, 10, 24, 23)]
ZONES = [UTC_ZONE, ZoneInfo("Europe/Amsterdam"), ZoneInfo("America/New_York")]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[SubscriptionTerms, list[tuple[float, int]]]:
    start = draw(st.sampled_from(STARTS))
    granularity = draw(st.sampled_from(["second", "day"]))
    tz = draw(st.sampled_from(ZONES))
    first = draw(st.sampled_from(HOLDINGS))
    base = terms(start, ItemTerms("si_1", price(first[0], f"P{first[0]}"), first[1]),
                 granularity, tz)
    steps = draw(st.lists(st.tuples(st.floats(0, 1), st.integers(0, len(HOLDINGS) - 1)),
                          min_size=1, max_size=6))
    return base, sorted(steps)


def _holding(index: int) -> ItemTerms:
    amount, quantity = HOLDINGS[index]
    return ItemTerms("si_1", price(amount, f"P{amount}"), quantity)


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.booleans())
def test_any_sequence_of_changes_charges_the_time_weighted_price(
        scenario: tuple[SubscriptionTerms, list[tuple[float, int]]], invoice_each: bool) -> None:
    """Changes at any moments (several at one moment too) in an invoiced period: the total
    charged for the period equals what was held, weighted by time, within one minor unit
    per line; and the item is never credited more than it was charged."""
    current, steps = scenario
    charged, billed_through = first_charge(current)
    period = period_at(current, current.start)
    assert period is not None
    pending: dict[str, tuple[int, datetime, datetime]] = {}
    lines_made = len(charged)
    held: list[tuple[datetime, ItemTerms]] = [(period.start, current.items[0])]
    seconds = period.cycle.seconds
    for k, (position, choice) in enumerate(steps):
        at = period.start + timedelta(seconds=int(seconds * position))
        at = min(max(at, held[-1][0]), period.end - timedelta(seconds=1))
        new = replace(current, items=(_holding(choice),))
        result = change(current, new, at, billed_through, charged,
                        [Pending(pid, "si_1", s, e) for pid, (_, s, e) in pending.items()])
        for pid, line in result.shortened.items():
            if line is None:
                del pending[pid]
            else:
                pending[pid] = (line.amount, line.period_start, line.period_end)
        for n, line in enumerate(result.lines):
            lines_made += 1
            if line.amount < 0 or invoice_each:
                charged.append(Charged("si_1", line.period_start, line.period_end,
                                       line.amount))
            else:
                pending[f"ii_{k}_{n}"] = (line.amount, line.period_start, line.period_end)
        # Never more credited than charged, at every step.
        assert sum(c.net for c in charged) + sum(a for a, _, _ in pending.values()) >= 0
        held.append((at, new.items[0]))
        current = new
    total = sum(c.net for c in charged) + sum(a for a, _, _ in pending.values())
    expected = Decimal(0)
    bounds = [moment for moment, _ in held] + [period.end]
    for (start, item), end in zip(held, bounds[1:], strict=True):
        if end == start:
            continue
        expected += full_amount(item) * fraction(Period(start, end), period.cycle,
                                                 current.granularity, current.tz)
    assert abs(total - expected) <= lines_made
