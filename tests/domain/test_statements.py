"""Statements of account: opening balance, entries in time order with a running balance,
closing balance; a period's closing balance is the next period's opening balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.domain.statements import KINDS, Entry, EntryKind, statement

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


def entry(at: datetime, kind: EntryKind, amount: int, reference: str | None = None,
          object_id: str = "obj") -> Entry:
    return Entry(at=at, kind=kind, reference=reference, description="", amount=amount,
                 object_id=object_id)


def test_entries_before_the_period_make_the_opening_balance_and_later_ones_are_left_out(
        ) -> None:
    entries = [
        entry(FEB + timedelta(days=3), "payment", -10000, "INV-1"),
        entry(JAN, "invoice", 10000, "INV-1"),
        entry(FEB, "invoice", 5000, "INV-2"),  # at the start: in the period
        entry(MAR, "invoice", 7000, "INV-3"),  # at the end: after it
        entry(JAN + timedelta(days=5), "adjustment", -500),
    ]
    result = statement(entries, FEB, MAR, "eur")
    assert result.opening_balance == 9500
    assert [(p.entry.reference, p.entry.amount, p.balance) for p in result.entries] == [
        ("INV-2", 5000, 14500), ("INV-1", -10000, 4500)]
    assert result.closing_balance == 4500
    assert result.amount_due == 4500
    assert (result.debits, result.credits) == (5000, 10000)
    assert result.totals == {"invoice": 5000, "payment": -10000}
    assert (result.currency, result.start, result.end) == ("eur", FEB, MAR)


def test_a_period_without_entries_closes_at_its_opening_balance() -> None:
    result = statement([entry(JAN, "adjustment", -2500)], FEB, MAR, "eur")
    assert (result.opening_balance, result.entries, result.closing_balance) == (-2500, (),
                                                                                -2500)
    assert result.amount_due == 0  # credit is not due
    assert result.totals == {}


def test_entries_at_one_instant_list_documents_before_money_then_by_reference() -> None:
    at = FEB + timedelta(hours=9)
    entries = [entry(at, "payment", -300, "INV-2"), entry(at, "refund", 100, "CN-1"),
               entry(at, "invoice", 300, "INV-2"), entry(at, "write_off", 200, "INV-1"),
               entry(at, "credit_note", -100, "CN-1"), entry(at, "invoice", 200, "INV-1")]
    result = statement(entries, FEB, MAR, "eur")
    assert [(p.entry.kind, p.entry.reference) for p in result.entries] == [
        ("invoice", "INV-1"), ("invoice", "INV-2"), ("write_off", "INV-1"),
        ("credit_note", "CN-1"), ("payment", "INV-2"), ("refund", "CN-1")]
    assert [p.balance for p in result.entries] == [200, 500, 700, 600, 300, 400]


def test_an_empty_or_reversed_period_is_refused() -> None:
    with pytest.raises(ValueError):
        statement([], FEB, FEB, "eur")
    with pytest.raises(ValueError):
        statement([], MAR, FEB, "eur")


entries_strategy = st.lists(st.builds(
    entry, at=st.integers(0, 90 * 24).map(lambda hours: JAN + timedelta(hours=hours)),
    kind=st.sampled_from(KINDS), amount=st.integers(-10**9, 10**9),
    reference=st.one_of(st.none(), st.sampled_from(["INV-1", "INV-2", "CN-1"])),
    object_id=st.sampled_from(["in_1", "in_2", "cn_1", "cbtxn_1"])), max_size=40)
instants = st.integers(0, 100 * 24).map(lambda hours: JAN + timedelta(hours=hours))


@given(entries_strategy, instants, instants, instants)
def test_one_period_closes_where_the_next_one_opens(entries: list[Entry], a: datetime,
                                                    b: datetime, c: datetime) -> None:
    first, middle, last = sorted((a, b, c))
    if not first < middle < last:
        return
    before = statement(entries, first, middle, "eur")
    after = statement(entries, middle, last, "eur")
    whole = statement(entries, first, last, "eur")
    assert before.closing_balance == after.opening_balance
    assert whole.opening_balance == before.opening_balance
    assert whole.closing_balance == after.closing_balance
    assert [p.entry for p in whole.entries] == [p.entry for p in before.entries + after.entries]
    assert whole.closing_balance == sum(e.amount for e in entries if e.at < last)


@given(entries_strategy, instants, instants)
def test_running_balances_and_totals_add_up(entries: list[Entry], a: datetime,
                                            b: datetime) -> None:
    if a == b:
        return
    result = statement(entries, min(a, b), max(a, b), "eur")
    balance = result.opening_balance
    for posted in result.entries:
        balance += posted.entry.amount
        assert posted.balance == balance
    assert balance == result.closing_balance
    change = result.closing_balance - result.opening_balance
    assert sum(result.totals.values()) == change == result.debits - result.credits
    assert [p.entry.at for p in result.entries] == sorted(p.entry.at for p in result.entries)
