"""Invoice arithmetic: totals that equal the sum of their parts, and the customer balance.

The customer balance follows Stripe's sign: negative is credit the customer has with the
seller, positive is an amount the customer owes that is added to their next invoice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Totals:
    subtotal: int
    discount: int
    tax: int
    total: int


def totals(line_amounts: Iterable[int], tax: int = 0, discount: int = 0,
           total_excluding_tax: int | None = None) -> Totals:
    """Subtotal is the exact sum of the lines; total takes off the discounts and adds tax.

    With tax-inclusive lines, the lines' amounts already hold part of the tax: then the
    total is the amount excluding tax plus the tax (both exact sums of their parts). No
    rounding happens here."""
    subtotal = sum(line_amounts)
    if total_excluding_tax is None or (tax == 0 and total_excluding_tax == 0):
        total = subtotal - discount + tax
    else:
        total = total_excluding_tax + tax
    return Totals(subtotal=subtotal, discount=discount, tax=tax, total=total)


@dataclass(frozen=True)
class BalanceApplied:
    starting_balance: int
    amount_due: int
    ending_balance: int

    @property
    def applied(self) -> int:
        """Balance consumed by the invoice (negative when credit was used)."""
        return self.starting_balance - self.ending_balance


def apply_balance(total: int, starting_balance: int) -> BalanceApplied:
    """Apply the customer's balance to an invoice total at finalization.

    Credit (negative balance) reduces the amount due down to zero; what is left stays credit.
    A negative total (a credit invoice) adds to the credit. A positive balance is owed and
    is added to the amount due.
    """
    net = total + starting_balance
    return BalanceApplied(starting_balance=starting_balance, amount_due=max(net, 0),
                          ending_balance=min(net, 0))


def due_date(finalized_at: datetime, days_until_due: int) -> datetime:
    """When a `send_invoice` invoice must be paid."""
    return finalized_at + timedelta(days=days_until_due)
