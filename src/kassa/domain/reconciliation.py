"""Which open invoices a bank credit pays: the decision behind reconciling a bank statement.

Plain data in (the credit, the organization's open invoices, the IBANs known to belong to a
customer), a `Decision` out. Amounts are integers in the currency's minor unit. A wrong
automatic match is worse than none, so every rule below matches only when it is sure, and
otherwise leaves suggestions for a person to choose from.

1. **References.** The structured reference and the remittance text are searched, in that
   order, for
   - RF creditor references (ISO 11649, see `references`): "RF", two check digits and groups
     of letters and digits separated by single spaces, in any case ("rf18 5390 0754 7034").
     Only references whose mod-97 check holds count; where the groups after "RF" could end in
     several places, the longest valid reference that names an open invoice wins.
   - invoice numbers, as a whole token: not glued to letters or digits (nor to "-", "/",
     ".", "_" or "#" followed by one, nor to a decimal comma), in any case, with the number's
     own separators optional or written as any run of spaces and "-", "/", ".", "_", "#"
     ("ACME-2026-000123" is found in "acme 2026 000123" and "ACME2026000123", not in
     "ACME-2026-0001234"). Numbers shorter than 5 letters and digits (6 when all digits) are
     not looked for: in free text they are too easily an amount, a year or a postal code.
     Their RF reference still matches. Text inside a valid RF reference is not searched for
     numbers.
   The invoices found are paid in the order they are mentioned, each up to its remaining
   amount; what exceeds them all is the overpayment, the customer's credit balance. A credit
   below the first invoice's remaining amount pays part of it. A reference beats the IBAN:
   anyone may pay a customer's invoice. Nothing is matched automatically, and the mentioned
   invoices are suggested, when they belong to different customers or any of them is in
   another currency than the credit. When the text holds valid RF references but none names
   an open invoice (a paid invoice paid again, another creditor's reference), nothing is
   matched either, and rule 2 does not apply: the payer said what they paid, and it is not open.
2. **Known IBAN, no reference.** The counterparty's IBAN belongs to one customer (`known_ibans`,
   keyed by the compact upper-case IBAN, from earlier payments and SEPA mandates). Among that
   customer's open invoices in the credit's currency, oldest due first:
   - one whose remaining amount is exactly the credit is paid (`amount_and_iban`; of several,
     the oldest due);
   - else, when the credit is exactly the sum of the N oldest, those are paid
     (`iban_oldest_first`);
   - else nothing is matched; the customer's invoices are suggested, oldest first.
3. **Unknown IBAN, no reference.** Nothing is matched. Invoices in the credit's currency with
   exactly its amount are suggested, ranked by how much the counterparty's name resembles the
   customer's name.
4. **Currencies.** Only invoices in the credit's currency are ever paid.

"Oldest due" orders by due date (the issue date when there is none), then issue date, number
and id, so the decision never depends on the order the open invoices are given in. Suggestions
come best first, at most `MAX_SUGGESTIONS`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from kassa.domain import references

Method = Literal["reference", "invoice_number", "amount_and_iban", "iban_oldest_first", "none"]
Confidence = Literal["high", "medium", "low", "none"]
# Why an invoice is suggested: the transfer mentions it; it is an open invoice of the customer
# the IBAN belongs to; it is open for exactly the credited amount.
Reason = Literal["referenced", "customer_invoice", "same_amount"]

MAX_SUGGESTIONS = 5
_CONFIDENCE: Mapping[Method, Confidence] = {
    "reference": "high", "invoice_number": "medium", "amount_and_iban": "medium",
    "iban_oldest_first": "low", "none": "none"}


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice with money still to be paid."""

    id: str
    customer_id: str
    customer_name: str
    number: str
    reference: str  # its RF creditor reference, compact and upper case
    currency: str
    amount_remaining: int
    due_date: date | None
    issued: date

    def __post_init__(self) -> None:
        if self.amount_remaining <= 0:
            raise ValueError("an open invoice has a positive amount remaining")


@dataclass(frozen=True)
class Credit:
    """Money received, as a line of a bank statement tells it."""

    amount: int
    currency: str
    counterparty_iban: str | None
    counterparty_name: str
    remittance: str  # the free text
    structured_reference: str | None

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError("a credit has a positive amount")


@dataclass(frozen=True)
class Allocation:
    """Part of the credit that pays an invoice."""

    invoice_id: str
    amount: int


@dataclass(frozen=True)
class Suggestion:
    """An invoice a person may want to match the credit to; `score` from 0 to 100."""

    invoice_id: str
    reason: Reason
    score: int


