"""Tax: which tax applies to an invoice line, and the invoice's tax, rounded as EN 16931 asks.

`decide` chooses, per line, from the seller's and the customer's country (and region), the
customer's type (a business with a VAT id, a consumer, exempt), the product's tax code and the
supply date:

- EU VAT from the built-in rate table (`vat_rates`): a domestic sale at the seller's rate; a
  sale to a business in another member state with a VAT id is reverse charged (category AE,
  0%, with the legal note); digital services to consumers in another member state at the
  customer's country's rate (the One-Stop Shop, OSS); a sale outside the EU is outside the
  scope of EU VAT (O) unless the seller maintains a rate for that jurisdiction.
- Other jurisdictions from the seller's own rates (`TaxRate`: GST, HST, PST, US sales tax):
  every rate valid for the customer's country and region on the supply date applies (GST and
  PST both, in British Columbia), each as its own component.

`compute` then groups the lines by tax component, computes each group's tax once from the
group's taxable amount and rounds it once (half-up), and spreads it over the group's lines by
largest remainder, so line, group and invoice amounts add up exactly. For a tax-inclusive
price the tax is extracted from the amount: what the customer pays stays the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Literal

from kassa.core import locales
from kassa.core.money import round_minor
from kassa.domain import tax_rates, vat_rates

# EN 16931 VAT category codes (UNCL 5305).
Category = Literal["S", "Z", "E", "AE", "K", "G", "O"]
CustomerType = Literal["business", "consumer"]
Exempt = Literal["none", "exempt", "reverse"]

# What a product is, for tax. `saas` (the default) is an electronically supplied service.
TAX_CODES: dict[str, str] = {
    "saas": "Electronically supplied service (software as a service)",
    "digital_service": "Electronically supplied service",
    "ebook": "Electronic publication (reduced rate where the member state allows)",
    "general_service": "Service under the general place-of-supply rule",
    "training": "Training and education services (standard rate)",
    "exempt": "Exempt supply (e.g. financial, medical or educational services)",
    "zero_rated": "Zero-rated supply",
}
DIGITAL = frozenset({"saas", "digital_service", "ebook"})
# Member states that tax electronic publications below their lowest reduced rate, from when.
EBOOK_RATES: dict[str, tuple[date, Decimal]] = {
    "ES": (date(2020, 4, 23), Decimal("4")), "IT": (date(2020, 1, 1), Decimal("4")),
    "LU": (date(2020, 1, 1), Decimal("3")), "IE": (date(2022, 1, 1), Decimal("0")),
}
DEFAULT_TAX_CODE = "saas"

NOTES: dict[str, dict[str, str]] = {
    "reverse_charge": {
        "en": "Reverse charge: VAT to be accounted for by the recipient (Article 196, "
              "Directive 2006/112/EC)",
        "nl": "BTW verlegd (artikel 196, Richtlijn 2006/112/EG)",
        "de": "Steuerschuldnerschaft des Leistungsempfängers (Artikel 196, Richtlinie "
              "2006/112/EG)",
        "fr": "Autoliquidation par le preneur (article 196, directive 2006/112/CE)",
    },
    "outside_scope": {
        "en": "Outside the scope of EU VAT (place of supply outside the EU)",
        "nl": "Buiten de werkingssfeer van de btw in de EU (plaats van dienst buiten de EU)",
        "de": "Nicht im Anwendungsbereich der EU-Mehrwertsteuer (Leistungsort außerhalb "
              "der EU)",
        "fr": "Hors du champ d'application de la TVA de l'UE (lieu de prestation hors UE)",
    },
    "exempt": {
        "en": "Exempt from VAT",
        "nl": "Vrijgesteld van btw",
        "de": "Steuerbefreit",
        "fr": "Exonéré de TVA",
    },
    "customer_exempt": {
        "en": "Customer exempt from tax",
        "nl": "Afnemer vrijgesteld van belasting",
        "de": "Kunde von der Steuer befreit",
        "fr": "Client exonéré de taxe",
    },
}


def rate_text(rate: Decimal) -> str:
    """A rate as plain text without trailing zeros: 21, 5.5, 9.975."""
    return format(rate.normalize(), "f")


def note_text(key: str | None, locale: str | None) -> str | None:
    """The legal note in the customer's language (English if there is none)."""
    if key is None:
        return None
    texts = NOTES[key]
    return texts.get(locales.language(locale), texts["en"])


