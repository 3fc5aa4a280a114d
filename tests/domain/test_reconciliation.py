"""Which open invoices a bank credit pays: references first, then a known IBAN, and never a
guess."""

from __future__ import annotations

import re
from datetime import date, timedelta
from random import Random

from hypothesis import assume, given
from hypothesis import strategies as st

from kassa.domain.reconciliation import (
    Allocation,
    Credit,
    Decision,
    OpenInvoice,
    Suggestion,
    reconcile,
)
from kassa.domain.references import creditor_reference

ACME_IBAN = "NL91ABNA0417164300"
UNKNOWN_IBAN = "DE89370400440532013000"
KNOWN = {ACME_IBAN: "cus_acme"}


def invoice(number: str, amount: int, *, id: str | None = None, customer: str = "cus_acme",
            name: str = "Acme B.V.", currency: str = "EUR", due: date | None = None,
            issued: date = date(2026, 1, 1)) -> OpenInvoice:
    return OpenInvoice(id=id or f"in_{number}", customer_id=customer, customer_name=name,
                       number=number, reference=creditor_reference(number), currency=currency,
                       amount_remaining=amount, due_date=due, issued=issued)


def credit(amount: int, *, remittance: str = "", structured: str | None = None,
           iban: str | None = UNKNOWN_IBAN, name: str = "ACME BV",
           currency: str = "EUR") -> Credit:
    return Credit(amount=amount, currency=currency, counterparty_iban=iban,
                  counterparty_name=name, remittance=remittance,
                  structured_reference=structured)


def allocated(decision: Decision) -> list[tuple[str, int]]:
    return [(a.invoice_id, a.amount) for a in decision.allocations]


INV_123 = invoice("ACME-2026-000123", 10000, due=date(2026, 1, 31))
INV_124 = invoice("ACME-2026-000124", 2500, due=date(2026, 2, 28))


# --- worked examples -----------------------------------------------------------------------

def test_a_structured_rf_reference_pays_its_invoice_in_full() -> None:
    decision = reconcile(credit(10000, structured="RF71ACME2026000123"), [INV_124, INV_123], {})
    assert decision == Decision(method="reference", confidence="high", customer_id="cus_acme",
                                allocations=(Allocation("in_ACME-2026-000123", 10000),),
                                overpayment=0, suggestions=())


def test_an_rf_reference_in_lower_case_groups_inside_the_text_is_found() -> None:
    iso_example = invoice("5390-0754-7034", 4250)  # its reference is RF18539007547034
    text = "Betaling rf18 5390 0754 7034 voor maart, dank"
    decision = reconcile(credit(4250, remittance=text), [INV_123, iso_example], {})
    assert decision.method == "reference"
    assert allocated(decision) == [("in_5390-0754-7034", 4250)]


def test_two_invoice_numbers_in_one_transfer_pay_both_in_order_and_leave_an_overpayment() -> None:
    text = "facturen acme-2026-000124 en ACME 2026 000123"
    decision = reconcile(credit(13000, remittance=text), [INV_123, INV_124], {})
    assert decision.method == "invoice_number"
    assert allocated(decision) == [("in_ACME-2026-000124", 2500), ("in_ACME-2026-000123", 10000)]
    assert decision.overpayment == 500
    assert decision.customer_id == "cus_acme"


def test_a_credit_below_the_referenced_invoice_pays_part_of_it() -> None:
    decision = reconcile(credit(4000, structured="RF71 ACME 2026 0001 23"), [INV_123], {})
    assert allocated(decision) == [("in_ACME-2026-000123", 4000)]
    assert decision.overpayment == 0


def test_a_credit_stops_where_the_money_runs_out() -> None:
    text = "ACME-2026-000123 ACME-2026-000124"
    decision = reconcile(credit(11000, remittance=text), [INV_123, INV_124], {})
    assert allocated(decision) == [("in_ACME-2026-000123", 10000), ("in_ACME-2026-000124", 1000)]