@dataclass(frozen=True)
class Decision:
    """What the credit pays. When something is allocated, the allocations and the overpayment
    add up to the credit and `customer_id` is the one customer they belong to; otherwise
    `method` is "none", nothing is allocated and `suggestions` may help a person choose."""

    method: Method
    confidence: Confidence
    customer_id: str | None
    allocations: tuple[Allocation, ...]
    overpayment: int
    suggestions: tuple[Suggestion, ...]


def reconcile(credit: Credit, open_invoices: Iterable[OpenInvoice],
              known_ibans: Mapping[str, str]) -> Decision:
    """Decide which open invoices `credit` pays, by the rules of this module's docstring."""
    invoices = sorted(open_invoices, key=_age)
    mentions = _mentions(_searched_text(credit), invoices)
    customer_id = _iban_customer(credit.counterparty_iban, known_ibans)
    if mentions.invoices:
        return _by_reference(credit, mentions)
    if mentions.unknown_reference or customer_id is None:
        return _unmatched(_fallback_suggestions(credit, invoices, customer_id))
    return _by_iban(credit, customer_id, invoices)


# --- finding references and numbers ------------------------------------------------------

_RF_START = re.compile(r"(?<![^\W_])RF[0-9]{2}", re.IGNORECASE)
_GROUP = re.compile(r"[0-9A-Za-z]+")
_GAP = re.compile(r"\s(?=[0-9A-Za-z])")
_MAX_BODY = 21
_SEPARATORS = r"[\s\-/._#]*"
_GLUE = "-/._#"


@dataclass(frozen=True)
class _Mentions:
    invoices: tuple[OpenInvoice, ...]  # in the order the text names them, each once
    by_reference: bool  # at least one was named by its RF reference
    unknown_reference: bool  # a valid RF reference names no open invoice


def _searched_text(credit: Credit) -> str:
    return f"{credit.structured_reference or ''}\n{credit.remittance}"


def _mentions(text: str, invoices: Sequence[OpenInvoice]) -> _Mentions:
    by_reference: dict[str, list[OpenInvoice]] = {}
    for invoice in invoices:
        by_reference.setdefault(references.compact(invoice.reference), []).append(invoice)
    found: list[tuple[int, str, OpenInvoice, bool]] = []
    unknown = False
    for start, end, reference in _rf_references(text, by_reference):
        text = text[:start] + " " * (end - start) + text[end:]  # no numbers inside it
        named = by_reference.get(reference, [])
        found += [(start, invoice.id, invoice, True) for invoice in named]
        unknown = unknown or not named
    letters_and_digits = references.compact(text)
    for invoice in invoices:
        position = _number_position(invoice.number, text, letters_and_digits)
        if position is not None:
            found.append((position, invoice.id, invoice, False))
    seen: set[str] = set()
    ordered: list[OpenInvoice] = []
    for _, invoice_id, invoice, _ in sorted(found, key=lambda f: f[:2]):
        if invoice_id not in seen:
            seen.add(invoice_id)
            ordered.append(invoice)
    return _Mentions(tuple(ordered), any(f[3] for f in found), unknown)


def _rf_references(text: str, known: Mapping[str, object]
                   ) -> list[tuple[int, int, str]]:
    """The valid RF references in `text`: (start, end, compact reference)."""
    result: list[tuple[int, int, str]] = []
    for match in _RF_START.finditer(text):
        head, position = match.group().upper(), match.end()
        candidates: list[tuple[int, str]] = []  # (end, reference), shortest first
        body = ""
        gap = _GAP.match(text, position)
        position = gap.end() if gap else position
        while group := _GROUP.match(text, position):
            body += group.group().upper()
            if len(body) > _MAX_BODY:
                break
            if references.is_valid(head + body):
                candidates.append((group.end(), head + body))
            gap = _GAP.match(text, group.end())
            if gap is None:
                break
            position = gap.end()
        if candidates:
            named = [c for c in candidates if c[1] in known]
            end, reference = (named or candidates)[-1]
            result.append((match.start(), end, reference))
    return result


def _number_position(number: str, text: str, letters_and_digits: str) -> int | None:
    """Where the invoice number first stands in `text` as a whole token, if it does;
    `letters_and_digits` is the text compacted, upper case."""
    chunks = _GROUP.findall(number)
    compact = "".join(chunks).upper()
    if len(compact) < (6 if compact.isdigit() else 5):
        return None
    if compact not in letters_and_digits:  # cheap, and most numbers are not there
        return None
    pattern = (rf"(?<![0-9A-Za-z])(?<![0-9A-Za-z][{_GLUE}])(?<![0-9],)"
               + _SEPARATORS.join(re.escape(chunk) for chunk in chunks)
               + rf"(?![0-9A-Za-z])(?![{_GLUE}][0-9A-Za-z])(?!,[0-9])")
    match = re.search(pattern, text, re.IGNORECASE)
    return match.start() if match else None


