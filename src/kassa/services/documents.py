"""Invoice and credit note documents: HTML on the fly, PDFs rendered once and kept.

A finalized invoice never changes, so its PDF is rendered on the first download (per
language), stored in the file store and recorded as a `Document`; later downloads serve the
stored bytes. Drafts change until finalized and are rendered on every request, never stored.
Rendering is lazy rather than at finalization because a PDF takes WeasyPrint tens of
milliseconds or more (bench/documents.py), which billing runs should not pay for invoices
nobody downloads.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from stdnum import iban as stdnum_iban

from kassa.adapters.documents import render
from kassa.adapters.files import FileStore
from kassa.core import locales
from kassa.core.errors import NotFound
from kassa.core.ids import new_id
from kassa.core.money import exponent
from kassa.domain import references
from kassa.domain.tax import note_text
from kassa.services import logos, payments, scoping
from kassa.services.organizations import get_organization, timezone_of
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

_LOGO_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp"})
_MAX_LOGO_BYTES = 512 * 1024


@dataclass(frozen=True)
class Publishing:
    """Where documents are kept and how customers reach them."""

    files: FileStore
    public_url: str  # KASSA_PUBLIC_URL: the hosted page is {public_url}/i/{token}
    data_dir: Path  # logos given as a path are read from here


@dataclass(frozen=True)
class Rendered:
    """A rendered document: its bytes, language, download name and stored row (None for a
    draft, which is never stored)."""

    content: bytes
    language: str
    filename: str
    document: m.Document | None = None


# -- invoices -----------------------------------------------------------------------------

def invoice_pdf(uow: UnitOfWork, publishing: Publishing, org_id: str, invoice_id: str,
                locale: str | None = None) -> Rendered:
    """The invoice's PDF in `locale` (default: the customer's, else the organization's
    language). Rendered once per language and stored; a draft is rendered and not stored."""
    invoice = scoping.get(uow.session, m.Invoice, org_id, invoice_id)
    return _invoice_pdf(uow, publishing, invoice, locale)


def invoice_html(uow: UnitOfWork, publishing: Publishing, org_id: str, invoice_id: str,
                 locale: str | None = None) -> Rendered:
    """The invoice as an HTML page, rendered now."""
    invoice = scoping.get(uow.session, m.Invoice, org_id, invoice_id)
    return _invoice_html(uow, publishing, invoice, locale)


def hosted_invoice_html(uow: UnitOfWork, publishing: Publishing, token: str,
                        locale: str | None = None) -> Rendered:
    """The public page of the invoice with this hosted token, with a PDF download link and,
    while something is left to pay and no payment is under way, a pay button."""
    invoice = _by_token(uow, token)
    links = [("download_pdf", f"/i/{token}/pdf")]
    if payments.payable(uow.session, invoice):
        links.insert(0, ("pay_now", f"/i/{token}/pay"))
    return _invoice_html(uow, publishing, invoice, locale, links=links)


def invoice_by_token(uow: UnitOfWork, token: str) -> m.Invoice:
    return _by_token(uow, token)


def hosted_invoice_pdf(uow: UnitOfWork, publishing: Publishing, token: str,
                       locale: str | None = None) -> Rendered:
    """The PDF of the invoice with this hosted token (the same stored file as the API's)."""
    return _invoice_pdf(uow, publishing, _by_token(uow, token), locale)


def _by_token(uow: UnitOfWork, token: str) -> m.Invoice:
    invoice = None
    if token and len(token) <= 64:
        invoice = uow.session.scalars(
            select(m.Invoice).where(m.Invoice.hosted_token == token)).first()
    if invoice is None or invoice.status == "draft":
        raise NotFound("No such invoice.")
    return invoice


def _invoice_language(uow: UnitOfWork, invoice: m.Invoice, locale: str | None) -> str:
    if locale:
        return locales.language(locale)
    customer = uow.session.get(m.Customer, invoice.customer_id)
    org = get_organization(uow.session, invoice.org_id)
    return locales.language((customer.locale if customer else None) or org.locale)


def _invoice_html(uow: UnitOfWork, publishing: Publishing, invoice: m.Invoice,
                  locale: str | None, links: list[tuple[str, str]] | None = None) -> Rendered:
    language = _invoice_language(uow, invoice, locale)
    view = invoice_view(uow, publishing, invoice, language, links=links or [])
    return Rendered(render.render_html(view, language).encode(), language,
                    _filename("invoice", invoice.number, language, "html"))


def _invoice_pdf(uow: UnitOfWork, publishing: Publishing, invoice: m.Invoice,
                 locale: str | None) -> Rendered:
    language = _invoice_language(uow, invoice, locale)
    filename = _filename("invoice", invoice.number, language, "pdf")
    if invoice.status == "draft":
        view = invoice_view(uow, publishing, invoice, language)
        return Rendered(render.render_pdf(view, language), language, filename)
    return _stored(uow, publishing, "invoice", invoice, language, filename,
                   lambda: render.render_pdf(invoice_view(uow, publishing, invoice, language),
                                             language))


def invoice_view(uow: UnitOfWork, publishing: Publishing, invoice: m.Invoice, language: str,
                 *, links: list[tuple[str, str]] | None = None) -> render.InvoiceView:
    """What the printed invoice shows, as plain data for the renderer."""
    org = get_organization(uow.session, invoice.org_id)
    customer = uow.session.get(m.Customer, invoice.customer_id)
    zone = timezone_of(org, customer)
    draft = invoice.status == "draft"
    buyer = render.Party(
        name=invoice.customer_name if not draft else (customer.name if customer else None),
        address_lines=_address_lines(invoice.customer_address if not draft
                                     else (customer.address if customer else None)),
        vat_id=invoice.customer_vat_id if not draft else (customer.vat_id if customer
                                                           else None),
        email=invoice.customer_email if not draft else (customer.email if customer
                                                         else None))
    period = (invoice.period_start.astimezone(zone).date(),
              invoice.period_end.astimezone(zone).date())
    open_amount = invoice.amount_remaining > 0 and invoice.status in ("open", "uncollectible")
    return render.InvoiceView(
        kind="invoice", currency=invoice.currency, exponent=exponent(invoice.currency),
        number=invoice.number, status=invoice.status,
        issue_date=_day(invoice.finalized_at, zone),
        supply_date=_day(invoice.supply_date, zone),
        due_date=_day(invoice.due_date, zone),
        period=period if period[0] != period[1] else None,
        seller=_seller(org), buyer=buyer,
        lines=[_invoice_line(line, zone, invoice) for line in invoice.lines],
        tax_groups=_tax_groups(invoice.tax_breakdown, language),
        totals=_invoice_totals(invoice),
        brand_color=_brand_color(org.brand_color), logo=org_logo(org, publishing),
        payment=_payment(org, invoice) if open_amount else None,
        pay_url=(f"{publishing.public_url}/i/{invoice.hosted_token}"
                 if open_amount and invoice.hosted_token else None),
        support_email=org.support_email, links=links or [])


def _invoice_line(line: m.InvoiceLine, zone: ZoneInfo, invoice: m.Invoice) -> render.Line:
    own_period = (line.period_start, line.period_end) != (invoice.period_start,
                                                          invoice.period_end)
    return render.Line(
        description=line.description,
        quantity=line.quantity_decimal if line.quantity_decimal is not None else line.quantity,
        unit_amount=line.unit_amount_decimal, amount=line.amount,
        discount_amount=line.discount_amount,
        tax_rate=line.tax_rate if line.tax_category is not None else None,
        kind=line.type, tier=line.tier, proration=line.proration,
        period=((_day(line.period_start, zone), _day(line.period_end, zone))  # type: ignore[arg-type]
                if own_period or line.proration else None))


def _invoice_totals(invoice: m.Invoice) -> list[tuple[str, int]]:
    totals = [("subtotal", invoice.subtotal)]
    if invoice.total_discount:
        totals.append(("total_discount", -invoice.total_discount))
    totals += [("total_excluding_tax", invoice.total_excluding_tax), ("tax", invoice.tax),
               ("total", invoice.total)]
    if invoice.amount_due != invoice.total:
        totals.append(("applied_balance", invoice.amount_due - invoice.total))
    totals += [("amount_paid", invoice.amount_paid),
               ("amount_due", invoice.amount_due - invoice.amount_paid)]
    return totals


def _payment(org: m.Organization, invoice: m.Invoice) -> render.Payment | None:
    if not org.iban:
        return None
    reference = None
    if invoice.number:
        try:
            reference = references.format(references.creditor_reference(invoice.number))
        except ValueError:
            reference = invoice.number  # too long for an RF reference: quote the number
    return render.Payment(iban=stdnum_iban.format(org.iban),
                          account_holder=org.legal_name or org.name, reference=reference)


# -- credit notes -------------------------------------------------------------------------

def credit_note_pdf(uow: UnitOfWork, publishing: Publishing, org_id: str,
                    credit_note_id: str, locale: str | None = None) -> Rendered:
    """The credit note's PDF, rendered once per language and stored."""
    note, invoice, language = _credit_note(uow, org_id, credit_note_id, locale)
    filename = _filename("credit_note", note.number, language, "pdf")
    return _stored(uow, publishing, "credit_note", note, language, filename,
                   lambda: render.render_pdf(credit_note_view(uow, publishing, note, invoice,
                                                              language), language))


def credit_note_html(uow: UnitOfWork, publishing: Publishing, org_id: str,
                     credit_note_id: str, locale: str | None = None) -> Rendered:
    """The credit note as an HTML page (rendered each time, never stored)."""
    note, invoice, language = _credit_note(uow, org_id, credit_note_id, locale)
    view = credit_note_view(uow, publishing, note, invoice, language)
    return Rendered(render.render_html(view, language).encode(), language,
                    _filename("credit_note", note.number, language, "html"))


def _credit_note(uow: UnitOfWork, org_id: str, credit_note_id: str,
                 locale: str | None) -> tuple[m.CreditNote, m.Invoice, str]:
    note = scoping.get(uow.session, m.CreditNote, org_id, credit_note_id)
    invoice = uow.session.get(m.Invoice, note.invoice_id)
    assert invoice is not None
    return note, invoice, _invoice_language(uow, invoice, locale)


def credit_note_view(uow: UnitOfWork, publishing: Publishing, note: m.CreditNote,
                     invoice: m.Invoice, language: str) -> render.InvoiceView:
    """What the printed credit note shows."""
    org = get_organization(uow.session, note.org_id)
    zone = timezone_of(org, uow.session.get(m.Customer, note.customer_id))
    lines = [render.Line(description=line.description, quantity=line.quantity,
                         unit_amount=line.unit_amount_decimal, amount=line.amount,
                         tax_rate=line.tax_rate if line.tax_category is not None else None,
                         kind="credit")
             for line in note.lines]
    return render.InvoiceView(
        kind="credit_note", currency=note.currency, exponent=exponent(note.currency),
        number=note.number, status=note.status, issue_date=_day(note.created, zone),
        seller=_seller(org),
        buyer=render.Party(name=invoice.customer_name,
                           address_lines=_address_lines(invoice.customer_address),
                           vat_id=invoice.customer_vat_id, email=invoice.customer_email),
        lines=lines, tax_groups=_credit_note_tax_groups(note, invoice, language),
        totals=[("subtotal", note.subtotal), ("tax", note.tax), ("credit_total", note.total)],
        brand_color=_brand_color(org.brand_color), logo=org_logo(org, publishing),
        support_email=org.support_email, invoice_number=invoice.number,
        reason=note.reason.replace("_", " ") if note.reason else None, memo=note.memo)


def _credit_note_tax_groups(note: m.CreditNote, invoice: m.Invoice,
                            language: str) -> list[render.TaxGroup]:
    """The credit note's VAT per rate: its own breakdown, else summed from its lines, with
    the legal note of the invoice's group of the same category and rate."""
    if note.tax_breakdown:
        return _tax_groups(note.tax_breakdown, language)
    notes = {(g.category, g.rate): g.note for g in _tax_groups(invoice.tax_breakdown, language)}
    sums: dict[tuple[str, Decimal], list[int]] = {}
    for line in note.lines:
        if line.tax_category is not None and line.tax_rate is not None:
            key = (line.tax_category, line.tax_rate)
            sums.setdefault(key, [0, 0])
            sums[key][0] += line.amount
            sums[key][1] += line.tax_amount
    return [render.TaxGroup(category, rate, taxable, tax, notes.get((category, rate)))
            for (category, rate), (taxable, tax) in sums.items()]


# -- shared -------------------------------------------------------------------------------

def _stored(uow: UnitOfWork, publishing: Publishing, object_type: str,
            obj: m.Invoice | m.CreditNote, language: str, filename: str,
            make: Any) -> Rendered:
    """The stored PDF of `obj` in `language`, rendering and storing it the first time."""
    query = select(m.Document).where(m.Document.org_id == obj.org_id,
                                     m.Document.object_id == obj.id,
                                     m.Document.format == "pdf",
                                     m.Document.locale == language)
    document = uow.session.scalars(query).first()
    if document is not None:
        try:
            return Rendered(publishing.files.read(document.path), language, filename,
                            document)
        except FileNotFoundError:
            pass  # the file was lost: render it again below and repoint the row
    content: bytes = make()
    digest = hashlib.sha256(content).hexdigest()
    # The digest in the name: two first downloads at once never overwrite each other's file.
    path = f"{obj.org_id}/{object_type}/{obj.id}/{language}-{digest[:16]}.pdf"
    publishing.files.write(path, content)
    if document is None:
        document = m.Document(id=new_id("doc"), org_id=obj.org_id, object_type=object_type,
                              object_id=obj.id, format="pdf", locale=language,
                              created=uow.clock.now())
        uow.session.add(document)
    document.path, document.sha256, document.size = path, digest, len(content)
    try:
        uow.commit()
    except IntegrityError:
        # Another request stored it first: serve theirs, so every download is the same file.
        uow.rollback()
        document = uow.session.scalars(query).one()
        return Rendered(publishing.files.read(document.path), language, filename, document)
    return Rendered(content, language, filename, document)


def _filename(kind: str, number: str | None, language: str, extension: str) -> str:
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in (number or "draft"))
    return f"{kind.replace('_', '-')}-{name}-{language}.{extension}"