def test_a_known_iban_pays_the_oldest_invoice_of_exactly_the_credited_amount() -> None:
    newer = invoice("ACME-2026-000130", 2500, due=date(2026, 3, 31))
    older = invoice("ACME-2026-000125", 2500, due=date(2026, 2, 15))
    decision = reconcile(credit(2500, iban="nl91 abna 0417 1643 00"),
                         [newer, INV_123, older], KNOWN)
    assert (decision.method, decision.confidence) == ("amount_and_iban", "medium")
    assert allocated(decision) == [("in_ACME-2026-000125", 2500)]


def test_a_known_iban_pays_the_oldest_invoices_when_the_credit_is_their_sum() -> None:
    third = invoice("ACME-2026-000140", 7000, due=date(2026, 4, 30))
    decision = reconcile(credit(12500, iban=ACME_IBAN), [third, INV_124, INV_123], KNOWN)
    assert decision.method == "iban_oldest_first"
    assert allocated(decision) == [("in_ACME-2026-000123", 10000), ("in_ACME-2026-000124", 2500)]
    assert decision.overpayment == 0


def test_a_known_iban_with_no_exact_amount_or_sum_only_suggests_the_customers_invoices() -> None:
    other = invoice("GLOBEX-2026-000007", 9999, customer="cus_globex", name="Globex")
    decision = reconcile(credit(9999, iban=ACME_IBAN), [INV_124, other, INV_123], KNOWN)
    assert decision.method == "none" and decision.allocations == ()
    assert decision.customer_id is None
    assert decision.suggestions == (Suggestion("in_ACME-2026-000123", "customer_invoice", 50),
                                    Suggestion("in_ACME-2026-000124", "customer_invoice", 50))


def test_an_rf_reference_with_wrong_check_digits_is_ignored() -> None:
    wrong = "RF72ACME2026000123"  # the right check digits are 71
    assert reconcile(credit(10000, structured=wrong), [INV_123], {}).allocations == ()
    # ignored, not blocking: the known IBAN and exact amount still match
    decision = reconcile(credit(10000, structured=wrong, iban=ACME_IBAN), [INV_123], KNOWN)
    assert decision.method == "amount_and_iban"


def test_references_to_invoices_of_two_customers_only_suggest_them() -> None:
    globex = invoice("GLOBEX-2026-000007", 3000, customer="cus_globex", name="Globex")
    text = "RF98GLOBEX2026000007 ACME-2026-000123"
    decision = reconcile(credit(13000, remittance=text, iban=ACME_IBAN), [INV_123, globex],
                         KNOWN)
    assert (decision.method, decision.allocations, decision.customer_id) == ("none", (), None)
    assert decision.suggestions == (Suggestion("in_GLOBEX-2026-000007", "referenced", 100),
                                    Suggestion("in_ACME-2026-000123", "referenced", 100))


def test_a_reference_to_an_invoice_in_another_currency_is_not_matched() -> None:
    dollars = invoice("ACME-2026-000200", 10000, currency="USD")
    decision = reconcile(credit(10000, structured=dollars.reference, iban=ACME_IBAN),
                         [dollars], KNOWN)
    assert decision.allocations == ()
    assert decision.suggestions == (Suggestion("in_ACME-2026-000200", "referenced", 100),)


def test_a_valid_reference_to_no_open_invoice_blocks_matching_by_iban() -> None:
    paid_before = creditor_reference("ACME-2025-000999")
    decision = reconcile(credit(2500, structured=paid_before, iban=ACME_IBAN), [INV_124],
                         KNOWN)
    assert decision.allocations == ()
    assert decision.suggestions == (Suggestion("in_ACME-2026-000124", "customer_invoice", 50),)


def test_a_reference_beats_the_iban() -> None:
    globex = invoice("GLOBEX-2026-000007", 2500, customer="cus_globex", name="Globex")
    decision = reconcile(credit(2500, structured=globex.reference, iban=ACME_IBAN),
                         [INV_124, globex], KNOWN)
    assert decision.customer_id == "cus_globex"
    assert allocated(decision) == [("in_GLOBEX-2026-000007", 2500)]