# --- deciding ------------------------------------------------------------------------------

def _age(invoice: OpenInvoice) -> tuple[date, date, str, str]:
    """Oldest due first; the rest makes the order total."""
    return (invoice.due_date or invoice.issued, invoice.issued, invoice.number, invoice.id)


def _same_currency(invoice: OpenInvoice, credit: Credit) -> bool:
    return invoice.currency.upper() == credit.currency.upper()


def _iban_customer(iban: str | None, known_ibans: Mapping[str, str]) -> str | None:
    if not iban:
        return None
    return known_ibans.get(re.sub(r"\s", "", iban).upper())


def _by_reference(credit: Credit, mentions: _Mentions) -> Decision:
    invoices = mentions.invoices
    customers = {invoice.customer_id for invoice in invoices}
    if len(customers) > 1 or not all(_same_currency(i, credit) for i in invoices):
        return _unmatched(tuple(Suggestion(i.id, "referenced", 100)
                                for i in invoices[:MAX_SUGGESTIONS]))
    method: Method = "reference" if mentions.by_reference else "invoice_number"
    return _matched(method, credit.amount, invoices)


def _by_iban(credit: Credit, customer_id: str, invoices: Sequence[OpenInvoice]) -> Decision:
    own = [i for i in invoices if i.customer_id == customer_id and _same_currency(i, credit)]
    for invoice in own:
        if invoice.amount_remaining == credit.amount:
            return _matched("amount_and_iban", credit.amount, [invoice])
    total = 0
    for count, invoice in enumerate(own, start=1):
        total += invoice.amount_remaining
        if total == credit.amount:
            return _matched("iban_oldest_first", credit.amount, own[:count])
        if total > credit.amount:
            break
    return _unmatched(_fallback_suggestions(credit, invoices, customer_id))


def _matched(method: Method, amount: int, invoices: Sequence[OpenInvoice]) -> Decision:
    """Pay `invoices` in order, each up to its remaining amount, with `amount`."""
    allocations = []
    left = amount
    for invoice in invoices:
        paid = min(left, invoice.amount_remaining)
        if paid == 0:
            break
        allocations.append(Allocation(invoice.id, paid))
        left -= paid
    return Decision(method, _CONFIDENCE[method], invoices[0].customer_id, tuple(allocations),
                    left, ())


def _unmatched(suggestions: tuple[Suggestion, ...]) -> Decision:
    return Decision("none", "none", None, (), 0, suggestions)


def _fallback_suggestions(credit: Credit, invoices: Sequence[OpenInvoice],
                          customer_id: str | None) -> tuple[Suggestion, ...]:
    """The customer's own invoices, oldest first, when the IBAN is theirs; else invoices of
    exactly the credited amount, those of a customer with a name like the payer's first."""
    own = [Suggestion(i.id, "customer_invoice", 50) for i in invoices
           if i.customer_id == customer_id and _same_currency(i, credit)]
    if own:
        return tuple(own[:MAX_SUGGESTIONS])
    payer = _name_words(credit.counterparty_name)
    same_amount = [
        (Suggestion(i.id, "same_amount", 50 + _resemblance(payer, i.customer_name)), position)
        for position, i in enumerate(invoices)
        if _same_currency(i, credit) and i.amount_remaining == credit.amount]
    same_amount.sort(key=lambda s: (-s[0].score, s[1]))
    return tuple(s for s, _ in same_amount[:MAX_SUGGESTIONS])


# Legal forms say nothing about who paid.
_LEGAL_FORMS = frozenset({"bv", "nv", "vof", "cv", "bvba", "gmbh", "ag", "kg", "ug", "sa",
                          "sas", "sarl", "srl", "spa", "ltd", "llc", "inc", "plc", "co",
                          "corp", "the"})


def _name_words(name: str) -> frozenset[str]:
    plain = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c)).replace(".", "")
    return frozenset(re.findall(r"[^\W_]+", plain)) - _LEGAL_FORMS


def _resemblance(payer: frozenset[str], customer_name: str) -> int:
    """0 to 50: the share of name words the payer and the customer have in common."""
    customer = _name_words(customer_name)
    if not payer or not customer:
        return 0
    return 50 * len(payer & customer) // len(payer | customer)
