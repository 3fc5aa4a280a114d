"""Double-entry bookkeeping: the chart of accounts, what each business event posts, and the
checks every entry must pass. Pure: plain data in, plain data out.

An entry is a set of postings; a posting is a signed amount in minor units on an account
(positive: debit, negative: credit) in one currency. An entry balances when its postings
add up to zero in every currency, so an entry never mixes currencies without a way back:
a payout converted by the gateway passes through the FX differences account in each
currency (the "trading account" method), and the FX result is that account's balance
valued at any set of rates.

Accounts are named by their role (receivable, deferred revenue...) and an optional key
(the gateway of a clearing account, the jurisdiction of a tax account, the product of a
revenue account); an organization maps a role and key to its own account code, and
anything unmapped falls back to the role's default account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

AccountType = Literal["asset", "liability", "equity", "revenue", "expense"]

# Role -> (default code, name, type). Codes follow a common small-business numbering:
# 1xxx assets, 2xxx liabilities, 4xxx revenue, 6xxx expenses, 7xxx other results.
ROLES: dict[str, tuple[str, str, AccountType]] = {
    "bank": ("1000", "Bank", "asset"),
    "clearing": ("1100", "Payment gateway clearing", "asset"),
    "out_of_band": ("1150", "Payments settled outside Kassa", "asset"),
    "disputed": ("1160", "Disputed payments held by gateways", "asset"),
    "receivable": ("1200", "Accounts receivable", "asset"),
    "deferred_revenue": ("2400", "Deferred revenue", "liability"),
    "tax_payable": ("2200", "Tax payable", "liability"),
    "customer_balance": ("2300", "Customer credit balances", "liability"),
    "refunds_payable": ("2350", "Refunds payable", "liability"),
    "revenue": ("4000", "Revenue", "revenue"),
    "balance_adjustments": ("6100", "Customer balance adjustments", "expense"),
    "bad_debt": ("6200", "Bad debt", "expense"),
    "gateway_fees": ("6300", "Payment gateway fees", "expense"),
    "dispute_losses": ("6400", "Lost disputes (chargebacks)", "expense"),
    "fx_differences": ("7900", "Exchange rate differences", "expense"),
}
# Roles whose default chart opens one account per key (code "2200-NL", "1100-STRIPE"):
# tax is owed per jurisdiction and money waits at each gateway apart.
KEYED_BY_DEFAULT = frozenset({"tax_payable", "clearing"})
NORMAL_DEBIT = frozenset({"asset", "expense"})


@dataclass(frozen=True)
class Posting:
    """One side of an entry: `amount` minor units on the account of `role` (and `key`),
    positive for a debit, negative for a credit; the dimensions say whose and what for."""

    role: str
    amount: int
    currency: str
    key: str | None = None
    customer_id: str | None = None
    product_id: str | None = None
    invoice_id: str | None = None

    @property
    def debit(self) -> int:
        return max(self.amount, 0)

    @property
    def credit(self) -> int:
        return max(-self.amount, 0)


class Unbalanced(ValueError):
    """An entry whose debits and credits differ: a bug, never written."""


def check_balanced(postings: Sequence[Posting]) -> None:
    """Raise Unbalanced unless the postings add up to zero in every currency."""
    sums: dict[str, int] = defaultdict(int)
    for posting in postings:
        if posting.role not in ROLES:
            raise Unbalanced(f"unknown account role {posting.role!r}")
        sums[posting.currency] += posting.amount
    off = {currency: total for currency, total in sums.items() if total}
    if off:
        raise Unbalanced(f"entry does not balance: {off}")


def pair(debit_role: str, credit_role: str, amount: int, currency: str, *,
         debit_key: str | None = None, credit_key: str | None = None,
         **dims: str | None) -> list[Posting]:
    """`amount` debited to one account and credited to another (a negative amount swaps the
    sides), with the same dimensions on both; nothing for zero."""
    if amount == 0:
        return []
    return [Posting(debit_role, amount, currency, debit_key, **dims),
            Posting(credit_role, -amount, currency, credit_key, **dims)]


def reverse(postings: Iterable[Posting]) -> list[Posting]:
    """The postings that undo these exactly (a reversing entry)."""
    return [replace(posting, amount=-posting.amount) for posting in postings]


def compact(postings: Iterable[Posting]) -> list[Posting]:
    """Postings on the same account with the same dimensions summed, zeros dropped, in
    first-seen order (an entry reads as one line per account and dimension)."""
    sums: dict[tuple[str, str | None, str, str | None, str | None, str | None], int] = {}
    for p in postings:
        key = (p.role, p.key, p.currency, p.customer_id, p.product_id, p.invoice_id)
        sums[key] = sums.get(key, 0) + p.amount
    return [Posting(role, amount, currency, key, customer, product, invoice)
            for (role, key, currency, customer, product, invoice), amount in sums.items()
            if amount]


def jurisdiction(country: str | None, region: str | None = None) -> str | None:
    """A tax jurisdiction's key: the country, with the region where taxes differ by region
    (US-CA, CA-BC)."""
    if not country:
        return None
    return f"{country}-{region}".upper() if region else country.upper()


def fit(parts: Sequence[int], total: int) -> list[int]:
    """`parts` made to add up to `total` exactly: any difference (a rounding cent) goes to the
    largest part. The parts of a document always add up already; this keeps an entry
    balanced to the cent should a stored document ever disagree with its own lines."""
    result = list(parts)
    if not result:
        return result
    largest = max(range(len(result)), key=lambda i: abs(result[i]))
    result[largest] += total - sum(result)
    return result


def period_of(day: date) -> str:
    """The accounting period (a month, "YYYY-MM") a date falls in."""
    return f"{day.year:04d}-{day.month:02d}"


def normal_balance(account_type: str, debits: int, credits: int) -> int:
    """An account's balance the way finance reads it: debits minus credits for assets and
    expenses, credits minus debits for liabilities, equity and revenue."""
    return debits - credits if account_type in NORMAL_DEBIT else credits - debits
