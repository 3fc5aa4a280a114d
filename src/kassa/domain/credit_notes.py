"""Credit note arithmetic: how much of an invoice can still be credited, what a credit note's
lines amount to, and how its amount is settled (Stripe's credit note semantics).

A credit note corrects a finalized invoice without changing it. Its amount is settled in up
to four parts: `pre_payment` reduces what is still due on an open invoice; the rest
(post-payment) goes to the customer's balance (`credit`), back to the customer (`refund`),
or is settled outside Kassa (`out_of_band`). The parts always add up to the amount exactly.

All amounts are integers in minor units. The only rounding is a quantity credit of an
invoice line: `quantity × unit price`, half-up, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal

from kassa.core.errors import InvalidRequest, InvalidState
from kassa.core.money import round_minor

REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")
CREDITABLE_STATUSES = ("open", "paid")
LineType = Literal["invoice_line_item", "custom_line_item"]
NoteType = Literal["pre_payment", "post_payment"]


@dataclass(frozen=True)
class InvoiceLine:
    """What crediting needs to know of an invoice line."""

    id: str
    description: str
    quantity: int
    unit_amount: Decimal
    amount: int
    discount_amount: int = 0
    # The line's tax, and whether its amount includes it (a tax-inclusive price).
    tax_amount: int = 0
    inclusive: bool = False


@dataclass(frozen=True)
class Invoice:
    """What crediting needs to know of an invoice."""

    id: str
    status: str
    total: int
    amount_paid: int
    amount_remaining: int
    lines: tuple[InvoiceLine, ...] = ()
    tax: int = 0


@dataclass(frozen=True)
class Credited:
    """What the invoice's issued (non-void) credit notes already credited."""

    total: int = 0
    refunded: int = 0
    by_line: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LineRequest:
    """One requested credit note line, as given by the caller (unvalidated)."""

    type: str
    invoice_line: str | None = None
    quantity: int | None = None
    amount: int | None = None
    description: str | None = None
    unit_amount: int | None = None


@dataclass(frozen=True)
class Line:
    """One credit note line, with its exact amount."""

    type: LineType
    invoice_line: str | None
    description: str
    quantity: int
    unit_amount: Decimal | None
    amount: int
    # The tax this line gives back: its share of the invoice line's tax. `inclusive`: the
    # amount already holds it.
    tax_amount: int = 0
    inclusive: bool = False

    @property
    def total(self) -> int:
        return self.amount if self.inclusive else self.amount + self.tax_amount


@dataclass(frozen=True)
class Settlement:
    """How a credit note's amount is settled; the four parts add up to it exactly."""

    pre_payment: int = 0
    credit: int = 0
    refund: int = 0
    out_of_band: int = 0

    @property
    def post_payment(self) -> int:
        return self.credit + self.refund + self.out_of_band


@dataclass(frozen=True)
class Plan:
    """The credit note a request would create."""

    type: NoteType
    amount: int
    lines: tuple[Line, ...]
    settlement: Settlement
    subtotal: int = 0
    tax: int = 0


def line_remainder(line: InvoiceLine, credited: int = 0) -> int:
    """What can still be credited on an invoice line: what was charged for it after its
    discount, minus what credit notes already credited on it. A credit line (negative
    amount) has nothing to credit."""
    return max(line.amount - line.discount_amount - credited, 0)


def invoice_remainder(invoice: Invoice, credited: Credited) -> int:
    """What can still be credited on an invoice: its total minus its issued credit notes."""
    return max(invoice.total - credited.total, 0)


def refundable(invoice: Invoice, credited: Credited) -> int:
    """What may still be refunded: what was paid minus what credit notes already refund."""
    return max(invoice.amount_paid - credited.refunded, 0)


def check_creditable(invoice: Invoice) -> None:
    """Only finalized invoices that are still standing (open or paid) can be credited."""
    if invoice.status not in CREDITABLE_STATUSES:
        raise InvalidState(f"Invoice {invoice.id} is {invoice.status}; only open or paid "
                           "invoices can be credited.", param="invoice")