@dataclass(frozen=True)
class Party:
    """A seller or a customer as tax sees it."""

    country: str | None
    region: str | None = None
    # A business customer: a VAT or tax id that is valid (format, and VIES unless invalid).
    business: bool = False
    exempt: Exempt = "none"


# A rate the seller maintains (`/v1/tax_rates`): GST, HST, PST, sales tax.
SellerRate = tax_rates.RateTerms


@dataclass(frozen=True)
class Component:
    """One tax on a line: a category and rate in a jurisdiction."""

    category: Category
    rate: Decimal  # percent
    country: str | None
    region: str | None = None
    tax_type: str = "vat"
    note: str | None = None  # a key of NOTES
    rate_id: str | None = None
    name: str = "VAT"

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.category, rate_text(self.rate), self.country or "", self.region or "",
                self.tax_type)


@dataclass(frozen=True)
class Decision:
    components: tuple[Component, ...]
    scheme: str  # domestic, oss, reverse_charge, outside_scope, exempt, seller_rates, none


def _vat(country: str, on: date, tax_code: str) -> Component:
    """The VAT of a member state for a kind of supply on a date."""
    if tax_code == "exempt":
        return Component("E", Decimal(0), country, note="exempt")
    if tax_code == "zero_rated":
        return Component("Z", Decimal(0), country)
    rate = None
    if tax_code == "ebook":
        # Electronic publications (Directive 2018/1713): the member state's lowest reduced
        # rate, or the lower rate it set for books.
        special = EBOOK_RATES.get(country)
        if special is not None and special[0] <= on:
            rate = special[1]
        else:
            reduced = vat_rates.rates_on(country, on, "reduced")
            rate = reduced[0] if reduced else None
    if rate is None:
        rate = vat_rates.standard_rate(country, on)
    if rate is None:
        raise ValueError(f"no VAT rate for {country} on {on}")
    return Component("S" if rate else "Z", rate, country)


def _seller_rates(rates: Sequence[SellerRate], buyer: Party, on: date) -> tuple[Component, ...]:
    assert buyer.country is not None
    chosen = tax_rates.applicable(rates, buyer.country, buyer.region, on)
    return tuple(Component("S" if rate.percentage else "Z", rate.percentage, rate.country,
                           rate.state, rate.tax_type, rate_id=rate.id, name=rate.display_name)
                 for rate in chosen)


def decide(seller: Party, buyer: Party, tax_code: str | None, on: date,
           seller_rates: Sequence[SellerRate] = ()) -> Decision:
    """The taxes of one line: see the module's description."""
    code = tax_code or DEFAULT_TAX_CODE
    buyer_country = buyer.country or seller.country
    if buyer.exempt == "exempt":
        return Decision((Component("E", Decimal(0), buyer_country, note="customer_exempt"),),
                        "exempt")
    if seller.country is None:
        return Decision((), "none")  # the seller has not said where it is: no tax
    seller_eu = vat_rates.is_member(seller.country, on)
    buyer_eu = vat_rates.is_member(buyer_country, on)
    assert buyer_country is not None
    if buyer_eu:
        if buyer_country == seller.country and buyer.exempt != "reverse":
            return Decision((_vat(seller.country, on, code),), "domestic")
        if buyer.business or buyer.exempt == "reverse":
            return Decision((Component("AE", Decimal(0), buyer_country,
                                       note="reverse_charge"),), "reverse_charge")
        if code in DIGITAL or not seller_eu:
            return Decision((_vat(buyer_country, on, code),), "oss")
        return Decision((_vat(seller.country, on, code),), "domestic")
    own = _seller_rates(seller_rates, Party(buyer_country, buyer.region), on)
    if own and not (buyer.business and buyer.exempt == "reverse"):
        return Decision(own, "seller_rates")
    if seller_eu:
        return Decision((Component("O", Decimal(0), buyer_country, note="outside_scope"),),
                        "outside_scope")
    return Decision((), "none")


