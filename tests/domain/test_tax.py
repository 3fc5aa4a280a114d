"""The tax engine: which tax a line gets (table-driven), and EN 16931 rounding per group."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.core.money import round_minor
from kassa.domain.tax import (
    Decision,
    Party,
    SellerRate,
    TaxableLine,
    compute,
    decide,
    note_text,
    rate_text,
)

NL = Party("NL")
JAN = date(2026, 1, 15)
US_CA = SellerRate("txr_ca", "California sales tax", "sales_tax", "US", "CA", Decimal("7.25"),
                   False, None, None)
CA_GST = SellerRate("txr_gst", "GST", "gst", "CA", None, Decimal("5"), False, None, None)
CA_BC = SellerRate("txr_bc", "PST (BC)", "pst", "CA", "BC", Decimal("7"), False, None, None)
CA_ON = SellerRate("txr_on", "HST (ON)", "hst", "CA", "ON", Decimal("13"), False, None, None)
SG_OLD = SellerRate("txr_sg8", "GST", "gst", "SG", None, Decimal("8"), False, date(2023, 1, 1),
                    date(2024, 1, 1))
SG_NEW = SellerRate("txr_sg9", "GST", "gst", "SG", None, Decimal("9"), False, date(2024, 1, 1),
                    None)
SELLER_RATES = [US_CA, CA_GST, CA_BC, CA_ON, SG_OLD, SG_NEW]


def summary(decision: Decision) -> list[tuple[str, str, str | None, str | None]]:
    return [(c.category, rate_text(c.rate), c.country, c.note)
            for c in decision.components]


CASES = [
    # (case, seller, buyer, tax code, date, expected components, scheme)
    ("domestic consumer", NL, Party("NL"), None, JAN, [("S", "21", "NL", None)], "domestic"),
    ("domestic business still pays VAT", NL, Party("NL", business=True), None, JAN,
     [("S", "21", "NL", None)], "domestic"),
    ("EU business: reverse charge", NL, Party("DE", business=True), None, JAN,
     [("AE", "0", "DE", "reverse_charge")], "reverse_charge"),
    ("EU business in Belgium", NL, Party("BE", business=True), None, JAN,
     [("AE", "0", "BE", "reverse_charge")], "reverse_charge"),
    ("EU consumer, digital: OSS at the customer's rate (DE)", NL, Party("DE"), "saas", JAN,
     [("S", "19", "DE", None)], "oss"),
    ("EU consumer, digital: OSS (FR)", NL, Party("FR"), None, JAN,
     [("S", "20", "FR", None)], "oss"),
    ("EU consumer, e-book: the lowest reduced rate (FR 5.5)", NL, Party("FR"), "ebook", JAN,
     [("S", "5.5", "FR", None)], "oss"),
    ("EU consumer, general service: the seller's rate", NL, Party("DE"), "general_service",
     JAN, [("S", "21", "NL", None)], "domestic"),
    ("outside the EU: outside scope", NL, Party("US", "NY"), None, JAN,
     [("O", "0", "US", "outside_scope")], "outside_scope"),
    ("customer exempt", NL, Party("DE", exempt="exempt"), None, JAN,
     [("E", "0", "DE", "customer_exempt")], "exempt"),
    ("domestic customer marked reverse", NL, Party("NL", exempt="reverse"), None, JAN,
     [("AE", "0", "NL", "reverse_charge")], "reverse_charge"),
    ("exempt product", NL, Party("NL"), "exempt", JAN, [("E", "0", "NL", "exempt")],
     "domestic"),
    ("zero-rated product", NL, Party("NL"), "zero_rated", JAN, [("Z", "0", "NL", None)],
     "domestic"),
    ("customer without a country: the seller's country", NL, Party(None), None, JAN,
     [("S", "21", "NL", None)], "domestic"),
    ("seller without a country: no tax", Party(None), Party("DE"), None, JAN, [], "none"),
    ("Finland before its rate change", Party("FI"), Party("FI"), None, date(2024, 8, 31),
     [("S", "24", "FI", None)], "domestic"),
    ("Finland from 1 September 2024", Party("FI"), Party("FI"), None, date(2024, 9, 1),
     [("S", "25.5", "FI", None)], "domestic"),
    ("OSS follows the customer's rate change", NL, Party("FI"), None, date(2024, 9, 1),
     [("S", "25.5", "FI", None)], "oss"),
    ("US seller, EU consumer: non-Union OSS", Party("US"), Party("DE"), None, JAN,
     [("S", "19", "DE", None)], "oss"),
    ("US seller, EU business: reverse charge", Party("US"), Party("DE", business=True), None,
     JAN, [("AE", "0", "DE", "reverse_charge")], "reverse_charge"),
    ("US state sales tax the seller maintains", Party("US"), Party("US", "CA"), None, JAN,
     [("S", "7.25", "US", None)], "seller_rates"),
    ("a US state without a rate: none", Party("US"), Party("US", "OR"), None, JAN, [],
     "none"),
    ("Canada BC: GST and PST both", Party("CA"), Party("CA", "BC"), None, JAN,
     [("S", "5", "CA", None), ("S", "7", "CA", None)], "seller_rates"),
    ("Canada ON: HST replaces GST", Party("CA"), Party("CA", "ON"), None, JAN,
     [("S", "13", "CA", None)], "seller_rates"),
    ("Singapore GST before 2024", NL, Party("SG"), None, date(2023, 6, 1),
     [("S", "8", "SG", None)], "seller_rates"),
    ("Singapore GST from 2024", NL, Party("SG"), None, date(2024, 1, 1),
     [("S", "9", "SG", None)], "seller_rates"),
]


@pytest.mark.parametrize(("case", "seller", "buyer", "code", "on", "expected", "scheme"), CASES,
                         ids=[case[0] for case in CASES])
def test_tax_decisions(case: str, seller: Party, buyer: Party, code: str | None, on: date,
                       expected: list[tuple[str, str, str | None, str | None]],
                       scheme: str) -> None:
    decision = decide(seller, buyer, code, on, SELLER_RATES)
    assert summary(decision) == expected
    assert decision.scheme == scheme


def test_legal_notes_per_locale() -> None:
    assert note_text("reverse_charge", "nl").startswith("BTW verlegd")
    assert note_text("reverse_charge", "en-GB").startswith("Reverse charge")
    assert note_text("reverse_charge", "de").startswith("Steuerschuldnerschaft")
    assert note_text("reverse_charge", "fr").startswith("Autoliquidation")
    assert note_text("reverse_charge", "pt").startswith("Reverse charge")  # fallback
    assert note_text(None, "nl") is None


def _nl(amount: int, inclusive: bool = False) -> TaxableLine:
    return TaxableLine(amount, decide(NL, Party("NL"), None, JAN), inclusive)


def test_tax_is_rounded_once_per_group_not_per_line() -> None:
    # Ten lines of 0.05 at 21%: per line 0.0105 rounds to 0.01 (0.10 in all); the group's
    # 0.50 x 21% = 0.105 rounds to 0.11 once, spread so the lines add up.
    result = compute([_nl(5) for _ in range(10)])
    assert result.tax == 11
    assert sorted(line.tax_amount for line in result.lines) == [1] * 9 + [2]
    [group] = result.groups
    assert (group.taxable_amount, group.tax_amount) == (50, 11)


def test_inclusive_price_extracts_the_tax_without_changing_the_total() -> None:
    result = compute([_nl(12100, inclusive=True), _nl(1000, inclusive=True)])
    # 131.00 including 21%: tax = 131.00 x 21/121 = 22.735... -> 22.74; net 108.26.
    assert result.tax == 2274 and result.total_excluding_tax == 10826
    assert result.total_excluding_tax + result.tax == 13100
    assert [line.tax_amount + line.amount_excluding_tax for line in result.lines] == \
        [12100, 1000]


def test_mixed_rates_form_separate_groups() -> None:
    lines = [_nl(10000), TaxableLine(5000, decide(NL, Party("DE", business=True), None, JAN)),
             TaxableLine(2000, decide(NL, Party("FR"), "ebook", JAN))]
    result = compute(lines)
    assert [(g.component.category, rate_text(g.component.rate), g.taxable_amount,
             g.tax_amount) for g in result.groups] == [
        ("AE", "0", 5000, 0), ("S", "21", 10000, 2100), ("S", "5.5", 2000, 110)]


def test_stacked_gst_and_pst() -> None:
    decision = decide(Party("CA"), Party("CA", "BC"), None, JAN, SELLER_RATES)
    result = compute([TaxableLine(9999, decision)])
    assert [g.tax_amount for g in result.groups] == [500, 700]  # 5% and 7% of 99.99
    assert result.lines[0].tax_amount == 1200


def test_credit_lines_reduce_the_group() -> None:
    result = compute([_nl(2000), _nl(-500)])
    assert result.tax == 315 and [line.tax_amount for line in result.lines] == [420, -105]


AMOUNTS = st.lists(st.integers(-50_000, 500_000), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(AMOUNTS, st.lists(st.booleans(), min_size=40, max_size=40),
       st.sampled_from(["NL", "DE", "FR", "BE", "FI"]))
def test_lines_groups_and_totals_add_up_exactly(amounts: list[int], inclusive: list[bool],
                                               country: str) -> None:
    decision = decide(NL, Party(country), None, JAN)
    lines = [TaxableLine(a, decision, inclusive[i]) for i, a in enumerate(amounts)]
    result = compute(lines)
    rate = decision.components[0].rate
    assert sum(line.tax_amount for line in result.lines) == result.tax == \
        sum(g.tax_amount for g in result.groups)
    assert sum(g.taxable_amount for g in result.groups) == result.total_excluding_tax
    exclusive = sum(a for a, inc in zip(amounts, inclusive, strict=False) if not inc)
    included = sum(a for a, inc in zip(amounts, inclusive, strict=False) if inc)
    # Exclusive lines: tax = taxable x rate rounded once; inclusive: extracted, total kept.
    exclusive_tax = round_minor(Decimal(exclusive) * rate / 100)
    included_tax = round_minor(Decimal(included) * rate / (100 + rate))
    assert result.tax == exclusive_tax + included_tax
    assert result.total_excluding_tax + result.tax == exclusive + exclusive_tax + included
    for taxed, line in zip(result.lines, lines, strict=True):  # each line within a cent
        share = rate / (100 + rate) if line.inclusive else rate / 100
        assert abs(taxed.tax_amount - line.amount * share) < 1
