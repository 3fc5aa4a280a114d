"""A customer's statement of account for a period [start, end): what they owed at its start,
every entry that changed that in time order with the running balance, and what they owed at
its end.

Amounts are integers in the currency's minor unit. A positive amount increases what the
customer owes (an invoice, a refund paid out to them), a negative one decreases it (a
payment, a credit note, a void). A negative balance is credit the customer has with the
seller, as in Stripe's customer balance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

EntryKind = Literal["invoice", "invoice_void", "write_off", "credit_note", "credit_note_void",
                    "payment", "refund", "adjustment"]
KINDS: tuple[EntryKind, ...] = get_args(EntryKind)

# Entries at the same instant are listed documents first, then money: an invoice before its
# write-off or void, a write-off reversed before the payment or void that reversed it, a
# credit note before its refund.
_LISTING: tuple[EntryKind, ...] = ("invoice", "write_off", "invoice_void", "credit_note",
                                   "credit_note_void", "adjustment", "payment", "refund")
_ORDER = {kind: position for position, kind in enumerate(_LISTING)}


@dataclass(frozen=True)
class Entry:
    """One change of what the customer owes: `amount` > 0 owes more, < 0 owes less."""

    at: datetime
    kind: EntryKind
    reference: str | None  # the document's number: the invoice's, the credit note's
    description: str
    amount: int
    object_id: str  # the invoice, credit note or balance transaction it comes from


@dataclass(frozen=True)
class Posted:
    """An entry of the period and the customer's balance right after it."""

    entry: Entry
    balance: int


@dataclass(frozen=True)
class Statement:
    """What the customer owed at `start`, the entries of [start, end), what they owed at
    `end`."""

    currency: str
    start: datetime
    end: datetime
    opening_balance: int
    entries: tuple[Posted, ...]
    closing_balance: int
    totals: Mapping[EntryKind, int]  # the period's entries summed per kind (kinds present)

    @property
    def debits(self) -> int:
        """The period's entries that increased what the customer owes, summed."""
        return sum(p.entry.amount for p in self.entries if p.entry.amount > 0)

    @property
    def credits(self) -> int:
        """The period's entries that decreased it, summed (as a positive number)."""
        return -sum(p.entry.amount for p in self.entries if p.entry.amount < 0)

    @property
    def amount_due(self) -> int:
        """What the customer owes at the end of the period; nothing when they have credit."""
        return max(self.closing_balance, 0)


def order(entry: Entry) -> tuple[datetime, int, str, str]:
    """The sort key of entries: time, then kind (see `_ORDER`), reference and object."""
    return entry.at, _ORDER[entry.kind], entry.reference or "", entry.object_id


def statement(entries: Iterable[Entry], start: datetime, end: datetime,
              currency: str) -> Statement:
    """The statement of [start, end) from all of the customer's entries in `currency`:
    those before `start` make the opening balance, those from `end` on are left out."""
    if end <= start:
        raise ValueError("A statement's end is after its start.")
    ordered = sorted(entries, key=order)
    opening = sum(entry.amount for entry in ordered if entry.at < start)
    balance = opening
    posted: list[Posted] = []
    totals: dict[EntryKind, int] = {}
    for entry in ordered:
        if start <= entry.at < end:
            balance += entry.amount
            posted.append(Posted(entry, balance))
            totals[entry.kind] = totals.get(entry.kind, 0) + entry.amount
    return Statement(currency, start, end, opening, tuple(posted), balance,
                     {kind: totals[kind] for kind in KINDS if kind in totals})
