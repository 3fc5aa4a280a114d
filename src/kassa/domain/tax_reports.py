"""Tax reports from the tax on invoice and credit note lines: the VAT summary and the EU OSS
return. Plain data in, plain data out; the services load the lines.

Each line says what the tax engine decided: its EN 16931 category (S standard, Z zero,
E exempt, AE reverse charge, K intra-community supply, G export, O outside the scope), rate,
country of taxation, taxable amount and tax, in the invoice's currency. Credit note lines
come in negative. Amounts are summed per group exactly; nothing is rounded except by a
conversion, once per group and currency.

The One-Stop Shop (OSS) return (Council Directive 2006/112/EC, Articles 369f-369k, and
Article 366(2) for the exchange rate) declares, per member state of consumption and rate, the
taxable amounts and VAT of supplies to consumers in other member states, in euros: amounts in
other currencies are converted at the ECB's rate of the last day of the period or, if none
was published that day, of the next day of publication.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from kassa.core.errors import ExchangeRateMissing
from kassa.domain import fx

OSS_CURRENCY = "eur"
# How far after the period's last day the next ECB publication may lie (Easter, year end).
OSS_RATE_WITHIN_DAYS = 7
REVERSE_CHARGE = "AE"
OUTSIDE_SCOPE = "O"


@dataclass(frozen=True)
class TaxLine:
    """Taxable amount and tax of one category, rate, country and currency: one invoice or
    credit note line's (a credit note's amounts negative), or a group of lines summed."""

    category: str | None
    rate: Decimal | None
    country: str | None
    currency: str
    taxable_amount: int
    tax_amount: int


Group = TaxLine  # the lines of one category, rate, country and currency, summed


@dataclass(frozen=True)
class Total:
    currency: str
    taxable_amount: int
    tax_amount: int


@dataclass(frozen=True)
class OssPart:
    """One currency's share of an OSS row, and its amounts in euros (None: no rate)."""

    currency: str
    taxable_amount: int
    tax_amount: int
    exchange_rate: Decimal | None  # euros per unit of `currency`; 1 for euros
    rate_dates: tuple[date, ...]
    taxable_amount_eur: int | None
    tax_amount_eur: int | None


@dataclass(frozen=True)
class OssRow:
    """The supplies taxed in one member state at one rate; in euros unless a rate is missing."""

    country: str
    rate: Decimal
    parts: tuple[OssPart, ...]

    @property
    def taxable_amount(self) -> int | None:
        return sum_or_none(part.taxable_amount_eur for part in self.parts)

    @property
    def tax_amount(self) -> int | None:
        return sum_or_none(part.tax_amount_eur for part in self.parts)


@dataclass(frozen=True)
class OssReturn:
    rows: tuple[OssRow, ...]
    rate_day: date  # the period's last day, whose ECB rate converts
    missing_rates: tuple[str, ...]  # currencies without a rate: the return is incomplete

    @property
    def tax_amount(self) -> int | None:
        return sum_or_none(row.tax_amount for row in self.rows)

    def by_country(self) -> list[tuple[str, int | None, int | None]]:
        """Per member state: the taxable amount and VAT in euros (None: a rate is missing)."""
        countries = sorted({row.country for row in self.rows})
        return [(country,
                 sum_or_none(row.taxable_amount for row in self.rows if row.country == country),
                 sum_or_none(row.tax_amount for row in self.rows if row.country == country))
                for country in countries]


def quarter(year: int, number: int) -> tuple[date, date]:
    """The first and last day of quarter `number` (1-4) of `year`."""
    if number not in (1, 2, 3, 4):
        raise ValueError(f"quarter {number} is not 1 to 4")
    first = date(year, 3 * number - 2, 1)
    following = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return first, following - timedelta(days=1)


def summarize(lines: Iterable[TaxLine]) -> list[Group]:
    """The lines summed per category, rate, country and currency, in that order."""
    sums: dict[tuple[str | None, Decimal | None, str | None, str], list[int]] = {}
    for line in lines:
        key = (line.category, _rate_key(line.rate), line.country, line.currency)
        amounts = sums.setdefault(key, [0, 0])
        amounts[0] += line.taxable_amount
        amounts[1] += line.tax_amount
    return [Group(category, rate, country, currency, taxable, tax)
            for (category, rate, country, currency), (taxable, tax)
            in sorted(sums.items(), key=lambda item: _sort_key(*item[0]))]


def totals(groups: Iterable[Group], category: str | None = None) -> list[Total]:
    """Per currency, the groups' sums (only those of `category`, when given)."""
    sums: dict[str, list[int]] = {}
    for group in groups:
        if category is not None and group.category != category:
            continue
        amounts = sums.setdefault(group.currency, [0, 0])
        amounts[0] += group.taxable_amount
        amounts[1] += group.tax_amount
    return [Total(currency, taxable, tax) for currency, (taxable, tax) in sorted(sums.items())]


def is_oss(line: TaxLine, seller_country: str, member_states: frozenset[str]) -> bool:
    """Whether a line belongs on the OSS return: standard-rated VAT of a member state other
    than the seller's (a consumer there: a business would have been reverse charged)."""
    return line.category == "S" and line.rate is not None and line.country is not None \
        and line.country != seller_country and line.country in member_states


def oss_return(lines: Iterable[TaxLine], seller_country: str, member_states: frozenset[str],
               last_day: date, rates: fx.RateTable) -> OssReturn:
    """The OSS return of a period ending on `last_day` from all of the period's lines: those
    that belong on it (`is_oss`) summed per country and rate, converted to euros per currency
    at the ECB rate of `last_day` or the next publication (Article 366(2))."""
    groups = summarize(line for line in lines if is_oss(line, seller_country, member_states))
    by_row: dict[tuple[str, Decimal], list[OssPart]] = {}
    missing: set[str] = set()
    for group in groups:
        assert group.country is not None and group.rate is not None
        part = _oss_part(group, last_day, rates)
        if part.exchange_rate is None:
            missing.add(group.currency)
        by_row.setdefault((group.country, group.rate), []).append(part)
    rows = tuple(OssRow(country, rate, tuple(parts))
                 for (country, rate), parts in sorted(by_row.items()))
    return OssReturn(rows, last_day, tuple(sorted(missing)))


def _oss_part(group: Group, last_day: date, rates: fx.RateTable) -> OssPart:
    try:
        quote = rates.quote(group.currency, OSS_CURRENCY, last_day, direction="next",
                            within_days=OSS_RATE_WITHIN_DAYS)
    except ExchangeRateMissing:
        return OssPart(group.currency, group.taxable_amount, group.tax_amount, None, (),
                       None, None)
    return OssPart(group.currency, group.taxable_amount, group.tax_amount, quote.factor,
                   quote.days,
                   fx.apply(group.taxable_amount, group.currency, OSS_CURRENCY, quote.factor),
                   fx.apply(group.tax_amount, group.currency, OSS_CURRENCY, quote.factor))


def _rate_key(rate: Decimal | None) -> Decimal | None:
    return None if rate is None else rate.normalize()


def _sort_key(category: str | None, rate: Decimal | None, country: str | None,
              currency: str) -> tuple[str, Decimal, str, str]:
    return (category or "", rate if rate is not None else Decimal(-1), country or "",
            currency)


def sum_or_none(values: Iterable[int | None]) -> int | None:
    """The sum, or None when any value is None (an amount that could not be converted)."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total
