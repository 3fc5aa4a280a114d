"""The metrics domain: normalization to a month, movements that always add up, rates,
lifetime value and payback, cohorts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kassa.domain import metrics

JAN, FEB, MAR = (datetime(2026, month, 1, tzinfo=UTC) for month in (1, 2, 3))


def test_charges_are_normalized_to_a_month() -> None:
    assert metrics.per_month(Decimal(120000), None, "year", 1) == 10000
    assert metrics.per_month(Decimal(30000), None, "month", 3) == 10000
    assert metrics.per_month(Decimal(1200), None, "week", 1) == Decimal(1200) * 52 / 12
    # Half a month credited: the full month's amount, negative.
    assert metrics.per_month(Decimal(-5000), Decimal("0.5"), "month", 1) == -10000
    # A rounded proration snaps back to the exact price it was cut from.
    share = Decimal("0.4993270524899057873485868102")
    assert metrics.per_month(Decimal(14980), share, "month", 1, Decimal(30000)) == 30000
    assert metrics.per_month(Decimal(-4993), share, "month", 1, Decimal(10000)) == -10000
    assert metrics.per_month(Decimal(100), Decimal(0), "month", 1) == 0


def test_a_period_counts_at_its_end_not_at_its_start() -> None:
    charge = metrics.Charge("cus_a", "sub_a", JAN, FEB, Decimal(100), Decimal(0))
    assert metrics.covers(charge, FEB) and not metrics.covers(charge, JAN)
    assert metrics.snapshot([charge], MAR).total == 0


mrr_maps = st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e"]),
                           st.integers(min_value=1, max_value=10**6).map(Decimal), max_size=5)


@given(mrr_maps, mrr_maps, st.sets(st.sampled_from(["a", "b", "c", "d", "e"])))
def test_movements_always_explain_the_change(before: dict[str, Decimal],
                                             after: dict[str, Decimal],
                                             seen: set[str]) -> None:
    moved = metrics.movements(before, after, seen | set(before))
    assert sum(after.values(), Decimal(0)) - sum(before.values(), Decimal(0)) == moved.net
    assert min(moved.new, moved.expansion, moved.contraction, moved.churn,
               moved.reactivation) >= 0
    assert moved.churned_customers == set(before) - set(after)
    assert moved.new_customers | moved.reactivated_customers == set(after) - set(before)


def test_rates_lifetime_value_and_payback() -> None:
    assert metrics.rate(1, 3) == Decimal("0.3333") and metrics.rate(1, 0) is None
    assert metrics.lifetime_value(Decimal(100), Decimal(80), Decimal("0.05")) == 1600
    assert metrics.lifetime_value(Decimal(100), Decimal(80), Decimal(0)) is None
    assert metrics.payback_months(Decimal(600), Decimal(100), Decimal(80)) == Decimal("7.5")
    assert metrics.payback_months(None, Decimal(100), Decimal(80)) is None


def test_cohorts_follow_first_paying_month() -> None:
    table = metrics.cohorts([{"a", "b"}, {"a", "c"}, {"b", "c"}])
    assert table[0] == (0, 2, [Decimal(1), Decimal("0.5000"), Decimal("0.5000")])
    assert table[1] == (1, 1, [Decimal(1), Decimal(1)])
    assert table[2] == (2, 0, [None])
