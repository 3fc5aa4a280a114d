"""The ledger's pure rules: an entry balances per currency or is refused, and the small
helpers that build entries (pair, reverse, compact, fit), with worked examples."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.domain.ledger import (
    Posting,
    Unbalanced,
    check_balanced,
    compact,
    fit,
    jurisdiction,
    normal_balance,
    pair,
    period_of,
    reverse,
)


def test_an_invoice_entry_balances_receivable_against_revenue_and_tax() -> None:
    check_balanced([Posting("receivable", 12100, "eur"),
                    Posting("deferred_revenue", -10000, "eur", "prod_pro"),
                    Posting("tax_payable", -2100, "eur", "NL")])


def test_an_entry_that_does_not_add_up_is_refused() -> None:
    with pytest.raises(Unbalanced, match="eur"):
        check_balanced([Posting("receivable", 12100, "eur"),
                        Posting("deferred_revenue", -10000, "eur")])  # the tax forgotten


def test_each_currency_must_balance_on_its_own() -> None:
    # 100 EUR in, 100 USD out: the totals cancel, the currencies do not.
    with pytest.raises(Unbalanced) as raised:
        check_balanced([Posting("bank", 10000, "eur"), Posting("clearing", -10000, "usd")])
    assert "eur" in str(raised.value) and "usd" in str(raised.value)
    # Through the FX differences account in each currency, it balances.
    check_balanced([Posting("bank", 10000, "eur"), Posting("fx_differences", -10000, "eur"),
                    Posting("fx_differences", 10000, "usd"), Posting("clearing", -10000, "usd")])


def test_an_unknown_account_role_is_refused_even_when_balanced() -> None:
    with pytest.raises(Unbalanced, match="petty_cash"):
        check_balanced([Posting("petty_cash", 500, "eur"), Posting("bank", -500, "eur")])


def test_nothing_balances_trivially() -> None:
    check_balanced([])


def test_pair_debits_one_account_and_credits_the_other() -> None:
    assert pair("out_of_band", "receivable", 2500, "eur", customer_id="cus_1") == [
        Posting("out_of_band", 2500, "eur", customer_id="cus_1"),
        Posting("receivable", -2500, "eur", customer_id="cus_1")]
    # A negative amount swaps the sides; zero posts nothing.
    assert pair("customer_balance", "balance_adjustments", -700, "eur") == [
        Posting("customer_balance", -700, "eur"), Posting("balance_adjustments", 700, "eur")]
    assert pair("bank", "clearing", 0, "eur") == []
    assert [p.key for p in pair("clearing", "receivable", 1, "eur", debit_key="sandbox")] == [
        "sandbox", None]


def test_a_posting_reads_as_a_debit_or_a_credit() -> None:
    assert (Posting("bank", 300, "eur").debit, Posting("bank", 300, "eur").credit) == (300, 0)
    assert (Posting("bank", -300, "eur").debit, Posting("bank", -300, "eur").credit) == (0, 300)


def test_reverse_undoes_an_entry_exactly() -> None:
    entry = [Posting("receivable", 12100, "eur", customer_id="cus_1", invoice_id="in_1"),
             Posting("deferred_revenue", -10000, "eur", "prod_pro", product_id="prod_pro"),
             Posting("tax_payable", -2100, "eur", "NL")]
    reversal = reverse(entry)
    assert [p.amount for p in reversal] == [-12100, 10000, 2100]
    assert [(p.role, p.key, p.customer_id, p.product_id, p.invoice_id) for p in reversal] == [
        (p.role, p.key, p.customer_id, p.product_id, p.invoice_id) for p in entry]
    assert compact(entry + reversal) == []


def test_compact_sums_one_line_per_account_and_dimension_in_first_seen_order() -> None:
    postings = [Posting("receivable", 1000, "eur", customer_id="cus_1"),
                Posting("deferred_revenue", -600, "eur", "prod_a"),
                Posting("receivable", 500, "eur", customer_id="cus_1"),
                Posting("deferred_revenue", -900, "eur", "prod_b"),
                Posting("receivable", 200, "eur", customer_id="cus_2"),
                Posting("tax_payable", 0, "eur"),  # zeros are dropped
                Posting("deferred_revenue", 600, "eur", "prod_a"),  # cancels out: dropped
                Posting("receivable", -1100, "eur")]
    assert compact(postings) == [Posting("receivable", 1500, "eur", customer_id="cus_1"),
                                 Posting("deferred_revenue", -900, "eur", "prod_b"),
                                 Posting("receivable", 200, "eur", customer_id="cus_2"),
                                 Posting("receivable", -1100, "eur")]
    # Same account, other currency: two lines.
    assert len(compact([Posting("bank", 1, "eur"), Posting("bank", 1, "usd")])) == 2


def test_fit_gives_the_rounding_cent_to_the_largest_part() -> None:
    # €100 split in three by rounding down: 3333 × 3 = 9999, the cent goes to a largest part.
    assert fit([3333, 3333, 3333], 10000) == [3334, 3333, 3333]
    assert fit([1000, 8265, 200], 9466) == [1000, 8266, 200]
    assert fit([500, -2000, 300], -1201) == [500, -2001, 300]  # largest by size, sign kept
    assert fit([4000, 6000], 10000) == [4000, 6000]  # already adding up: unchanged
    assert fit([], 0) == []


@given(st.lists(st.integers(-10**9, 10**9), min_size=1, max_size=10),
       st.integers(-10**9, 10**9))
def test_fit_always_adds_up_and_changes_one_part_only(parts: list[int], total: int) -> None:
    fitted = fit(parts, total)
    assert sum(fitted) == total
    assert sum(1 for a, b in zip(parts, fitted, strict=True) if a != b) <= 1


postings = st.builds(Posting, role=st.sampled_from(["receivable", "deferred_revenue", "bank",
                                                    "tax_payable"]),
                     amount=st.integers(-10**6, 10**6), currency=st.sampled_from(["eur", "usd"]),
                     key=st.sampled_from([None, "NL", "prod_a"]),
                     customer_id=st.sampled_from([None, "cus_1", "cus_2"]))


@given(st.lists(postings, max_size=12))
def test_an_entry_and_its_reversal_always_balance_and_compact_keeps_the_sums(
        entry: list[Posting]) -> None:
    check_balanced(compact(entry + reverse(entry)))
    assert compact(entry + reverse(entry)) == []
    for currency in ("eur", "usd"):
        assert sum(p.amount for p in compact(entry) if p.currency == currency) == sum(
            p.amount for p in entry if p.currency == currency)


def test_jurisdictions_periods_and_normal_balances() -> None:
    assert (jurisdiction("nl"), jurisdiction("us", "ca"), jurisdiction(None)) == (
        "NL", "US-CA", None)
    assert period_of(date(2026, 2, 28)) == "2026-02"
    assert normal_balance("asset", 500, 200) == 300
    assert normal_balance("liability", 500, 200) == -300
    assert normal_balance("revenue", 0, 1000) == 1000