def settle(amount: int, invoice: Invoice, credited: Credited, *, credit: int | None = None,
           refund: int | None = None, out_of_band: int | None = None) -> Settlement:
    """Split `amount` into its pre-payment part and the post-payment parts.

    On an open invoice the credit first reduces what remains to be paid; only what exceeds
    it is post-payment. The post-payment parts given must add up to that exactly; given
    none, all of it is credited to the customer's balance.
    """
    pre = min(amount, invoice.amount_remaining) if invoice.status == "open" else 0
    post = amount - pre
    parts = {"credit_amount": credit, "refund_amount": refund,
             "out_of_band_amount": out_of_band}
    for name, value in parts.items():
        if value is not None and value < 0:
            raise InvalidRequest(f"{name} must not be negative.", param=name)
    if all(value is None for value in parts.values()):
        return Settlement(pre_payment=pre, credit=post)
    result = Settlement(pre_payment=pre, credit=credit or 0, refund=refund or 0,
                        out_of_band=out_of_band or 0)
    if result.post_payment != post:
        given = next(name for name, value in parts.items() if value is not None)
        where = f" ({pre} of {amount} reduces the open invoice)" if pre else ""
        raise InvalidRequest(
            f"credit_amount + refund_amount + out_of_band_amount is {result.post_payment}; "
            f"it must equal the post-payment amount {post}{where}.", param=given)
    if result.refund > refundable(invoice, credited):
        raise InvalidRequest(
            f"refund_amount {result.refund} exceeds what can be refunded on the invoice: "
            f"{refundable(invoice, credited)} (paid, minus refunds of earlier credit notes).",
            param="refund_amount")
    return result


def credit_line(line: InvoiceLine, remainder: int, *, quantity: int | None,
                amount: int | None, param: str) -> Line:
    """Credit part of an invoice line: a quantity of it (at its unit price, rounded once
    and capped by what remains), an amount, or, given neither, all that remains."""
    if quantity is not None and amount is not None:
        raise InvalidRequest("Give quantity or amount for a line, not both.",
                             param=f"{param}[amount]")
    if line.amount <= 0:
        raise InvalidRequest(f"Invoice line {line.id} is a credit, not a charge; it cannot "
                             "be credited.", param=f"{param}[invoice_line]")
    if remainder <= 0:
        raise InvalidRequest(f"Invoice line {line.id} is already fully credited.",
                             param=f"{param}[invoice_line]")
    if quantity is not None:
        if not 1 <= quantity <= line.quantity:
            raise InvalidRequest(f"quantity must be between 1 and the line's quantity "
                                 f"{line.quantity}.", param=f"{param}[quantity]")
        credited = min(round_minor(line.unit_amount * quantity), remainder)
        return _taxed(line, Line("invoice_line_item", line.id, line.description, quantity,
                                 line.unit_amount, credited))
    if amount is not None:
        if amount <= 0:
            raise InvalidRequest("amount must be a positive integer in minor units.",
                                 param=f"{param}[amount]")
        if amount > remainder:
            raise InvalidRequest(f"amount {amount} exceeds what remains to be credited on "
                                 f"invoice line {line.id}: {remainder}.",
                                 param=f"{param}[amount]")
        return _taxed(line, Line("invoice_line_item", line.id, line.description, 1, None,
                                 amount))
    if remainder == line_remainder(line):  # the whole line, as it was charged
        return _taxed(line, Line("invoice_line_item", line.id, line.description,
                                 line.quantity, line.unit_amount, remainder))
    return _taxed(line, Line("invoice_line_item", line.id, line.description, 1, None,
                             remainder))


def _taxed(line: InvoiceLine, credit: Line) -> Line:
    """The credit line with its share of the invoice line's tax, rounded once."""
    charged = line_remainder(line)
    tax = 0 if charged == 0 else round_minor(Decimal(line.tax_amount) * credit.amount /
                                             charged)
    return replace(credit, tax_amount=tax, inclusive=line.inclusive)


def custom_line(request: LineRequest, param: str) -> Line:
    """A line that credits something not on the invoice: `unit_amount × quantity`."""
    if not request.description:
        raise InvalidRequest("A custom line needs a description.",
                             param=f"{param}[description]")
    if request.unit_amount is None or request.unit_amount <= 0:
        raise InvalidRequest("A custom line needs a positive unit_amount.",
                             param=f"{param}[unit_amount]")
    quantity = 1 if request.quantity is None else request.quantity
    if quantity < 1:
        raise InvalidRequest("quantity must be at least 1.", param=f"{param}[quantity]")
    if request.invoice_line is not None or request.amount is not None:
        extra = "invoice_line" if request.invoice_line is not None else "amount"
        raise InvalidRequest(f"A custom line takes description, unit_amount and quantity, "
                             f"not {extra}.", param=f"{param}[{extra}]")
    return Line("custom_line_item", None, request.description, quantity,
                Decimal(request.unit_amount), request.unit_amount * quantity)


