"""Credit note arithmetic without a database: remainders, quantity credits rounded once,
and how an amount is settled before and after payment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.core.errors import InvalidRequest, InvalidState
from kassa.domain import credit_notes as cn
from kassa.domain.numbering import (
    DEFAULT_FORMAT,
    Document,
    document_prefix,
    document_series,
    format_number,
)

SEATS = cn.InvoiceLine(id="il_seats", description="4 × Seat", quantity=4,
                       unit_amount=Decimal(2500), amount=10000, discount_amount=2000)
HALVES = cn.InvoiceLine(id="il_halves", description="3 × Half", quantity=3,
                        unit_amount=Decimal("0.5"), amount=2)  # 1.5 rounded half-up
REBATE = cn.InvoiceLine(id="il_rebate", description="Rebate", quantity=1,
                        unit_amount=Decimal(-500), amount=-500)


def _invoice(status: str = "paid", total: int = 10000, paid: int = 10000,
             remaining: int = 0, *lines: cn.InvoiceLine) -> cn.Invoice:
    return cn.Invoice(id="in_1", status=status, total=total, amount_paid=paid,
                      amount_remaining=remaining, lines=lines)


def _line(invoice_line: str, **fields: int) -> cn.LineRequest:
    return cn.LineRequest(type="invoice_line_item", invoice_line=invoice_line, **fields)


def test_a_lines_remainder_is_what_was_charged_after_discount_minus_earlier_credits() -> None:
    assert cn.line_remainder(SEATS) == 8000
    assert cn.line_remainder(SEATS, credited=3000) == 5000
    assert cn.line_remainder(SEATS, credited=9000) == 0
    assert cn.line_remainder(REBATE) == 0


def test_the_invoice_remainder_is_its_total_minus_issued_credit_notes() -> None:
    invoice = _invoice()
    assert cn.invoice_remainder(invoice, cn.Credited()) == 10000
    assert cn.invoice_remainder(invoice, cn.Credited(total=3000)) == 7000


def test_a_quantity_credit_is_rounded_half_up_once_and_capped_by_the_line() -> None:
    invoice = _invoice("paid", 10002, 10002, 0, SEATS, HALVES)
    [one_half] = cn.credit_lines(invoice, cn.Credited(), [_line("il_halves", quantity=1)])
    assert (one_half.amount, one_half.unit_amount, one_half.quantity) == (1, Decimal("0.5"), 1)
    # 3 × 0.5 = 1.5 -> 2: all of the line; two single halves are 1 + 1, and a third has
    # nothing left to credit.
    [three] = cn.credit_lines(invoice, cn.Credited(), [_line("il_halves", quantity=3)])
    assert three.amount == 2
    assert [line.amount for line in cn.credit_lines(
        invoice, cn.Credited(), [_line("il_halves", quantity=1)] * 2)] == [1, 1]
    with pytest.raises(InvalidRequest, match="already fully credited") as refused:
        cn.credit_lines(invoice, cn.Credited(), [_line("il_halves", quantity=1)] * 3)
    assert refused.value.param == "lines[2][invoice_line]"
    # 4 seats at 25.00 are 100.00, but only 80.00 was charged after the discount.
    [seats] = cn.credit_lines(invoice, cn.Credited(), [_line("il_seats", quantity=4)])
    assert seats.amount == 8000


def test_a_line_credited_without_quantity_or_amount_credits_what_remains() -> None:
    invoice = _invoice("paid", 10000, 10000, 0, SEATS)
    [whole] = cn.credit_lines(invoice, cn.Credited(), [_line("il_seats")])
    assert (whole.amount, whole.quantity, whole.unit_amount) == (8000, 4, Decimal(2500))
    [rest] = cn.credit_lines(invoice, cn.Credited(by_line={"il_seats": 5000}),
                             [_line("il_seats")])
    assert (rest.amount, rest.quantity, rest.unit_amount) == (3000, 1, None)


@pytest.mark.parametrize(("request_", "param", "message"), [
    (_line("il_seats", amount=8001), "lines[0][amount]", "exceeds what remains"),
    (_line("il_seats", amount=0), "lines[0][amount]", "positive"),
    (_line("il_seats", quantity=5), "lines[0][quantity]", "between 1 and"),
    (_line("il_seats", quantity=1, amount=1), "lines[0][amount]", "not both"),
    (_line("il_rebate"), "lines[0][invoice_line]", "is a credit"),
    (_line("il_elsewhere"), "lines[0][invoice_line]", "has no line"),
    (cn.LineRequest(type="custom_line_item", unit_amount=100), "lines[0][description]",
     "description"),
    (cn.LineRequest(type="custom_line_item", description="Goodwill"),
     "lines[0][unit_amount]", "unit_amount"),
    (cn.LineRequest(type="shipping"), "lines[0][type]", "type"),
])
def test_bad_lines_are_refused_naming_the_parameter(request_: cn.LineRequest, param: str,
                                                    message: str) -> None:
    invoice = _invoice("paid", 9500, 9500, 0, SEATS, REBATE)
    with pytest.raises(InvalidRequest, match=message) as refused:
        cn.plan(invoice, cn.Credited(), lines=[request_])
    assert refused.value.param == param


@pytest.mark.parametrize(("status", "remaining", "amount", "expected"), [
    ("open", 10000, 4000, cn.Settlement(pre_payment=4000)),
    ("open", 6000, 6000, cn.Settlement(pre_payment=6000)),
    ("open", 8000, 10000, cn.Settlement(pre_payment=8000, credit=2000)),  # balance paid 20.00
    ("paid", 0, 3000, cn.Settlement(credit=3000)),
])
def test_the_credit_first_reduces_what_remains_on_an_open_invoice(
        status: str, remaining: int, amount: int, expected: cn.Settlement) -> None:
    invoice = _invoice(status, 10000, 0 if status == "open" else 10000, remaining)
    assert cn.settle(amount, invoice, cn.Credited()) == expected


def test_post_payment_parts_must_add_up_exactly() -> None:
    paid = _invoice()
    assert cn.settle(3000, paid, cn.Credited(), credit=1000, refund=1500,
                     out_of_band=500) == cn.Settlement(credit=1000, refund=1500,
                                                       out_of_band=500)
    assert cn.settle(3000, paid, cn.Credited(), refund=3000) == cn.Settlement(refund=3000)
    with pytest.raises(InvalidRequest, match="must equal the post-payment amount 3000") as e:
        cn.settle(3000, paid, cn.Credited(), credit=1000, refund=1000)
    assert e.value.param == "credit_amount"
    with pytest.raises(InvalidRequest, match="reduces the open invoice"):
        cn.settle(3000, _invoice("open", 10000, 0, 10000), cn.Credited(), credit=3000)


def test_refunds_never_exceed_what_was_paid_minus_earlier_refunds() -> None:
    with pytest.raises(InvalidRequest, match="exceeds what can be refunded") as refused:
        cn.settle(3000, _invoice(), cn.Credited(total=8000, refunded=7001), refund=3000)
    assert refused.value.param == "refund_amount"
    with pytest.raises(InvalidRequest, match="refunded"):
        cn.settle(8000, _invoice("open", 10000, 0, 5000), cn.Credited(), refund=3000)


@pytest.mark.parametrize("status", ["draft", "void", "uncollectible"])
def test_only_open_or_paid_invoices_can_be_credited(status: str) -> None:
    with pytest.raises(InvalidState, match="only open or paid") as refused:
        cn.plan(_invoice(status, 10000, 0, 10000), cn.Credited(), amount=100)
    assert refused.value.param == "invoice"


def test_a_credit_note_never_exceeds_the_invoice_remainder() -> None:
    invoice = _invoice("open", 10000, 0, 6000)
    with pytest.raises(InvalidRequest, match="exceeds what remains") as refused:
        cn.plan(invoice, cn.Credited(total=4000), amount=6001)
    assert refused.value.param == "amount"
    plan = cn.plan(invoice, cn.Credited(total=4000), amount=6000)
    assert (plan.type, plan.amount, plan.settlement) == (
        "pre_payment", 6000, cn.Settlement(pre_payment=6000))


def test_amount_and_lines_must_agree() -> None:
    invoice = _invoice("paid", 10000, 10000, 0, SEATS)
    custom = cn.LineRequest(type="custom_line_item", description="Goodwill",
                            unit_amount=250, quantity=2)
    assert cn.plan(invoice, cn.Credited(), lines=[custom], amount=500).amount == 500
    with pytest.raises(InvalidRequest, match="differs") as refused:
        cn.plan(invoice, cn.Credited(), lines=[custom], amount=501)
    assert refused.value.param == "amount"


def test_pre_payment_lowers_amount_due_and_remaining_and_settles_the_invoice() -> None:
    open_ = cn.InvoiceAmounts("open", 10000, 10000)
    assert cn.apply_pre_payment(open_, 4000) == cn.InvoiceAmounts("open", 6000, 6000)
    assert cn.apply_pre_payment(open_, 10000) == cn.InvoiceAmounts("paid", 0, 0)
    assert cn.restore_pre_payment(cn.InvoiceAmounts("paid", 0, 0), 10000) == open_
    assert cn.restore_pre_payment(cn.InvoiceAmounts("uncollectible", 6000, 6000), 4000) \
        == cn.InvoiceAmounts("uncollectible", 10000, 10000)


@pytest.mark.parametrize(("status", "refund", "invoice_status", "message"), [
    ("void", 0, "paid", "already void"),
    ("issued", 1, "paid", "refund"),
    ("issued", 0, "void", "invoice is void"),
])
def test_voiding_is_refused_when_it_cannot_be_reversed(status: str, refund: int,
                                                       invoice_status: str,
                                                       message: str) -> None:
    with pytest.raises(InvalidState, match=message):
        cn.check_voidable(status, refund, invoice_status)


@given(total=st.integers(1, 10**9), paid=st.booleans(),
       amounts=st.lists(st.integers(1, 10**9), min_size=1, max_size=8))
def test_credit_notes_never_credit_more_than_the_invoice_and_always_add_up(
        total: int, paid: bool, amounts: list[int]) -> None:
    invoice = _invoice("paid" if paid else "open", total, total if paid else 0,
                       0 if paid else total)
    credited = cn.Credited()
    for amount in amounts:
        try:
            plan = cn.plan(invoice, credited, amount=amount)
        except InvalidRequest:
            assert amount > total - credited.total
            continue
        s = plan.settlement
        assert s.pre_payment + s.credit + s.refund + s.out_of_band == plan.amount == amount
        assert min(s.pre_payment, s.credit, s.refund, s.out_of_band) >= 0
        credited = cn.Credited(total=credited.total + amount)
        after = cn.apply_pre_payment(
            cn.InvoiceAmounts(invoice.status, invoice.amount_remaining,
                              invoice.amount_remaining), s.pre_payment)
        invoice = cn.Invoice(id=invoice.id, status=after.status, total=total,
                             amount_paid=invoice.amount_paid,
                             amount_remaining=after.amount_remaining)
    assert credited.total <= total


@pytest.mark.parametrize(("number_format", "document", "series", "number"), [
    (DEFAULT_FORMAT, "invoice", "ACME", "ACME-000007"),
    (DEFAULT_FORMAT, "credit_note", "CN:ACME-CN", "ACME-CN-000007"),
    ("{prefix}-{year}-{number:04d}", "invoice", "ACME:2026", "ACME-2026-0007"),
    ("{prefix}-{year}-{number:04d}", "credit_note", "CN:ACME-CN:2026", "ACME-CN-2026-0007"),
])
def test_credit_notes_are_numbered_in_their_own_series(number_format: str,
                                                       document: Document, series: str,
                                                       number: str) -> None:
    issued_on = date(2026, 3, 1)
    assert document_series(document, number_format, "ACME", issued_on) == series
    assert format_number(number_format, document_prefix(document, "ACME"), 7,
                         issued_on) == number