def _seller(org: m.Organization) -> render.Party:
    return render.Party(name=org.legal_name or org.name, address_lines=_address_lines(
        org.address), vat_id=org.vat_id, email=org.support_email)


def _address_lines(address: dict[str, Any] | None) -> list[str]:
    if not address:
        return []
    city = " ".join(str(address[k]) for k in ("postal_code", "city") if address.get(k))
    parts = [address.get("line1"), address.get("line2"), city, address.get("state"),
             address.get("country")]
    return [str(part) for part in parts if part]


def _tax_groups(breakdown: list[Any] | None, language: str) -> list[render.TaxGroup]:
    return [render.TaxGroup(category=str(group.get("category") or ""),
                            rate=Decimal(str(group.get("rate") or 0)),
                            taxable_amount=int(group.get("taxable_amount") or 0),
                            tax_amount=int(group.get("tax_amount") or 0),
                            note=(note_text(group["note_code"], language)
                                  if group.get("note_code") else group.get("note")))
            for group in breakdown or []]


def _day(instant: datetime | None, zone: ZoneInfo) -> date | None:
    return instant.astimezone(zone).date() if instant is not None else None


def _brand_color(color: str | None) -> str:
    if color and len(color) == 7 and color[0] == "#" and all(
            c in "0123456789abcdefABCDEF" for c in color[1:]):
        return color
    return render.DEFAULT_BRAND_COLOR