@dataclass(frozen=True)
class TaxableLine:
    """A line's amount after its discounts, and whether that amount includes the tax."""

    amount: int
    decision: Decision
    inclusive: bool = False


@dataclass
class Group:
    """All lines taxed with one component: taxable amount and tax, each rounded once."""

    component: Component
    taxable_amount: int = 0
    tax_amount: int = 0
    lines: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class LineTax:
    tax_amount: int
    amount_excluding_tax: int
    components: tuple[tuple[Component, int], ...]


@dataclass(frozen=True)
class Result:
    lines: tuple[LineTax, ...]
    groups: tuple[Group, ...]

    @property
    def tax(self) -> int:
        return sum(group.tax_amount for group in self.groups)

    @property
    def total_excluding_tax(self) -> int:
        return sum(line.amount_excluding_tax for line in self.lines)


def _spread(total: int, exact: list[Decimal]) -> list[int]:
    """Give each line its exact tax rounded down, then the cents the group's once-rounded
    `total` has left to the lines with the largest remainders: the parts add up to `total`
    and each is within a cent of its exact share."""
    parts = [int(value.to_integral_value(ROUND_FLOOR)) for value in exact]
    left = total - sum(parts)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def compute(lines: Sequence[TaxableLine]) -> Result:
    """The tax of every line and of every group, EN 16931 style.

    Exclusive lines: a group's tax is its taxable amount (the sum of its lines) times the
    rate, rounded once. Inclusive lines: a group's tax is extracted from the sum of its lines
    (amount x rate / (100 + the line's total rate)), rounded once, and its taxable amount is
    what remains. Stacked components (GST and PST) each form their own group.
    """
    groups: dict[tuple[tuple[str, str, str, str, str], bool], Group] = {}
    for index, line in enumerate(lines):
        for component in line.decision.components:
            key = (component.key, line.inclusive)
            groups.setdefault(key, Group(component)).lines.append(index)
    line_tax: list[dict[tuple[str, str, str, str, str], int]] = [{} for _ in lines]
    for (component_key, inclusive), group in groups.items():
        amounts = [lines[i].amount for i in group.lines]
        gross = sum(amounts)
        rate = group.component.rate
        with localcontext() as context:
            context.prec = 40
            if inclusive:
                # A line's total rate (all its components) is what its amount includes.
                totals = {sum((c.rate for c in lines[i].decision.components), Decimal(0))
                          for i in group.lines}
                combined = totals.pop() if len(totals) == 1 else None
                if combined is None:
                    raise ValueError("inclusive lines of one group must carry the same taxes")
                share = rate / (100 + combined)
            else:
                share = rate / 100
            exact = [Decimal(amount) * share for amount in amounts]
            tax = round_minor(Decimal(gross) * share)
        group.tax_amount = tax
        for i, part in zip(group.lines, _spread(tax, exact), strict=True):
            line_tax[i][component_key] = part
    results = []
    for index, line in enumerate(lines):
        taxes = line_tax[index]
        tax = sum(taxes.values())
        excluding = line.amount - tax if line.inclusive else line.amount
        results.append(LineTax(tax, excluding, tuple(
            (component, taxes[component.key]) for component in line.decision.components)))
    for group in groups.values():
        group.taxable_amount = sum(results[i].amount_excluding_tax for i in group.lines)
    ordered = sorted(groups.values(), key=lambda g: g.component.key)
    merged: dict[tuple[str, str, str, str, str], Group] = {}
    for group in ordered:  # exclusive and inclusive lines of one rate: one breakdown entry
        entry = merged.setdefault(group.component.key, Group(group.component))
        entry.taxable_amount += group.taxable_amount
        entry.tax_amount += group.tax_amount
        entry.lines.extend(group.lines)
    return Result(tuple(results), tuple(merged.values()))