def credit_lines(invoice: Invoice, credited: Credited,
                 requests: Sequence[LineRequest]) -> tuple[Line, ...]:
    """The lines of a credit note; an invoice line named twice is capped once, overall."""
    by_id = {line.id: line for line in invoice.lines}
    remaining = {line.id: line_remainder(line, credited.by_line.get(line.id, 0))
                 for line in invoice.lines}
    lines = []
    for index, request in enumerate(requests):
        param = f"lines[{index}]"
        if request.type == "custom_line_item":
            lines.append(custom_line(request, param))
            continue
        if request.type != "invoice_line_item":
            raise InvalidRequest("type must be invoice_line_item or custom_line_item.",
                                 param=f"{param}[type]")
        if request.description is not None or request.unit_amount is not None:
            extra = "description" if request.description is not None else "unit_amount"
            raise InvalidRequest(f"An invoice line credit takes invoice_line with quantity "
                                 f"or amount, not {extra}.", param=f"{param}[{extra}]")
        line = by_id.get(request.invoice_line or "")
        if line is None:
            raise InvalidRequest(f"Invoice {invoice.id} has no line "
                                 f"{request.invoice_line!r}.", param=f"{param}[invoice_line]")
        credit = credit_line(line, remaining[line.id], quantity=request.quantity,
                             amount=request.amount, param=param)
        remaining[line.id] -= credit.amount
        lines.append(credit)
    return tuple(lines)


def plan(invoice: Invoice, credited: Credited, *, lines: Sequence[LineRequest] | None = None,
         amount: int | None = None, reason: str | None = None, credit: int | None = None,
         refund: int | None = None, out_of_band: int | None = None) -> Plan:
    """The credit note a request makes on `invoice`, or InvalidRequest/InvalidState naming
    the parameter at fault.

    Give `lines`, or a single `amount`, or both (then they must agree). The credit note
    never exceeds what remains creditable on the invoice, nor any line what remains on it.
    """
    check_creditable(invoice)
    if reason is not None and reason not in REASONS:
        raise InvalidRequest(f"reason must be one of {', '.join(REASONS)}.", param="reason")
    if not lines and amount is None:
        raise InvalidRequest("Give the lines to credit, or an amount.", param="lines")
    credit_note_lines = credit_lines(invoice, credited, lines or ())
    total = sum(line.total for line in credit_note_lines) if lines else amount or 0
    if amount is not None and amount != total:
        raise InvalidRequest(f"amount {amount} differs from the sum of the lines {total}.",
                             param="amount")
    param = "amount" if amount is not None else "lines"
    if total <= 0:
        raise InvalidRequest("A credit note's amount must be a positive integer in minor "
                             "units.", param=param)
    remainder = invoice_remainder(invoice, credited)
    if total > remainder:
        raise InvalidRequest(f"The credit note's amount {total} exceeds what remains to be "
                             f"credited on invoice {invoice.id}: {remainder}.", param=param)
    settlement = settle(total, invoice, credited, credit=credit, refund=refund,
                        out_of_band=out_of_band)
    if lines:
        tax = sum(line.tax_amount for line in credit_note_lines)
    else:  # a lump sum includes tax in the invoice's proportion
        tax = round_minor(Decimal(invoice.tax) * total / invoice.total) if invoice.total else 0
    return Plan(type="pre_payment" if invoice.status == "open" else "post_payment",
                amount=total, lines=credit_note_lines, settlement=settlement,
                subtotal=total - tax, tax=tax)


@dataclass(frozen=True)
class InvoiceAmounts:
    """The amounts and status of an invoice that crediting changes."""

    status: str
    amount_due: int
    amount_remaining: int


def apply_pre_payment(invoice: InvoiceAmounts, pre_payment: int) -> InvoiceAmounts:
    """An open invoice after a pre-payment credit: less is due and remains to be paid (as in
    Stripe, `amount_due` drops too, so `amount_remaining = amount_due - amount_paid` holds).
    When nothing remains the invoice is paid."""
    remaining = invoice.amount_remaining - pre_payment
    assert 0 <= remaining <= invoice.amount_remaining, "a credit never exceeds what remains"
    return InvoiceAmounts("paid" if remaining == 0 and invoice.status == "open"
                          else invoice.status, invoice.amount_due - pre_payment, remaining)


def restore_pre_payment(invoice: InvoiceAmounts, pre_payment: int) -> InvoiceAmounts:
    """The invoice after a voided credit note's pre-payment credit is taken back: it is due
    again, and a paid invoice with something left to pay is open again."""
    if not pre_payment:
        return invoice
    return InvoiceAmounts("open" if invoice.status == "paid" else invoice.status,
                          invoice.amount_due + pre_payment,
                          invoice.amount_remaining + pre_payment)


def check_voidable(status: str, refund_amount: int, invoice_status: str) -> None:
    """A credit note can be voided once, and only if nothing was refunded and its invoice
    still stands (voiding it could not restore what a voided invoice owes)."""
    if status == "void":
        raise InvalidState("The credit note is already void.")
    if refund_amount > 0:
        raise InvalidState("A credit note with a refund cannot be voided: the refund has "
                           "been given back to the customer.")
    if invoice_status == "void":
        raise InvalidState("The credit note's invoice is void; its credit note can no longer "
                           "be voided.")