def org_logo(org: m.Organization, publishing: Publishing) -> str | None:
    """The organization's logo as a data: URL: the uploaded one, else its `logo_url`."""
    uploaded = logos.read(publishing.files, org)
    if uploaded is not None:
        return (f"data:{uploaded.content_type};base64,"
                f"{base64.b64encode(uploaded.content).decode()}")
    return _logo(org.logo_url, publishing)


def _logo(logo_url: str | None, publishing: Publishing) -> str | None:
    """The logo as a data: URL: given as one, or read from a file in the data directory.
    A logo at a web address is left out: rendering never fetches anything."""
    if not logo_url:
        return None
    if logo_url.startswith("data:image/"):
        return logo_url
    if ":" in logo_url:  # http(s), file: or any other scheme
        return None
    root = publishing.data_dir.resolve()
    path = (root / logo_url).resolve()
    mime = mimetypes.guess_type(path.name)[0]
    if not path.is_relative_to(root) or mime not in _LOGO_TYPES or not path.is_file():
        return None
    data = path.read_bytes()
    if len(data) > _MAX_LOGO_BYTES:
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


# -- rendering ahead ----------------------------------------------------------------------

def unrendered(uow: UnitOfWork, *, limit: int) -> list[tuple[str, str, str]]:
    """(object type, org id, id) of finalized invoices and credit notes that have no stored
    PDF yet, oldest first: the background pass renders them right after finalization, so a
    first download or an e-mail never waits for the renderer."""
    def missing(model: type[m.Invoice] | type[m.CreditNote]) -> Any:
        return ~select(m.Document.id).where(m.Document.object_id == model.id,
                                            m.Document.format == "pdf").exists()

    invoices = uow.session.execute(
        select(m.Invoice.org_id, m.Invoice.id).where(
            m.Invoice.status != "draft", m.Invoice.finalized_at.is_not(None),
            missing(m.Invoice))
        .order_by(m.Invoice.finalized_at, m.Invoice.id).limit(limit)).all()
    notes = uow.session.execute(
        select(m.CreditNote.org_id, m.CreditNote.id).where(missing(m.CreditNote))
        .order_by(m.CreditNote.created, m.CreditNote.id).limit(limit)).all()
    found = [("invoice", org_id, id_) for org_id, id_ in invoices]
    found += [("credit_note", org_id, id_) for org_id, id_ in notes]
    return found[:limit]


def store_pdf(uow: UnitOfWork, publishing: Publishing, object_type: str, org_id: str,
              object_id: str) -> Rendered:
    """Render and store the PDF of an invoice or credit note in its customer's language."""
    if object_type == "invoice":
        return invoice_pdf(uow, publishing, org_id, object_id)
    return credit_note_pdf(uow, publishing, org_id, object_id)
