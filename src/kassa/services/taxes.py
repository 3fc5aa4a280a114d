"""Tax on invoices: the organization is the seller, the customer the buyer; the domain decides
each line's tax and rounds per group (domain/tax.py). Runs whenever a draft is composed, and
at finalization with the supply date fixed, so an open invoice's tax never changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import select

from kassa.domain import tax as domain
from kassa.services import prefetch
from kassa.services.organizations import timezone_of
from kassa.services.tax_rates import rate_terms
from kassa.store import models as m
from kassa.store import rows
from kassa.store.uow import UnitOfWork


class TaxProvider(Protocol):
    """What computes an invoice's tax: the built-in engine, or an external calculator."""

    def calculate(self, seller: domain.Party, buyer: domain.Party, on: date,
                  lines: Sequence[tuple[int, str | None, bool]],
                  seller_rates: Sequence[domain.SellerRate]) -> domain.Result:
        """`lines` are (amount after discounts, tax code, inclusive)."""
        ...


class BuiltinTaxProvider:
    """Kassa's own engine: EU VAT from the rate table, other taxes from the seller's rates."""

    def calculate(self, seller: domain.Party, buyer: domain.Party, on: date,
                  lines: Sequence[tuple[int, str | None, bool]],
                  seller_rates: Sequence[domain.SellerRate]) -> domain.Result:
        rates = tuple(seller_rates)
        return _compute(tuple(
            domain.TaxableLine(amount, _decide(seller, buyer, code, on, rates), inclusive)
            for amount, code, inclusive in lines))


# `domain.decide` is a pure function of plain, hashable values, and a billing run asks it the
# same few questions (the same seller, kinds of buyer, products and day) many times.
_decide = lru_cache(maxsize=4096)(domain.decide)
# So is `domain.compute`, and the customers of one plan and country bring it the same lines.
# Its results are shared: they are read, never changed (`apply`).
_compute = lru_cache(maxsize=4096)(domain.compute)


PROVIDER: TaxProvider = BuiltinTaxProvider()


def buyer_of(customer: m.Customer) -> domain.Party:
    address = customer.address or {}
    country = customer.country or address.get("country")
    return domain.Party(
        country=country.upper() if country else None,
        region=(address.get("state") or None),
        business=bool(customer.vat_id) and customer.vat_status != "invalid",
        exempt=customer.tax_exempt if customer.tax_exempt in ("exempt", "reverse")
        else "none")  # type: ignore[arg-type]


def _price_terms(uow: UnitOfWork, lines: Sequence[m.InvoiceLine]) -> dict[str, tuple[str, str |
                                                                                     None]]:
    """Each priced line's tax behavior and its product's tax code."""
    ids = {line.price_id for line in lines if line.price_id}
    if not ids:
        return {}

    def load() -> dict[str, tuple[str, str | None]]:
        rows = uow.session.execute(
            select(m.Price.id, m.Price.tax_behavior, m.Product.tax_code)
            .join(m.Product, m.Product.id == m.Price.product_id).where(m.Price.id.in_(ids)))
        return {price_id: (behavior, code) for price_id, behavior, code in rows}

    batch = prefetch.of(uow.session)
    return batch.remember(("price_terms", frozenset(ids)), load) if batch else load()


def apply(uow: UnitOfWork, invoice: m.Invoice, lines: list[m.InvoiceLine],
          at: datetime) -> None:
    """Decide and compute every line's tax and the invoice's tax breakdown (after
    discounts)."""
    with uow.session.no_autoflush:
        org = rows.held(uow.session, m.Organization, invoice.org_id)
        customer = rows.held(uow.session, m.Customer, invoice.customer_id)
        assert org is not None and customer is not None
        terms = _price_terms(uow, lines)
        rates = rate_terms(uow, org.id)
    rows.assign(invoice, supply_date=invoice.billing_at or at)
    if not org.automatic_tax:
        _untaxed(invoice, lines)
        return
    on = invoice.supply_date.astimezone(timezone_of(org, customer)).date()
    for line in lines:
        behavior, code = terms.get(line.price_id or "", ("exclusive", None))
        rows.assign(line, tax_behavior=behavior, tax_code=code)
    result = PROVIDER.calculate(
        domain.Party(org.country), buyer_of(customer), on,
        [(line.amount - (line.discount_amount or 0), line.tax_code,
          line.tax_behavior == "inclusive") for line in lines], rates)
    for line, taxed in zip(lines, result.lines, strict=True):
        if not taxed.components:
            rows.assign(line, tax_amount=taxed.tax_amount,
                        amount_excluding_tax=taxed.amount_excluding_tax, tax_category=None,
                        tax_rate=None, tax_country=None, tax_region=None, tax_rate_id=None)
            continue
        # The line records its first tax and the rate of all of them (GST + PST: 12);
        # the invoice's breakdown keeps each tax apart.
        first = taxed.components[0][0]
        rows.assign(line, tax_amount=taxed.tax_amount,
                    amount_excluding_tax=taxed.amount_excluding_tax,
                    tax_category=first.category, tax_country=first.country,
                    tax_region=first.region, tax_rate_id=first.rate_id,
                    tax_rate=sum((c.rate for c, _ in taxed.components), Decimal(0)))
    locale = customer.locale or org.locale
    rows.assign(invoice, tax=result.tax, total_excluding_tax=result.total_excluding_tax,
                tax_breakdown=[_entry(group, locale) for group in result.groups] or None)


def _untaxed(invoice: m.Invoice, lines: list[m.InvoiceLine]) -> None:
    for line in lines:
        line.tax_amount, line.tax_category, line.tax_rate = 0, None, None
        line.tax_country = line.tax_region = line.tax_rate_id = None
        line.amount_excluding_tax = line.amount - (line.discount_amount or 0)
    invoice.tax = 0
    invoice.total_excluding_tax = sum(line.amount_excluding_tax for line in lines)
    invoice.tax_breakdown = None


def _entry(group: domain.Group, locale: str | None) -> dict[str, Any]:
    component = group.component
    return {"category": component.category, "rate": domain.rate_text(component.rate),
            "country": component.country, "region": component.region,
            "tax_type": component.tax_type, "name": component.name,
            "tax_rate": component.rate_id, "taxable_amount": group.taxable_amount,
            "tax_amount": group.tax_amount, "note_code": component.note,
            "note": domain.note_text(component.note, locale)}
