"""Finalized invoices and credit notes with the tax columns the engine fills, written straight
into the store (each whole in one flush: the ledger posts it then), so the reports can be
checked against figures worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from kassa.config import Kassa
from kassa.core.ids import new_id
from kassa.store import models as m


@dataclass(frozen=True)
class Taxed:
    """One line: its tax category, rate, country, amount excluding tax and tax."""

    category: str | None
    rate: str | None
    country: str | None
    net: int
    tax: int


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def invoice(kassa: Kassa, org_id: str, customer_id: str, currency: str, *lines: Taxed,
            supply: datetime | None, finalized: datetime | None = None,
            status: str = "paid") -> list[str]:
    """A finalized invoice with these lines; the ids of its lines."""
    finalized = finalized or supply
    assert finalized is not None
    invoice_id = new_id("in")
    with kassa.uow() as uow:
        uow.session.add(m.Invoice(
            id=invoice_id, org_id=org_id, customer_id=customer_id, status=status,
            number=None if status == "draft" else f"T-{invoice_id[-8:]}", currency=currency,
            billing_reason="manual", collection_method="send_invoice",
            period_start=finalized, period_end=finalized,
            subtotal=sum(line.net for line in lines), tax=sum(line.tax for line in lines),
            total=sum(line.net + line.tax for line in lines),
            total_excluding_tax=sum(line.net for line in lines),
            tax_breakdown=[{"category": line.category, "rate": line.rate,
                            "country": line.country, "taxable_amount": line.net,
                            "tax_amount": line.tax} for line in lines if line.category],
            supply_date=supply, created=finalized,
            finalized_at=None if status == "draft" else finalized))
        ids = []
        for position, line in enumerate(lines):
            ids.append(new_id("il"))
            uow.session.add(m.InvoiceLine(
                id=ids[-1], org_id=org_id, invoice_id=invoice_id, position=position,
                type="invoiceitem", description="Service", quantity=1,
                unit_amount_decimal=Decimal(line.net), amount=line.net, currency=currency,
                period_start=finalized, period_end=finalized, tax_category=line.category,
                tax_rate=Decimal(line.rate) if line.rate is not None else None,
                tax_country=line.country, tax_amount=line.tax,
                amount_excluding_tax=line.net))
        uow.commit()
    return ids


def credit_note(kassa: Kassa, org_id: str, customer_id: str, invoice_line_id: str | None,
                invoice_id: str, currency: str, line: Taxed, created: datetime,
                status: str = "issued") -> str:
    note_id = new_id("cn")
    with kassa.uow() as uow:
        uow.session.add(m.CreditNote(
            id=note_id, org_id=org_id, customer_id=customer_id, invoice_id=invoice_id,
            number=f"CN-{note_id[-8:]}", status=status, type="post_payment",
            currency=currency, subtotal=line.net, tax=line.tax, total=line.net + line.tax,
            amount=line.net + line.tax, out_of_band_amount=line.net + line.tax,
            created=created))
        uow.session.add(m.CreditNoteLine(
            id=new_id("cnli"), org_id=org_id, credit_note_id=note_id, position=0,
            type="invoice_line_item" if invoice_line_id else "custom_line_item",
            invoice_line_id=invoice_line_id, description="Refund", amount=line.net,
            tax_category=line.category,
            tax_rate=Decimal(line.rate) if line.rate is not None else None,
            tax_amount=line.tax))
        uow.commit()
    return note_id


def invoice_of_line(kassa: Kassa, line_id: str) -> str:
    with kassa.uow() as uow:
        line = uow.session.get(m.InvoiceLine, line_id)
        assert line is not None
        return line.invoice_id
