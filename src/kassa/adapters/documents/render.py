"""Invoices, credit notes and statements of account as HTML and PDF, in the customer's
language.

The caller hands over plain data (`InvoiceView`, built by services/documents.py, and
`StatementView`, built by services/statements.py); this module formats it with Babel
(numbers, money in the currency's ISO 4217 exponent, dates), fills the Jinja2 templates
beside it, and prints the HTML to PDF with WeasyPrint. Rendering never reaches the network:
images are data: URLs only, and the PDF's URL fetcher refuses anything else (a logo at a
remote address is left out, not fetched).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal, parse_pattern
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from kassa.adapters.documents.labels import label
from kassa.core import locales

_TEMPLATES = Path(__file__).parent / "templates"
_ENV = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                   extensions=["jinja2.ext.do"])
DEFAULT_BRAND_COLOR = "#1f2937"


@dataclass(frozen=True)
class Party:
    name: str | None
    address_lines: list[str] = field(default_factory=list)
    vat_id: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Line:
    description: str
    quantity: int | Decimal
    unit_amount: Decimal | None  # minor units, possibly fractional
    amount: int
    discount_amount: int = 0
    tax_rate: Decimal | None = None
    kind: str = "subscription"  # subscription | usage | minimum | invoiceitem | ...
    tier: int | None = None
    proration: bool = False
    period: tuple[date, date] | None = None


@dataclass(frozen=True)
class TaxGroup:
    category: str
    rate: Decimal
    taxable_amount: int
    tax_amount: int
    note: str | None = None


@dataclass(frozen=True)
class Payment:
    iban: str
    account_holder: str
    reference: str | None


@dataclass(frozen=True)
class InvoiceView:
    """Everything a printed invoice or credit note shows, as plain data."""

    kind: str  # invoice | credit_note
    currency: str
    exponent: int
    number: str | None
    status: str
    issue_date: date | None
    seller: Party
    buyer: Party
    lines: list[Line]
    tax_groups: list[TaxGroup]
    totals: list[tuple[str, int]]  # (label key, amount); the last one is printed bold
    supply_date: date | None = None
    due_date: date | None = None
    period: tuple[date, date] | None = None
    brand_color: str = DEFAULT_BRAND_COLOR
    logo: str | None = None  # a data: URL
    payment: Payment | None = None
    pay_url: str | None = None
    support_email: str | None = None
    invoice_number: str | None = None  # a credit note's invoice
    reason: str | None = None
    memo: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)  # (label key, url)


@dataclass(frozen=True)
class StatementRow:
    """One entry of a statement: `amount` > 0 is a debit (owed more), < 0 a credit."""

    day: date
    kind: str  # invoice | invoice_void | write_off | credit_note | ... (domain/statements.py)
    reference: str | None
    description: str
    amount: int
    balance: int


@dataclass(frozen=True)
class StatementView:
    """Everything a printed statement of account shows, as plain data."""

    currency: str
    exponent: int
    seller: Party
    buyer: Party
    issue_date: date
    period: tuple[date, date]  # first and last day, both included
    opening_balance: int
    rows: list[StatementRow]
    closing_balance: int
    brand_color: str = DEFAULT_BRAND_COLOR
    logo: str | None = None  # a data: URL
    support_email: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)  # (label key, url)

    @property
    def amount_due(self) -> int:
        return max(self.closing_balance, 0)


class _Formatter:
    """Babel formatting in one locale, for one currency."""

    def __init__(self, language: str, currency: str, exponent: int) -> None:
        self.language = language
        self.locale = Locale.parse(language)
        self.currency = currency.upper()
        self.exponent = exponent

    def money(self, minor: int | Decimal) -> str:
        """An amount in minor units with the currency's decimals (more for a unit price
        finer than a minor unit): 12100 EUR -> '€ 121,00' in Dutch."""
        major = Decimal(minor).scaleb(-self.exponent)
        places = max(self.exponent, min(-major.normalize().as_tuple().exponent, 8))  # type: ignore[operator]
        pattern = parse_pattern(self.locale.currency_formats["standard"].pattern)
        pattern.frac_prec = (places, places)
        return pattern.apply(major, self.locale, currency=self.currency, currency_digits=False)

    def number(self, value: int | Decimal) -> str:
        return format_decimal(value, locale=self.locale)

    def percent(self, rate: Decimal) -> str:
        """A rate in percent: 21 -> '21%', 5.5 -> '5,5 %' in French."""
        text = format_decimal(rate.normalize(), locale=self.locale)
        return f"{text}\u00a0%" if self.language in ("de", "fr") else f"{text}%"

    def day(self, value: date | None) -> str:
        return format_date(value, format="long", locale=self.locale) if value else ""

    def medium_day(self, value: date) -> str:
        """A date short enough for a table column: 'Jan 31, 2026', '31 jan 2026'."""
        return format_date(value, format="medium", locale=self.locale)

    def span(self, period: tuple[date, date] | None) -> str:
        if period is None:
            return ""
        return f"{self.day(period[0])} – {self.day(period[1])}"


def render_html(view: InvoiceView, locale: str | None) -> str:
    """The document as a standalone HTML page (print CSS included) in `locale`'s language."""
    return _render(f"{view.kind}.html", view, locale)


def render_statement_html(view: StatementView, locale: str | None) -> str:
    """The statement of account as a standalone HTML page in `locale`'s language."""
    return _render("statement.html", view, locale)


def render_statement_pdf(view: StatementView, locale: str | None) -> bytes:
    """The statement of account as a PDF in `locale`'s language."""
    return html_to_pdf(render_statement_html(view, locale))


def _render(template: str, view: InvoiceView | StatementView, locale: str | None) -> str:
    language = locales.language(locale)
    fmt = _Formatter(language, view.currency, view.exponent)
    return _ENV.get_template(template).render(doc=view, fmt=fmt, language=language,
                                              t=lambda key: label(key, language))


def url_fetcher() -> Any:
    """WeasyPrint's fetcher for documents: data: URLs only; never the network or the disk."""
    from weasyprint import URLFetcher  # imported late: it loads Pango, which takes a moment

    return URLFetcher(allowed_protocols=("data",), allow_redirects=False)


def html_to_pdf(html: str) -> bytes:
    """Print HTML to PDF with WeasyPrint, loading nothing from outside the HTML."""
    from weasyprint import HTML

    pdf: bytes = HTML(string=html, url_fetcher=url_fetcher(), base_url="data:,").write_pdf()
    return pdf


def render_pdf(view: InvoiceView, locale: str | None) -> bytes:
    """The document as a PDF in `locale`'s language."""
    return html_to_pdf(render_html(view, locale))