def test_an_unknown_iban_never_matches_and_suggests_same_amount_invoices_by_name() -> None:
    invoices = [invoice(f"X-2026-{n:06d}", 2500, customer=f"cus_{n}", name=name,
                        due=date(2026, 1, n))
                for n, name in enumerate(["Initech", "Globex", "Acme B.V.", "Hooli", "Umbrella",
                                          "Stark", "Wayne"], start=1)]
    decision = reconcile(credit(2500, name="ACME BV"), [*invoices, INV_123], {})
    assert decision.allocations == ()
    assert [s.invoice_id for s in decision.suggestions] == [
        "in_X-2026-000003", "in_X-2026-000001", "in_X-2026-000002", "in_X-2026-000004",
        "in_X-2026-000005"]
    assert decision.suggestions[0] == Suggestion("in_X-2026-000003", "same_amount", 100)
    assert {s.score for s in decision.suggestions[1:]} == {50}


def test_an_invoice_number_counts_only_as_a_whole_token() -> None:
    for text in ["ACME-2026-0001234", "XACME-2026-000123", "ACME-2026-000123-B",
                 "order/ACME-2026-000123", "ACME-20 26-000123"]:
        assert reconcile(credit(10000, remittance=text), [INV_123], {}).allocations == (), text
    for text in ["(ACME-2026-000123)", "inv. ACME/2026/000123.", "Acme2026000123,ACME-1"]:
        assert allocated(reconcile(credit(10000, remittance=text), [INV_123], {})) == [
            ("in_ACME-2026-000123", 10000)], text


def test_short_numeric_invoice_numbers_are_not_looked_for_in_free_text() -> None:
    short = invoice("12345", 1200)
    assert reconcile(credit(1200, remittance="invoice 12345"), [short], {}).allocations == ()
    decision = reconcile(credit(1200, remittance=f"ref {short.reference}"), [short], {})
    assert allocated(decision) == [("in_12345", 1200)]


def test_a_number_inside_an_rf_reference_is_not_read_as_another_invoice() -> None:
    shorter = invoice("ACME-2026-0001", 500)
    longer = invoice("ACME-2026-00012", 700)  # RF77 ACME 2026 0001 2 holds the shorter
    text = f"betaald {longer.reference[:4]} ACME 2026 0001 2"
    decision = reconcile(credit(1200, remittance=text), [shorter, longer], {})
    assert allocated(decision) == [("in_ACME-2026-00012", 700)]
    assert decision.overpayment == 500


def test_an_rf_reference_followed_by_words_is_still_found() -> None:
    text = "RF71 ACME 2026 0001 23 paid with thanks"
    decision = reconcile(credit(10000, remittance=text), [INV_123], {})
    assert allocated(decision) == [("in_ACME-2026-000123", 10000)]


# --- properties ----------------------------------------------------------------------------

CUSTOMERS = ["cus_a", "cus_b", "cus_c"]
IBANS = ["NL02ABNA0123456789", "NL39RABO0300065264", "BE71096123456769", UNKNOWN_IBAN]


@st.composite
def open_invoices(draw: st.DrawFn) -> list[OpenInvoice]:
    count = draw(st.integers(0, 8))
    numbers = draw(st.lists(st.integers(1, 999), min_size=count, max_size=count, unique=True))
    result = []
    for n in numbers:
        issued = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 60)))
        due = draw(st.none() | st.just(issued + timedelta(days=draw(st.integers(0, 30)))))
        customer = draw(st.sampled_from(CUSTOMERS))
        result.append(invoice(f"INV-2026-{n:06d}", draw(st.integers(1, 5000)), id=f"in_{n}",
                              customer=customer, name=customer, currency=draw(
                                  st.sampled_from(["EUR", "USD"])), due=due, issued=issued))
    return result


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Credit, list[OpenInvoice], dict[str, str]]:
    invoices = draw(open_invoices())
    words = [draw(st.sampled_from(["thanks", "RF", "rf12", "2026", "INV", "-", "000", "paid"]))
             for _ in range(draw(st.integers(0, 4)))]
    for mentioned in draw(st.lists(st.sampled_from(invoices), max_size=3)) if invoices else []:
        words.append(draw(st.sampled_from([mentioned.number, mentioned.reference,
                                           mentioned.number.lower().replace("-", " ")])))
    words = draw(st.permutations(words))
    structured = draw(st.none() | st.sampled_from([i.reference for i in invoices] or ["RF"]))
    known = dict(zip(IBANS[:3], draw(st.lists(st.sampled_from(CUSTOMERS), min_size=3,
                                              max_size=3)), strict=True))
    amount = draw(st.integers(1, 12000) | st.sampled_from(
        [i.amount_remaining for i in invoices] or [1]))
    paid = credit(amount, remittance=" ".join(words), structured=structured,
                  iban=draw(st.none() | st.sampled_from(IBANS)),
                  currency=draw(st.sampled_from(["EUR", "USD"])))
    return paid, invoices, known


@given(scenarios())
def test_allocations_and_overpayment_add_up_to_the_credit_within_one_customer(
        scenario: tuple[Credit, list[OpenInvoice], dict[str, str]]) -> None:
    paid, invoices, known = scenario
    decision = reconcile(paid, invoices, known)
    by_id = {i.id: i for i in invoices}
    if not decision.allocations:
        assert (decision.method, decision.customer_id, decision.overpayment) == ("none", None, 0)
        return
    assert decision.method != "none" and decision.suggestions == ()
    assert sum(a.amount for a in decision.allocations) + decision.overpayment == paid.amount
    assert decision.overpayment >= 0
    assert len({a.invoice_id for a in decision.allocations}) == len(decision.allocations)
    for allocation in decision.allocations:
        paid_invoice = by_id[allocation.invoice_id]
        assert 0 < allocation.amount <= paid_invoice.amount_remaining
        assert paid_invoice.customer_id == decision.customer_id
        assert paid_invoice.currency == paid.currency
    if decision.overpayment:  # money is left over only when every invoice is paid in full
        assert all(a.amount == by_id[a.invoice_id].amount_remaining
                   for a in decision.allocations)


@given(scenarios(), st.randoms())
def test_the_decision_does_not_depend_on_the_order_of_the_open_invoices(
        scenario: tuple[Credit, list[OpenInvoice], dict[str, str]], rng: Random) -> None:
    paid, invoices, known = scenario
    shuffled = list(invoices)
    rng.shuffle(shuffled)
    assert reconcile(paid, shuffled, known) == reconcile(paid, invoices, known)


def _compact(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", text).upper()


@given(open_invoices(), st.text(alphabet="RFrfINV0123456789 -/.,", max_size=60),
       st.none() | st.text(alphabet="RF0123456789 ", max_size=25),
       st.integers(1, 12000), st.none() | st.just(UNKNOWN_IBAN))
def test_without_a_reference_or_a_known_iban_nothing_is_ever_allocated(
        invoices: list[OpenInvoice], text: str, structured: str | None, amount: int,
        iban: str | None) -> None:
    searched = _compact(f"{structured or ''} {text}")
    assume(not any(_compact(i.number) in searched or i.reference in searched
                   for i in invoices))
    known = {IBANS[0]: "cus_a"}
    decision = reconcile(credit(amount, remittance=text, structured=structured, iban=iban),
                         invoices, known)
    assert decision.allocations == ()
    assert decision.method == "none"


@given(open_invoices(), st.data())
def test_naming_invoices_of_one_customer_pays_them_in_the_order_named(
        invoices: list[OpenInvoice], data: st.DataObject) -> None:
    eur = [i for i in invoices if i.customer_id == "cus_a" and i.currency == "EUR"]
    assume(eur)
    named = data.draw(st.lists(st.sampled_from(eur), min_size=1, unique_by=lambda i: i.id))
    amount = data.draw(st.integers(1, sum(i.amount_remaining for i in named) + 1000))
    text = ", ".join(data.draw(st.sampled_from([i.number, i.reference])) for i in named)
    decision = reconcile(credit(amount, remittance=f"Betreft {text}."), invoices, {})
    expected, left = [], amount
    for named_invoice in named:
        if left:
            expected.append((named_invoice.id, min(left, named_invoice.amount_remaining)))
            left -= expected[-1][1]
    assert allocated(decision) == expected
    assert decision.overpayment == left
